"""Shared test fixtures: where the real datasets are, and skipping clearly when they are not."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EMODEMO_DATA", REPO.parent / "shared" / "datasets"))


def shared_dataset(name: str) -> Path:
    """Path of a dataset folder under ../shared/datasets, or skip the test saying what is missing."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name!r} not found at {path} (set EMODEMO_DATA to its parent folder)")
    return path


@pytest.fixture(scope="session")
def ravdess_root() -> Path:
    return shared_dataset("ravdess_speech")


@pytest.fixture(scope="session")
def ravdess_clip(ravdess_root: Path) -> Path:
    """One real RAVDESS clip: actor 01, angry, strong, statement 1 ("Kids are talking by the door")."""
    return ravdess_root / "Actor_01" / "03-01-05-02-01-01-01.flac"
