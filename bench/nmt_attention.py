"""Cost of talk 000's model (nmt_attention) in each of its variants, on this machine.

Protocol
--------
* Variants: audio only, text only, fusion with global, local (w = 10) and forced-alignment
  attention; concat score; the sizes the recipe trains (GloVe 50-d, vocabulary of the committed
  checkpoint, or 12k words without one). Weights are random: cost does not depend on them.
* Inference: one real RAVDESS clip cut or padded to exactly 4.0 s, with its Whisper words and
  timings, through the recipe's own ``clip_inputs`` (so silence trimming counts); 3 warm-up runs,
  then the median wall time of 30 forward passes under ``torch.inference_mode``, batch 1; and a
  batch of 16 such clips (ms per clip). With 1 and with 2 torch threads.
* Training: seconds per epoch of the RAVDESS 5-fold protocol (840 training clips = 14 actors,
  batch 16, 53 steps): forward, backward and AdamW step on batches of 16 real clips trimmed as in
  training, 3 warm-up steps, median of 10 timed steps x 53. One thread (how the CV runs were made).
* Size: parameters, and the committed checkpoint's file size when there is one.

Usage::

    python bench/nmt_attention.py --root ../shared/datasets/ravdess_speech

Writes ``bench/results/nmt_attention.json`` and ``.png`` and prints a table. Run it on a quiet
machine: other processes inflate every number.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from timing import arguments, cost_figure, exactly, machine, median_ms, real_clips, save_and_print, seconds_per_epoch  # noqa: E402

from emodemo.recipes import nmt_attention as recipe  # noqa: E402

VARIANTS = [("audio", "global"), ("text", "global"), ("fusion", "global"), ("fusion", "local"), ("fusion", "forced")]
CLIP_SECONDS = 4.0
TRAIN_CLIPS, BATCH = 840, 16
CHECKPOINT = REPO / "checkpoints" / "nmt_attention"


def vocabulary() -> list[str]:
    spec = CHECKPOINT / "config.json"
    if spec.exists():
        return json.loads(spec.read_text())["input_spec"]["vocab"]
    return [recipe.PAD, recipe.UNK] + recipe.glove().words[:12_000]


def measure(mode: str, alignment: str, vocab: list[str], clips, threads: list[int]) -> dict:
    model = recipe.build_model(recipe.model_kwargs(vocab, mode, alignment, "concat", 10), vocab).eval()
    one = recipe.clip_inputs(exactly(clips[0][0], CLIP_SECONDS), clips[0][1], {"vocab": vocab})
    four_s = recipe.PairedClips.collate(
        [recipe.clip_item(exactly(w, CLIP_SECONDS), t, {"vocab": vocab}) for w, t in clips]
    )
    natural = recipe.PairedClips.collate([recipe.clip_item(w, t, {"vocab": vocab}) for w, t in clips])  # as in training
    row = {
        "variant": mode + (f" / {alignment}" if mode == "fusion" else ""),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    for n in threads:
        torch.set_num_threads(n)
        with torch.inference_mode():
            row[f"ms_per_clip_batch1_threads{n}"] = median_ms(lambda: model(**one), 30)
            row[f"ms_per_clip_batch{len(clips)}_threads{n}"] = median_ms(lambda: model(**four_s), 5) / len(clips)
    row["train_s_per_epoch_threads1"] = seconds_per_epoch(model, lambda: natural, TRAIN_CLIPS, BATCH, repeats=10)
    return row


def figure(rows: list[dict], path: Path) -> None:
    cost_figure(
        "nmt_attention cost",
        [r["variant"] for r in rows],
        [([r["ms_per_clip_batch1_threads1"] for r in rows], "tab:blue", "model")],
        [r["train_s_per_epoch_threads1"] for r in rows],
        "training s per epoch (840 clips, 1 thread)",
        path,
    )


def main() -> None:
    args = arguments(__doc__, "nmt_attention")

    vocab, clips = vocabulary(), real_clips(args.root, BATCH)
    threads = sorted({1, min(2, os.cpu_count() or 1)})
    rows = [measure(mode, alignment, vocab, clips, threads) for mode, alignment in VARIANTS]
    weights = CHECKPOINT / "model.safetensors"
    result = {
        "machine": machine(),
        "vocabulary": len(vocab),
        "clip_seconds": CLIP_SECONDS,
        "rows": rows,
        "checkpoint_bytes": weights.stat().st_size if weights.exists() else None,
    }
    save_and_print(result, args.out)
    figure(rows, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
