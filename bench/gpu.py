"""Cost of every committed checkpoint on a GPU: milliseconds per 4 s clip and training seconds per epoch.

The lent GPU machine has neither the datasets nor the packaged weights, so this runs in two steps:

    python bench/gpu.py prepare --root ../shared/datasets/ravdess_speech   # here, on the CPU
    python bench/gpu.py run                                                # on the GPU machine

``prepare`` cuts one real RAVDESS clip to exactly 4.0 s, transcribes it, and stores for every
checkpoint under ``checkpoints/`` the model inputs its recipe makes of that clip (``clip_inputs``:
frozen-encoder states, waveform or word ids; for the face model, one real FER-2013 test face, so
that its row is per face: a video gives about 5 faces per second) in ``bench/gpu_inputs/`` (git-ignored), together with
the clip, its MiniLM token ids and the two frozen encoders' architectures (Whisper tiny.en
dimensions, the MiniLM config).

``run`` loads each checkpoint (the committed weights) on the GPU and measures, in fp32:

* inference: the model on that clip's inputs, batch 1 and the same inputs repeated to batch 32
  (reported per clip); 10 warm-up calls, median of 50, the GPU synchronised around each call;
* training: seconds per epoch of the RAVDESS 5-fold protocol (840 clips, batch 32 = 27 steps): the
  median of 10 steps (forward, cross-entropy, backward, AdamW) on batch 32 x 27;
* peak GPU memory of the batch-32 forward pass;
* the frozen encoders the recipes run before their models: the Whisper tiny.en encoder on the 4 s
  clip (log-mel on the GPU included) and MiniLM on its words, built from the same architectures
  with random weights (the weights cannot be carried there; cost does not depend on them).

Writes ``bench/results/gpu.json`` and ``.png`` and prints a table. Without a GPU, ``run`` stops
(``--cpu`` measures the CPU the same way, into ``gpu_cpu.json`` unless ``--out`` says otherwise).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

INPUTS = REPO / "bench" / "gpu_inputs"
CHECKPOINTS = REPO / "checkpoints"
CLIP_SECONDS = 4.0
TRAIN_CLIPS, BATCH = 840, 32


def checkpoint_folders() -> list[Path]:
    """Every committed checkpoint, nested ones (``ssl_mha/cross``) included."""
    return sorted(p.parent for p in CHECKPOINTS.rglob("config.json") if (p.parent / "model.safetensors").exists())


def key_of(folder: Path) -> str:
    return "_".join(folder.relative_to(CHECKPOINTS).parts)


def first_faces(fer_root: Path, n: int = 1):
    """The first ``n`` FER-2013 test faces, ``uint8 [n, 48, 48]``."""
    from emodemo import data
    from emodemo.recipes.fer_cnn import read_faces

    test = data.load("fer2013", fer_root, split="test")
    return read_faces([s.image for s in test[:n]]).numpy()


def prepare(root: Path, fer_root: Path) -> None:
    from dataclasses import asdict

    from safetensors.torch import save_file
    from timing import exactly, real_clips

    from emodemo.inputs import MINILM, load_text_encoder
    from emodemo.recipes import get_recipe
    from emodemo.recipes.frozen_states import words_of
    from emodemo.speech import load_model
    from emodemo.training import read_checkpoint_config

    INPUTS.mkdir(parents=True, exist_ok=True)
    wave, transcript = real_clips(root, 1)[0]
    wave = exactly(wave, CLIP_SECONDS)
    tokenizer, minilm = load_text_encoder(MINILM)
    token_ids = tokenizer([words_of(transcript)], return_tensors="pt")["input_ids"]  # [1, N]
    save_file({"wave": torch.from_numpy(wave), "token_ids": token_ids}, INPUTS / "clip.safetensors")
    minilm.config.to_json_file(INPUTS / "minilm_config.json")
    dims = asdict(load_model("openai-whisper", "tiny.en").engine.dims)
    (INPUTS / "whisper_dims.json").write_text(json.dumps(dims))
    face = first_faces(fer_root)[0]
    for folder in checkpoint_folders():
        meta = read_checkpoint_config(folder)
        recipe = get_recipe(meta["model_name"])
        if "image" in recipe.MODALITIES:  # a face model: one real face crop, "per clip" means per face
            inputs = recipe.face_inputs(face[None])
        else:
            inputs = recipe.clip_inputs(wave, transcript, meta.get("input_spec"))
        save_file({k: v.contiguous() for k, v in inputs.items()}, INPUTS / f"{key_of(folder)}.safetensors")
        print(f"{key_of(folder)}: " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in inputs.items()))
    print(f"inputs for {len(checkpoint_folders())} checkpoints in {INPUTS}")


def batch_of(inputs: dict[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    """The batch-of-one ``inputs`` repeated ``n`` times along the batch axis."""
    return {k: v.expand(n, *v.shape[1:]).contiguous() for k, v in inputs.items()}


def model_row(folder: Path, device: torch.device, sync) -> dict:
    from safetensors.torch import load_file

    from emodemo.models import REGISTRY
    from emodemo.training import load_checkpoint

    model, meta = load_checkpoint(folder, REGISTRY, device=device)
    one = {k: v.to(device) for k, v in load_file(INPUTS / f"{key_of(folder)}.safetensors").items()}
    return {"model": key_of(folder), **model_cost(model.float(), one, device, sync)}


def model_cost(
    model: torch.nn.Module, one: dict[str, torch.Tensor], device: torch.device, sync, train_clips: int = TRAIN_CLIPS
) -> dict:
    """What a loaded model costs on ``device`` for the batch-of-one inputs ``one``: parameters (and
    buffers), ms at batch 1 and per clip at batch 32, peak GPU memory of batch 32 (on a GPU), and
    training seconds per epoch of ``train_clips`` (a full fine-tuning step: every parameter trained;
    none for models fitted without gradients)."""
    from timing import median_ms, seconds_per_epoch

    many = batch_of(one, BATCH)
    row = {"parameters": sum(t.numel() for t in (*model.parameters(), *model.buffers()))}
    with torch.inference_mode():
        row["ms_batch1"] = median_ms(lambda: model(**one), 50, warmup=10, sync=sync)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        row["ms_per_clip_batch32"] = median_ms(lambda: model(**many), 50, warmup=10, sync=sync) / BATCH
        if device.type == "cuda":
            row["peak_mb_batch32"] = torch.cuda.max_memory_allocated(device) / 2**20
    if not list(model.parameters()):  # fitted by scikit-learn (SVMs, forest): no gradient step to time
        return row
    for p in model.parameters():  # a checkpoint may hold frozen parts; time a full fine-tuning step
        p.requires_grad_(True)
    row["train_s_per_epoch"] = seconds_per_epoch(model, lambda: many, train_clips, BATCH, repeats=10, sync=sync)
    return row


def encoder_rows(device: torch.device, sync) -> list[dict]:
    import whisper.model
    from safetensors.torch import load_file
    from timing import median_ms
    from transformers import BertConfig, BertModel

    from emodemo.speech import WhisperSpeechEncoder

    clip = load_file(INPUTS / "clip.safetensors")
    dims = whisper.model.ModelDimensions(**json.loads((INPUTS / "whisper_dims.json").read_text()))
    speech = WhisperSpeechEncoder(whisper_model=whisper.model.Whisper(dims)).to(device)
    text = BertModel(BertConfig.from_json_file(INPUTS / "minilm_config.json")).to(device).eval()
    wave, ids = clip["wave"].to(device), clip["token_ids"].to(device)
    rows = []
    with torch.inference_mode():
        for name, one, many in (
            (
                "Whisper tiny.en encoder, all layers",
                lambda: speech.encode([wave], all_layers=True),
                lambda: speech.encode([wave] * BATCH, all_layers=True),
            ),
            ("MiniLM (all-MiniLM-L6-v2)", lambda: text(input_ids=ids), lambda: text(input_ids=ids.expand(BATCH, -1))),
        ):
            rows.append(
                {
                    "model": name,
                    "parameters": sum(p.numel() for p in (speech if "Whisper" in name else text).parameters()),
                    "ms_batch1": median_ms(one, 50, warmup=10, sync=sync),
                    "ms_per_clip_batch32": median_ms(many, 50, warmup=10, sync=sync) / BATCH,
                }
            )
    return rows


def figure(rows: list[dict], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [r["model"] for r in rows]
    y = np.arange(len(rows))
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.5 + 0.4 * len(rows)))
    axes[0].barh(y - 0.2, [r["ms_batch1"] for r in rows], height=0.4, label="batch 1")
    axes[0].barh(y + 0.2, [r["ms_per_clip_batch32"] for r in rows], height=0.4, label="batch 32, per clip")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("ms per 4 s clip (log scale)")
    axes[0].legend(fontsize=8, loc="lower right")
    train = [r.get("train_s_per_epoch", 0.0) for r in rows]
    axes[1].barh(y, train, color="tab:orange")
    axes[1].set_xlabel("training s per epoch (840 clips, batch 32)")
    for ax in axes:
        ax.set_yticks(y, names if ax is axes[0] else [""] * len(names))
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def run(out: Path, cpu: bool) -> None:
    from timing import machine, save_and_print

    if not (cpu or torch.cuda.is_available()):
        raise SystemExit("no GPU here: run this step on a machine with one (or pass --cpu)")
    device = torch.device("cpu" if cpu else "cuda")
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"measuring on {name}")
    rows = [model_row(folder, device, sync) for folder in checkpoint_folders()]
    rows += encoder_rows(device, sync)
    result = {"machine": {**machine(), "device": name}, "clip_seconds": CLIP_SECONDS, "precision": "fp32", "rows": rows}
    save_and_print(result, out, label="model")
    figure(rows, f"emodemo checkpoints on {name}, fp32", out.with_suffix(".png"))


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("prepare", "run"))
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets" / "ravdess_speech")
    parser.add_argument(
        "--fer-root",
        type=Path,
        default=REPO.parent / "shared" / "datasets" / "fer2013",
        help="FER-2013, for the face model's input",
    )
    parser.add_argument("--out", type=Path, default=None, help="results stem (default bench/results/gpu)")
    parser.add_argument("--cpu", action="store_true", help="measure the CPU instead of a GPU")
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.root, args.fer_root)
    else:
        run(args.out or REPO / "bench" / "results" / ("gpu_cpu" if args.cpu else "gpu"), args.cpu)


if __name__ == "__main__":
    main()
