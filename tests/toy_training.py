"""A tiny, fast classification task shared by the training-engine tests and the DDP worker."""

from __future__ import annotations

import torch
from torch import nn

from emodemo.training.datasets import DictDataset

DIM, N_CLASSES = 8, 3


def blobs(n: int, seed: int, noise: float = 1.0, n_classes: int = N_CLASSES) -> DictDataset:
    """``n`` points around one fixed centre per class (the centres are the same for every seed)."""
    centres = torch.randn(n_classes, DIM, generator=torch.Generator().manual_seed(1234)) * 2.5
    generator = torch.Generator().manual_seed(seed)
    label = torch.randint(0, n_classes, (n,), generator=generator)
    features = centres[label] + noise * torch.randn(n, DIM, generator=generator)
    return DictDataset(features=features, label=label)


class ToyClassifier(nn.Module):
    """features [B, DIM] -> logits [B, n_classes]."""

    def __init__(self, n_classes: int = N_CLASSES, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(DIM, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)
