"""RAVDESS speech (audio-only, speech channel) and its facial action-unit table.

File names carry every label: ``03-01-05-02-01-01-07.wav`` is modality 03 (audio-only), vocal
channel 01 (speech), emotion 05 (angry), intensity 02 (strong), statement 01 ("Kids are talking by
the door"), repetition 01, actor 07 (odd = male). Each of the 24 actors recorded 60 speech takes:
neutral at normal intensity only (2 statements x 2 repetitions = 4) and the 7 other emotions at
both intensities (7 x 2 x 2 x 2 = 56), so the full release has 1,440 clips.

Two layouts load: the original download (``Audio_Speech_Actors_01-24/Actor_XX/*.wav``, 48 kHz;
point ``root`` at that folder or its parent) and any copy with the same names re-encoded as FLAC
(``Actor_XX/*.flac``). Any subset of whole actors is valid (actors 01-20 = 1,200 clips); an actor
with missing or extra takes is not.

The face table (``au_features.csv``: 35 OpenFace action units averaged over each audio-visual clip
``01-01-EE-II-SS-RR-AA``) pairs with the audio clip ``03-01-EE-II-SS-RR-AA`` by the last six
fields, which we call the *take*. :func:`load` can join it into ``meta["au"]``; :func:`load_au`
reads it alone, one sample per row, for face-only models.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from emodemo.core.labels import RAVDESS_CODES
from emodemo.data.checks import check_count, dataset_error, locate, log, summarise
from emodemo.data.duplicates import audio_duplicates
from emodemo.data.record import AUDIO_SUFFIXES, Sample

SENTENCES: dict[str, str] = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
MODALITIES: dict[str, str] = {"01": "audio-video", "02": "video-only", "03": "audio-only"}
VOCAL_CHANNELS: dict[str, str] = {"01": "speech", "02": "song"}
INTENSITIES: dict[str, str] = {"01": "normal", "02": "strong"}
ACTORS: tuple[int, ...] = tuple(range(1, 25))
TAKES_PER_ACTOR = 60
AU_FILE = "au_features.csv"
# OpenFace 2 action units in the published column order: 17 intensities (0-5), then 18 presences
# (0/1), each averaged over the frames of a clip.
AU_COLUMNS: tuple[str, ...] = tuple(
    [f"mean_AU{n:02d}_r" for n in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)]
    + [f"mean_AU{n:02d}_c" for n in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 28, 45)]
)

_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_ACTOR_DIR = re.compile(r"^Actor_(\d\d)$")


@dataclass(frozen=True)
class ClipName:
    """The seven two-digit fields of a RAVDESS file name."""

    modality: str
    vocal_channel: str
    emotion: str
    intensity: str
    statement: str
    repetition: str
    actor: str

    @classmethod
    def parse(cls, stem: str) -> ClipName | None:
        """Fields of ``stem`` (file name without suffix), or None when it is not a valid RAVDESS name."""
        match = _NAME.match(stem)
        if not match:
            return None
        name = cls(*match.groups())
        valid = (
            name.modality in MODALITIES
            and name.vocal_channel in VOCAL_CHANNELS
            and name.emotion in RAVDESS_CODES
            and name.intensity in INTENSITIES
            and name.statement in SENTENCES
            and name.repetition in ("01", "02")
            and 1 <= int(name.actor) <= 24
        )
        return name if valid else None

    @property
    def take(self) -> str:
        """The last six fields, shared by the audio-only, video-only and audio-video files of a take."""
        return "-".join((self.vocal_channel, self.emotion, self.intensity, self.statement, self.repetition, self.actor))

    def meta(self) -> dict:
        """Every field in words, for ``Sample.meta``."""
        return {
            "modality": MODALITIES[self.modality],
            "vocal_channel": VOCAL_CHANNELS[self.vocal_channel],
            "emotion": RAVDESS_CODES[self.emotion],
            "emotion_code": self.emotion,
            "intensity": INTENSITIES[self.intensity],
            "statement": int(self.statement),
            "sentence": SENTENCES[self.statement],
            "repetition": int(self.repetition),
            "actor": int(self.actor),
            "gender": "male" if int(self.actor) % 2 else "female",
            "take": self.take,
        }

    def to_sample(self, dataset: str, calm_as_neutral: bool, **fields) -> Sample:
        """A Sample labelled from this name (``calm`` becomes ``neutral`` when asked)."""
        label = RAVDESS_CODES[self.emotion]
        if calm_as_neutral and label == "calm":
            label = "neutral"
        return Sample(
            id="-".join((self.modality, self.take)),
            dataset=dataset,
            label=label,
            speaker=speaker_id(int(self.actor)),
            text=SENTENCES[self.statement],
            **fields,
        )


def speaker_id(actor: int) -> str:
    """The speaker name every split file uses: ``Actor_07``."""
    return f"Actor_{actor:02d}"


def expected_takes(actor: int) -> list[str]:
    """The 60 speech takes an actor recorded (see the module docstring)."""
    takes = []
    for emotion, statement, repetition in itertools.product(RAVDESS_CODES, SENTENCES, ("01", "02")):
        for intensity in ("01",) if emotion == "01" else ("01", "02"):
            takes.append(f"01-{emotion}-{intensity}-{statement}-{repetition}-{actor:02d}")
    return sorted(takes)


def load(
    root: str | Path,
    *,
    calm_as_neutral: bool = False,
    au_csv: str | Path | None = None,
    actors: Iterable[int] | None = None,
    strict: bool = True,
) -> list[Sample]:
    """Load the RAVDESS speech clips under ``root``, one Sample per clip, sorted by id.

    ``label`` is the emotion in our spelling ("calm" -> "neutral" with ``calm_as_neutral``; the
    original stays in ``meta["emotion"]``); ``text`` is the spoken sentence; ``speaker`` is
    ``Actor_XX``; ``meta`` holds every file-name field (see :meth:`ClipName.meta`).
    ``actors`` keeps only those actor numbers. ``au_csv`` (the CSV or its folder) joins each clip's
    35 action units as ``meta["au"]`` (float32 [35], order :data:`AU_COLUMNS`); clips without a
    row in the table get no ``"au"`` key and a warning says how many.
    ``strict=False`` turns incomplete actors into warnings instead of errors.
    """
    folder = locate(
        root, "ravdess", _has_actor_folders, children=("Audio_Speech_Actors_01-24", "audio_speech_actors_01-24")
    )
    wanted = set(actors) if actors is not None else set(ACTORS)
    samples: list[Sample] = []
    for actor, actor_dir in _actor_folders(folder):
        if actor not in wanted:
            continue
        clips = _speech_clips(actor, actor_dir)
        _check_takes("ravdess", actor, set(clips), actor_dir, strict)
        samples += [
            name.to_sample("ravdess", calm_as_neutral, audio=path, meta=name.meta()) for name, path in clips.values()
        ]
    if not samples:
        raise dataset_error("ravdess", f"no speech clips of actors {sorted(wanted)}", folder)
    _log_actor_coverage("RAVDESS speech", samples)
    if au_csv is not None:
        samples = _join_action_units(samples, read_au_table(au_csv))
    return sorted(samples, key=lambda s: s.id)


def _has_actor_folders(folder: Path) -> bool:
    return any(_ACTOR_DIR.match(p.name) and p.is_dir() for p in folder.iterdir())


def _actor_folders(folder: Path) -> list[tuple[int, Path]]:
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _ACTOR_DIR.match(p.name)))
    strangers = [p.name for a, p in found if a not in ACTORS]
    if strangers:
        raise dataset_error("ravdess", f"actor folders outside 01-24: {strangers}", folder)
    return found


def _speech_clips(actor: int, actor_dir: Path) -> dict[str, tuple[ClipName, Path]]:
    """take -> (name, path) for the audio-only speech files of one actor folder."""
    clips: dict[str, tuple[ClipName, Path]] = {}
    bad, other_kinds = [], 0
    for path in sorted(p for p in actor_dir.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
        name = ClipName.parse(path.stem)
        if name is None or int(name.actor) != actor:
            bad.append(path.name)
        elif name.modality != "03" or name.vocal_channel != "01":
            other_kinds += 1  # song or audio-visual files mixed into the folder: not ours
        elif name.take in clips:
            bad.append(f"{path.name} (same take as {clips[name.take][1].name})")
        else:
            clips[name.take] = (name, path)
    if bad:
        raise dataset_error(
            "ravdess",
            f"{len(bad)} audio file(s) whose names are not RAVDESS speech takes of actor {actor:02d}: {summarise(bad)}",
            actor_dir,
        )
    if other_kinds:
        log.info("RAVDESS: skipped %d non-speech or non-audio-only files in %s", other_kinds, actor_dir)
    return clips


def _check_takes(dataset: str, actor: int, found: set[str], where: Path, strict: bool) -> None:
    """Every actor present must have all 60 takes (named with the audio-only or audio-visual prefix)."""
    missing = [t for t in expected_takes(actor) if t not in found]
    if missing:
        prefix = "03" if dataset == "ravdess" else "01"
        check_count(
            dataset,
            f"actor {actor:02d} is incomplete, missing {summarise(f'{prefix}-{t}' for t in missing)}",
            len(found),
            TAKES_PER_ACTOR,
            where,
            strict=strict,
        )


def _log_actor_coverage(title: str, samples: list[Sample]) -> None:
    """Say which actors a (valid) subset has; whole actors make a whole release of 1,440 takes."""
    present = sorted({s.meta["actor"] for s in samples})
    log.info(
        "%s: %d clips from %d of 24 actors (%s)",
        title,
        len(samples),
        len(present),
        summarise([f"{a:02d}" for a in present], 24),
    )


# --- facial action units -------------------------------------------------------------------------


@dataclass(frozen=True)
class AuTable:
    """The action-unit table: one row per audio-visual clip, columns in :data:`AU_COLUMNS` order."""

    path: Path
    clip_ids: tuple[str, ...]
    values: np.ndarray  # [N, 35] float32
    columns: tuple[str, ...] = AU_COLUMNS

    def by_take(self) -> dict[str, np.ndarray]:
        """take (last six name fields) -> AU vector [35]."""
        return {cid[3:]: row for cid, row in zip(self.clip_ids, self.values, strict=True)}


def read_au_table(path: str | Path) -> AuTable:
    """Read ``au_features.csv`` (the file, or the folder that holds it)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise dataset_error("ravdess_au", "the file or folder does not exist", path)
    if path.is_dir():
        if not (path / AU_FILE).is_file():
            raise dataset_error("ravdess_au", f"the folder has no {AU_FILE}", path)
        path = path / AU_FILE
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    header = set(rows[0]) if rows else set()
    missing = [c for c in ("clip_id", *AU_COLUMNS) if c not in header]
    if missing:
        raise dataset_error("ravdess_au", f"the CSV lacks columns {summarise(missing)}", path)
    bad = [r["clip_id"] for r in rows if ClipName.parse(r["clip_id"]) is None]
    if bad:
        raise dataset_error("ravdess_au", f"clip_id values that are not RAVDESS names: {summarise(bad)}", path)
    values = np.array([[float(r[c]) for c in AU_COLUMNS] for r in rows], dtype=np.float32)  # [N, 35]
    return AuTable(path=path, clip_ids=tuple(r["clip_id"] for r in rows), values=values)


def _join_action_units(samples: list[Sample], table: AuTable) -> list[Sample]:
    by_take = table.by_take()
    joined = [
        replace(s, meta={**s.meta, "au": by_take[s.meta["take"]]}) if s.meta["take"] in by_take else s for s in samples
    ]
    without = sum(s.meta["take"] not in by_take for s in samples)
    if without:
        log.warning(
            "RAVDESS: %d of %d clips have no row in %s (they get no meta['au'])", without, len(samples), table.path
        )
    return joined


def load_au(
    path: str | Path, *, calm_as_neutral: bool = False, actors: Iterable[int] | None = None, strict: bool = True
) -> list[Sample]:
    """The action-unit table alone: one Sample per row (face-only models), sorted by id.

    ``id`` is the table's ``clip_id`` (``01-01-...``), ``meta["au"]`` the float32 [35] vector in
    :data:`AU_COLUMNS` order; labels, speaker, text and meta fields as in :func:`load`.
    """
    table = read_au_table(path)
    wanted = set(actors) if actors is not None else set(ACTORS)
    samples, takes_by_actor = [], defaultdict(set)
    for clip_id, vector in zip(table.clip_ids, table.values, strict=True):
        name = ClipName.parse(clip_id)
        if int(name.actor) in wanted and name.vocal_channel == "01":  # speech rows (a table may hold song too)
            samples.append(name.to_sample("ravdess_au", calm_as_neutral, meta={**name.meta(), "au": vector}))
            takes_by_actor[int(name.actor)].add(name.take)
    if not samples:
        raise dataset_error("ravdess_au", f"no speech rows of actors {sorted(wanted)}", table.path)
    for actor, takes in takes_by_actor.items():
        _check_takes("ravdess_au", actor, takes, table.path, strict)
    _log_actor_coverage("RAVDESS action units", samples)
    return sorted(samples, key=lambda s: s.id)


# --- duplicates ----------------------------------------------------------------------------------


def find_duplicates(samples: Iterable[Sample], tolerance: int = 16) -> list[tuple[str, ...]]:
    """Ids of clips whose audio is the same take recorded once (see
    :func:`emodemo.data.duplicates.audio_duplicates`; the known case is Actor_07's repetitions 1
    and 2 of happy/normal/statement 2). Decodes only clips of equal length: about 1 s for 1,200 clips.
    """
    by_path = {s.audio: s.id for s in samples if s.audio is not None}
    return [tuple(by_path[p] for p in group) for group in audio_duplicates(by_path, tolerance)]
