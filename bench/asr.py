"""Word error rate and speed of the two Whisper engines on 40 real RAVDESS clips.

Protocol
--------
* Clips: two per actor for actors 01-20 (:func:`benchmark_clips`): clip k (0 or 1) of actor a has
  emotion ``(2(a-1) + k) mod 8 + 1`` (so each of the 8 emotions appears 5 times), statement
  ``k + 1`` (each actor says both sentences), strong intensity for even actors (normal for
  neutral, which has no strong take), repetition 1 for actors 01-10 and 2 for 11-20.
* Reference: the statement field, 01 "Kids are talking by the door", 02 "Dogs are sitting by the
  door". Text normalisation before scoring: lowercase, every character other than a letter, a
  digit, an apostrophe or a space removed, whitespace collapsed.
* WER = (substitutions + deletions + insertions) / reference words, summed over all clips
  (word-level Levenshtein distance, :func:`emodemo.speech.wer.edit_distance`).
* Speed: audio decoded and weights resolved (converted once, if needed) beforehand; model load
  timed on its own (first load in the process);
  one warm-up transcription; then per clip the wall time and the process CPU time (all threads)
  of :func:`emodemo.speech.asr.transcribe`. Real-time factor = wall seconds / audio seconds.

Usage::

    python bench/asr.py --root ../shared/datasets/ravdess_speech [--beam-size 1] [--model tiny.en]

Writes ``bench/results/asr[_beamN][_MODEL].json`` and ``.png`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emodemo.data.ravdess import SENTENCES  # noqa: E402
from emodemo.inputs import SAMPLE_RATE, load_audio  # noqa: E402
from emodemo.speech import asr, normalise, word_error_rate  # noqa: E402
from emodemo.weights import assets  # noqa: E402


def benchmark_clips(root: Path) -> list[Path]:
    """The fixed 40 clips of the protocol above (two per actor, actors 01-20)."""
    clips = []
    for actor in range(1, 21):
        for k in range(2):
            emotion = (2 * (actor - 1) + k) % 8 + 1
            intensity = 2 if actor % 2 == 0 and emotion != 1 else 1
            repetition = 1 if actor <= 10 else 2
            name = f"03-01-{emotion:02d}-{intensity:02d}-{k + 1:02d}-{repetition:02d}-{actor:02d}"
            matches = sorted((root / f"Actor_{actor:02d}").glob(name + ".*"))
            if not matches:
                raise FileNotFoundError(
                    f"{name} not found under {root / f'Actor_{actor:02d}'}: is --root a "
                    "RAVDESS speech folder (Actor_XX/03-01-...)?"
                )
            clips.append(matches[0])
    return clips


def reference_text(clip: Path) -> str:
    """The sentence a RAVDESS clip says, from its statement field (fifth in the file name)."""
    return SENTENCES[clip.stem.split("-")[4]]


def measure(backend: str, model: str, waves: list, beam_size: int) -> dict:
    """Load time, warm-up, then per-clip transcripts with wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    loaded = asr.load_model(backend, model)
    load = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu, "source": loaded.asset.source}
    asr.transcribe(waves[0], model=model, backend=backend, beam_size=beam_size)  # warm-up
    rows = []
    for wave in waves:
        wall, cpu = time.perf_counter(), time.process_time()
        transcript = asr.transcribe(wave, model=model, backend=backend, beam_size=beam_size)
        rows.append(
            {
                "text": transcript.text,
                "wall_s": time.perf_counter() - wall,
                "cpu_s": time.process_time() - cpu,
                "audio_s": transcript.duration,
            }
        )
    return {"load": load, "clips": rows}


def summarise(result: dict, references: list[str]) -> dict:
    clips = result["clips"]
    wall = sum(c["wall_s"] for c in clips)
    audio = sum(c["audio_s"] for c in clips)
    return {
        "wer": word_error_rate(references, [c["text"] for c in clips]),
        "exact_match": sum(normalise(c["text"]) == normalise(r) for c, r in zip(clips, references)) / len(clips),
        "wall_s_per_clip": wall / len(clips),
        "cpu_s_per_clip": sum(c["cpu_s"] for c in clips) / len(clips),
        "rtf": wall / audio,
        "load_wall_s": result["load"]["wall_s"],
        "load_cpu_s": result["load"]["cpu_s"],
    }


def plot(summaries: dict[str, dict], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summaries)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    panels = [("wer", "word error rate"), ("cpu_s_per_clip", "CPU s per clip"), ("rtf", "real-time factor (wall)")]
    for ax, (key, label) in zip(axes, panels):
        values = [summaries[n][key] for n in names]
        bars = ax.bar(names, values, color=["#4C72B0", "#DD8452"][: len(names)])
        ax.bar_label(bars, fmt="%.3f")
        ax.set_title(label)
        ax.set_ylim(0, max(max(values) * 1.25, 1e-3))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root",
        type=Path,
        default=REPO.parent / "shared" / "datasets" / "ravdess_speech",
        help="RAVDESS speech folder (Actor_01 ... Actor_20)",
    )
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--beam-size", type=int, default=1)
    parser.add_argument("--backends", nargs="+", default=list(asr.BACKENDS), choices=asr.BACKENDS)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)

    clips = benchmark_clips(args.root)
    references = [reference_text(c) for c in clips]
    waves = [load_audio(c, sr=SAMPLE_RATE) for c in clips]
    assets.whisper_ct2(args.model), assets.whisper_checkpoint(args.model)  # fetch / convert, untimed
    results, summaries = {}, {}
    for backend in args.backends:
        results[backend] = measure(backend, args.model, waves, args.beam_size)
        summaries[backend] = summarise(results[backend], references)

    import torch

    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
    )
    title = f"Whisper {args.model}, beam {args.beam_size}, 40 RAVDESS clips (actors 01-20), CPU: {machine}"
    print(title)
    print(f"{'backend':<16}{'WER':>7}{'exact':>7}{'CPU s/clip':>12}{'wall s/clip':>13}{'RTF':>7}{'load s':>8}")
    for name, s in summaries.items():
        print(
            f"{name:<16}{s['wer']:>7.3f}{s['exact_match']:>7.2f}{s['cpu_s_per_clip']:>12.3f}"
            f"{s['wall_s_per_clip']:>13.3f}{s['rtf']:>7.3f}{s['load_wall_s']:>8.2f}"
        )

    suffix = ("" if args.beam_size == 1 else f"_beam{args.beam_size}") + (
        "" if args.model == "tiny.en" else f"_{args.model}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "protocol": __doc__.split("Usage::")[0].strip(),
        "model": args.model,
        "beam_size": args.beam_size,
        "machine": machine,
        "clips": [c.name for c in clips],
        "references": references,
        "summary": summaries,
        "per_clip": {b: [{"clip": c.name, **row} for c, row in zip(clips, r["clips"])] for b, r in results.items()},
        "load": {b: r["load"] for b, r in results.items()},
    }
    (args.out / f"asr{suffix}.json").write_text(json.dumps(report, indent=1))
    plot(summaries, title, args.out / f"asr{suffix}.png")
    print(f"saved {args.out / f'asr{suffix}.json'} and .png")


if __name__ == "__main__":
    main()
