"""Fixture trees: tiny copies of each dataset's *published layout*, for tests and demos.

Every ``make_<dataset>(root, ...)`` writes files named, formatted and organised exactly as the
official download (short generated audio, small JPEGs, CSV / TSV / TXT with the published
columns and conventions) and returns the folder to hand to :func:`emodemo.data.load`. The content
is synthetic: audio clips are quiet tones whose pitch depends on the emotion (so a model can fit
them), images are seeded noise patterns, texts are short invented lines. Nothing here is data
from the real datasets.

Typical use in a test::

    root = layouts.make_ravdess(tmp_path, actors=(1, 2))
    samples = emodemo.data.load("ravdess", root)          # 120 clips, 2 speakers

Fixtures are smaller than the release, so loaders log "partial copy" warnings for the split-file
datasets (FER-2013, GoEmotions, MELD); per-unit checks (RAVDESS actors, IEMOCAP sessions) pass.
Writers also reproduce known quirks of the real data where a loader must handle them (see each
function).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

from emodemo.core.labels import (
    FER_FOLDERS,
    GOEMOTIONS28,
    GOEMOTIONS_EKMAN_IDS,
    GOEMOTIONS_GROUP_IDS,
    GOEMOTIONS_TO_EKMAN,
    GOEMOTIONS_TO_SENTIMENT,
    IEMOCAP_CODES,
)
from emodemo.data import cremad, emodb, meld, ravdess, tess

# --- shared writers ------------------------------------------------------------------------------


def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


def write_tone(path: Path, seconds: float, sr: int, pitch_index: int) -> Path:
    """A quiet 16-bit mono clip: a tone at 150 + 40 * ``pitch_index`` Hz plus noise seeded by the
    file name (so no two fixture clips are identical unless written as copies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr  # [T]
    noise = np.random.default_rng(_seed(path.name)).normal(0, 0.01, t.size)  # [T]
    wave = 0.1 * np.sin(2 * np.pi * (150 + 40 * pitch_index) * t) + noise
    sf.write(str(path), wave.astype(np.float32), sr, subtype="PCM_16")
    return path


def write_face(path: Path, seed: int, size: int = 48) -> Path:
    """A grey ``size`` x ``size`` JPEG: a seeded ellipse (a face stand-in) over noise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (size, size), dtype=np.uint8)  # [H, W]
    centre, axes = (size // 2, size // 2), (int(rng.integers(12, 20)), int(rng.integers(16, 23)))
    cv2.ellipse(image, centre, axes, 0, 0, 360, int(rng.integers(60, 200)), -1)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
    return path


def _write_csv(path: Path, header: Sequence[str], rows: list[Sequence[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --- RAVDESS -------------------------------------------------------------------------------------


def make_ravdess(
    root: str | Path, actors: Sequence[int] = (1, 2), fmt: str = "wav", sr: int | None = None, seconds: float = 0.5
) -> Path:
    """Write RAVDESS speech for ``actors``: 60 takes each, named ``03-01-EE-II-SS-RR-AA``.

    ``fmt="wav"``: the original download, ``root/Audio_Speech_Actors_01-24/Actor_XX/*.wav`` at 48 kHz
    (returns ``root``; the loader also accepts the inner folder). ``fmt="flac"``: the shared
    re-encoded copy, ``root/Actor_XX/*.flac`` at 16 kHz (returns ``root``).
    Quirk: with actor 7, repetition 2 of happy / normal / statement 2 is a byte copy of repetition 1.
    """
    if fmt not in ("wav", "flac"):
        raise ValueError(f"fmt must be 'wav' or 'flac', not {fmt!r}")
    root = Path(root)
    folder = root / "Audio_Speech_Actors_01-24" if fmt == "wav" else root
    sr = sr or (48000 if fmt == "wav" else 16000)
    for actor in actors:
        for take in ravdess.expected_takes(actor):
            path = folder / ravdess.speaker_id(actor) / f"03-{take}.{fmt}"
            write_tone(path, seconds, sr, pitch_index=int(take.split("-")[1]))
        if actor == 7:
            actor_dir = folder / ravdess.speaker_id(7)
            shutil.copyfile(actor_dir / f"03-01-03-01-02-01-07.{fmt}", actor_dir / f"03-01-03-01-02-02-07.{fmt}")
    return root


def make_ravdess_au(root: str | Path, actors: Sequence[int] = (1, 2)) -> Path:
    """Write ``root/au_features.csv``: one row per audio-visual take (``clip_id`` 01-01-...), columns
    ``clip_id, actor`` and the 35 :data:`~emodemo.data.ravdess.AU_COLUMNS`. Returns the CSV path."""
    rows = []
    for actor in actors:
        for take in ravdess.expected_takes(actor):
            rng = np.random.default_rng(_seed(take))
            intensities = rng.uniform(0, 3, 17).round(4)  # OpenFace AUxx_r: 0..5
            presences = rng.uniform(0, 1, 18).round(4)  # AUxx_c averaged: fraction of frames
            rows.append([f"01-{take}", actor, *intensities, *presences])
    return _write_csv(Path(root) / ravdess.AU_FILE, ["clip_id", "actor", *ravdess.AU_COLUMNS], rows)


# --- FER-2013 ------------------------------------------------------------------------------------


def make_fer(
    root: str | Path, train_per_class: int = 3, test_per_class: int = 2, plant_duplicates: bool = True
) -> Path:
    """Write ``root/{train,test}/<emotion>/{Training,PublicTest}_<8 digits>.jpg`` (48x48 grey).

    With ``plant_duplicates`` (the real data's three kinds) it adds:
      * a byte copy of one train/happy image under a new name in train/happy (within-split);
      * a copy of one train/sad image into test/sad (a cross-split leak);
      * a copy of one train/angry image, same file name, into train/fear (a label conflict).
    De-duplication must then report train: 7 x per-class + 2 images, 1 within-split duplicate,
    2 label conflicts (the angry original and its fear copy), 7 x per-class - 1 kept; test:
    7 x per-class + 1 images, 1 leak, 7 x per-class kept.
    """
    root = Path(root)
    for split, prefix, per_class in (("train", "Training", train_per_class), ("test", "PublicTest", test_per_class)):
        for folder in FER_FOLDERS:
            for i in range(per_class):
                number = 10_000_000 + _seed(f"{split}/{folder}/{i}") % 89_999_999
                write_face(root / split / folder / f"{prefix}_{number}.jpg", seed=number)
    if plant_duplicates:
        first = {f: sorted((root / "train" / f).glob("*.jpg"))[0] for f in ("happy", "sad", "angry")}
        shutil.copyfile(first["happy"], root / "train" / "happy" / "Training_99999999.jpg")
        shutil.copyfile(first["sad"], root / "test" / "sad" / "PublicTest_99999999.jpg")
        shutil.copyfile(first["angry"], root / "train" / "fear" / first["angry"].name)
    return root


# --- GoEmotions ----------------------------------------------------------------------------------

_GOEMOTIONS_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("My favourite part of the whole thing was the ending.", ("admiration",)),
    ("Thanks, that actually helped a lot!", ("gratitude",)),
    ("Why would anyone think that's a good idea?", ("confusion", "disapproval")),
    ("That's so funny, I can't stop laughing", ("amusement", "joy")),
    ("I'm really sorry for your loss.", ("sadness", "remorse", "caring")),
    ('He said "no" and just walked off.', ("surprise",)),
    ("This is disgusting, honestly.", ("disgust",)),
    ("I'm nervous about the exam tomorrow", ("nervousness", "fear")),
    ("Okay, see you then.", ("neutral",)),
    ("Stop doing that, it's so annoying", ("annoyance", "anger")),
)


def make_goemotions(
    root: str | Path, rows: dict[str, int] | None = None, taxonomies: Sequence[str] = ("original", "ekman", "group")
) -> Path:
    """Write GoEmotions folders ``original/`` (28 labels), ``ekman/`` and ``group/`` (sentiment),
    each with ``labels.txt`` (no trailing newline, as shipped) and headerless TSVs
    ``text<TAB>ids<TAB>comment id``. The coarse folders use the official mappings with unique,
    ascending ids, as in the release. ``rows`` per split: default train 6, dev 2, test 2
    (cycling through a fixed list of single- and multi-label comments). Returns ``root``."""
    root = Path(root)
    rows = rows or {"train": 6, "dev": 2, "test": 2}
    taxonomy_names = {
        "original": (GOEMOTIONS28, None),
        "ekman": (GOEMOTIONS_EKMAN_IDS, GOEMOTIONS_TO_EKMAN),
        "group": (GOEMOTIONS_GROUP_IDS, GOEMOTIONS_TO_SENTIMENT),
    }
    for taxonomy in taxonomies:
        names, mapping = taxonomy_names[taxonomy]
        folder = root / taxonomy
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "labels.txt").write_text("\n".join(names), encoding="utf-8")
        counter = 0
        for split, n in rows.items():
            lines = []
            for _ in range(n):
                text, labels = _GOEMOTIONS_ROWS[counter % len(_GOEMOTIONS_ROWS)]
                if mapping is not None:
                    labels = sorted({mapping[label] for label in labels}, key=names.index)
                ids = [names.index(label) for label in labels]
                lines.append(f"{text}\t{','.join(map(str, ids))}\te{counter:06x}")
                counter += 1
            (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


# --- MELD ----------------------------------------------------------------------------------------

_MELD_DIALOGUES: tuple[tuple[tuple[str, str, str, str], ...], ...] = (
    (
        ("Chandler", "I can’t believe you did that!", "surprise", "positive"),
        ("Monica", "Well, somebody had to.", "neutral", "neutral"),
        ("Chandler", "That’s… actually really sweet.", "joy", "positive"),
    ),
    (
        ("Ross", "You ate my sandwich?", "anger", "negative"),
        ("Rachel", "I’m so sorry, I thought it was mine.", "sadness", "negative"),
        ("Ross", "Ew, and you put ketchup on it.", "disgust", "negative"),
    ),
    (
        ("Phoebe", "Something is moving in there.", "fear", "negative"),
        ("Joey", "Okay, I’ll check it.", "neutral", "neutral"),
    ),
)


def make_meld(
    root: str | Path, splits: Sequence[str] = ("train", "dev", "test"), with_video: bool = False, mojibake: bool = True
) -> Path:
    """Write ``{split}_sent_emo.csv`` with MELD's columns (``Sr No.`` first, quoted times), the
    same few dialogues per split. ``mojibake`` writes non-ASCII punctuation the way the published
    CSVs carry it ("’" as "â\\x80\\x99"). ``with_video`` also writes ``dia{D}_utt{U}.mp4`` clips
    (0.5 s of MPEG-4 Part 2 video + AAC audio, made with the ffmpeg binary) into
    ``train_splits/``, ``dev_splits_complete/``, ``output_repeated_splits_test/``. Returns ``root``.
    """
    root = Path(root)
    header = [
        "Sr No.",
        "Utterance",
        "Speaker",
        "Emotion",
        "Sentiment",
        "Dialogue_ID",
        "Utterance_ID",
        "Season",
        "Episode",
        "StartTime",
        "EndTime",
    ]
    for split in splits:
        rows, number = [], 0
        for dialogue, turns in enumerate(_MELD_DIALOGUES):
            for utterance, (speaker, text, emotion, sentiment) in enumerate(turns):
                number += 1
                if mojibake:
                    text = text.encode("utf-8").decode("latin-1")
                start = 60 * dialogue + 3 * utterance
                times = (f"00:{start // 60:02d}:{start % 60:02d},000", f"00:{start // 60:02d}:{start % 60 + 2:02d},500")
                rows.append([number, text, speaker, emotion, sentiment, dialogue, utterance, 3, 7, *times])
                if with_video:
                    write_clip(root / meld.VIDEO_FOLDERS[split] / f"dia{dialogue}_utt{utterance}.mp4")
        _write_csv(root / meld.CSV_FILES[split], header, rows)
    return root


def write_clip(path: Path, seconds: float = 0.5) -> Path:
    """A small MP4 (64x48 grey video at 10 fps + a 440 Hz AAC tone) written with ffmpeg."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("writing fixture videos needs the ffmpeg binary on PATH (apt install ffmpeg)")
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"color=c=gray:s=64x48:r=10:d={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=16000:duration={seconds}",
            "-c:v",
            "mpeg4",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
    )
    return path


# --- IEMOCAP -------------------------------------------------------------------------------------

# The majority labels of each fixture dialog's utterances, alternating female / male turns.
IEMOCAP_FIXTURE_CODES: tuple[str, ...] = ("neu", "hap", "exc", "sad", "ang", "fru", "xxx", "sur")
IEMOCAP_FIXTURE_DIALOGS: tuple[str, ...] = ("F_impro01", "M_script01_1")  # appended to "Ses0n"


def make_iemocap(root: str | Path, sessions: Sequence[int] = (1, 2), seconds: float = 0.3) -> Path:
    """Write ``root/IEMOCAP_full_release/Session{n}/`` with the parts the loader reads:
    ``dialog/EmoEvaluation/<dialog>.txt`` (header, then per utterance the majority line
    ``[start - end]<TAB>id<TAB>code<TAB>[v, a, d]`` followed by categorical ``C-E1:`` and
    dimensional ``A-E1:`` annotator lines and a blank line), ``dialog/transcriptions/<dialog>.txt``
    (``id [start-end]: text``) and ``sentences/wav/<dialog>/<id>.wav`` (16 kHz).

    Each session has the dialogs :data:`IEMOCAP_FIXTURE_DIALOGS` with one utterance per code in
    :data:`IEMOCAP_FIXTURE_CODES`: per session 10 utterances in the 4-class protocol, 12 in the
    6-class one, 16 in all. Returns the ``IEMOCAP_full_release`` folder.
    """
    release = Path(root) / "IEMOCAP_full_release"
    words = {
        "neu": "Excuse me.",
        "hap": "That's wonderful news!",
        "exc": "We did it!",
        "sad": "I miss her so much.",
        "ang": "Get out of my way.",
        "fru": "Why does this never work?",
        "xxx": "I don't know what to say.",
        "sur": "Wait, really?",
    }
    for n in sessions:
        session = release / f"Session{n}"
        for suffix in IEMOCAP_FIXTURE_DIALOGS:
            dialog = f"Ses0{n}{suffix}"
            evaluation = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
            transcript, counts = [], {"F": 0, "M": 0}
            for i, code in enumerate(IEMOCAP_FIXTURE_CODES):
                gender = "FM"[i % 2]
                utterance = f"{dialog}_{gender}{counts[gender]:03d}"
                counts[gender] += 1
                start, end = 2.5 * i + 1.25, 2.5 * i + 3.0
                evaluation += [
                    f"[{start:.4f} - {end:.4f}]\t{utterance}\t{code}\t[2.5000, 3.0000, 3.5000]",
                    f"C-E1:\t{IEMOCAP_CODES[code].capitalize()};\t()",
                    "A-E1:\tval 3; act 3; dom  3;\t()",
                    "",
                ]
                transcript.append(f"{utterance} [{start:08.4f}-{end:08.4f}]: {words[code]}")
                write_tone(session / "sentences" / "wav" / dialog / f"{utterance}.wav", seconds, 16000, i)
            (session / "dialog" / "EmoEvaluation").mkdir(parents=True, exist_ok=True)
            (session / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("\n".join(evaluation) + "\n")
            (session / "dialog" / "transcriptions").mkdir(parents=True, exist_ok=True)
            (session / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("\n".join(transcript) + "\n")
    return release


# --- CMU-MOSEI -----------------------------------------------------------------------------------

# intensities (happy, sad, anger, surprise, disgust, fear) the fixture's segments cycle through:
# one emotion, two at once, none at all
CMU_MOSEI_FIXTURE_INTENSITIES: tuple[tuple[float, ...], ...] = (
    (2.0, 0, 0, 0, 0, 0),
    (0, 1.0, 0, 0, 0, 0.33),
    (0, 0, 1.67, 0, 0.67, 0),
    (0, 0, 0, 0, 0, 0),
    (0.33, 0, 0, 1.0, 0, 0),
    (0, 0.67, 0, 0, 0, 0),
)


def make_cmu_mosei(
    root: str | Path, videos: int = 6, segments: int = 4, seconds: float = 1.0, with_folds: bool = True
) -> Path:
    """Write a CMU-MOSEI raw tree: ``CMU_MOSEI_Labels.csd`` (HDF5 in the SDK's layout, top group
    "All Labels"), a segmented transcript and a 16 kHz wav per video, ``segments`` labelled segments
    per video (``seconds`` long, 0.5 s apart) with intensities cycling through
    :data:`CMU_MOSEI_FIXTURE_INTENSITIES`, and ``standard_folds.json`` (videos 0..n-3 train, then
    one valid and one test). Each transcript also has one line that no label matches, and video 0
    one labelled segment that no transcript line matches. Video ids look like YouTube ids."""
    import h5py

    root = Path(root)
    ids = [f"vid{i:02d}_{'x' * (i % 3)}Ab" for i in range(videos)]
    step = seconds + 0.5
    root.mkdir(parents=True, exist_ok=True)
    with h5py.File(root / "CMU_MOSEI_Labels.csd", "w") as handle:
        top = handle.create_group("All Labels")
        data = top.create_group("data")
        for v, video in enumerate(ids):
            n = segments + (1 if v == 0 else 0)
            intervals = np.array([[0.25 + k * step, 0.25 + k * step + seconds] for k in range(n)])  # [n, 2]
            features = np.array(
                [[(-1) ** k * 0.5, *CMU_MOSEI_FIXTURE_INTENSITIES[(v + k) % 6]] for k in range(n)]
            )  # [n, 7]
            group = data.create_group(video)
            group.create_dataset("intervals", data=intervals)
            group.create_dataset("features", data=features)
            lines = [
                f"{video}___{k}___{intervals[k, 0]:.2f}___{intervals[k, 1]:.2f}___words of segment {k} of {video}"
                for k in range(segments)
            ]
            lines.append(f"{video}___{segments + 5}___99.0___100.0___a line that no label matches")
            transcript = root / "Raw" / "Transcript" / "Segmented" / "Combined" / f"{video}.txt"
            transcript.parent.mkdir(parents=True, exist_ok=True)
            transcript.write_text("\n".join(lines) + "\n", encoding="utf-8")
            write_tone(root / "Raw" / "Audio" / "Full" / "WAV_16000" / f"{video}.wav", 0.5 + n * step, 16000, v)
        meta = top.create_group("metadata")
        meta.create_dataset(
            "dimension names", data=np.array([b"['sentiment', 'happy', 'sad', 'anger', 'surprise', 'disgust', 'fear']"])
        )
    if with_folds:
        folds = {"train": ids[:-2], "valid": ids[-2:-1], "test": ids[-1:]}
        (root / "standard_folds.json").write_text(json.dumps(folds), encoding="utf-8")
    return root


# --- CREMA-D and EmoDB ---------------------------------------------------------------------------


def make_cremad(root: str | Path, actors: Sequence[int] = (1001, 1002), seconds: float = 0.3) -> Path:
    """Write ``root/AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav`` (16 kHz) and
    ``root/VideoDemographics.csv``. Each actor has the release's 82 takes: the 11 sentences other
    than IEO in 6 emotions at level XX, and IEO as NEU_XX plus 5 emotions at LO / MD / HI.
    Returns ``root``."""
    root = Path(root)
    emotions = list(cremad.CREMAD_CODES)
    for actor in actors:
        takes = [(s, e, "XX") for s in cremad.SENTENCES if s != "IEO" for e in emotions]
        takes += [("IEO", "NEU", "XX")]
        takes += [("IEO", e, level) for e in emotions if e != "NEU" for level in ("LO", "MD", "HI")]
        for sentence, emotion, level in takes:
            write_tone(
                root / "AudioWAV" / f"{actor}_{sentence}_{emotion}_{level}.wav", seconds, 16000, emotions.index(emotion)
            )
    demographics = [[a, 20 + a % 40, "Female" if a % 2 else "Male", "Caucasian", "Not Hispanic"] for a in actors]
    _write_csv(root / cremad.DEMOGRAPHICS_FILE, ["ActorID", "Age", "Sex", "Race", "Ethnicity"], demographics)
    return root


def make_emodb(
    root: str | Path,
    speakers: Sequence[str] = ("03", "08"),
    texts: Sequence[str] = ("a01", "a02", "b01"),
    seconds: float = 0.3,
    suffix: str = ".wav",
) -> Path:
    """Write ``root/wav/<speaker><text><emotion><version><suffix>`` (16 kHz; ``.wav`` as published or
    ``.flac``): every ``texts`` x 7 emotion letters for each speaker, version ``a``. Returns ``root``."""
    root = Path(root)
    for speaker in speakers:
        for text in texts:
            for i, letter in enumerate(emodb.EMODB_CODES):
                write_tone(root / "wav" / f"{speaker}{text}{letter}a{suffix}", seconds, 16000, i)
    return root


# The original download's folder names (their case varies; the file names carry the labels).
TESS_FOLDERS: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "Fear",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "Pleasant_surprise",
    "sad": "Sad",
}


def make_tess(
    root: str | Path, words: Sequence[str] = ("book", "mill", "yes"), seconds: float = 0.3, suffix: str = ".wav"
) -> Path:
    """Write the original download's layout ``root/TESS Toronto emotional speech set data/
    <SPEAKER>_<Emotion folder>/<SPEAKER>_<word>_<emotion><suffix>`` (16 kHz) for both speakers, the
    7 emotions and ``words``. Returns ``root``."""
    root = Path(root)
    top = root / "TESS Toronto emotional speech set data"
    for speaker in tess.SPEAKERS:
        for i, (emotion, folder) in enumerate(TESS_FOLDERS.items()):
            for word in words:
                write_tone(top / f"{speaker}_{folder}" / f"{speaker}_{word}_{emotion}{suffix}", seconds, 16000, i)
    return root


MAKERS: dict[str, Callable[..., Path]] = {
    "ravdess": make_ravdess,
    "ravdess_au": make_ravdess_au,
    "fer2013": make_fer,
    "goemotions": make_goemotions,
    "meld": make_meld,
    "iemocap": make_iemocap,
    "cmu_mosei": make_cmu_mosei,
    "cremad": make_cremad,
    "emodb": make_emodb,
    "tess": make_tess,
}
