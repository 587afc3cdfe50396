"""Emotion over time, measured (issue 21): segment accuracy and boundary error on recordings whose
truth is known, and the throughput of a long recording.

Protocol
--------
* **Accuracy and boundaries.** For each of the 5 committed RAVDESS folds (actors 01-20, 7 classes,
  calm counted as neutral), each of its 4 test actors' 60 clips, shuffled (seed 0), are joined into
  one recording with a pause after each clip drawn from {0, 0.25, 0.5, 1, 2} s: 20 recordings of
  about 4 minutes. Two conditions: **whole clips** (each keeps its own ~1 s of leading silence) and
  **trimmed clips** (each cut to its speech first, so a pause of 0 makes two utterances touch). The
  timeline's segments come from the voice-activity detector alone (:mod:`emodemo.inputs.segmentation`);
  each is answered by that fold's ``speech_probe`` model (which never trained on these actors) and
  scored against the clip it overlaps most. The same fold model's answers on the same clips whole
  give the clip-level accuracy beside it. Boundary error: from each clip's speech start / end (an
  energy detector, :mod:`emodemo.serving.timeline_eval`) to the nearest segment start / end; median and
  90th percentile over all boundaries.
* **Throughput.** A recording of RAVDESS clips (all 24 actors, shuffled, pauses as above) of
  ``--minutes`` minutes through ``python -m emodemo timeline`` in a fresh process: the served voice
  models + Whisper tiny.en (every model that hears the voice), then every served model (the words
  models too). Wall time (start-up included), real-time factor (wall / audio) and the process's peak
  resident memory.
* **Ray** (``--ray-files``): the same command with ``--ray`` over several such recordings, with 1 and
  then 2 Ray workers (actors), the voice models + Whisper; Ray's start-up and each actor's model
  loading are in the wall time.

Usage::

    python bench/timeline.py --root ../shared/datasets/ravdess_speech [--minutes 10] [--folds 0,1]
    python bench/timeline.py --skip-accuracy --minutes 60                # the hour of the issue's target
    python bench/timeline.py --skip-accuracy --minutes 0 --ray-files 6   # Ray Data, 1 vs 2 workers
    python bench/timeline.py --render-only                               # docs/results.md's tables from the JSON

Writes ``bench/results/timeline.json`` and ``.png`` (an example timeline) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULTS = REPO / "bench" / "results" / "timeline.json"
PAUSES = (0.0, 0.25, 0.5, 1.0, 2.0)
FOLDS = REPO / "splits" / "ravdess_5fold_seed0.json"
FOLD_MODELS = REPO / "checkpoints" / "speech_probe" / "folds"
WORDS_ONLY = ("words_minilm", "nmt_attention/words_goemotions")


def accuracy_run(root: Path, folds: list[int], seed: int = 0) -> dict:
    """Segment vs clip accuracy and boundary errors per condition, over the folds' test actors."""
    import soundfile as sf

    from emodemo import data
    from emodemo.core import to_canonical
    from emodemo.inputs import load_audio
    from emodemo.serving import Pipeline, analyse_recording, joined_recording, score_timeline

    samples = data.load("ravdess", root)
    split = json.loads(FOLDS.read_text())["folds"]
    rng = np.random.default_rng(seed)
    totals = {c: {"right": 0, "scored": 0, "segments": 0, "clips": 0, "errors": []} for c in ("whole", "trimmed")}
    clip_right = clip_n = 0
    example = None
    for k in folds:
        pipeline = Pipeline([str(FOLD_MODELS / f"fold{k}")], transcribe=False)
        model = pipeline.models[0]
        for actor in split[k]["test"]:
            clips = [s for s in samples if s.speaker == actor]
            clips = [clips[i] for i in rng.permutation(len(clips))]
            waves = [load_audio(s.audio) for s in clips]
            labels = [to_canonical(s.label) for s in clips]
            pauses = rng.choice(PAUSES, size=len(clips)).tolist()
            for wave, label in zip(waves, labels):
                clip_right += to_canonical(pipeline.answer(wave).predictions[model.name].top) == label
                clip_n += 1
            for condition in totals:
                wave, placed = joined_recording(waves, labels, pauses, trim=condition == "trimmed")
                with tempfile.TemporaryDirectory() as folder:
                    path = Path(folder) / f"{actor}.wav"
                    sf.write(path, wave, 16000, subtype="PCM_16")
                    records = list(analyse_recording(pipeline, path))
                segments = [(r["start"], r["end"]) for r in records]
                answers = [to_canonical(r["models"][model.name]["emotion"]) for r in records]
                scored = score_timeline(segments, answers, placed)
                total = totals[condition]
                for key in ("right", "scored", "segments", "clips"):
                    total[key] += scored[key]
                total["errors"] += scored["boundary_errors"]
                if example is None and condition == "whole":
                    example = {
                        "actor": actor,
                        "fold": k,
                        "records": records[:20],
                        "clips": [vars(c) for c in placed if c.start < records[min(19, len(records) - 1)]["end"]],
                    }
        print(f"fold {k} done", flush=True)
    result = {"clip_accuracy": clip_right / clip_n, "clips": clip_n, "conditions": {}}
    for condition, total in totals.items():
        errors = np.array(total["errors"])
        result["conditions"][condition] = {
            "segment_accuracy": total["right"] / total["scored"],
            "segments": total["segments"],
            "clips": total["clips"],
            "segments_per_clip": total["segments"] / total["clips"],
            "boundary_error_median_s": float(np.median(errors)),
            "boundary_error_p90_s": float(np.percentile(errors, 90)),
            "boundaries_within_0.2_s": float(np.mean(errors <= 0.2)),
        }
    result["example"] = example
    return result


def long_recording(root: Path, minutes: float, folder: Path, seed: int = 0) -> Path:
    """A ``minutes``-long 16-bit wav of shuffled RAVDESS clips with pauses from :data:`PAUSES`."""
    import soundfile as sf

    from emodemo import data
    from emodemo.inputs import load_audio

    samples = data.load("ravdess", root)
    rng = np.random.default_rng(seed)
    path = folder / f"ravdess_{minutes:g}min.wav"
    with sf.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as out:
        written = 0
        while written < minutes * 60 * 16000:
            for i in rng.permutation(len(samples)):
                wave = load_audio(samples[i].audio)
                pause = np.zeros(int(rng.choice(PAUSES) * 16000), dtype=np.float32)
                out.write(np.concatenate([wave, pause]))
                written += len(wave) + len(pause)
                if written >= minutes * 60 * 16000:
                    break
    return path


PEAK = (
    "import resource, runpy, sys\n"
    "sys.argv = ['emodemo', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('emodemo', run_name='__main__')\n"
    "finally:\n    print('peak_rss_mb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)"
)


def throughput_run(path: Path, models: list[str] | None) -> dict:
    """Wall time, real-time factor and peak memory of ``python -m emodemo timeline`` on ``path``."""
    import soundfile as sf

    seconds = sf.info(str(path)).duration
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "segments.jsonl"
        command = [sys.executable, "-c", PEAK, "timeline", str(path), "--out", str(out), "--no-progress"]
        if models:
            command += ["--models", ",".join(models)]
        started = time.perf_counter()
        done = subprocess.run(command, check=True, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - started
        segments = sum(1 for line in out.read_text().splitlines() if '"segment"' in line)
    peak = float(done.stderr.split("peak_rss_mb")[-1].split()[0])
    return {
        "audio_s": seconds,
        "wall_s": wall,
        "real_time_factor": wall / seconds,
        "segments": segments,
        "peak_rss_mb": peak,
        "models": models or "all served",
    }


def ray_scaling(root: Path, files: int, minutes: float, models: list[str]) -> list[dict]:
    """Wall time of ``timeline --ray`` over ``files`` recordings of ``minutes`` each, with 1 and 2
    workers (Ray's start-up and each actor's model loading included)."""
    import soundfile as sf

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        recordings = Path(folder) / "recordings"
        recordings.mkdir()
        for k in range(files):
            long_recording(root, minutes, recordings, seed=k).rename(recordings / f"recording_{k}.wav")
        seconds = sum(sf.info(str(p)).duration for p in recordings.iterdir())
        for workers in (1, 2):
            out = Path(folder) / f"ray_{workers}.jsonl"
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "emodemo",
                    "timeline",
                    str(recordings),
                    "--out",
                    str(out),
                    "--ray",
                    "--workers",
                    str(workers),
                    "--models",
                    ",".join(models),
                ],
                check=True,
                cwd=REPO,
                capture_output=True,
            )
            wall = time.perf_counter() - started
            rows.append(
                {
                    "workers": workers,
                    "files": files,
                    "audio_s": seconds,
                    "wall_s": wall,
                    "real_time_factor": wall / seconds,
                }
            )
    return rows


BLOCK_START, BLOCK_END = "<!-- timeline:start -->", "<!-- timeline:end -->"  # in docs/results.md


def markdown(result: dict, live: dict | None) -> str:
    """docs/results.md's tables: segments against clips, throughput, Ray, the live microphone."""
    acc = result["accuracy"]
    whole, touching = acc["conditions"]["whole"], acc["conditions"]["trimmed"]
    lines = [
        "| 1,200 RAVDESS takes of unseen actors, fold `speech_probe` models | accuracy (7 classes) | "
        "segments per take | boundary error: median / 90th pct |",
        "|---|---|---|---|",
        f"| whole takes, one answer per take (clip level) | {acc['clip_accuracy']:.3f} | 1 | - |",
    ]
    for name, row in (
        ("whole takes, the detector's segments", whole),
        ("touching utterances, the detector's segments", touching),
    ):
        lines.append(
            f"| {name} | {row['segment_accuracy']:.3f} | {row['segments_per_clip']:.2f} | "
            f"{row['boundary_error_median_s']:.3f} s / {row['boundary_error_p90_s']:.2f} s |"
        )
    lines += [
        "",
        "| throughput, this 2-core CPU | audio | wall (start-up included) | real-time factor | peak memory |",
        "|---|---|---|---|---|",
    ]
    for row in result.get("throughput", []):
        what = (
            "every served model + Whisper"
            if isinstance(row["models"], str)
            else f"the {len(row['models'])} voice models + Whisper (target: RTF 0.17, 2 GB)"
        )
        lines.append(
            f"| {what} | {row['audio_s'] / 60:.0f} min | {row['wall_s']:.0f} s | {row['real_time_factor']:.3f} | "
            f"{row['peak_rss_mb'] / 1024:.2f} GB |"
        )
    for row in result.get("ray", []):
        lines.append(
            f"| Ray Data, {row['workers']} worker{'s' if row['workers'] > 1 else ''} (actors), voice models + "
            f"Whisper, {row['files']} recordings | {row['audio_s'] / 60:.0f} min | {row['wall_s']:.0f} s | "
            f"{row['real_time_factor']:.3f} | - |"
        )
    if live:
        lines += [
            "",
            f"Live microphone in Chromium: {live['answers']} answers in {live['seconds_streamed']:.0f} s of "
            f"streaming; from a chunk's arrival to its answer on screen, median **{live['median_s']:.2f} s**, "
            f"90th percentile {live['p90_s']:.2f} s (target 1.0 s; in the handler {live['server_s_median']:.2f} s).",
        ]
    return "\n".join(lines)


def figure(example: dict, out: Path) -> None:
    """The example recording's timeline: the model's answer per segment over the true clips."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emodemo.core import CANONICAL7

    fig, ax = plt.subplots(figsize=(10, 2.6), constrained_layout=True)
    for c in example["clips"]:
        ax.barh(
            1, c["speech_end"] - c["speech_start"], left=c["speech_start"], color=f"C{CANONICAL7.index(c['label'])}"
        )
    for r in example["records"]:
        name = next(iter(r["models"]))
        ax.barh(0, r["end"] - r["start"], left=r["start"], color=f"C{CANONICAL7.index(r['models'][name]['emotion'])}")
    ax.set_yticks([0, 1], ["segments: answer", "clips: truth"])
    ax.set_xlabel("seconds")
    handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{i}") for i in range(len(CANONICAL7))]
    ax.legend(handles, CANONICAL7, ncol=7, loc="upper center", bbox_to_anchor=(0.5, 1.35), fontsize=8)
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets" / "ravdess_speech")
    parser.add_argument("--folds", default="0,1,2,3,4")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the throughput recording")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument(
        "--ray-files",
        type=int,
        default=0,
        help="also time --ray with 1 and 2 workers on this many recordings of --ray-minutes each",
    )
    parser.add_argument("--ray-minutes", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--render-only", action="store_true", help="re-render docs/results.md's tables from the saved JSON"
    )
    args = parser.parse_args()
    if args.render_only:
        from headline import RESULTS_PAGE

        from emodemo.core import replace_marked_block

        live = RESULTS.with_name("live.json")
        replace_marked_block(
            RESULTS_PAGE,
            BLOCK_START,
            BLOCK_END,
            markdown(json.loads(args.out.read_text()), json.loads(live.read_text()) if live.is_file() else None),
        )
        return
    result = json.loads(args.out.read_text()) if args.out.is_file() else {}
    from timing import machine

    result["machine"] = machine()
    if not args.skip_accuracy:
        result["accuracy"] = accuracy_run(args.root, [int(k) for k in args.folds.split(",")])
        figure(result["accuracy"]["example"], args.out.with_suffix(".png"))
    from emodemo.serving import discover

    voice = [m for m in discover() if m not in WORDS_ONLY and m != "fer_cnn"]
    if args.minutes > 0:
        with tempfile.TemporaryDirectory() as folder:
            path = long_recording(args.root, args.minutes, Path(folder))
            result["throughput"] = [throughput_run(path, voice), throughput_run(path, None)]
    if args.ray_files:
        result["ray"] = ray_scaling(args.root, args.ray_files, args.ray_minutes, voice)
    args.out.write_text(json.dumps(result, indent=1))
    accuracy = result.get("accuracy")
    if accuracy:
        print(f"clip-level accuracy (fold speech_probe, {accuracy['clips']} clips): {accuracy['clip_accuracy']:.3f}")
        for condition, row in accuracy["conditions"].items():
            print(
                f"{condition:8s} segment accuracy {row['segment_accuracy']:.3f}"
                f"  segments/clip {row['segments_per_clip']:.2f}"
                f"  boundary error median {row['boundary_error_median_s']:.3f} s"
                f", p90 {row['boundary_error_p90_s']:.3f} s"
            )
    for row in result.get("throughput", []):
        print(
            f"{row['models'] if isinstance(row['models'], str) else len(row['models'])} models: "
            f"{row['audio_s'] / 60:.1f} min of audio in {row['wall_s']:.0f} s, RTF {row['real_time_factor']:.3f}, "
            f"peak {row['peak_rss_mb']:.0f} MB"
        )
    for row in result.get("ray", []):
        print(
            f"Ray, {row['workers']} worker(s): {row['files']} recordings, {row['audio_s'] / 60:.1f} min of audio in "
            f"{row['wall_s']:.0f} s (RTF {row['real_time_factor']:.3f}, start-up included)"
        )


if __name__ == "__main__":
    main()
