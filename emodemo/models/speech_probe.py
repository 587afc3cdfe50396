"""The simplest honest speech-emotion model: a probe on a frozen Whisper encoder.

Not one of the five talks: it is the project's first trained model and the baseline every
architecture should beat. The audio goes through Whisper's encoder (frozen, pre-trained on 680k
hours of speech); each layer's frame states are summarised by their mean and standard deviation
over time (statistical pooling); a learned softmax over layers mixes them (which layer knows
most about emotion?) and a small MLP classifies.

Input ``stats``: [B, L, 2D] = per layer (embedding output + each block), [mean; std] over frames,
as produced by :func:`layer_stats`; output logits [B, C]. ``layers`` keeps some of the L layers
(e.g. the encoder's lower half, whose states carry more of how a voice sounds and less of the
training speakers) and mixes those alone.
"""

from __future__ import annotations

import torch
from torch import nn

from .ensemble import calibrated_mean
from .layers import LayerMix, masked_mean_std


def layer_stats(states: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Pool all-layer encoder states over time.

    states: [B, L, T, D] (or [L, T, D] for one clip), mask: [B, T] -> [B, L, 2D] (or [L, 2D]).
    """
    single = states.dim() == 3
    if single:
        states = states.unsqueeze(0)
    b, n_layers, t, d = states.shape
    flat = states.reshape(b * n_layers, t, d)  # [B*L, T, D]
    flat_mask = None if mask is None else mask.repeat_interleave(n_layers, dim=0)
    pooled = masked_mean_std(flat, flat_mask).view(b, n_layers, 2 * d)
    return pooled[0] if single else pooled


class SpeechProbe(nn.Module):
    def __init__(
        self,
        n_classes: int,
        n_layers: int = 5,
        dim: int = 384,
        hidden: int = 256,
        dropout: float = 0.3,
        layers: tuple[int, ...] | None = None,
    ):
        super().__init__()
        if layers is not None and not all(0 <= i < n_layers for i in layers):
            raise ValueError(f"layers {layers} must be among the encoder's {n_layers} (0 .. {n_layers - 1})")
        self.layers = None if layers is None else [int(i) for i in layers]
        self.mix = LayerMix(n_layers if layers is None else len(layers))
        self.norm = nn.LayerNorm(2 * dim)
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(2 * dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )

    def hidden(self, stats: torch.Tensor) -> torch.Tensor:
        """The MLP's hidden layer ``[B, H]``, what its last linear layer classifies."""
        if self.layers is not None:
            stats = stats[:, self.layers]  # [B, L, 2D] -> [B, L', 2D]
        z = self.norm(self.mix(stats))  # [B, L', 2D] -> [B, 2D]
        return self.head[:-1](z)  # [B, H]

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return self.head[-1](self.hidden(stats))  # [B, C]


class SpeechProbeEnsemble(nn.Module):
    """The mean of several calibrated speech probes (e.g. the models of the 5 cross-validation folds).

    Each member ``m`` answers ``softmax(logits_m / T_m)`` with its own temperature (fitted on its
    own validation speakers); the ensemble returns the log of their mean, so that a softmax of its
    output is the mean probability ``[B, C]``. Averaging members trained on different speakers
    lowers the variance of the answers on voices none of them met. Every member reads ``layers``, or
    with ``member_layers`` (one entry per member, None: every layer) its own: a probe of the encoder's
    lower half beside one of all its layers, say.
    """

    def __init__(
        self,
        n_classes: int,
        n_layers: int = 5,
        dim: int = 384,
        hidden: int = 256,
        dropout: float = 0.3,
        temperatures: tuple[float, ...] = (1.0,),
        layers: tuple[int, ...] | None = None,
        member_layers: tuple[tuple[int, ...] | None, ...] | None = None,
    ):
        super().__init__()
        if layers is not None and member_layers is not None:
            raise ValueError("give the members' layers once: layers (every member) or member_layers (each its own)")
        read = [layers] * len(temperatures) if member_layers is None else list(member_layers)
        if len(read) != len(temperatures):
            raise ValueError(f"{len(read)} members' layers for {len(temperatures)} temperatures")
        self.members = nn.ModuleList(SpeechProbe(n_classes, n_layers, dim, hidden, dropout, chosen) for chosen in read)
        self.register_buffer("temperatures", torch.tensor(list(temperatures), dtype=torch.float32))

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return calibrated_mean([member(stats) for member in self.members], self.temperatures)  # [B, C]
