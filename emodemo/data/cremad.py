"""CREMA-D: 7,442 clips from 91 actors (1001-1091) saying 12 sentences in 6 emotions.

File names carry the labels: ``AudioWAV/1001_DFA_ANG_XX.wav`` is actor 1001, sentence DFA
("Don't forget a jacket"), emotion ANG (angry), level XX (unspecified; the sentence IEO was also
recorded at LO / MD / HI intensity). ``VideoDemographics.csv`` (ActorID, Age, Sex, Race,
Ethnicity) is joined into ``meta`` when it sits next to ``AudioWAV/``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from emodemo.core.labels import CREMAD_CODES
from emodemo.data.checks import check_count, dataset_error, locate, log, summarise
from emodemo.data.record import Sample

ACTORS: tuple[int, ...] = tuple(range(1001, 1092))
PUBLISHED_CLIPS = 7442
SENTENCES: dict[str, str] = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
LEVELS: dict[str, str] = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
DEMOGRAPHICS_FILE = "VideoDemographics.csv"

_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def load(root: str | Path, *, strict: bool = True) -> list[Sample]:
    """Load CREMA-D clips, one Sample per WAV, sorted by id (the file stem).

    ``label`` in our spelling; ``speaker`` the actor id ("1001"); ``text`` the sentence;
    ``meta``: actor, sentence code, level, and age / gender / race / ethnicity when the
    demographics CSV is present. The total is checked (7,442) when all 91 actors are present.
    """
    folder = locate(root, "cremad", _has_clips, children=("AudioWAV",))
    demographics = _read_demographics(folder)
    samples, bad = [], []
    for path in sorted(folder.glob("*.wav")):
        match = _NAME.match(path.stem)
        if (
            not match
            or match.group(2) not in SENTENCES
            or match.group(3) not in CREMAD_CODES
            or match.group(4) not in LEVELS
            or int(match.group(1)) not in ACTORS
        ):
            bad.append(path.name)
            continue
        actor, sentence, emotion, level = match.groups()
        samples.append(
            Sample(
                id=path.stem,
                dataset="cremad",
                label=CREMAD_CODES[emotion],
                speaker=actor,
                audio=path,
                text=SENTENCES[sentence],
                meta={
                    "actor": int(actor),
                    "sentence": sentence,
                    "level": LEVELS[level],
                    **demographics.get(int(actor), {}),
                },
            )
        )
    if bad:
        raise dataset_error("cremad", f"{len(bad)} WAV names are not CREMA-D clips: {summarise(bad)}", folder)
    actors = {s.meta["actor"] for s in samples}
    if actors == set(ACTORS):
        check_count("cremad", "clips of all 91 actors", len(samples), PUBLISHED_CLIPS, folder, strict=strict)
    else:
        log.info("CREMA-D: %d clips from %d of 91 actors (a subset)", len(samples), len(actors))
    return samples


def _has_clips(folder: Path) -> bool:
    return any(_NAME.match(p.stem) for p in folder.glob("*.wav"))


def _read_demographics(folder: Path) -> dict[int, dict[str, object]]:
    """ActorID -> {age, gender, race, ethnicity} from the CSV next to (or in) the audio folder."""
    for path in (folder / DEMOGRAPHICS_FILE, folder.parent / DEMOGRAPHICS_FILE):
        if path.is_file():
            with path.open(newline="", encoding="utf-8-sig") as f:
                return {
                    int(r["ActorID"]): {
                        "age": int(r["Age"]),
                        "gender": r["Sex"].lower(),
                        "race": r["Race"],
                        "ethnicity": r["Ethnicity"],
                    }
                    for r in csv.DictReader(f)
                }
    return {}
