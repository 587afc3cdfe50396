"""Training copies of clips as samples: which copy a sample is, what its features' cache key adds, and
its decoded wave.

A copy is a :class:`~emodemo.data.record.Sample` whose ``meta`` names its copy number (:data:`COPY`)
and the augmentation chain that made it (:data:`CHAIN`; :func:`emodemo.inputs.augment.training_chain`).
Its wave is a pure function of the clip, its id and those two (:func:`emodemo.inputs.augment.augmented`),
so the encoder features of every copy are computed once and cached under a key that holds them
(:func:`copy_key`). The speech probe's statistics and the frozen speech states of the frame-reading models
(:func:`emodemo.recipes.frozen_states.speech_of_samples`) read copies this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from emodemo.data.record import Sample
from emodemo.inputs.audio import MAX_SECONDS, SAMPLE_RATE, load_audio

COPY = "augment_copy"  # Sample.meta key of a training copy's number (absent or 0: the clip itself)
CHAIN = "augment_chain"  # Sample.meta key of the chain that made a training copy (absent: "all")


def copy_of(sample: Sample) -> tuple[int, str]:
    """``(copy number, chain)`` of a sample: ``(0, "all")`` for a clip itself."""
    return int(sample.meta.get(COPY, 0)), sample.meta.get(CHAIN, "all")


def by_copy(samples: Sequence[Sample]) -> dict[tuple[int, str], list[int]]:
    """The samples' indices grouped by :func:`copy_of`, in a fixed order (the clips themselves first)."""
    groups: dict[tuple[int, str], list[int]] = {}
    for i, sample in enumerate(samples):
        groups.setdefault(copy_of(sample), []).append(i)
    return dict(sorted(groups.items()))


def copy_key(copy: int, chain: str) -> dict:
    """What a feature cache's key adds for training copy ``copy`` made by ``chain`` (nothing for the clip
    itself): the augmentation settings, the copy number and the chain with its own settings."""
    if not copy:
        return {}
    from emodemo.inputs.augment import CHAIN_SETTINGS, SETTINGS

    made_by = {"chain": chain, **CHAIN_SETTINGS[chain]} if chain != "all" else {}
    return {"augment": dict(SETTINGS, copy=copy, **made_by)}


def clip_waves(samples: Sequence[Sample], copy: int, chain: str = "all") -> list[np.ndarray]:
    """The decoded clips (first 30 s), or their training copy number ``copy`` made by ``chain`` (:func:`copy_wave`)."""
    waves = [load_audio(s.audio, max_seconds=MAX_SECONDS) for s in samples]
    if not copy:
        return waves
    return [copy_wave(wave, clip_id(s), copy, chain)[0] for s, wave in zip(samples, waves)]


def copy_wave(wave: np.ndarray, clip: str, copy: int, chain: str = "all") -> tuple[np.ndarray, float]:
    """Training copy number ``copy`` of the decoded clip ``wave`` ``[S]`` (id ``clip``) made by ``chain``, cut to its
    first 30 s (a copy played slower is longer than its clip, and the Whisper encoder covers 30 s): ``[S']``, with
    how many times as long as the clip the whole copy is (a tempo copy's stretch; 1 for the clip itself, ``copy``
    0, and for an empty one)."""
    if not copy:
        return wave, 1.0
    from emodemo.inputs.augment import augmented

    made = augmented(wave, clip, copy, chain=chain)
    return made[: int(MAX_SECONDS * SAMPLE_RATE)], made.size / wave.size if wave.size else 1.0


def clip_id(sample: Sample) -> str:
    """The id of the clip a sample (a pairing of it, or a copy) is made from: what seeds its copies."""
    return sample.id.split("+")[0]


def with_copies(samples: Sequence[Sample], copies: int, chain: str = "all") -> list[Sample]:
    """``samples`` followed by ``copies`` copies of each made by the augmentation ``chain`` (ids ``<id>+aug<k>``)."""
    made_by = {CHAIN: chain} if chain != "all" else {}
    extra = [
        replace(s, id=f"{s.id}+aug{k}", meta={**s.meta, COPY: k, **made_by})
        for k in range(1, copies + 1)
        for s in samples
    ]
    return list(samples) + extra
