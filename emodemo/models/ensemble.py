"""Means of calibrated members' answers: the served speech probe's and Self- and Cross-MHA's fold models
(co-attention's measured too)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def calibrated_mean(logits: Sequence[torch.Tensor], temperatures: torch.Tensor) -> torch.Tensor:
    """``log mean_m softmax(logits_m / T_m)`` ``[B, C]`` from each member's ``logits_m [B, C]`` and temperature
    ``T_m`` (fitted on its own validation actors): a softmax of it is the members' mean probability."""
    probs = torch.stack([torch.softmax(z / t, dim=-1) for z, t in zip(logits, temperatures)])  # [M, B, C]
    return probs.mean(dim=0).clamp_min(1e-12).log()  # [B, C]


def averaged_outputs(outputs: Sequence[dict[str, torch.Tensor]], skip: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Each output the members share but ``"logits"`` and ``skip`` (attention weights: the same shapes when the
    members read the same frames and word pieces), averaged over the members."""
    shared = [key for key in outputs[0] if key not in ("logits", *skip)]
    return {key: torch.stack([out[key] for out in outputs]).mean(dim=0) for key in shared}
