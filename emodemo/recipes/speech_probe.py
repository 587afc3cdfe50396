"""Recipe of the speech probe: frozen Whisper-encoder statistics -> layer mix -> MLP.

Inputs per clip: the Whisper tiny.en encoder's states at every layer (embedding + 4 blocks),
pooled over time into mean and std, ``stats [L=5, 2D=768]``. They are computed once per file and
kept in the on-disk feature cache, so cross-validation and retraining cost seconds.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from emodemo import labels as label_sets
from emodemo.audio import load_audio
from emodemo.data.record import Sample
from emodemo.models import build
from emodemo.models.speech_probe import layer_stats
from emodemo.train import DictDataset, TrainConfig

log = logging.getLogger(__name__)

NAME = "speech_probe"
MODALITIES = ("audio",)
ENCODER = "tiny.en"
FEATURE = f"whisper-{ENCODER}-encoder-layer-stats-v1"
BATCH = 16  # clips per encoder call when filling the cache
MAX_SECONDS = 30.0  # Whisper's window; longer clips are cut to their first 30 s, as in the app


@functools.lru_cache(maxsize=1)
def encoder():
    """The frozen Whisper encoder, loaded once per process."""
    from emodemo.speech_encoder import WhisperSpeechEncoder
    return WhisperSpeechEncoder(ENCODER)


def prepare() -> None:
    """Load what :func:`clip_inputs` needs now, so that the first user does not wait for it."""
    encoder()


@torch.inference_mode()
def stats_of_waves(waves: Sequence[np.ndarray]) -> torch.Tensor:
    """16 kHz waves -> per-layer mean/std of encoder states ``[B, L, 2D]``."""
    out = encoder().encode(list(waves), all_layers=True)          # layers [B, L, T', D], mask [B, T']
    return layer_stats(out.layers, out.mask).float()


def stats_of_samples(samples: Sequence[Sample], progress: bool = True) -> torch.Tensor:
    """``[N, L, 2D]`` for the samples' audio files (first 30 s), through the on-disk feature cache."""
    from emodemo.cache import FeatureCache
    cache = FeatureCache(FEATURE, {"encoder": ENCODER, "sr": 16000})
    rows = cache.get_many([s.audio for s in samples], lambda paths: stats_of_waves(
        [load_audio(path, max_seconds=MAX_SECONDS) for path in paths]), batch=BATCH, progress=progress,
        desc="whisper features")
    return torch.stack(rows)


def make_dataset(samples: Sequence[Sample], labels: Sequence[str], spec: dict | None = None) -> DictDataset:
    index = {name: i for i, name in enumerate(labels)}
    targets = torch.tensor([index[s.label] for s in samples])
    return DictDataset(stats=stats_of_samples(samples), label=targets)


def clip_inputs(wave: np.ndarray, transcript=None, spec: dict | None = None) -> dict[str, torch.Tensor]:
    """What the model needs for one user clip: ``{"stats": [1, L, 2D]}``."""
    return {"stats": stats_of_waves([wave])}


def model_kwargs(n_classes: int) -> dict:
    enc = encoder()
    return {"n_classes": n_classes, "n_layers": enc.n_layers + 1, "dim": enc.dim}


def train(dataset: str, root: Path, out: Path, cv: bool = True, final: bool = True, epochs: int | None = None,
          seed: int = 0, quick: bool = False, fold_ids: Sequence[int] | None = None, classes: int | str = 8) -> dict:
    """Cross-validate by speaker (optional), then train and save the final checkpoint. On RAVDESS,
    ``classes`` 8 keeps calm apart (the served probe); 7 counts calm as neutral, as every other
    model here does (``bench/compare.py`` puts that run beside them)."""
    from emodemo import data
    from emodemo.checkpoint import save_checkpoint
    from emodemo.experiment import cross_validate, standard_protocol, train_final

    if str(classes) not in ("7", "8"):
        raise ValueError(f"classes is 8 (calm apart) or 7 (calm counted as neutral), not {classes!r}")
    seven = str(classes) == "7"
    if seven and dataset != "ravdess":
        raise ValueError(f"classes=7 merges RAVDESS's calm into neutral; {dataset} keeps its own classes")
    samples = [s for s in data.load(dataset, root, **({"calm_as_neutral": True} if seven else {})) if s.audio is not None]
    if dataset == "ravdess":
        labels = label_sets.CANONICAL7 if seven else label_sets.RAVDESS8
    else:
        labels = tuple(sorted({s.label for s in samples}))
    cfg = TrainConfig(epochs=epochs or (3 if quick else 60), batch_size=32, lr=1e-3, weight_decay=0.05,
                      patience=12, class_weights=True, monitor="UF1", seed=seed, progress=not quick)
    folds, final_split = standard_protocol(dataset, samples)
    if quick:  # a smoke run: two folds, the same code path
        folds = folds[:2]
    if fold_ids is not None:
        folds = [folds[i] for i in fold_ids]
    kwargs = model_kwargs(len(labels))
    build_model = lambda: build(NAME, **kwargs)  # noqa: E731
    make = lambda chosen: make_dataset(chosen, labels)  # noqa: E731
    metrics: dict = {}
    if cv:
        result = cross_validate(samples, folds, make, build_model, labels, cfg)
        metrics["cross_validation"] = result["summary"]
        metrics["folds"] = result["folds"]
        s = result["summary"]
        log.info("%d-fold: WA %.3f±%.3f UA %.3f±%.3f", len(folds), s["WA"]["mean"], s["WA"]["std"],
                 s["UA"]["mean"], s["UA"]["std"])
    if final:
        model, history, val_report = train_final(samples, final_split, make, build_model, labels, cfg)
        metrics["final_validation_not_a_test_score"] = val_report  # these speakers chose the epoch
        metrics["final_history"] = history.to_dict()
        metrics["layer_weights"] = model.mix.weights.tolist()
        save_checkpoint(out, model, model_name=NAME, model_kwargs=kwargs, labels=list(labels),
                        data_card=data_card(dataset, final_split), metrics=metrics, train_cfg=cfg)
    return metrics


def data_card(dataset: str, split) -> dict:
    return {
        "dataset": dataset,
        "train_speakers": list(split.train), "validation_speakers": list(split.val),
        "licence": "RAVDESS: CC BY-NC-SA 4.0 (non-commercial); Whisper tiny.en weights: MIT",
        "inputs": f"16 kHz mono audio -> frozen Whisper {ENCODER} encoder, mean/std of every layer",
    }
