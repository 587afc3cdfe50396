"""CMU-MOSEI (raw release): YouTube monologues cut into opinion segments, each rated for sentiment
and for the intensity (0-3) of six emotions; the multi-label emotion data of talk 004 (MESM).

The loader reads, under ``root`` (the folder holding ``CMU_MOSEI_Labels.csd`` and ``Raw/``):

* ``CMU_MOSEI_Labels.csd``: the labels as a CMU-MultimodalSDK "computational sequence", an HDF5
  file whose one top group holds ``data/<video id>/features`` ``[N, 7]`` (sentiment -3..3, then
  the intensities of happy, sad, anger, surprise, disgust, fear) and ``data/<video id>/intervals``
  ``[N, 2]`` (start, end in seconds of each labelled segment);
* ``Raw/Transcript/Segmented/Combined/<video id>.txt``: one line per segment,
  ``<video id>___<index>___<start>___<end>___<words>``, matched to the labels by start and end;
* ``Raw/Audio/Full/WAV_16000/<video id>.wav``: the whole video's sound, cut here into one wav per
  segment (written once under ``segments``, by default ``~/.cache/emodemo/datasets/cmu_mosei``);
* ``Raw/Videos/Full/Combined/<video id>.mp4`` when present (the whole video, in ``Sample.video``
  with the segment's ``meta["start"]`` / ``meta["end"]``).

Labels, as the papers use them: an emotion is *present* when its intensity is above 0, so a
segment carries any number of the six (``Sample.labels``, possibly none); ``Sample.label`` is the
strongest one (None when none is present). ``meta`` keeps ``sentiment`` and the six
``intensities``. ``speaker`` is the video id: MOSEI publishes no speaker ids, and a speaker may
appear in several videos, so a split by video is what the release offers.

Splits (``Sample.split`` "train" / "dev" / "test"): the SDK's standard folds, read from a JSON
file ``{"train": [video ids], "valid": [...], "test": [...]}`` (``folds``, default
``<root>/standard_folds.json``; write it from ``mmsdk.mmdatasdk.cmu_mosei.standard_folds``).
Without it, each video is put in a split by a hash of its id (70 / 10 / 20 %), with a warning:
numbers on such a split are not comparable to published ones.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from emodemo.data.checks import dataset_error, locate, log
from emodemo.data.record import Sample

LABELS_FILE = "CMU_MOSEI_Labels.csd"
TRANSCRIPTS = Path("Raw/Transcript/Segmented/Combined")
AUDIO = Path("Raw/Audio/Full/WAV_16000")
VIDEOS = Path("Raw/Videos/Full/Combined")
# the emotions in the order of the label file's columns 1..6, in our spelling
MOSEI6: tuple[str, ...] = ("happy", "sad", "angry", "surprised", "disgust", "fearful")
_SPLIT_NAMES = {"train": "train", "valid": "dev", "val": "dev", "dev": "dev", "test": "test"}
_HASHED_SHARES = (("train", 70), ("dev", 10), ("test", 20))


def load(root: str | Path, *, folds: str | Path | None = None, segments: str | Path | None = None) -> list[Sample]:
    """Every labelled segment that has a transcript line and audio, in video and time order."""
    root = locate(root, "cmu_mosei", lambda p: (p / LABELS_FILE).is_file(), children=("CMU_MOSEI",))
    labels = read_labels(root / LABELS_FILE)
    lines = {
        video: read_transcript(root / TRANSCRIPTS / f"{video}.txt")
        for video in labels
        if (root / TRANSCRIPTS / f"{video}.txt").is_file()
    }
    videos = [v for v in labels if v in lines and (root / AUDIO / f"{v}.wav").is_file()]
    if not videos:
        raise dataset_error("cmu_mosei", "no video has both a transcript and a 16 kHz wav", root)
    if len(videos) < len(labels):
        log.warning(
            "CMU-MOSEI: %d of %d labelled videos lack a transcript or a wav and are left out",
            len(labels) - len(videos),
            len(labels),
        )
    split_of = _splits(root, videos, folds)
    out = Path(segments) if segments is not None else _default_segment_folder()
    samples, unmatched = [], 0
    for video in videos:
        by_time = {(round(start, 2), round(end, 2)): (index, words) for index, start, end, words in lines[video]}
        for (start, end), row in zip(*labels[video]):
            match = by_time.get((round(float(start), 2), round(float(end), 2)))
            if match is None:
                unmatched += 1
                continue
            index, words = match
            samples.append(_sample(root, out, video, index, float(start), float(end), row, words, split_of[video]))
    if unmatched:
        log.warning(
            "CMU-MOSEI: %d labelled segments have no transcript line with their start and end; left out", unmatched
        )
    return samples


def read_labels(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """video id -> (intervals [N, 2], features [N, 7]) from the label computational sequence."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            top = handle[next(iter(handle.keys()))]
            return {
                video: (
                    np.asarray(group["intervals"], dtype=np.float64),
                    np.asarray(group["features"], dtype=np.float64),
                )
                for video, group in top["data"].items()
            }
    except (OSError, KeyError, StopIteration) as error:
        raise dataset_error("cmu_mosei", f"{path.name} is not a readable label sequence ({error})", path) from None


def read_transcript(path: Path) -> list[tuple[str, float, float, str]]:
    """``[(index, start, end, words)]`` of one video's segmented transcript."""
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.strip().split("___", 4)
        if len(parts) == 5:
            rows.append((parts[1], float(parts[2]), float(parts[3]), parts[4].strip()))
    return rows


def _sample(
    root: Path, out: Path, video: str, index: str, start: float, end: float, row: np.ndarray, words: str, split: str
) -> Sample:
    intensities = {name: float(value) for name, value in zip(MOSEI6, row[1:7])}
    present = tuple(name for name in MOSEI6 if intensities[name] > 0)
    strongest = max(present, key=lambda name: intensities[name]) if present else None
    clip = out / f"{video}_{index}.wav"
    if not clip.is_file() or clip.stat().st_size == 0:
        _cut(root / AUDIO / f"{video}.wav", start, end, clip)
    full_video = root / VIDEOS / f"{video}.mp4"
    return Sample(
        id=f"{video}_{index}",
        dataset="cmu_mosei",
        label=strongest,
        labels=present,
        speaker=video,
        audio=clip,
        video=full_video if full_video.is_file() else None,
        text=words,
        split=split,
        meta={"sentiment": float(row[0]), "intensities": intensities, "start": start, "end": end},
    )


def _cut(source: Path, start: float, end: float, target: Path) -> None:
    """Write seconds ``start``..``end`` of ``source`` to ``target`` (same rate, atomically)."""
    import soundfile as sf

    from emodemo.core.files import write_atomically

    info = sf.info(str(source))
    first, last = max(0, int(start * info.samplerate)), min(info.frames, int(np.ceil(end * info.samplerate)))
    wave, rate = sf.read(str(source), start=first, stop=max(first, last), dtype="float32")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, lambda temporary: sf.write(temporary, wave, rate, subtype="PCM_16", format="WAV"))


def _splits(root: Path, videos: list[str], folds: str | Path | None) -> dict[str, str]:
    path = Path(folds) if folds is not None else root / "standard_folds.json"
    if path.is_file():
        named = json.loads(path.read_text(encoding="utf-8"))
        split_of = {str(video): _SPLIT_NAMES[name] for name, ids in named.items() for video in ids}
        missing = [v for v in videos if v not in split_of]
        if missing:
            log.warning(
                "CMU-MOSEI: %d videos are in no fold of %s (e.g. %s); they go by hash",
                len(missing),
                path.name,
                missing[:3],
            )
        return {v: split_of.get(v) or _hashed_split(v) for v in videos}
    log.warning(
        "CMU-MOSEI: no %s, so videos are split by a hash of their id (70/10/20); results are not "
        "comparable to the standard folds",
        path,
    )
    return {v: _hashed_split(v) for v in videos}


def _hashed_split(video: str) -> str:
    bucket = int.from_bytes(hashlib.blake2b(video.encode(), digest_size=4).digest(), "big") % 100
    for name, share in _HASHED_SHARES:
        if bucket < share:
            return name
        bucket -= share
    return "test"


def _default_segment_folder() -> Path:
    from emodemo.core.files import cache_dir

    return cache_dir() / "datasets" / "cmu_mosei"
