"""Cost of talk 001's model (coattention) on this machine: per variant and per fine-tuning stage.

Protocol
--------
* Variants: speech alone, text alone, fusion; each with the top 0, 1 and 2 encoder layers of
  each modality trained (the stages ``head``, ``top1``, ``top2``). Weights are as built for
  training (pre-trained encoder layers, random head): cost does not depend on them.
* Inference: one real RAVDESS clip cut or padded to exactly 4.0 s with its Whisper transcript,
  through the recipe's ``clip_inputs`` (silence trimming, the frozen Whisper tiny.en encoder, the
  frozen MiniLM) and the model: 3 warm-up runs, then the median of 20, batch 1, with 1 and 2
  torch threads; the frozen encoders' share is timed apart. Transcription is not included
  (``bench/asr.py`` times it).
* Training: seconds per epoch of the RAVDESS 5-fold protocol (840 training clips, batch 32 = 27
  steps) from cached encoder states: forward, backward and AdamW step on a batch of 32 real clips,
  3 warm-up steps, median of 5 timed steps x 27. One thread (how the CV runs were made).
* Size: parameters (all, and trained in the stage), and the committed checkpoint's file size.

Usage::

    python bench/coattention.py --root ../shared/datasets/ravdess_speech

Writes ``bench/results/coattention.json`` and ``.png`` and prints a table. Run it on a quiet
machine: other processes inflate every number.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from timing import arguments, cost_figure, exactly, machine, median_ms, real_clips, save_and_print, seconds_per_epoch  # noqa: E402

from emodemo.recipes import coattention as recipe  # noqa: E402

MODES = ("speech", "text", "fusion")
CLIP_SECONDS = 4.0
TRAIN_CLIPS, BATCH = 840, 32
CHECKPOINT = REPO / "checkpoints" / "coattention"


def spec_of(mode: str) -> dict:
    return {"mode": mode, "top_layers": 2, "speech_encoder": recipe.WHISPER, "text_encoder": recipe.MINILM}


def measure(mode: str, clips, threads: list[int]) -> list[dict]:
    spec = spec_of(mode)
    model = recipe.build_model(recipe.model_kwargs(mode, 2, len(recipe.LABELS)), spec).eval()
    wave, transcript = exactly(clips[0][0], CLIP_SECONDS), clips[0][1]
    batch = recipe.StateClips.collate(
        [{k: v[0] for k, v in recipe.clip_inputs(w, t, spec).items() if not k.endswith("mask")} for w, t in clips]
    )
    rows = []
    for unfrozen, stage in enumerate(recipe.STAGES):
        model.unfreeze(unfrozen)
        row = {
            "variant": mode,
            "stage": stage,
            "parameters": sum(p.numel() for p in model.parameters()),
            "trained_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        }
        model.eval()
        for n in threads:
            torch.set_num_threads(n)
            inputs = recipe.clip_inputs(wave, transcript, spec)
            with torch.inference_mode():
                row[f"ms_frozen_encoders_threads{n}"] = median_ms(
                    lambda: recipe.clip_inputs(wave, transcript, spec), 20
                )
                row[f"ms_model_threads{n}"] = median_ms(lambda: model(**inputs), 20)
        row["train_s_per_epoch_threads1"] = seconds_per_epoch(model, lambda: batch, TRAIN_CLIPS, BATCH)
        rows.append(row)
    return rows


def figure(rows: list[dict], path: Path) -> None:
    cost_figure(
        "coattention cost",
        [f"{r['variant']} / {r['stage']}" for r in rows],
        [
            ([r["ms_frozen_encoders_threads1"] for r in rows], "tab:gray", "frozen encoders (Whisper, MiniLM)"),
            ([r["ms_model_threads1"] for r in rows], "tab:blue", "co-attention model"),
        ],
        [r["train_s_per_epoch_threads1"] for r in rows],
        "training s per epoch (840 clips, cached states, 1 thread)",
        path,
    )


def main() -> None:
    args = arguments(__doc__, "coattention")

    clips = real_clips(args.root, BATCH)
    threads = sorted({1, min(2, os.cpu_count() or 1)})
    rows = [row for mode in MODES for row in measure(mode, clips, threads)]
    weights = CHECKPOINT / "model.safetensors"
    result = {
        "machine": machine(),
        "clip_seconds": CLIP_SECONDS,
        "rows": rows,
        "checkpoint_bytes": weights.stat().st_size if weights.exists() else None,
    }
    save_and_print(result, args.out)
    figure(rows, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
