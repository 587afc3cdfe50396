"""Cost of talk 003's pipeline on this machine: hand-crafted features, SVMs, forest, and the FER face CNN.

Protocol
--------
* Voice: one real RAVDESS clip cut or padded to exactly 4.0 s. Stages: the 68 hand-crafted
  statistics (:func:`emodemo.inputs.handcrafted.clip_features`), the committed ensemble on them alone
  (audio SVM), and with the take's 35 action units (both SVMs and the forest). 3 warm-up runs, then
  the median of 20, batch 1, 1 and 2 torch threads (feature extraction is numpy).
* Face: the committed ``fer_cnn`` on one real FER-2013 test face (batch 1) and on 20 faces at once
  (a 4 s video sampled at 5 frames per second), and OpenCV's Haar cascade on that face enlarged to
  a 640x480 grey frame (detection cost depends on the frame size).
* Training: the whole talk-split fit (features cached: two SVM grids of 12 fits each, refits, a
  100-tree forest), one run timed; and seconds per FER-2013 epoch of ``fer_cnn`` on this CPU
  (24,757 faces, batch 128: the median of 3 steps x 194 steps), with 2 threads.
* Size: parameters or stored numbers, and the committed checkpoints' file sizes.

Usage::

    python bench/handcrafted_ensemble.py --root ../shared/datasets/ravdess_speech

Writes ``bench/results/handcrafted_ensemble.json`` and ``.png`` and prints a table. Run it on a
quiet machine.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import arguments, exactly, machine, median_ms, real_clips, save_and_print, seconds_per_epoch  # noqa: E402

from emodemo import data  # noqa: E402
from emodemo.models import REGISTRY  # noqa: E402
from emodemo.recipes import fer_cnn  # noqa: E402
from emodemo.recipes import handcrafted_ensemble as recipe
from emodemo.training import load_checkpoint  # noqa: E402

CLIP_SECONDS = 4.0
FACES_PER_CLIP = 20  # 4 s of video at 5 frames per second
FER_TRAIN_FACES, FER_BATCH = 24_757, 128
CHECKPOINTS = REPO / "checkpoints"


def voice_rows(wave: np.ndarray, au: torch.Tensor, threads: list[int]) -> list[dict]:
    model, _ = load_checkpoint(CHECKPOINTS / recipe.NAME, REGISTRY)
    features = recipe.clip_inputs(wave)["audio"]  # [1, 68]
    rows = []
    for name, fn, stored in (
        ("hand-crafted features", lambda: recipe.wave_features(wave), 0),
        ("audio SVM", lambda: model(features), _numbers(model.audio)),
        ("audio + face SVMs + forest", lambda: model(features, au), _numbers(model)),
    ):
        row = {"stage": name, "stored_numbers": stored}
        for n in threads:
            torch.set_num_threads(n)
            with torch.inference_mode():
                row[f"ms_threads{n}"] = median_ms(fn, 20)
        rows.append(row)
    return rows


def face_rows(face: np.ndarray, threads: list[int]) -> list[dict]:
    import cv2

    from emodemo.inputs import detect_faces

    model, _ = load_checkpoint(CHECKPOINTS / fer_cnn.NAME, REGISTRY)
    one = fer_cnn.face_inputs(face[None])["image"]  # [1, 48, 48]
    clip = one.expand(FACES_PER_CLIP, -1, -1).contiguous()  # [20, 48, 48]
    frame = cv2.resize(face, (480, 480), interpolation=cv2.INTER_LINEAR)
    frame = np.pad(frame, ((0, 0), (80, 80)), mode="edge")  # [480, 640] grey
    rows = []
    for name, fn in (
        ("Haar face detection, 640x480 frame", lambda: detect_faces(np.stack([frame] * 3, -1))),
        ("fer_cnn, 1 face", lambda: model(one)),
        (f"fer_cnn, {FACES_PER_CLIP} faces (4 s of video)", lambda: model(clip)),
    ):
        row = {"stage": name, "stored_numbers": _numbers(model) if "fer_cnn" in name else 0}
        for n in threads:
            torch.set_num_threads(n)
            cv2.setNumThreads(n)
            with torch.inference_mode():
                row[f"ms_threads{n}"] = median_ms(fn, 20)
        rows.append(row)
    return rows


def _numbers(module: torch.nn.Module) -> int:
    return sum(t.numel() for t in (*module.parameters(), *module.buffers()))


def training_seconds(samples) -> dict:
    groups = {k: recipe.by_actors(samples, actors) for k, actors in recipe.TALK_SPLIT.items() if k != "test"}
    recipe.audio_features([s for g in groups.values() for s in g])  # fill the cache first
    started = time.perf_counter()
    recipe.fit_ensemble(groups, recipe.LABELS, seed=0)
    ensemble_s = time.perf_counter() - started
    model = REGISTRY[fer_cnn.NAME](n_classes=7)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    batch = {"image": torch.randint(0, 256, (FER_BATCH, 48, 48), dtype=torch.uint8)}
    epoch_s = seconds_per_epoch(model, lambda: batch, FER_TRAIN_FACES, FER_BATCH, repeats=3)
    return {"ensemble_fit_talk_split_s": ensemble_s, "fer_cnn_s_per_epoch_cpu": epoch_s}


def main() -> None:
    args = arguments(__doc__, "handcrafted_ensemble")
    threads = sorted({1, min(2, os.cpu_count() or 1)})
    wave = exactly(real_clips(args.root, 1)[0][0], CLIP_SECONDS)
    samples = data.load("ravdess", args.root, calm_as_neutral=True, au_csv=args.root.parent / "ravdess_facial_au")
    au = recipe.au_features(samples[:1])  # [1, 35]
    fer = data.load("fer2013", args.root.parent / "fer2013", split="test")
    face = fer_cnn.read_faces([fer[0].image])[0].numpy()
    rows = voice_rows(wave, au, threads) + face_rows(face, threads)
    sizes = {name: (CHECKPOINTS / name / "model.safetensors").stat().st_size for name in (recipe.NAME, fer_cnn.NAME)}
    result = {
        "machine": machine(),
        "clip_seconds": CLIP_SECONDS,
        "rows": rows,
        **training_seconds(samples),
        "checkpoint_bytes_by_model": sizes,
    }
    save_and_print(result, args.out, label="stage")
    print(", ".join(f"{k} {v:.1f}" for k, v in result.items() if k.endswith("_s") or k.endswith("_cpu")))
    figure(rows, threads, result, args.out.with_suffix(".png"))


def figure(rows: list[dict], threads: list[int], result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(9, 1.4 + 0.45 * len(rows)))
    for k, n in enumerate(threads):
        ax.barh(
            y + 0.4 * k - 0.2 * (len(threads) - 1),
            [r[f"ms_threads{n}"] for r in rows],
            height=0.4,
            label=f"{n} thread{'s' * (n > 1)}",
        )
    ax.set_yticks(y, [r["stage"] for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ms (batch 1 unless the stage says otherwise)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8)
    spec = machine()
    ax.set_title(
        f"talk 003 pipeline on {spec['cpu']}, {spec['cores']} cores; training: ensemble "
        f"{result['ensemble_fit_talk_split_s']:.1f} s, fer_cnn {result['fer_cnn_s_per_epoch_cpu'] / 60:.1f} min/epoch",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
