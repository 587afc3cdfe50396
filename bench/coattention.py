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

from emodemo.recipes import coattention as recipe  # noqa: E402
from timing import exactly, median_ms, real_clips  # noqa: E402

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
    batch = recipe.StateClips.collate([
        {k: v[0] for k, v in recipe.clip_inputs(w, t, spec).items() if not k.endswith("mask")} for w, t in clips])
    rows = []
    for unfrozen, stage in enumerate(recipe.STAGES):
        model.unfreeze(unfrozen)
        row = {"variant": mode, "stage": stage, "parameters": sum(p.numel() for p in model.parameters()),
               "trained_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)}
        model.eval()
        for n in threads:
            torch.set_num_threads(n)
            inputs = recipe.clip_inputs(wave, transcript, spec)
            with torch.inference_mode():
                row[f"ms_frozen_encoders_threads{n}"] = median_ms(lambda: recipe.clip_inputs(wave, transcript, spec), 20)
                row[f"ms_model_threads{n}"] = median_ms(lambda: model(**inputs), 20)
        row["train_s_per_epoch_threads1"] = train_seconds_per_epoch(model, batch)
        rows.append(row)
    return rows


def train_seconds_per_epoch(model: torch.nn.Module, batch: dict) -> float:
    torch.set_num_threads(1)
    model.train()
    trained = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trained, lr=1e-4)
    labels = torch.zeros(batch[next(iter(batch))].shape[0], dtype=torch.long)

    def step():
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(**batch)["logits"], labels).backward()
        optimiser.step()

    seconds = median_ms(step, 5) / 1000 * math.ceil(TRAIN_CLIPS / BATCH)
    model.eval()
    return seconds


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [f"{r['variant']} / {r['stage']}" for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    frozen = [r["ms_frozen_encoders_threads1"] for r in rows]
    head = [r["ms_model_threads1"] for r in rows]
    axes[0].barh(names, frozen, color="tab:gray", label="frozen encoders (Whisper, MiniLM)")
    axes[0].barh(names, head, left=frozen, color="tab:blue", label="co-attention model")
    axes[0].set_xlabel("ms per 4 s clip (batch 1, 1 thread)")
    axes[0].legend(fontsize=7)
    axes[1].barh(names, [r["train_s_per_epoch_threads1"] for r in rows], color="tab:orange")
    axes[1].set_xlabel("training s per epoch (840 clips, cached states, 1 thread)")
    for ax in axes:
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"coattention cost on {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets" / "ravdess_speech")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "coattention")
    args = parser.parse_args()

    clips = real_clips(args.root, BATCH)
    threads = sorted({1, min(2, os.cpu_count() or 1)})
    rows = [row for mode in MODES for row in measure(mode, clips, threads)]
    weights = CHECKPOINT / "model.safetensors"
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "torch": torch.__version__, "python": platform.python_version()},
              "clip_seconds": CLIP_SECONDS, "rows": rows,
              "checkpoint_bytes": weights.stat().st_size if weights.exists() else None}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    figure(rows, args.out.with_suffix(".png"))
    keys = [k for k in rows[0] if k not in ("variant", "stage")]
    print(f"{'variant / stage':18s}" + "".join(f"{k:>30s}" for k in keys))
    for r in rows:
        print(f"{r['variant'] + ' / ' + r['stage']:18s}"
              + "".join(f"{r[k]:>30.1f}" if isinstance(r[k], float) else f"{r[k]:>30d}" for k in keys))
    if result["checkpoint_bytes"]:
        print(f"checkpoint: {result['checkpoint_bytes'] / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
