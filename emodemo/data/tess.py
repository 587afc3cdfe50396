"""TESS, the Toronto Emotional Speech Set: two actresses say "Say the word ___" in 7 emotions.

``OAF`` (aged 64) and ``YAF`` (aged 26) each say the carrier phrase with 200 target words in
angry, disgust, fear, happy, neutral, pleasant surprise and sad: 2,800 clips in the published
release. File names carry the labels: ``OAF_angry/OAF_back_angry.wav`` is speaker OAF, word "back",
emotion angry; pleasant surprise is ``*_ps``. The folders of the original download differ in
case (``OAF_Fear``, ``YAF_pleasant_surprised``): the loader reads the emotion from the file name
and ignores the folder names. Any copy with the same file names as ``.wav`` or ``.flac`` loads.

TESS is a **cross-corpus test set** here. Its licence (CC BY-NC-ND 4.0) forbids derived weights:
never train on it. Every word is said in all 7 emotions by both speakers, so the words carry no
emotion. Its words split into two fixed halves (:data:`HALVES`, committed in ``splits/``): models
and settings are **chosen** on the first half and **reported** on the second, once per final
choice. ``Sample.split`` is ``"choose"`` or ``"report"`` (words outside the committed 50, which
a full download has, get ``None``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from emodemo.core.files import SPLITS
from emodemo.core.labels import TESS_CODES
from emodemo.data.checks import check_count, dataset_error, locate, log, summarise
from emodemo.data.record import AUDIO_SUFFIXES, Sample

SPEAKERS: dict[str, tuple[str, int]] = {"OAF": ("female", 64), "YAF": ("female", 26)}
PUBLISHED_CLIPS = 2800
HALVES_FILE = SPLITS / "tess_word_halves.json"
CARRIER = "Say the word {}"

_NAME = re.compile(r"^(OAF|YAF)_(.+)_([A-Za-z]+)$", re.IGNORECASE)


def word_halves() -> dict[str, str]:
    """``{word: "choose" | "report"}`` from the committed split file (the 50 words of the
    shared copy, sorted, first 25 / last 25)."""
    halves = json.loads(HALVES_FILE.read_text(encoding="utf-8"))
    return {word: half for half in ("choose", "report") for word in halves[half]}


def load(root: str | Path, *, strict: bool = True) -> list[Sample]:
    """Load TESS clips, one Sample per audio file, sorted by id (the file stem).

    ``label`` in our spelling (fear -> fearful, pleasant surprise -> surprised); ``speaker``
    "OAF" / "YAF"; ``text`` the carrier sentence with its word; ``split`` the word's half;
    ``meta``: word, gender, age, language "en". Files may sit in per-emotion folders (as
    published) or all in one folder. The total is checked (2,800) when all 200 words are present.
    """
    folder = locate(root, "tess", _has_clips, children=("TESS Toronto emotional speech set data", "tess"))
    halves = word_halves()
    samples, bad = [], []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        match = _NAME.match(path.stem)
        emotion = match.group(3).lower() if match else None
        if emotion not in TESS_CODES:
            bad.append(path.name)
            continue
        speaker, word = match.group(1).upper(), match.group(2).lower()
        gender, age = SPEAKERS[speaker]
        samples.append(
            Sample(
                id=f"{speaker}_{word}_{emotion}",
                dataset="tess",
                label=TESS_CODES[emotion],
                speaker=speaker,
                audio=path,
                text=CARRIER.format(word),
                split=halves.get(word),
                meta={"word": word, "gender": gender, "age": age, "language": "en"},
            )
        )
    if bad:
        raise dataset_error("tess", f"{len(bad)} audio files are not TESS clips: {summarise(bad)}", folder)
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise dataset_error("tess", f"clips found twice (as .wav and .flac?): {summarise(twice)}", folder)
    samples.sort(key=lambda s: s.id)
    words = {s.meta["word"] for s in samples}
    if len(words) >= 200:
        check_count("tess", "clips of all 200 words", len(samples), PUBLISHED_CLIPS, folder, strict=strict)
    else:
        log.info("TESS: %d clips of %d words (a subset of the 200 published)", len(samples), len(words))
    return samples


def _has_clips(folder: Path) -> bool:
    return any(_NAME.match(p.stem) for p in folder.glob("*/*") if p.suffix.lower() in AUDIO_SUFFIXES) or any(
        _NAME.match(p.stem) for p in folder.glob("*") if p.suffix.lower() in AUDIO_SUFFIXES
    )
