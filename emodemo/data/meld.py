"""MELD: utterances from Friends dialogues with 7 emotions and sentiment, official splits.

One CSV per split (``train_sent_emo.csv`` 9,989 rows, ``dev_sent_emo.csv`` 1,109,
``test_sent_emo.csv`` 2,610) with columns ``Sr No., Utterance, Speaker, Emotion, Sentiment,
Dialogue_ID, Utterance_ID, Season, Episode, StartTime, EndTime``. The raw release adds one
video per utterance, ``dia{D}_utt{U}.mp4``, in ``train_splits/``, ``dev_splits_complete/`` and
``output_repeated_splits_test/``; :func:`load` links them when they exist.

The published CSVs are UTF-8 files whose text was once decoded with the wrong code page, so a
right quote appears as ``â\\x80\\x99``; :func:`fix_mojibake` repairs such runs.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path

from emodemo.core.labels import EKMAN_WORDS
from emodemo.data.checks import check_count, dataset_error, locate, select_splits
from emodemo.data.record import Sample

SPLITS: tuple[str, ...] = ("train", "dev", "test")
CSV_FILES: dict[str, str] = {s: f"{s}_sent_emo.csv" for s in SPLITS}
VIDEO_FOLDERS: dict[str, str] = {
    "train": "train_splits",
    "dev": "dev_splits_complete",
    "test": "output_repeated_splits_test",
}
PUBLISHED: dict[str, int] = {"train": 9989, "dev": 1109, "test": 2610}
REQUIRED_COLUMNS = ("Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")

# A UTF-8 lead byte then continuation bytes, each read as Latin-1 or as Windows-1252 characters.
_CONTINUATION = "".join(
    sorted(
        set(bytes(range(0x80, 0xC0)).decode("latin-1"))
        | set(bytes(range(0x80, 0xC0)).decode("cp1252", errors="ignore"))
    )
)
_MOJIBAKE = re.compile(f"[\u00c2-\u00f4][{re.escape(_CONTINUATION)}]{{1,3}}")


def fix_mojibake(text: str) -> str:
    """Repair UTF-8 text that was decoded as Latin-1 or Windows-1252 ("â\\x80\\x99" -> "’").

    Only runs that form a valid UTF-8 sequence once re-encoded are replaced, so correct text
    (including accented words such as "café") is left alone.
    """

    def repair(match: re.Match) -> str:
        run = match.group()
        try:
            raw = bytes(ord(c) if ord(c) < 256 else c.encode("cp1252")[0] for c in run)
            return raw.decode("utf-8")
        except (UnicodeError, ValueError):
            return run

    return _MOJIBAKE.sub(repair, text)


def load(root: str | Path, *, split: str | Iterable[str] | None = None, strict: bool = True) -> list[Sample]:
    """Load MELD utterances, one Sample per CSV row, in file order per split.

    ``id`` is ``<split>_dia{D}_utt{U}``; ``label`` the emotion in our spelling (joy -> happy,
    anger -> angry, ...); ``text`` the repaired utterance; ``speaker`` the character;
    ``group`` the dialogue (``<split>_dia{D}``); ``video`` the clip when present; ``meta`` holds
    sentiment, dialogue / utterance ids, season, episode and start / end times.
    """
    folder = locate(
        root, "meld", lambda p: any((p / f).is_file() for f in CSV_FILES.values()), children=("MELD.Raw", "data/MELD")
    )
    present = [s for s in SPLITS if (folder / CSV_FILES[s]).is_file()]
    samples = []
    for split_name in select_splits("meld", split, present, folder):
        rows = _read_csv(folder / CSV_FILES[split_name])
        check_count(
            "meld",
            f"{split_name} utterances",
            len(rows),
            PUBLISHED[split_name],
            folder / CSV_FILES[split_name],
            strict=strict,
            complete_expected=False,
        )
        videos = _video_folder(folder, split_name)
        samples += [_to_sample(row, split_name, videos) for row in rows]
    return samples


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise dataset_error("meld", f"{path.name} lacks columns {missing}", path)
        rows = list(reader)
    unknown = sorted({r["Emotion"] for r in rows} - set(EKMAN_WORDS))
    if unknown:
        raise dataset_error("meld", f"{path.name} has unknown emotions {unknown}", path)
    return rows


def _video_folder(folder: Path, split: str) -> Path | None:
    """``<root>/<video folder>`` or ``<root>/<split>/<video folder>`` (how the tarballs unpack)."""
    for candidate in (folder / VIDEO_FOLDERS[split], folder / split / VIDEO_FOLDERS[split]):
        if candidate.is_dir():
            return candidate
    return None


def _to_sample(row: dict[str, str], split: str, videos: Path | None) -> Sample:
    dialogue, utterance = int(row["Dialogue_ID"]), int(row["Utterance_ID"])
    video = videos / f"dia{dialogue}_utt{utterance}.mp4" if videos else None
    return Sample(
        id=f"{split}_dia{dialogue}_utt{utterance}",
        dataset="meld",
        label=EKMAN_WORDS[row["Emotion"]],
        speaker=row["Speaker"],
        text=fix_mojibake(row["Utterance"]),
        split=split,
        group=f"{split}_dia{dialogue}",
        video=video if video and video.is_file() else None,
        meta={
            "sentiment": row["Sentiment"],
            "dialogue_id": dialogue,
            "utterance_id": utterance,
            "season": row.get("Season"),
            "episode": row.get("Episode"),
            "start": row.get("StartTime"),
            "end": row.get("EndTime"),
        },
    )
