"""What a user of the app waits for, and what it costs the machine: start-up, the answer for a 5 s
clip with every model, stage by stage, and peak memory.

Protocol
--------
* Start-up: a fresh ``python -c "import app"`` (imports, Whisper and every checkpoint loaded once,
  the page laid out), 3 runs, median; the server's own launch is not counted.
* Answer: a real 5.0 s clip (two RAVDESS takes of actor 01 joined, written as a 16-bit wav), through
  ``Pipeline.analyse`` (decode, transcribe, every voice model) and ``Pipeline.explain`` (the
  attention figures the app draws): 1 warm-up, then the median of 5; each stage's median beside it.
  Torch and the transcriber use the machine's default threads, as the app does.
* The same clip with white noise at 10 dB SNR (one fixed draw), timed the same way: the models that gate
  a noisy clip's noise out (``denoise_below_db``) run the gate first.
* Memory: the peak resident set of the process that loaded everything and answered (``ru_maxrss``).

Usage::

    python bench/app.py --root ../shared/datasets/ravdess_speech

Writes ``bench/results/app.json`` and ``.png`` and prints a table. Run it on a quiet machine.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

from space_probe import in_white_noise  # noqa: E402
from timing import CLIP_SECONDS, arguments, five_second_clip, machine, save_and_print  # noqa: E402

TARGETS = {"answer_s": 3.0, "startup_s": 20.0, "peak_rss_mb": 3000.0}  # issue 8's targets on a 2-core CPU


def startup_seconds(runs: int = 3) -> list[float]:
    code = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"
    times = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TQDM_DISABLE": "1"},
        )
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return times


def main() -> None:
    args = arguments(__doc__, "app")
    startup = startup_seconds()
    from emodemo.recipes.frozen_states import forget_clips
    from emodemo.serving import Pipeline

    pipeline = Pipeline()
    with tempfile.TemporaryDirectory() as folder:
        clip = five_second_clip(args.root, Path(folder))
        stages, result = timed(pipeline, clip, forget_clips)
        noisy_stages, _ = timed(pipeline, in_white_noise(clip, Path(folder) / "five_seconds_noisy.wav"), forget_clips)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [{"stage": stage, "ms": 1000 * seconds} for stage, seconds in stages.items()]
    result = {
        "machine": machine(),
        "device": str(pipeline.device),
        "clip_seconds": CLIP_SECONDS,
        "models": [m.name for m in pipeline.voice_models],
        "transcript": result.transcript.text,
        "startup_s": statistics.median(startup),
        "startup_runs_s": startup,
        "answer_s": stages["answer"],
        "noisy_answer_s": noisy_stages["answer"],
        "noisy_rows": [{"stage": stage, "ms": 1000 * seconds} for stage, seconds in noisy_stages.items()],
        "peak_rss_mb": peak_mb,
        "targets": TARGETS,
        "rows": rows,
    }
    save_and_print(result, args.out, label="stage")
    for key, limit in TARGETS.items():
        print(f"{key}: {result[key]:.2f} (target < {limit:g}) {'ok' if result[key] < limit else 'MISSED'}")
    print(
        f"the same clip in white noise at 10 dB SNR (the noise gate runs): {result['noisy_answer_s']:.2f} s; "
        + ", ".join(f"{r['stage']} {r['ms']:.0f} ms" for r in result["noisy_rows"])
    )
    figure(stages, result, args.out.with_suffix(".png"))


def timed(pipeline, clip: Path, forget_clips) -> tuple[dict, object]:
    """Median seconds of each stage over 5 answers for ``clip`` (after one warm-up), and the last answer."""
    runs = []
    for _ in range(6):
        forget_clips()  # each run pays as for a new clip (no remembered encodings)
        started = time.perf_counter()
        result = pipeline.analyse(clip)
        figures_started = time.perf_counter()
        pipeline.explain(result)
        figures = time.perf_counter() - figures_started
        runs.append({**result.timings, "figures": figures, "answer": time.perf_counter() - started})
    runs = runs[1:]  # the first warms caches up
    return {stage: statistics.median(run[stage] for run in runs) for stage in runs[0]}, result


def figure(stages: dict, result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = {k: v for k, v in stages.items() if k != "answer"}
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(parts) + 1.5))
    ax.barh(list(parts), [1000 * v for v in parts.values()], color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlabel("ms (median of 5)")
    ax.set_title(
        f"app answer for a {CLIP_SECONDS:.0f} s clip: {result['answer_s']:.2f} s in all, start-up "
        f"{result['startup_s']:.1f} s, peak {result['peak_rss_mb']:.0f} MB ({result['machine']['cores']} cores)",
        fontsize=9,
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
