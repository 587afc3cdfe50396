"""The served means: calibrated members' answers averaged (the speech probe's, Self- and Cross-MHA's and
co-attention's fold models)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def calibrated_mean(logits: Sequence[torch.Tensor], temperatures: torch.Tensor) -> torch.Tensor:
    """``log mean_m softmax(logits_m / T_m)`` ``[B, C]`` from each member's ``logits_m [B, C]`` and temperature
    ``T_m`` (fitted on its own validation actors): a softmax of it is the members' mean probability."""
    probs = torch.stack([torch.softmax(z / t, dim=-1) for z, t in zip(logits, temperatures)])  # [M, B, C]
    return probs.mean(dim=0).clamp_min(1e-12).log()  # [B, C]
