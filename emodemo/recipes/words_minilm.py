"""Recipe of the app's words expert: MiniLM word-piece states (its top ``top_layers`` layers
fine-tuned, or none: a head on the frozen states) trained on spoken dialogue (MELD) and Reddit
comments (GoEmotions), for the words Whisper hears in a user's clip.

Inputs per line: the word-piece states of the frozen bottom ``6 - top_layers`` layers of the packaged
all-MiniLM-L6-v2 (fp16; cached on disk per corpus part while training, read from the encoder pass
the other words models share when serving); the model (:mod:`emodemo.models.words_minilm`) holds
the fine-tuned top layers and the head, so the checkpoint stays a few MB.

Protocol (:mod:`emodemo.protocols.text_benchmarks`): train on MELD train minus 10 % of its dialogues (held
out by dialogue, seeded) plus ``goemotions_share`` x as many GoEmotions Ekman single-label train
comments (seeded sample); the epoch is chosen on the held-out MELD dialogues' weighted F1, and so
were the settings (``configs/reproduce/words_minilm.toml``); MELD dev is the test, scored once for the
final choice, and so is GoEmotions test when its root is given. One utterance, no context: the app
has no previous utterance. Labels: the canonical 7 classes.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from emodemo.core.labels import CANONICAL7
from emodemo.data import goemotions
from emodemo.data.record import Sample
from emodemo.inputs.text import MINILM, load_minilm, load_text_encoder
from emodemo.models import build
from emodemo.models.words_minilm import MINILM_LAYERS
from emodemo.protocols.text_benchmarks import text_benchmark_parts
from emodemo.recipes.common import MINILM_LICENCE, epochs_for, licence
from emodemo.recipes.frozen_states import line_states, one_line_states, words_of
from emodemo.training.datasets import PaddedClips

log = logging.getLogger(__name__)

NAME = "words_minilm"
MODALITIES = ("text",)
LABELS = CANONICAL7
STATES_VERSION = "words_minilm-states-v1"
PRETRAINED_LICENCES = (MINILM_LICENCE,)
PROTOCOL = (
    "MELD 7 classes, one utterance without context: train = MELD train minus 10% of its dialogues "
    "(+ GoEmotions Ekman single-label train comments, share of the MELD lines given); epoch and "
    "settings chosen on the held-out MELD train dialogues (weighted F1); test = MELD dev, scored once"
)


def prepare(spec: dict | None = None) -> None:
    """Load MiniLM now, so that the first user does not wait for it."""
    load_text_encoder(MINILM)


# --- inputs ------------------------------------------------------------------------------------


class Lines(PaddedClips):
    """Per line its frozen word-piece states ``text [N, D]``; ``collate`` pads a batch into
    ``text [B, N, D]`` and ``text_mask [B, N]``."""

    TIME_AXIS = {"text": 0}

    def __init__(self, states: Sequence[torch.Tensor], labels: Sequence[int] | None = None):
        super().__init__(labels, text=states)


class LengthBuckets(Dataset):
    """The lines of a :class:`Lines` in fixed batches of similar length (fewer padded pieces: a
    third of the cost of random batches on MELD). Item i is a whole padded batch, so it is used
    with ``batch_size=1`` and :meth:`collate`. Batches are made once: shuffled, sorted by length
    within windows of 50 batches, cut, seeded."""

    def __init__(self, lines: Lines, batch_size: int, seed: int = 0):
        self.lines = lines
        order = list(range(len(lines)))
        random.Random(seed).shuffle(order)
        window = 50 * batch_size
        lengths = [len(t) for t in lines.fields["text"]]
        order = [
            i
            for start in range(0, len(order), window)
            for i in sorted(order[start : start + window], key=lengths.__getitem__)
        ]
        self.batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

    def __len__(self) -> int:
        return len(self.batches)

    @property
    def targets(self) -> torch.Tensor:
        return self.lines.targets

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return Lines.collate([self.lines[j] for j in self.batches[i]])

    @staticmethod
    def collate(items: list[dict]) -> dict[str, torch.Tensor]:
        (batch,) = items
        return batch


def frozen_states(texts: Sequence[str], layer: int, batch: int = 64) -> dict[int, list[torch.Tensor]]:
    """Each line's MiniLM word-piece states ``[N, D]`` (fp16) at ``layer`` and every layer above it
    (``{layer: [...], ..., 6: [...]}``; 0 is the embeddings), from one pass in length-sorted batches."""
    top = MINILM_LAYERS - layer
    out: dict[int, list] = {l: [None] * len(texts) for l in range(layer, MINILM_LAYERS + 1)}
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        for i, (states, _) in zip(chunk, line_states(tuple(texts[i] for i in chunk), MINILM, top)):
            for l in out:
                out[l][i] = states[l - layer].clone()
    return out


def cached_states(texts: Sequence[str], layer: int) -> list[torch.Tensor]:
    """:func:`frozen_states` at ``layer``, cached on disk per list of lines (every layer above it is
    written too) under ``$EMODEMO_CACHE/features/words_minilm-states-v1``."""
    from emodemo.core.cache import cache_root
    from emodemo.core.files import write_atomically

    texts = [t or "" for t in texts]
    key = hashlib.blake2b("\n".join(texts).encode(), digest_size=12).hexdigest()
    path = lambda l: cache_root() / STATES_VERSION / f"layer{l}-{key}.safetensors"
    if not path(layer).is_file():
        for l, states in frozen_states(texts, layer).items():
            flat = {"states": torch.cat(states), "lengths": torch.tensor([len(s) for s in states])}
            write_atomically(path(l), lambda tmp, flat=flat: save_file(flat, tmp))
    flat = load_file(str(path(layer)))
    return list(flat["states"].split(flat["lengths"].tolist()))


def make_dataset(samples: Sequence[Sample], labels: Sequence[str], spec: dict) -> Lines:
    """The samples' lines as the model reads them (states below its top layers), with their labels."""
    index = {name: i for i, name in enumerate(labels)}
    layer = MINILM_LAYERS - spec["top_layers"]
    return Lines(cached_states([s.text for s in samples], layer), [index[s.label] for s in samples])


def clip_inputs(wave: np.ndarray, transcript=None, spec: dict | None = None) -> dict[str, torch.Tensor]:
    """A user's Whisper transcript as a batch of one (its MiniLM pass shared with the other words models)."""
    states = one_line_states(words_of(transcript), MINILM, spec["top_layers"])[0][0]  # [N, D]
    return Lines.collate([{"text": states}])


def explain(output: dict, wave: np.ndarray | None, transcript, spec: dict, labels, title: str = ""):
    """How much each word piece of the transcript weighed in the pooled sentence."""
    from emodemo.reports.viz import word_weights

    tokens = one_line_states(words_of(transcript), MINILM, spec["top_layers"])[1]
    return word_weights(output["attention"], tokens, title=f"{title}: each word piece's weight")


# --- training ----------------------------------------------------------------------------------


def goemotions_lines(root: Path, n: int, seed: int) -> tuple[list[Sample], list[Sample]]:
    """``n`` GoEmotions Ekman single-label train comments (seeded sample) and the whole test split."""
    lines = goemotions.load(root, labels="ekman", single_label=True, split=("train", "test"))
    train = [s for s in lines if s.split == "train"]
    return random.Random(seed).sample(train, min(n, len(train))), [s for s in lines if s.split == "test"]


def new_model(top_layers: int, dropout: float, seed: int):
    """The model, its top layers started from the packaged MiniLM's."""
    torch.manual_seed(seed)
    model = build(NAME, n_classes=len(LABELS), top_layers=top_layers, dropout=dropout)
    model.load_top_layers(load_minilm()[1].encoder.layer)
    return model


def train_config(epochs: int | None, seed: int, quick: bool, lr: float, class_weights: bool):
    from emodemo.training.engine import TrainConfig

    return TrainConfig(
        epochs=epochs_for(epochs, 4, quick),
        batch_size=1,
        lr=float(lr),
        weight_decay=0.01,
        warmup_ratio=0.06,
        patience=None,
        class_weights=class_weights,
        monitor="WF1",
        seed=seed,
        progress=False,
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
    goemotions_root: str | None = None,
    goemotions_share: float = 1.0,
    top_layers: int = 2,
    lr: float = 1e-4,
    batch_size: int = 32,
    dropout: float = 0.1,
    class_weights: str = "none",
) -> dict:
    """Fit on MELD train (less the held-out dialogues) with ``goemotions_share`` x as many GoEmotions
    comments, the epoch chosen on the held-out dialogues; ``final`` saves the checkpoint. No test
    split is scored here: :func:`score_once` scores the chosen checkpoint. ``class_weights``:
    "none" or "balanced"."""
    from emodemo.training.checkpoint import save_checkpoint
    from emodemo.training.engine import evaluate, fit

    if dataset != "meld":
        raise ValueError(
            f"{NAME} trains on MELD (--dataset meld; --option goemotions_root=PATH adds GoEmotions), not {dataset!r}"
        )
    if cv:
        raise ValueError(f"{NAME} has no speaker cross-validation: its settings are chosen on held-out MELD dialogues")
    if class_weights not in ("none", "balanced"):
        raise ValueError(f"class_weights must be 'none' or 'balanced', got {class_weights!r}")
    top_layers, goemotions_share, batch_size = int(top_layers), float(goemotions_share), int(batch_size)
    meld_train, val, _ = text_benchmark_parts("meld", root, quick)
    extra = (
        goemotions_lines(Path(goemotions_root), round(goemotions_share * len(meld_train)), seed)[0]
        if goemotions_root and goemotions_share > 0
        else []
    )
    spec = {"top_layers": top_layers}
    cfg = train_config(epochs, seed, quick, lr, class_weights == "balanced")
    model = new_model(top_layers, float(dropout), seed)
    started = time.perf_counter()
    history = fit(
        model,
        buckets([meld_train, extra], spec, batch_size, seed),
        buckets([val], spec, batch_size, seed),
        cfg,
        labels=LABELS,
    )
    settings = {
        "top_layers": top_layers,
        "goemotions_share": goemotions_share if extra else 0.0,
        "lr": float(lr),
        "batch_size": batch_size,
        "dropout": float(dropout),
        "class_weights": class_weights,
        "epochs": cfg.epochs,
    }
    metrics = {
        "protocol": PROTOCOL,
        "settings": settings,
        "sizes": {"meld_train": len(meld_train), "goemotions_train": len(extra), "validation": len(val)},
        "validation": evaluate(model, buckets([val], spec, batch_size, seed), LABELS, batch_size=1),
        "best_epoch": history.best_epoch,
        "train_seconds": time.perf_counter() - started,
        "history": history.to_dict(),
    }
    log.info(
        "%s %s: held-out dialogues WF1 %.3f WA %.3f (epoch %d)",
        NAME,
        settings,
        metrics["validation"]["WF1"],
        metrics["validation"]["WA"],
        history.best_epoch,
    )
    if final:
        card = {
            "dataset": "meld",
            "protocol": PROTOCOL,
            "licence": licence(
                "meld", "real", "meld", PRETRAINED_LICENCES + (("GoEmotions: CC BY 4.0",) if extra else ())
            ),
            "inputs": "one line of words (a Whisper transcript when serving), MiniLM word pieces, at most 64",
        }
        kwargs = {"n_classes": len(LABELS), "top_layers": top_layers, "dropout": float(dropout)}
        save_checkpoint(
            out,
            model,
            model_name=NAME,
            model_kwargs=kwargs,
            labels=list(LABELS),
            data_card=card,
            metrics=metrics,
            train_cfg=cfg,
            input_spec=spec,
            half=True,
        )
    return metrics


def buckets(parts: Sequence[Sequence[Sample]], spec: dict, batch_size: int, seed: int) -> LengthBuckets:
    """:class:`LengthBuckets` of the lines of ``parts`` (corpora), each part's states cached on its own."""
    datasets = [make_dataset(part, LABELS, spec) for part in parts if part]
    lines = Lines([states for d in datasets for states in d.fields["text"]], torch.cat([d.targets for d in datasets]))
    return LengthBuckets(lines, batch_size, seed)


def score_once(checkpoint: Path, meld_root: Path, goemotions_root: Path | None = None, quick: bool = False) -> dict:
    """Score a chosen checkpoint on MELD dev (``test``) and GoEmotions Ekman test (``goemotions_test``),
    once: the reports join its metrics and card (a second call is refused). Returns the new metrics."""
    from emodemo.models import REGISTRY
    from emodemo.training.checkpoint import add_metrics, load_checkpoint
    from emodemo.training.engine import evaluate

    model, meta = load_checkpoint(checkpoint, REGISTRY)
    spec = meta["input_spec"]
    tests = {"test": text_benchmark_parts("meld", meld_root, quick)[2]}
    if goemotions_root:
        goemotions_test = goemotions_lines(Path(goemotions_root), 0, 0)[1]
        tests["goemotions_test"] = goemotions_test[:200] if quick else goemotions_test
    reports = {
        name: evaluate(model, buckets([part], spec, 64, 0), LABELS, batch_size=1) for name, part in tests.items()
    }
    reports["test_set"] = f"MELD dev ({len(tests['test'])} utterances), scored once for the chosen settings"
    return add_metrics(checkpoint, reports)["metrics"]
