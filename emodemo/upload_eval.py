"""Score every served model on a user's own labelled clips (the app's Evaluate tab).

The user uploads a zip of audio or video files, labelled either by RAVDESS file names
(``03-01-05-01-01-01-12.wav``: the third field is the emotion) or by a CSV inside the zip with a
``file`` (or ``path``) column and a ``label`` column. Labels are read in our spelling or the
usual aliases (``anger``, ``joy``, ``fear``, ``sadness``, ``surprise``) and mapped to the
canonical 7 classes (calm counts as neutral). Each clip goes through :class:`~emodemo.pipeline.Pipeline`
like an uploaded clip; the result is each model's :func:`~emodemo.metrics.classification_report`
on the clips it answered, and notes on what was skipped and why.
"""
from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Callable

from emodemo.batch import MEDIA
from emodemo.data.ravdess import ClipName
from emodemo.labels import CANONICAL7, EKMAN_WORDS, RAVDESS_CODES, to_canonical
from emodemo.metrics import classification_report

MAX_FILES, MAX_BYTES = 500, 500 * 2**20          # what one upload may hold


class UploadError(ValueError):
    """The upload cannot be scored; the message says why."""


def unpack(archive: str | Path, folder: str | Path) -> Path:
    """Extract a zip into ``folder``, refusing paths that leave it, and uploads over the limits."""
    folder = Path(folder).resolve()
    try:
        with zipfile.ZipFile(archive) as handle:
            members = [m for m in handle.infolist() if not m.is_dir()]
            if len(members) > MAX_FILES or sum(m.file_size for m in members) > MAX_BYTES:
                raise UploadError(f"the zip holds {len(members)} files, {sum(m.file_size for m in members) / 2**20:.0f} MB "
                                  f"unpacked: the limit is {MAX_FILES} files and {MAX_BYTES // 2**20} MB")
            for member in members:
                target = (folder / member.filename).resolve()
                if folder not in target.parents:
                    raise UploadError(f"the zip entry {member.filename!r} points outside the archive's folder")
            handle.extractall(folder)
    except zipfile.BadZipFile:
        raise UploadError(f"{Path(archive).name} is not a readable zip file") from None
    return folder


def canonical_label(text: str) -> str | None:
    """A label in our spelling or a usual alias, as a canonical 7-class name (None: no such class)."""
    word = text.strip().lower()
    return to_canonical(EKMAN_WORDS.get(word, word))


def labelled_clips(folder: str | Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """``([(media file, canonical label)], notes)`` from a CSV in ``folder`` if there is one, else
    from RAVDESS file names. Files without a usable label are left out and counted in the notes."""
    folder = Path(folder)
    tables = sorted(folder.rglob("*.csv"))
    clips, unlabelled = [], []
    if tables:
        with open(tables[0], newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
        column = next((c for c in ("file", "path") if rows and c in rows[0]), None)
        if column is None or "label" not in rows[0]:
            raise UploadError(f"{tables[0].name} needs a 'file' (or 'path') column and a 'label' column")
        for row in rows:
            path, label = (tables[0].parent / row[column]).resolve(), canonical_label(row["label"] or "")
            if path.is_file() and label is not None:
                clips.append((path, label))
            else:
                unlabelled.append(row[column])
    else:
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in MEDIA and not p.name.startswith(".")):
            name = ClipName.parse(path.stem)
            if name is None:
                unlabelled.append(path.name)
            else:
                clips.append((path, to_canonical(RAVDESS_CODES[name.emotion])))
    notes = [f"{len(unlabelled)} files had no usable label and were left out (e.g. {', '.join(unlabelled[:3])})"] \
        if unlabelled else []
    if not clips:
        raise UploadError("no labelled clip found: name the files as RAVDESS does (03-01-05-01-01-01-12.wav) "
                          "or add a CSV with 'file' and 'label' columns")
    return clips, notes


def evaluate_upload(pipeline, archive: str | Path, folder: str | Path,
                    progress: Callable[[int, int], None] | None = None) -> tuple[dict[str, dict], list[str]]:
    """``({model: classification report}, notes)`` for the labelled clips of a zip (see the module
    docstring); ``progress(done, total)`` is called after each clip."""
    from emodemo.pipeline import ClipError
    clips, notes = labelled_clips(unpack(archive, folder))
    answers: dict[str, tuple[list[str], list[str]]] = {}
    failed = []
    for i, (path, label) in enumerate(clips):
        try:
            result = pipeline.analyse(path)
        except ClipError as error:
            failed.append(f"{path.name}: {error}")
        else:
            for name, prediction in result.predictions.items():
                truth, guesses = answers.setdefault(name, ([], []))
                truth.append(label)
                guesses.append(to_canonical(prediction.top))
        if progress is not None:
            progress(i + 1, len(clips))
    if failed:
        notes.append(f"{len(failed)} clips could not be analysed: " + "; ".join(failed[:3]))
    reports = {name: classification_report(truth, guesses, list(CANONICAL7)) for name, (truth, guesses) in answers.items()}
    return reports, notes
