"""Recipe of talk 003's face model: the VGG-style CNN (:mod:`emodemo.models.fer_cnn`) on FER-2013.

Data: FER-2013 after duplicate removal (:func:`emodemo.data.fer2013.load`: copies across train and
test, and copies filed under two emotions, are dropped first). Model selection uses the dataset's
``val`` folder when it has one, else a fixed tenth of the training images (chosen by a hash of
each image's name, so it is the same on every machine and run). The test images are scored once,
after training, with the weights of the best validation epoch; that score goes in the model card.

There are no speakers in FER-2013, so there is no cross-validation (``--cv`` is refused).

Serving: the model reads face crops, not audio. :func:`face_inputs` turns the 48x48 grey crops of
:func:`emodemo.inputs.video.face_track` into its input, :func:`video_emotion` runs the talk's whole visual
path on a video file (faces per frame, probabilities averaged over the clip); :func:`clip_inputs`
(a voice clip) says it cannot.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from emodemo.core.labels import FER7
from emodemo.data.record import Sample
from emodemo.models import build
from emodemo.recipes.common import epochs_for
from emodemo.training.datasets import DictDataset
from emodemo.training.engine import TrainConfig

log = logging.getLogger(__name__)

NAME = "fer_cnn"
MODALITIES = ("image",)
SIZE = 48
VAL_SHARE = 10  # one training image in VAL_SHARE validates, when the dataset has no val folder


def prepare(spec: dict | None = None) -> None:
    """Nothing to load: the model has no frozen parts."""


def read_faces(paths: Sequence[Path]) -> torch.Tensor:
    """Grey images as ``uint8 [N, 48, 48]`` (resized when another size)."""
    faces = np.empty((len(paths), SIZE, SIZE), dtype=np.uint8)
    for i, path in enumerate(paths):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ValueError(f"cannot read the image {path}")
        faces[i] = (
            image if image.shape == (SIZE, SIZE) else cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        )
    return torch.from_numpy(faces)


def make_dataset(samples: Sequence[Sample], labels: Sequence[str], spec: dict | None = None) -> DictDataset:
    index = {name: i for i, name in enumerate(labels)}
    return DictDataset(
        image=read_faces([s.image for s in samples]), label=torch.tensor([index[s.label] for s in samples])
    )


def face_inputs(crops: np.ndarray) -> dict[str, torch.Tensor]:
    """Face crops ``uint8 [M, 48, 48]`` (:class:`emodemo.inputs.video.FaceTrack`'s) -> ``{"image": [M, 48, 48]}``."""
    crops = np.asarray(crops)
    if crops.ndim != 3 or crops.shape[1:] != (SIZE, SIZE):
        raise ValueError(f"expected grey {SIZE}x{SIZE} face crops [M, {SIZE}, {SIZE}], got shape {crops.shape}")
    return {"image": torch.from_numpy(np.ascontiguousarray(crops, dtype=np.uint8))}


@torch.inference_mode()
def video_emotion(
    model: torch.nn.Module,
    labels: Sequence[str],
    path: str | Path,
    fps: float = 5.0,
    max_frames: int | None = None,
    temperature: float = 1.0,
) -> dict:
    """Talk 003's visual model on a video: the largest face of each frame sampled at ``fps`` (Haar
    cascade, :func:`emodemo.inputs.video.face_track`), the CNN's probabilities per face (its logits divided
    by the checkpoint's calibration ``temperature``), and their mean over the clip (the talk's clip
    answer). Raises ``ValueError`` when no frame shows a face."""
    from emodemo.inputs.video import face_track

    track = face_track(path, fps=fps, max_frames=max_frames)
    if len(track.crops) == 0:
        raise ValueError(
            f"no face found in the {track.n_frames} frames sampled from {Path(path).name}: "
            "the face model needs a frontal face in view"
        )
    device = next(model.parameters()).device
    logits = model(face_inputs(track.crops)["image"].to(device)).float()  # [M, C]
    probs = (logits / temperature).softmax(-1).cpu().numpy()  # [M, C]
    mean = probs.mean(axis=0)  # [C]
    return {
        "labels": list(labels),
        "per_face": probs,
        "timestamps": track.timestamps,
        "mean": mean,
        "prediction": labels[int(mean.argmax())],
        "n_frames": track.n_frames,
        "n_faces": len(track.crops),
        "crops": track.crops,
    }


def explain(output: dict, wave, transcript, spec: dict, labels, title: str = ""):
    """The face track of a video: some of the faces found and each face's emotion over time."""
    from emodemo.reports.viz import face_timeline

    if "per_face" not in output:
        return None
    return face_timeline(
        output["timestamps"],
        output["per_face"],
        labels,
        output["crops"],
        title=f"{title}: the face in each sampled frame",
    )


def clip_inputs(wave: np.ndarray, transcript=None, spec: dict | None = None) -> dict[str, torch.Tensor]:
    raise ValueError("fer_cnn reads faces, not sound: pass a video's face crops to face_inputs()")


def is_validation(sample: Sample) -> bool:
    """The fixed tenth of the training images that chooses the epoch (a hash of the image's name)."""
    digest = hashlib.blake2b(sample.id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % VAL_SHARE == 0


def split(samples: Sequence[Sample]) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """(train, validation, test) of the de-duplicated FER-2013 samples."""
    train = [s for s in samples if s.split == "train"]
    val = [s for s in samples if s.split == "val"]
    if not val:
        val = [s for s in train if is_validation(s)]
        train = [s for s in train if not is_validation(s)]
    return train, val, [s for s in samples if s.split == "test"]


def train_config(epochs: int | None, seed: int, quick: bool) -> TrainConfig:
    return TrainConfig(
        epochs=epochs_for(epochs, 60, quick),
        batch_size=128,
        lr=1e-3,
        weight_decay=0.05,
        scheduler="cosine",
        warmup_ratio=0.05,
        patience=None,
        monitor="WA",
        seed=seed,
        progress=not quick,
    )


def train(
    dataset: str,
    root: Path,
    out: Path,
    cv: bool = False,
    final: bool = True,
    epochs: int | None = None,
    seed: int = 0,
    quick: bool = False,
    fold_ids: Sequence[int] | None = None,
) -> dict:
    """Train on FER-2013's training images, pick the epoch on validation, score the test images once."""
    from emodemo import data
    from emodemo.training.checkpoint import save_checkpoint
    from emodemo.training.engine import evaluate, fit, seed_everything

    if dataset != "fer2013":
        raise ValueError(f"fer_cnn trains on FER-2013 (--dataset fer2013), not {dataset!r}")
    if cv or fold_ids:
        raise ValueError("FER-2013 has no speakers to cross-validate by: fer_cnn trains once (drop --cv / --folds)")
    train_part, val_part, test_part = split(data.load("fer2013", root))
    if quick:  # a smoke run: the same code on a few hundred images
        train_part, val_part, test_part = train_part[::100], val_part[::20], test_part[::20]
    labels = FER7
    cfg = train_config(epochs, seed, quick)
    kwargs = {"n_classes": len(labels)}
    seed_everything(seed)  # the initial weights too
    model = build(NAME, **kwargs)
    log.info("fer_cnn: %d train, %d validation, %d test images", len(train_part), len(val_part), len(test_part))
    history = fit(model, make_dataset(train_part, labels), make_dataset(val_part, labels), cfg, labels=labels)
    metrics: dict = {"validation": history.epochs[history.best_epoch - 1].val_metrics, "history": history.to_dict()}
    if test_part:
        metrics["test"] = evaluate(model, make_dataset(test_part, labels), labels)
        log.info(
            "fer_cnn test: WA %.3f UA %.3f UF1 %.3f",
            metrics["test"]["WA"],
            metrics["test"]["UA"],
            metrics["test"]["UF1"],
        )
    if final:
        save_checkpoint(
            out,
            model,
            model_name=NAME,
            model_kwargs=kwargs,
            labels=list(labels),
            data_card=data_card(root, train_part, val_part, test_part),
            metrics=metrics,
            train_cfg=cfg,
            half=True,
        )
    return metrics


def data_card(root: Path, train_part, val_part, test_part) -> dict:
    return {
        "dataset": "fer2013",
        "images": f"{len(train_part)} train, {len(val_part)} validation (epoch choice), {len(test_part)} test "
        "(PublicTest), after removing duplicates by content hash",
        "licence": "FER-2013: research use only (ICML 2013 challenge data); the weights inherit that restriction",
        "inputs": "one grey 48x48 face crop, pixels 0..255 (Haar-cascade crop of a video frame when serving)",
    }
