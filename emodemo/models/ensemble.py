"""Means of calibrated members' answers: the served speech probe's and Self- and Cross-MHA's fold models
(co-attention's and ``nmt_attention``'s too: :class:`FoldMean`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


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


class FoldMean(nn.Module):
    """The mean of calibrated members of one recipe (:attr:`MEMBER`): a run's 5 cross-validation fold models, or two
    runs' fold models per fold and all of theirs, as the served speech probe and MHA pairs average theirs.

    Inputs as the member's (keywords); each member answers ``softmax(logits_m / T_m)`` at its own temperature
    (fitted on its validation actors), ``"logits"`` is the log of their mean ``[B, C]``, and every other output
    (attention weights, a layer mix) is the members' average (the same shapes: every member reads the same inputs and is
    built alike, but for :attr:`HEAD_OPTIONS`, which change only what its classifier reads).
    ``member_layers`` (the builder's common argument): every member reads the same layers, so only None per member.
    """

    MEMBER: type[nn.Module]
    HEAD_OPTIONS: frozenset[str] = frozenset()  # member settings that change only what its classifier reads
    TRAINING_OPTIONS: frozenset[str] = frozenset()  # member settings that act in training only: eval never reads them

    @classmethod
    def member_options(cls) -> frozenset[str]:
        """The settings in which members may differ: :attr:`HEAD_OPTIONS` and :attr:`TRAINING_OPTIONS`."""
        return cls.HEAD_OPTIONS | cls.TRAINING_OPTIONS

    @classmethod
    def built_alike(cls, members: Sequence[dict]) -> bool:
        """Whether members of these settings read the same inputs into maps of the same shapes: their settings equal
        but for :meth:`member_options` (two runs of one recipe, one of whose heads also reads the frames' statistics,
        or one of which hid the voice from its head for some training clips)."""
        core = lambda kwargs: {key: value for key, value in kwargs.items() if key not in cls.member_options()}
        return all(core(kwargs) == core(members[0]) for kwargs in members)

    def __init__(self, members: list[dict], temperatures: tuple[float, ...], member_layers: list | None = None):
        super().__init__()
        if len(members) != len(temperatures):
            raise ValueError(f"{len(members)} members, {len(temperatures)} temperatures")
        if not self.built_alike(members):
            raise ValueError("the members are built differently: their attention maps could not be averaged")
        if any(read is not None for read in member_layers or ()):
            raise ValueError("every member of a fold mean reads the same layers: member_layers must be None")
        self.members = nn.ModuleList(self.MEMBER(**kwargs) for kwargs in members)
        self.register_buffer("temperatures", torch.tensor(list(temperatures), dtype=torch.float32))

    def forward(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = [member(**inputs) for member in self.members]
        mean = calibrated_mean([out["logits"] for out in outputs], self.temperatures)  # [B, C]
        return {**averaged_outputs(outputs), "logits": mean}
