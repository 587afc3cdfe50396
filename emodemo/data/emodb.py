"""Berlin EmoDB: 535 German utterances by 10 actors in 7 emotions.

File names carry the labels: ``wav/03a01Fa.wav`` is speaker 03, text a01 ("Der Lappen liegt auf
dem Eisschrank."), emotion F (Freude: happy), version a. Emotion letters are German initials:
W anger (Wut), L boredom (Langeweile), E disgust (Ekel), A fear (Angst), F happiness, T sadness
(Trauer), N neutral.
"""

from __future__ import annotations

import re
from pathlib import Path

from emodemo.core.labels import EMODB_CODES
from emodemo.data.checks import check_count, dataset_error, locate, log, summarise
from emodemo.data.record import AUDIO_SUFFIXES, Sample

# speaker -> (gender, age at recording), from the database documentation
SPEAKERS: dict[str, tuple[str, int]] = {
    "03": ("male", 31),
    "08": ("female", 34),
    "09": ("female", 21),
    "10": ("male", 32),
    "11": ("male", 26),
    "12": ("male", 30),
    "13": ("female", 32),
    "14": ("female", 35),
    "15": ("male", 25),
    "16": ("female", 31),
}
TEXTS: dict[str, str] = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
PUBLISHED_UTTERANCES = 535

_NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")


def load(root: str | Path, *, strict: bool = True) -> list[Sample]:
    """Load EmoDB utterances, one Sample per audio file (WAV as published, or FLAC), sorted by id.

    ``label`` in our spelling (boredom is ``bored``, outside the canonical 7); ``speaker`` "03";
    ``text`` the German sentence; ``meta``: text code, version, gender, age, language "de".
    The total is checked (535) when all 10 speakers are present.
    """
    folder = locate(root, "emodb", _has_clips, children=("wav",))
    samples, bad = [], []
    for path in sorted(_audio_files(folder), key=lambda p: p.stem):
        match = _NAME.match(path.stem)
        if (
            not match
            or match.group(1) not in SPEAKERS
            or match.group(2) not in TEXTS
            or match.group(3) not in EMODB_CODES
        ):
            bad.append(path.name)
            continue
        speaker, text, emotion, version = match.groups()
        gender, age = SPEAKERS[speaker]
        samples.append(
            Sample(
                id=path.stem,
                dataset="emodb",
                label=EMODB_CODES[emotion],
                speaker=speaker,
                audio=path,
                text=TEXTS[text],
                meta={"text_code": text, "version": version, "gender": gender, "age": age, "language": "de"},
            )
        )
    if bad:
        raise dataset_error("emodb", f"{len(bad)} audio file names are not EmoDB utterances: {summarise(bad)}", folder)
    stems = [s.id for s in samples]
    if len(set(stems)) != len(stems):
        raise dataset_error(
            "emodb",
            "utterances found twice (as .wav and .flac?): "
            f"{summarise(sorted({x for x in stems if stems.count(x) > 1}))}",
            folder,
        )
    speakers = {s.speaker for s in samples}
    if speakers == set(SPEAKERS):
        check_count("emodb", "utterances of all 10 speakers", len(samples), PUBLISHED_UTTERANCES, folder, strict=strict)
    else:
        log.info("EmoDB: %d utterances from %d of 10 speakers (a subset)", len(samples), len(speakers))
    return samples


def _audio_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES]


def _has_clips(folder: Path) -> bool:
    return any(_NAME.match(p.stem) for p in _audio_files(folder))
