"""Small building blocks shared by the architectures: masked pooling and layer mixing."""

from __future__ import annotations

import torch
from torch import nn


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over time, ignoring padded steps: x [B, T, D], mask [B, T] (True = real) or None -> [B, D]."""
    if mask is None:
        return x.mean(dim=1)
    w = mask.to(x.dtype).unsqueeze(-1)  # [B, T, 1]
    return (x * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)


def masked_mean_std(x: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    """Statistical pooling: mean and standard deviation over time, ignoring padded steps.

    x: [B, T, D], mask: [B, T] (True = real step) or None -> [B, 2D] = [mean; std].
    """
    mean = masked_mean(x, mask)  # [B, D]
    var = masked_mean((x - mean.unsqueeze(1)) ** 2, mask)  # [B, D]
    return torch.cat([mean, (var + eps).sqrt()], dim=-1)


def utterance_normalised(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each clip's frames less their mean, over their standard deviation, per feature (over the real frames): what
    stays constant through a clip (a voice's timbre, a room, a microphone) is taken out, how it moves is kept.

    x: [B, T, D], mask: [B, T] (True = real) -> [B, T, D], 0 on padding.
    """
    mean, std = masked_mean_std(x, mask, eps).chunk(2, dim=-1)  # [B, D] each
    return (x - mean[:, None, :]) / std[:, None, :] * mask[..., None].to(x.dtype)


def masked_stride_pool(x: torch.Tensor, mask: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Average every ``stride`` consecutive real steps into one (the padding is left out of each mean).

    x: [B, T, D], mask: [B, T] -> [B, ceil(T / stride), D], mask [B, ceil(T / stride)].
    """
    if stride == 1:
        return x, mask
    batch, steps, dim = x.shape
    extra = (-steps) % stride
    w = nn.functional.pad(mask.to(x.dtype), (0, extra)).reshape(batch, -1, stride, 1)  # [B, T', s, 1]
    x = nn.functional.pad(x, (0, 0, 0, extra)).reshape(batch, -1, stride, dim)  # [B, T', s, D]
    count = w.sum(dim=2)  # [B, T', 1]
    return (x * w).sum(dim=2) / count.clamp_min(1.0), count.squeeze(-1) > 0


class LayerMix(nn.Module):
    """A learned softmax-weighted sum over the layers of a frozen encoder (as in SUPERB probes).

    x: [B, L, ...] -> [B, ...]; ``weights`` shows which layer the task prefers.
    """

    def __init__(self, n_layers: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_layers))

    @property
    def weights(self) -> torch.Tensor:
        return self.logits.softmax(dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weights.view(1, -1, *([1] * (x.dim() - 2)))  # [1, L, 1, ...]
        return (x * w).sum(dim=1)

    def normalised(self, states: torch.Tensor) -> torch.Tensor:
        """The mix of ``states [B, L, T, D]`` each layer-normalised over its features first (the encoder's layers
        differ in scale) -> ``[B, T, D]``."""
        return self(nn.functional.layer_norm(states, states.shape[-1:]))
