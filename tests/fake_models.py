"""A stand-in for a loaded checkpoint whose answers are fixed per clip: the evaluation and the
cross-corpus harness tested without Whisper or a trained model."""

from __future__ import annotations

import types

import torch

from emodemo.serving.pipeline import LoadedModel
from emodemo.training.datasets import DictDataset


class FixedAnswers(torch.nn.Module):
    """Logits ``[B, C]`` putting all weight on ``answer(sample)``'s class."""

    def __init__(self, labels: list[str], answer):
        super().__init__()
        self.labels, self.answer, self.samples = labels, answer, []
        self.register_buffer("unused", torch.zeros(1))

    def forward(self, index: torch.Tensor) -> torch.Tensor:  # index [B]: position in self.samples
        logits = torch.zeros(len(index), len(self.labels))
        for row, i in enumerate(index.tolist()):
            logits[row, self.labels.index(self.answer(self.samples[i]))] = 1.0
        return logits


def fixed_model(name: str, labels: list[str], answer, modalities=("audio",), meta: dict | None = None) -> LoadedModel:
    """A :class:`LoadedModel` answering ``answer(sample)`` for every sample it is asked about."""
    model = FixedAnswers(labels, answer)

    def make_dataset(samples, model_labels, spec):
        model.samples = list(samples)
        return DictDataset(
            index=torch.arange(len(samples)), label=torch.tensor([model_labels.index(s.label) for s in samples])
        )

    recipe = types.SimpleNamespace(MODALITIES=tuple(modalities), make_dataset=make_dataset)
    return LoadedModel(name, model, list(labels), {"model_name": name, "data_card": {}, **(meta or {})}, recipe)
