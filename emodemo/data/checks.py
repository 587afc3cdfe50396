"""What every loader checks before it trusts a folder: that it exists, that it has the published
layout, and that it holds the published number of items.

Failures raise :class:`~emodemo.data.record.DatasetNotFoundError` with three things a user needs:
what is wrong, where we looked, and where the official download is (:data:`SOURCES`).

Counts follow two rules across loaders (see :func:`check_count`):

* Datasets organised by speaker or session: a copy with fewer units than the release (RAVDESS
  actors 01-20, two IEMOCAP sessions) is a valid subset and loads with an informational log line,
  since speaker-independent protocols are defined on such subsets. But a unit that is present must
  be whole (a RAVDESS actor has 60 takes), and when every unit is present the total must equal
  the published one. Otherwise the copy is damaged: loading fails (``strict=True``, the default)
  or logs a warning (``strict=False``).
* Datasets organised by official split files (FER-2013, GoEmotions, MELD): a split with fewer
  items than published is a partial copy (a fixture, an interrupted download) and loads with a
  warning; one with more is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from emodemo.data.record import DatasetNotFoundError

log = logging.getLogger("emodemo.data")


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from and what its folder looks like."""

    title: str
    layout: str
    download: str


SOURCES: dict[str, Source] = {
    "ravdess": Source(
        "RAVDESS speech",
        "Audio_Speech_Actors_01-24/Actor_01/03-01-01-01-01-01-01.wav (or the same names as .flac)",
        "https://zenodo.org/records/1188976 (file Audio_Speech_Actors_01-24.zip, CC BY-NC-SA 4.0)",
    ),
    "ravdess_au": Source(
        "RAVDESS facial action units",
        "au_features.csv with columns clip_id, actor, mean_AU01_r ... mean_AU45_c (35 AUs)",
        "derived with OpenFace 2 (https://github.com/TadasBaltrusaitis/OpenFace) from the "
        "RAVDESS speech videos at https://zenodo.org/records/1188976",
    ),
    "fer2013": Source(
        "FER-2013",
        "train/<emotion>/*.jpg and test/<emotion>/*.jpg, emotions angry disgust fear happy neutral sad surprise",
        "https://www.kaggle.com/datasets/msambare/fer2013 (folder layout); original CSV at "
        "https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-"
        "recognition-challenge",
    ),
    "goemotions": Source(
        "GoEmotions",
        "original/{train,dev,test}.tsv + labels.txt (optionally ekman/ and group/ alike); a "
        "folder with train.tsv and emotions.txt (the GitHub data/ folder) also works",
        "https://github.com/google-research/google-research/tree/master/goemotions/data",
    ),
    "meld": Source(
        "MELD",
        "train_sent_emo.csv, dev_sent_emo.csv, test_sent_emo.csv (+ optional video folders "
        "train_splits/, dev_splits_complete/, output_repeated_splits_test/)",
        "https://affective-meld.github.io/ (CSVs: https://github.com/declare-lab/MELD/tree/master/"
        "data/MELD; media: https://web.eecs.umich.edu/~mihalcea/downloads/MELD.Raw.tar.gz)",
    ),
    "iemocap": Source(
        "IEMOCAP",
        "IEMOCAP_full_release/Session1..5/dialog/EmoEvaluation/*.txt, dialog/transcriptions/"
        "*.txt and sentences/wav/<dialog>/<utterance>.wav",
        "https://sail.usc.edu/iemocap/ (licence-gated: request the release form there)",
    ),
    "cremad": Source(
        "CREMA-D",
        "AudioWAV/1001_DFA_ANG_XX.wav (actor_sentence_emotion_level) + VideoDemographics.csv",
        "https://github.com/CheyneyComputerScience/CREMA-D (audio via git-lfs, ODbL)",
    ),
    "cmu_mosei": Source(
        "CMU-MOSEI",
        "CMU_MOSEI_Labels.csd (HDF5 label sequence), Raw/Transcript/Segmented/Combined/<video>.txt "
        "and Raw/Audio/Full/WAV_16000/<video>.wav (optionally Raw/Videos/Full/Combined/<video>.mp4 and "
        "standard_folds.json)",
        "http://immortal.multicomp.cs.cmu.edu/raw_datasets/CMU_MOSEI.zip (raw release) and the labels via "
        "https://github.com/CMU-MultiComp-Lab/CMU-MultimodalSDK (research use)",
    ),
    "emodb": Source(
        "Berlin EmoDB",
        "wav/03a01Fa.wav (speaker, text, emotion letter, version)",
        "http://emodb.bilderbar.info/download/ (download.zip)",
    ),
    "tess": Source(
        "TESS (Toronto Emotional Speech Set)",
        "OAF_angry/OAF_back_angry.wav ... YAF_pleasant_surprised/YAF_back_ps.wav (speaker_word_emotion; "
        "or the same names as .flac)",
        "https://doi.org/10.5683/SP2/E8H2MF (University of Toronto Dataverse, CC BY-NC-ND 4.0: "
        "evaluation only, no derived weights)",
    ),
}


def dataset_error(dataset: str, problem: str, where: Path | str) -> DatasetNotFoundError:
    """A :class:`DatasetNotFoundError` that says what is wrong, where, and where to download it."""
    source = SOURCES[dataset]
    return DatasetNotFoundError(
        f"{source.title}: {problem}\n"
        f"  looked in: {where}\n"
        f"  expected layout: {source.layout}\n"
        f"  official download: {source.download}"
    )


def locate(root: str | Path, dataset: str, looks_right: Callable[[Path], bool], children: Sequence[str] = ()) -> Path:
    """Return ``root`` if it has the dataset's layout, else the first of ``children`` under it that
    does (users point at the download's folder or at the folder that holds it).

    Raises :class:`DatasetNotFoundError` when neither does.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise dataset_error(dataset, "the folder does not exist", root)
    if not root.is_dir():
        raise dataset_error(dataset, "this is a file, not a folder", root)
    for candidate in (root, *(root / child for child in children)):
        if candidate.is_dir() and looks_right(candidate):
            return candidate
    content = sorted(p.name for p in root.iterdir())
    shown = summarise(content, 8) if content else "nothing"
    raise dataset_error(dataset, f"the folder does not have the expected layout (it holds: {shown})", root)


def check_count(
    dataset: str, what: str, found: int, published: int, where: Path, *, strict: bool, complete_expected: bool = True
) -> None:
    """Compare a count with the published one.

    ``complete_expected=True``: the unit is present so it must be whole; a mismatch raises (or
    warns with ``strict=False``). ``complete_expected=False``: fewer is a partial copy (warned
    about, never fatal), more is still an error.
    """
    if found == published:
        return
    problem = f"{what}: found {found:,}, the published release has {published:,}"
    if found < published and not complete_expected:
        log.warning(
            "%s: %s (partial copy; its numbers are not comparable to published ones)", SOURCES[dataset].title, problem
        )
        return
    if strict:
        raise dataset_error(dataset, problem + " (pass strict=False to load it anyway)", where)
    log.warning("%s: %s (loading anyway because strict=False)", SOURCES[dataset].title, problem)


def select_splits(
    dataset: str, split: str | Iterable[str] | None, available: Sequence[str], where: Path
) -> tuple[str, ...]:
    """Resolve a loader's ``split`` option (None = every split present) against what is on disk."""
    if split is None:
        return tuple(available)
    wanted = (split,) if isinstance(split, str) else tuple(split)
    missing = [s for s in wanted if s not in available]
    if missing:
        raise dataset_error(dataset, f"split(s) {missing} not found; present: {list(available)}", where)
    return wanted


def summarise(names: Iterable[str], limit: int = 6) -> str:
    """A short human list: 'a, b, c ... (+12 more)'."""
    names = list(names)
    head = ", ".join(names[:limit])
    return head + (f" ... (+{len(names) - limit} more)" if len(names) > limit else "")
