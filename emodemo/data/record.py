"""One record type for every sample of every dataset."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AUDIO_SUFFIXES = (".wav", ".flac")  # the audio files a corpus loader reads (a corpus's release, or FLAC copies of it)


@dataclass(frozen=True)
class Sample:
    """A labelled piece of media.

    ``label`` is the single-label target in our spelling (see :mod:`emodemo.core.labels`); ``labels``
    holds all targets of multi-label data (GoEmotions) and equals ``(label,)`` otherwise.
    ``speaker`` is what speaker-independent splits group by (RAVDESS actor, IEMOCAP speaker,
    MELD character); ``group`` is a coarser unit when the protocol has one (IEMOCAP session).
    ``meta`` carries dataset-specific fields (intensity, statement, gender, AU vector ...).
    """

    id: str
    dataset: str
    label: str | None
    speaker: str | None = None
    audio: Path | None = None
    video: Path | None = None
    image: Path | None = None
    text: str | None = None
    split: str | None = None
    group: str | None = None
    labels: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.labels and self.label is not None:
            object.__setattr__(self, "labels", (self.label,))


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder is missing or incomplete; the message says what and where to get it."""
