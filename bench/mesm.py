"""Cost of talk 004's models on this machine: FLOPs and CPU time of MESM at p = 0.3 ... 0.9 against FE2E.

Protocol
--------
* Inputs: real RAVDESS clips cut or padded to exactly 4.0 s with their Whisper transcripts,
  through the recipe's ``clip_inputs`` (silence trimmed, 400 ms log-mel chunks, frozen MiniLM
  word pieces); batch 1 (the first clip) and batch 8 (eight clips).
* Models: text + audio. MESM is a committed model (trained at p = 0.7: fold 0's of the log-mel mean served
  until 2026-12-07, kept under ``checkpoints/mesm/logmel``) run at each p, so that what it keeps is what trained
  attention keeps;
  FE2E has the same layers without the attention and with dense convolutions (random weights: its
  cost does not depend on them).
  Without the checkpoint, MESM gets random weights too, and the table says so.
* FLOPs: counted by PyTorch's ``torch.utils.flop_counter.FlopCounterMode`` (matrix products,
  convolutions, attention), per clip, the frozen MiniLM excluded (it is the same for all).
* Time: the model alone, 3 warm-up calls then the median of 20, one thread; and the share of
  chunk positions MESM kept.
* Training: seconds per epoch of the 840 training clips of a fold (batch 16, one thread: the
  median step x 53 steps; mixed pairs train twice as many); parameters; the checkpoint's size.

Usage::

    python bench/mesm.py --root ../shared/datasets/ravdess_speech

Writes ``bench/results/mesm.json`` and ``.png`` and prints a table. Run it on a quiet machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from timing import arguments, exactly, machine, median_ms, real_clips, save_and_print, seconds_per_epoch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from emodemo.models import build  # noqa: E402
from emodemo.recipes import mesm as recipe  # noqa: E402

CLIP_SECONDS = 4.0
TRAIN_CLIPS = 840  # a fold's training actors (14 x 60 clips)
TOP_P = (0.3, 0.5, 0.7, 0.9)
CHECKPOINT = REPO / "checkpoints" / "mesm" / "logmel" / "fold0"  # the talk's log-mel MESM (served until 2026-12-07)
SPEC = {"modalities": "TA"}


def batch_of(clips) -> dict[str, torch.Tensor]:
    items = []
    for wave, transcript in clips:
        one = recipe.clip_inputs(exactly(wave, CLIP_SECONDS), transcript, SPEC)
        items.append({"audio": one["audio"][0][one["audio_mask"][0]], "text": one["text"][0][one["text_mask"][0]]})
    return recipe.ChunkClips.collate(items)


def mesm_model():
    """A committed MESM model when there is one (its trained attention), else random weights."""
    if (CHECKPOINT / "model.safetensors").exists():
        from emodemo.models import REGISTRY
        from emodemo.training import load_checkpoint

        return load_checkpoint(CHECKPOINT, REGISTRY)[0].float(), "committed fold model (trained at p = 0.7)"
    return build(recipe.NAME, n_classes=7, modalities="TA", sparse=True).eval(), "random weights (no checkpoint)"


def measure(model, inputs: dict, top_p: float | None) -> dict:
    n = len(inputs["audio"])
    call = (lambda: model(**inputs)) if top_p is None else (lambda: model(**inputs, top_p=top_p))
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        out = call()
    with torch.inference_mode():
        ms = median_ms(call, 20) / n
    row = {"gflops_per_clip": counter.get_total_flops() / n / 1e9, "ms_per_clip": ms}
    if "audio_attention" in out:
        kept = out["audio_attention"][inputs["audio_mask"]].flatten(1) > 0
        row["kept_share"] = float(kept.float().mean())
    return row


def main() -> None:
    args = arguments(__doc__, "mesm")
    torch.set_num_threads(1)
    clips = real_clips(args.root, 8)
    batches = {1: batch_of(clips[:1]), 8: batch_of(clips)}
    torch.manual_seed(0)
    fe2e = build(recipe.NAME, n_classes=7, modalities="TA", sparse=False).eval()
    mesm, source = mesm_model()
    rows = []
    for size, inputs in batches.items():
        rows.append({"model": f"FE2E, batch {size}", **measure(fe2e, inputs, None), "kept_share": 1.0})
        rows += [{"model": f"MESM p={p}, batch {size}", **measure(mesm, inputs, p)} for p in TOP_P]
    training = {}
    batch16 = batch_of(clips * 2)  # 16 clips
    for name, model in (("FE2E", fe2e), ("MESM p=0.7", mesm)):
        training[name] = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_s_per_epoch_threads1": seconds_per_epoch(model, lambda: batch16, TRAIN_CLIPS, 16),
        }
    weights = CHECKPOINT / "model.safetensors"
    result = {
        "machine": machine(),
        "clip_seconds": CLIP_SECONDS,
        "mesm_weights": source,
        "chunks_per_clip": float(batches[8]["audio_mask"].sum(dim=1).float().mean()),
        "training": training,
        "checkpoint_bytes": weights.stat().st_size if weights.exists() else None,
        "rows": rows,
    }
    save_and_print(result, args.out, label="model")
    print(f"MESM weights: {source}")
    for name, row in training.items():
        print(
            f"{name}: {row['parameters']:,} parameters, {row['train_s_per_epoch_threads1']:.1f} s per training epoch "
            f"({TRAIN_CLIPS} clips, 1 thread)"
        )
    figure(rows, args.out.with_suffix(".png"))


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for size, colour in ((1, "tab:blue"), (8, "tab:orange")):
        mesm = [r for r in rows if r["model"].startswith("MESM") and r["model"].endswith(f"batch {size}")]
        fe2e = next(r for r in rows if r["model"] == f"FE2E, batch {size}")
        for ax, key in zip(axes, ("gflops_per_clip", "ms_per_clip")):
            ax.plot(TOP_P, [r[key] for r in mesm], "o-", color=colour, label=f"MESM, batch {size}")
            ax.axhline(fe2e[key], color=colour, ls="--", label=f"FE2E, batch {size}")
    axes[0].set_ylabel("GFLOPs per clip (FlopCounterMode)")
    axes[1].set_ylabel("CPU ms per clip (1 thread)")
    for ax in axes:
        ax.set_xlabel("nucleus p")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    spec = machine()
    fig.suptitle(f"MESM vs FE2E on 4 s RAVDESS clips with their words, {spec['cpu']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
