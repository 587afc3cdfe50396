"""One comparison of everything: every model's accuracy beside its cost, measured in one run.

Protocol
--------
* Accuracy: :func:`emodemo.reports.comparison.rows`, the committed results of every model on every
  benchmark at hand (RAVDESS 7 classes, 5 folds by actor, voice alone / voice + face action units /
  both text-audio pairings / the mixed pairing's halves; GoEmotions Ekman test; MELD dev; FER-2013
  test), WA / UA / WF1 / UF1 with std over folds. The table is re-read from those files, not
  re-trained: retraining every variant takes about 12 hours on this CPU (``python -m emodemo reproduce MODEL``).
* Cost of every served checkpoint (``checkpoints/``), each in a fresh process so that its memory is
  its own, on 1 CPU thread (as the per-model benches):
  - parameters, checkpoint size on disk, load time;
  - **ms per 4 s clip** from the waveform and its transcript to the answer (the recipe's
    ``clip_inputs``: frozen Whisper / MiniLM encoders, features; then the model), median over 8 real
    RAVDESS clips cut to 4.0 s, 3 timed calls each after a warm-up, each call paying for its
    encoders as a new clip would (``forget_clips``);
  - the model alone at batch 1 and per clip at batch 32;
  - one training step (batch 32, every parameter trained, one batch of real inputs repeated) times
    the steps of an epoch of the served run's data (840 RAVDESS clips, 1,680 mixed pairs, 39,555
    GoEmotions lines, 24,757 FER faces): a floor; beside it, the time the real run logged
    (``emodemo.reports.comparison``);
  - peak resident memory (``ru_maxrss``) while serving, and after the training step apart; and that
    of a process that only imported torch and emodemo (the floor every row shares).
  For ``fer_cnn`` a "clip" is 4 s of video: 20 real FER-2013 test faces (5 per second) through the
  CNN (face detection not counted).
* Transcriber: Whisper tiny.en (the app's engine and threads) on the same 8 clips: real-time factor
  = seconds of compute per second of audio.
* App: ``bench/app.py`` (a 5 s clip through every model and every figure; start-up; peak memory).
* Hub baseline: ``bench/hub_baseline.py`` (wav2vec2-large XLSR through transformers'
  audio-classification pipeline, random weights, the same clips); each served model's ms per clip
  is given as a ratio to it (1 thread both).

Usage::

    python bench/compare.py --root ../shared/datasets/ravdess_speech   # about 15 minutes
    python bench/compare.py --render-only                               # re-render the tables from the saved JSON
    python bench/compare.py --add words_minilm                          # one new served model's cost

Writes ``bench/results/compare.json`` and ``.png``, prints the tables, and rewrites the block of
docs/results.md between the ``compare`` markers and the README's headline table
(``bench/headline.py``). Run it on a quiet machine.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

CLIP_SECONDS = 4.0
N_CLIPS = 8
VIDEO_FACES = 20  # 4 s of video at the app's 5 faces per second
RESULTS = REPO / "bench" / "results"
# items in one training epoch of each benchmark's protocol (RAVDESS: a fold's 14 training actors)
EPOCH_ITEMS = {
    "ravdess_mixed_constructed": 1680,
    "ravdess_mixed_real": 1680,
    "goemotions": 39555,
    "fer2013": 24757,
    "meld": 17714,
}  # MELD: train less the held-out dialogues (8,857) + as many GoEmotions lines
BLOCK_START, BLOCK_END = "<!-- compare:start -->", "<!-- compare:end -->"  # in docs/results.md


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_one(name: str, root: Path, fer_root: Path) -> dict:
    """The cost row of served checkpoint ``name``, measured in this (fresh) process."""
    import statistics

    import torch
    from gpu import TRAIN_CLIPS, model_cost
    from timing import exactly, median_ms, real_clips

    from emodemo.recipes.frozen_states import forget_clips
    from emodemo.serving import CHECKPOINTS, load_models

    torch.set_num_threads(1)
    started = time.perf_counter()
    (m,) = load_models([name])
    m.recipe.prepare()
    load_s = time.perf_counter() - started
    spec = m.meta.get("input_spec")
    if "image" in m.recipe.MODALITIES:  # a face model: 4 s of video's faces
        from gpu import first_faces

        faces = first_faces(fer_root, VIDEO_FACES)
        inputs_of = [lambda: m.recipe.face_inputs(faces)]
        one = m.recipe.face_inputs(faces[:1])
    else:
        clips = [(exactly(wave, CLIP_SECONDS), transcript) for wave, transcript in real_clips(root, N_CLIPS)]
        inputs_of = [lambda w=wave, t=transcript: m.recipe.clip_inputs(w, t, spec) for wave, transcript in clips]
        one = inputs_of[0]()

    def answer(make_inputs):
        forget_clips()  # each call pays for the encoders, as a new clip does
        with torch.inference_mode():
            m.model(**make_inputs())

    end_to_end = statistics.median(median_ms(lambda f=f: answer(f), 3, warmup=1) for f in inputs_of)
    serving_peak_mb = _peak_mb()  # before the training step below grows the process
    from emodemo.reports import comparison

    served = [e.benchmark for e in comparison.ENTRIES if e.checkpoint == name]
    epoch_items = EPOCH_ITEMS.get(served[0], TRAIN_CLIPS) if served else TRAIN_CLIPS
    row = {
        "checkpoint": name,
        "recipe": m.meta["model_name"],
        "load_s": load_s,
        "ms_per_clip": end_to_end,
        "checkpoint_mb": sum(p.stat().st_size for p in (CHECKPOINTS / name).glob("*.safetensors")) / 1e6,
        "epoch_items": epoch_items,
        **model_cost(m.model.float(), one, torch.device("cpu"), None, epoch_items),
    }
    row.update(peak_rss_mb=serving_peak_mb, peak_rss_mb_with_training_step=_peak_mb())
    return row


def base_rss_mb() -> float:
    """Peak memory of a process that imported torch and emodemo's pipeline, and nothing else (the
    floor under every model's row; the encoders' libraries come on top where a model needs them)."""
    code = (
        "import resource, torch, emodemo.serving.pipeline; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    return float(_python(["-c", code]).strip().splitlines()[-1])


def transcriber(root: Path) -> dict:
    """Whisper tiny.en's real-time factor on the 8 clips, as the app runs it."""
    import statistics

    from timing import exactly, real_clips

    from emodemo.speech import load_model, transcribe

    engine = load_model(None, "tiny.en")
    waves = [exactly(wave, CLIP_SECONDS) for wave, _ in real_clips(root, N_CLIPS)]
    transcribe(waves[0], model="tiny.en")  # warm-up
    times = []
    for wave in waves:
        started = time.perf_counter()
        transcribe(wave, model="tiny.en")
        times.append(time.perf_counter() - started)
    return {
        "engine": f"{engine.backend} tiny.en",
        "ms_per_clip": 1000 * statistics.median(times),
        "real_time_factor": statistics.median(times) / CLIP_SECONDS,
    }


def _python(args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"}
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def measure(root: Path, fer_root: Path) -> dict:
    """Every cost of the comparison, each served model in its own process; the sub-benches too."""
    from timing import machine

    from emodemo.serving import discover

    base = base_rss_mb()  # first: a child's peak starts at this process's size when it was forked
    models = []
    for name in discover():
        print(f"measuring {name} ...", flush=True)
        out = _python([str(Path(__file__)), "--one", name, "--root", str(root), "--fer-root", str(fer_root)])
        models.append(json.loads(out.strip().splitlines()[-1]))
    print("app, Hub baseline and transcriber ...", flush=True)
    _python(["bench/app.py", "--root", str(root)])  # before this process loads Whisper
    _python(["bench/hub_baseline.py", "--root", str(root)])
    asr = transcriber(root)
    app = json.loads((RESULTS / "app.json").read_text())
    hub = hub_summary(json.loads((RESULTS / "hub_baseline.json").read_text()))
    for row in models:
        row["share_of_hub"] = row["ms_per_clip"] / hub["ms_per_clip"]
    return {
        "machine": machine(),
        "clip_seconds": CLIP_SECONDS,
        "threads": 1,
        "base_rss_mb": base,
        "models": models,
        "transcriber": asr,
        "app": {k: app[k] for k in ("answer_s", "startup_s", "peak_rss_mb", "clip_seconds", "models")},
        "hub_baseline": hub,
    }


def hub_summary(hub: dict) -> dict:
    """The Hub pipeline's figures from ``bench/hub_baseline.py``'s results: 1 thread (beside our
    models) and the machine's default threads (beside the app)."""
    one = next(r for r in hub["rows"] if r["variant"].endswith(" 1 thread(s)"))
    default = max(hub["rows"], key=lambda r: int(r["variant"].rsplit(" ", 2)[-2]))  # the most threads
    return {
        "model": "wav2vec2-large XLSR (random weights), transformers audio-classification pipeline",
        "parameters": hub["parameters"],
        "ms_per_clip": one["ms_per_clip_batch1"],
        "ms_per_clip_batch8": one["ms_per_clip_batch8"],
        "default_threads": default["variant"],
        "ms_per_clip_default_threads": default["ms_per_clip_batch1"],
    }


def render_results(result: dict, page: Path | None = None) -> None:
    """Rewrite the block of ``page`` (default docs/results.md) between the compare markers from ``result``."""
    from headline import RESULTS_PAGE

    from emodemo.core import replace_marked_block
    from emodemo.reports import side_by_side

    try:
        replace_marked_block(page or RESULTS_PAGE, BLOCK_START, BLOCK_END, side_by_side(result))
    except ValueError as err:
        raise SystemExit(str(err)) from None


def figure(result: dict, path: Path) -> None:
    """Accuracy against ms per clip: each served model at its own protocol's row."""
    from emodemo.reports import accuracy_latency, comparison

    points = comparison.latency_points(result["accuracy"], result["cost"])
    spec = result["cost"]["machine"]
    fig = accuracy_latency(
        points,
        ("wav2vec2-large, Hub pipeline", result["cost"]["hub_baseline"]["ms_per_clip"]),
        f"served models: accuracy on their own benchmark against latency "
        f"(1 thread of a {spec['cores']}-core {spec['cpu']} CPU)",
    )
    fig.savefig(path, dpi=120)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets" / "ravdess_speech")
    parser.add_argument("--fer-root", type=Path, default=REPO.parent / "shared" / "datasets" / "fer2013")
    parser.add_argument("--out", type=Path, default=RESULTS / "compare")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process measuring one model
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="re-render docs/results.md's tables and the README's headline from the saved JSON",
    )
    parser.add_argument(
        "--add",
        metavar="CHECKPOINT",
        help="measure one served checkpoint's cost into the saved "
        "comparison (a new model), re-read the accuracy rows and re-render the tables",
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.root, args.fer_root)))
        return
    from emodemo.reports import comparison

    if args.render_only or args.add:
        result = json.loads(args.out.with_suffix(".json").read_text())
        result["accuracy"] = comparison.rows()
    else:
        result = {"accuracy": comparison.rows(), "cost": measure(args.root, args.fer_root)}
    if args.add:
        row = json.loads(
            _python(
                [str(Path(__file__)), "--one", args.add, "--root", str(args.root), "--fer-root", str(args.fer_root)]
            )
            .strip()
            .splitlines()[-1]
        )
        row["share_of_hub"] = row["ms_per_clip"] / result["cost"]["hub_baseline"]["ms_per_clip"]
        result["cost"]["models"] = [r for r in result["cost"]["models"] if r["checkpoint"] != args.add] + [row]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    figure(result, args.out.with_suffix(".png"))
    render_results(result)
    from headline import render_headline

    render_headline()
    print(comparison.cost_markdown(result["cost"], result["accuracy"]))


if __name__ == "__main__":
    main()
