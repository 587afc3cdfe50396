"""Cost of talk 002's models (ssl_mha) on this machine: Self-MHA, Cross-MHA, their ablations, one modality.

Protocol
--------
* Variants: speech alone, text alone, Self-MHA and Cross-MHA, each also without statistical
  pooling (noSP) and with the text [CLS] vector (CLS). Random weights as built for training:
  cost does not depend on them.
* Inference: one real RAVDESS clip cut or padded to exactly 4.0 s with its Whisper transcript,
  through the recipe's ``clip_inputs`` (silence trimming, the frozen Whisper tiny.en encoder at every
  layer, the frozen MiniLM) and the model: 3 warm-up runs, then the median of 20, batch 1, with 1
  and 2 torch threads; the frozen encoders are timed apart (the same for every variant).
  Transcription is not included (``bench/asr.py`` times it).
* Training: seconds per epoch of the RAVDESS 5-fold protocol (840 training clips, batch 32 = 27
  steps) from cached encoder states: collating, forward, backward and AdamW step on a batch of 32
  real clips, 3 warm-up steps, median of 5 timed steps x 27. One thread (how the CV runs were made).
* Size: parameters, and the committed checkpoint's file size.

Usage::

    python bench/ssl_mha.py --root ../shared/datasets/ravdess_speech

Writes ``bench/results/ssl_mha.json`` and ``.png`` and prints a table. Run it on a quiet machine:
other processes inflate every number.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from timing import arguments, cost_figure, exactly, machine, median_ms, real_clips, save_and_print, seconds_per_epoch  # noqa: E402

from emodemo.models import build  # noqa: E402
from emodemo.recipes import ssl_mha as recipe  # noqa: E402

VARIANTS = {  # name -> (fusion, pooling, text feature)
    "speech": ("speech", "stat", "tokens"),
    "text": ("text", "stat", "tokens"),
    "Self-MHA": ("self", "stat", "tokens"),
    "Self-noSP": ("self", "mean", "tokens"),
    "Self-CLS": ("self", "stat", "cls"),
    "Cross-MHA": ("cross", "stat", "tokens"),
    "Cross-noSP": ("cross", "mean", "tokens"),
    "Cross-CLS": ("cross", "stat", "cls"),
}
CLIP_SECONDS = 4.0
TRAIN_CLIPS, BATCH = 840, 32
CHECKPOINT = REPO / "checkpoints" / "ssl_mha"


def spec_of(fusion: str) -> dict:
    return {"fusion": fusion, "speech_encoder": recipe.WHISPER, "text_encoder": recipe.MINILM}


def measure(name: str, clips, threads: list[int]) -> dict:
    fusion, pooling, text_feature = VARIANTS[name]
    spec = spec_of(fusion)
    model = build(recipe.NAME, **recipe.model_kwargs(fusion, pooling, text_feature, len(recipe.LABELS))).eval()
    wave, transcript = exactly(clips[0][0], CLIP_SECONDS), clips[0][1]
    inputs = recipe.clip_inputs(wave, transcript, spec)
    row = {"variant": name, "parameters": sum(p.numel() for p in model.parameters())}
    for n in threads:
        torch.set_num_threads(n)
        with torch.inference_mode():
            row[f"ms_model_threads{n}"] = median_ms(lambda: model(**inputs), 20)
    items = [{k: v[0] for k, v in recipe.clip_inputs(w, t, spec).items() if not k.endswith("mask")} for w, t in clips]
    row["train_s_per_epoch_threads1"] = seconds_per_epoch(
        model, lambda: recipe.StateClips.collate(items), TRAIN_CLIPS, BATCH
    )
    return row


def figure(rows: list[dict], frozen_ms: float, path: Path) -> None:
    cost_figure(
        "ssl_mha cost",
        [r["variant"] for r in rows],
        [
            ([frozen_ms] * len(rows), "tab:gray", "frozen encoders (Whisper all layers, MiniLM)"),
            ([r["ms_model_threads1"] for r in rows], "tab:blue", "fusion model"),
        ],
        [r["train_s_per_epoch_threads1"] for r in rows],
        "training s per epoch (840 clips, cached states, 1 thread)",
        path,
    )


def main() -> None:
    args = arguments(__doc__, "ssl_mha")

    clips = real_clips(args.root, BATCH)
    threads = sorted({1, min(2, os.cpu_count() or 1)})
    wave, transcript = exactly(clips[0][0], CLIP_SECONDS), clips[0][1]
    frozen = {}
    for n in threads:
        torch.set_num_threads(n)
        frozen[f"ms_frozen_encoders_threads{n}"] = median_ms(
            lambda: recipe.clip_inputs(wave, transcript, spec_of("self")), 20
        )
    rows = [measure(name, clips, threads) for name in VARIANTS]
    weights = CHECKPOINT / "model.safetensors"
    result = {
        "machine": machine(),
        "clip_seconds": CLIP_SECONDS,
        **frozen,
        "rows": rows,
        "checkpoint_bytes": weights.stat().st_size if weights.exists() else None,
    }
    print(", ".join(f"{k} {v:.1f}" for k, v in frozen.items()))
    save_and_print(result, args.out)
    figure(rows, frozen["ms_frozen_encoders_threads1"], args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
