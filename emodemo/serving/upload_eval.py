"""Score every served model on a user's own labelled clips (the app's Evaluate tab).

The user uploads a zip of audio or video files, labelled either by RAVDESS file names
(``03-01-05-01-01-01-12.wav``: the third field is the emotion) or by a CSV inside the zip with a
``file`` (or ``path``) column and a ``label`` column. Labels are read in our spelling or the
usual aliases (``anger``, ``joy``, ``fear``, ``sadness``, ``surprise``) and mapped to the
canonical 7 classes (calm counts as neutral). Each clip goes through :class:`~emodemo.serving.pipeline.Pipeline`
like an uploaded clip; the result is each model's :func:`~emodemo.core.metrics.classification_report`
on the clips it answered, and notes on what was skipped and why.
"""

from __future__ import annotations

import csv
import lzma
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from emodemo.core.labels import CANONICAL7, EKMAN_WORDS, RAVDESS_CODES, to_canonical
from emodemo.core.metrics import classification_report
from emodemo.data.ravdess import ClipName
from emodemo.serving.batch import MEDIA

MAX_FILES, MAX_BYTES = 500, 500 * 2**20  # what one upload may hold (files, bytes unpacked)
CHUNK = 2**20  # bytes read from an entry at a time
READABLE = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}  # compression methods Python's zipfile decodes


class UploadError(ValueError):
    """The upload cannot be scored; the message says why."""


def unpack(archive: str | Path, folder: str | Path) -> tuple[Path, list[str]]:
    """Extract a zip into ``folder``: ``(folder resolved, notes for the user)``.

    Refuses (:class:`UploadError`, a message naming the user's zip and entry, never a server path)
    entries that leave ``folder``, password-protected entries, compression methods Python cannot
    read, damaged entries (CRC errors, broken streams) and uploads over ``MAX_FILES`` files or
    ``MAX_BYTES`` unpacked, counted on the bytes actually written as well as the headers' sizes.
    Zips inside the zip are not searched: they are left out and named in the notes.
    """
    folder, name = Path(folder).resolve(), Path(archive).name
    try:
        with zipfile.ZipFile(archive) as handle:
            members = [m for m in handle.infolist() if not m.is_dir()]
            nested = [m.filename for m in members if m.filename.lower().endswith(".zip")]
            members = [m for m in members if not m.filename.lower().endswith(".zip")]
            _check_members(members, folder, name)
            written = 0
            for member in members:
                written += _extract(handle, member, folder / member.filename, MAX_BYTES - written, name)
    except zipfile.BadZipFile:
        raise UploadError(f"{name} is not a readable zip file") from None
    notes = (
        [f"zips inside the zip are not searched: {', '.join(nested[:3])} left out (put their clips in the outer zip)"]
        if nested
        else []
    )
    return folder, notes


def _check_members(members: list[zipfile.ZipInfo], folder: Path, name: str) -> None:
    """Refuse the whole upload, before writing anything, for what the headers already tell."""
    declared = sum(m.file_size for m in members)
    if len(members) > MAX_FILES or declared > MAX_BYTES:
        raise UploadError(
            f"{name} holds {len(members)} files, {declared / 2**20:.0f} MB unpacked: "
            f"the limit is {MAX_FILES} files and {MAX_BYTES // 2**20} MB"
        )
    for member in members:
        if folder not in (folder / member.filename).resolve().parents:
            raise UploadError(f"the zip entry {member.filename!r} points outside the archive's folder")
        if member.flag_bits & 0x1:
            raise UploadError(
                f"{name} is password-protected (entry {member.filename!r} is encrypted): "
                "upload a zip without a password"
            )
        if member.compress_type not in READABLE:
            method = zipfile.compressor_names.get(member.compress_type, f"method {member.compress_type}")
            raise UploadError(
                f"{name}: the entry {member.filename!r} is compressed with {method}, which the app "
                f"cannot read; zip it again with the usual method ({', '.join(READABLE.values())})"
            )


def _extract(handle: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int, name: str) -> int:
    """Write one entry to ``target`` chunk by chunk and return its bytes; refuse it once more than
    ``budget`` bytes come out (whatever its header said) or when its data is damaged."""
    written = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with handle.open(member) as source, open(target, "wb") as sink:
            while (chunk := source.read(CHUNK)) and written <= budget:
                written += len(chunk)
                sink.write(chunk)
    except zipfile.BadZipFile as err:  # zipfile's word for a checksum mismatch
        reason = "fails its checksum (CRC error)" if "CRC" in str(err) else "is damaged"
        raise UploadError(f"{name} is damaged: the entry {member.filename!r} {reason}") from None
    except (EOFError, OSError, zlib.error, lzma.LZMAError):  # a stream cut short, corrupt, or a name clash
        raise UploadError(
            f"{name}: the entry {member.filename!r} cannot be unpacked (its data is damaged, "
            "or its name clashes with another entry)"
        ) from None
    if written > budget:
        raise UploadError(f"{name} unpacks to more than {MAX_BYTES // 2**20} MB: that is the limit")
    return written


def canonical_label(text: str) -> str | None:
    """A label in our spelling or a usual alias, as a canonical 7-class name (None: no such class)."""
    word = text.strip().lower()
    return to_canonical(EKMAN_WORDS.get(word, word))


def media_inside(folder: Path, path: Path) -> Path | None:
    """``path`` resolved (links followed) when it is a regular media file inside ``folder``; else None."""
    resolved = path.resolve()
    inside = folder.resolve() in resolved.parents and resolved.is_file()
    return resolved if inside and resolved.suffix.lower() in MEDIA else None


def labelled_clips(folder: str | Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """``([(media file, canonical label)], notes)`` from a CSV in ``folder`` if there is one, else
    from RAVDESS file names. A CSV row may name only a media file inside ``folder`` (an absolute
    path, ``..``, a link out, a folder or a missing file is refused); refused rows and files without
    a usable label are left out and named in the notes."""
    folder = Path(folder)
    tables = sorted(folder.rglob("*.csv"))
    clips, unlabelled, refused = [], [], []
    if tables:
        with open(tables[0], newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
        column = next((c for c in ("file", "path") if rows and c in rows[0]), None)
        if column is None or "label" not in rows[0]:
            raise UploadError(f"{tables[0].name} needs a 'file' (or 'path') column and a 'label' column")
        for row in rows:
            named = row[column] or ""
            path, label = media_inside(folder, tables[0].parent / named), canonical_label(row["label"] or "")
            if path is None:
                refused.append(named)
            elif label is None:
                unlabelled.append(named)
            else:
                clips.append((path, label))
    else:
        for path in sorted(p for p in folder.rglob("*") if media_inside(folder, p) and not p.name.startswith(".")):
            name = ClipName.parse(path.stem)
            if name is None:
                unlabelled.append(path.name)
            else:
                clips.append((path, to_canonical(RAVDESS_CODES[name.emotion])))
    notes = (
        [f"{len(unlabelled)} files had no usable label and were left out (e.g. {', '.join(unlabelled[:3])})"]
        if unlabelled
        else []
    )
    if refused:
        notes.append(
            f"{len(refused)} rows of {tables[0].name} were refused: a row may only name a media file inside "
            f"the zip ({', '.join(repr(r) for r in refused[:5])})"
        )
    if not clips:
        raise UploadError(
            "no labelled clip found: name the files as RAVDESS does (03-01-05-01-01-01-12.wav) "
            "or add a CSV with 'file' and 'label' columns"
        )
    return clips, notes


def evaluate_upload(
    pipeline, archive: str | Path, folder: str | Path, progress: Callable[[int, int], None] | None = None
) -> tuple[dict[str, dict], list[str]]:
    """``({model: classification report}, notes)`` for the labelled clips of a zip (see the module
    docstring); ``progress(done, total)`` is called after each clip."""
    from emodemo.serving.pipeline import ClipError

    folder, notes = unpack(archive, folder)
    clips, found = labelled_clips(folder)
    notes += found
    answers: dict[str, tuple[list[str], list[str]]] = {}
    failed = []
    for i, (path, label) in enumerate(clips):
        try:
            result = pipeline.analyse(path)
        except ClipError as error:
            failed.append(f"{path.relative_to(folder).as_posix()}: {error}")
        else:
            for name, prediction in result.predictions.items():
                truth, guesses = answers.setdefault(name, ([], []))
                truth.append(label)
                guesses.append(to_canonical(prediction.top))
        if progress is not None:
            progress(i + 1, len(clips))
    if failed:
        notes.append(f"{len(failed)} clips could not be analysed: " + "; ".join(failed[:3]))
    reports = {
        name: classification_report(truth, guesses, list(CANONICAL7)) for name, (truth, guesses) in answers.items()
    }
    return reports, notes
