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

import argparse
import json
import math
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from emodemo.models import build  # noqa: E402
from emodemo.recipes import ssl_mha as recipe  # noqa: E402
from timing import exactly, median_ms, real_clips  # noqa: E402

VARIANTS = {  # name -> (fusion, pooling, text feature)
    "speech": ("speech", "stat", "tokens"), "text": ("text", "stat", "tokens"),
    "Self-MHA": ("self", "stat", "tokens"), "Self-noSP": ("self", "mean", "tokens"), "Self-CLS": ("self", "stat", "cls"),
    "Cross-MHA": ("cross", "stat", "tokens"), "Cross-noSP": ("cross", "mean", "tokens"),
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
    row["train_s_per_epoch_threads1"] = train_seconds_per_epoch(model, items)
    return row


def train_seconds_per_epoch(model: torch.nn.Module, items: list[dict]) -> float:
    torch.set_num_threads(1)
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    labels = torch.zeros(len(items), dtype=torch.long)

    def step():
        optimiser.zero_grad()
        batch = recipe.StateClips.collate(items)
        torch.nn.functional.cross_entropy(model(**batch)["logits"], labels).backward()
        optimiser.step()

    seconds = median_ms(step, 5) / 1000 * math.ceil(TRAIN_CLIPS / BATCH)
    model.eval()
    return seconds


def figure(rows: list[dict], frozen_ms: float, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["variant"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].barh(names, [frozen_ms] * len(rows), color="tab:gray", label="frozen encoders (Whisper all layers, MiniLM)")
    axes[0].barh(names, [r["ms_model_threads1"] for r in rows], left=[frozen_ms] * len(rows), color="tab:blue",
                 label="fusion model")
    axes[0].set_xlabel("ms per 4 s clip (batch 1, 1 thread)")
    axes[0].legend(fontsize=7)
    axes[1].barh(names, [r["train_s_per_epoch_threads1"] for r in rows], color="tab:orange")
    axes[1].set_xlabel("training s per epoch (840 clips, cached states, 1 thread)")
    for ax in axes:
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"ssl_mha cost on {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets" / "ravdess_speech")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ssl_mha")
    args = parser.parse_args()

    clips = real_clips(args.root, BATCH)
    threads = sorted({1, min(2, os.cpu_count() or 1)})
    wave, transcript = exactly(clips[0][0], CLIP_SECONDS), clips[0][1]
    frozen = {}
    for n in threads:
        torch.set_num_threads(n)
        frozen[f"ms_frozen_encoders_threads{n}"] = median_ms(
            lambda: recipe.clip_inputs(wave, transcript, spec_of("self")), 20)
    rows = [measure(name, clips, threads) for name in VARIANTS]
    weights = CHECKPOINT / "model.safetensors"
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "torch": torch.__version__, "python": platform.python_version()},
              "clip_seconds": CLIP_SECONDS, **frozen, "rows": rows,
              "checkpoint_bytes": weights.stat().st_size if weights.exists() else None}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    figure(rows, frozen["ms_frozen_encoders_threads1"], args.out.with_suffix(".png"))
    print(", ".join(f"{k} {v:.1f}" for k, v in frozen.items()))
    keys = [k for k in rows[0] if k != "variant"]
    print(f"{'variant':12s}" + "".join(f"{k:>28s}" for k in keys))
    for r in rows:
        print(f"{r['variant']:12s}" + "".join(f"{r[k]:>28.1f}" if isinstance(r[k], float) else f"{r[k]:>28d}"
                                              for k in keys))
    if result["checkpoint_bytes"]:
        print(f"checkpoint: {result['checkpoint_bytes'] / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
