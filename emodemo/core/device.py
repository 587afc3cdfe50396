"""Where tensors go: the fastest device on this machine (training and serving alike)."""

from __future__ import annotations

import torch


def pick_device() -> torch.device:
    """The fastest device here: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
