"""Dataset loaders: one module per dataset, one entry point.

>>> from emodemo.data import load
>>> samples = load("ravdess", "../shared/datasets/ravdess_speech", calm_as_neutral=True)  # doctest: +SKIP

Every loader returns ``list[Sample]`` (:mod:`emodemo.data.record`) with labels in our spelling
(:mod:`emodemo.core.labels`), checks what it finds against the published layout and counts
(:mod:`emodemo.data.checks`), and raises :class:`DatasetNotFoundError` saying what is missing,
where it looked and where to download the data. :mod:`emodemo.data.layouts` writes small fixture
trees in each published layout; :mod:`emodemo.data.splits` holds the speaker-independent folds.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emodemo.data import cmu_mosei, cremad, emodb, fer2013, goemotions, iemocap, meld, ravdess, tess
from emodemo.data.record import DatasetNotFoundError, Sample

DATASETS: dict[str, Callable[..., list[Sample]]] = {
    "ravdess": ravdess.load,
    "ravdess_au": ravdess.load_au,
    "fer2013": fer2013.load,
    "goemotions": goemotions.load,
    "meld": meld.load,
    "iemocap": iemocap.load,
    "cmu_mosei": cmu_mosei.load,
    "cremad": cremad.load,
    "emodb": emodb.load,
    "tess": tess.load,
}


def load(name: str, root: str | Path, **options: Any) -> list[Sample]:
    """Load dataset ``name`` from ``root`` with the loader's keyword ``options``
    (see ``help(DATASETS[name])`` for each loader's options)."""
    try:
        loader = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}") from None
    accepted = [p for p in inspect.signature(loader).parameters if p != "root" and p != "path"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(f"dataset {name!r} has no option(s) {unknown}; its options are {accepted}")
    return loader(root, **options)


def summary(samples: list[Sample]) -> dict[str, Any]:
    """Counts a user checks first: samples, speakers, and samples per split and per label."""

    def count(values) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in values:
            out[str(v)] = out.get(str(v), 0) + 1
        return dict(sorted(out.items()))

    return {
        "samples": len(samples),
        "speakers": len({s.speaker for s in samples if s.speaker is not None}),
        "splits": count(s.split for s in samples),
        "labels": count(s.label for s in samples),
    }


__all__ = ["DATASETS", "DatasetNotFoundError", "Sample", "load", "summary"]
