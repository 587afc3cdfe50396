"""Speaker-independent splits, fixed by a seed and saved as JSON so every model uses the same folds.

A :class:`Fold` names the speakers (or sessions, or official split names: see ``Fold.key``) of
its train, validation and test parts; :func:`apply` turns it into three lists of samples. No
speaker is ever in two parts of a fold, so a model is always tested on voices (faces) it never
trained or early-stopped on.

Protocols:

* :func:`kfold_by_speaker`: k folds; every speaker is tested in exactly one; each fold's
  validation speakers are taken from the next fold's test group (so they rotate too), never
  from its own test group. ``stratify="gender"`` deals speakers so each fold is gender-balanced.
* :func:`leave_one_session_out` (IEMOCAP): train on four sessions, and split the held-out
  session's two speakers into validation and test (``val="other_speaker"``, 10 folds, the common
  protocol), or validate on the next session's speakers (``val="next_session"``, 5 folds, no
  validation speaker shares a session with the test speakers).
* :func:`final_split`: every speaker trains except a few validation speakers for early stopping;
  nothing is held out for testing (the final checkpoint is tested on new data).
* :data:`OFFICIAL`: the published train / dev / test of MELD and GoEmotions (``key="split"``).

The committed files in ``splits/`` (RAVDESS actors 01-20: 5-fold and final, seed 0;
IEMOCAP leave-one-session-out) are written by ``python -m emodemo.data.splits``.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from emodemo.core.files import SPLITS
from emodemo.data.record import Sample

SPLITS_DIR = SPLITS
RAVDESS_KFOLD = "ravdess_5fold_seed0.json"
RAVDESS_FINAL = "ravdess_final_seed0.json"
IEMOCAP_LOSO = "iemocap_loso.json"
KEYS = ("speaker", "group", "split")


@dataclass(frozen=True)
class Fold:
    """Which values of ``Sample.<key>`` go to train, validation and test."""

    name: str
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    key: str = "speaker"

    def __post_init__(self) -> None:
        if self.key not in KEYS:
            raise ValueError(f"fold {self.name}: key must be one of {KEYS}, not {self.key!r}")
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            shared = set(getattr(self, a)) & set(getattr(self, b))
            if shared:
                raise ValueError(f"fold {self.name}: {sorted(shared)} in both {a} and {b}")


OFFICIAL = Fold("official", train=("train",), val=("dev",), test=("test",), key="split")


def kfold_by_speaker(
    samples: Iterable[Sample], k: int = 5, seed: int = 0, val_speakers: int = 2, stratify: str | None = None
) -> list[Fold]:
    """``k`` speaker-independent folds (see the module docstring).

    Speakers are shuffled with ``random.Random(seed)`` (within each ``meta[stratify]`` value when
    ``stratify`` is given) and dealt round-robin into ``k`` test groups whose sizes differ by at
    most one. Fold ``i`` validates on ``val_speakers`` speakers of test group ``i+1``
    (alternating strata), and trains on every other speaker.
    """
    groups = _deal(_speaker_strata(samples, stratify), k, seed)
    everyone = [s for g in groups for s in g]
    if val_speakers >= len(everyone) - max(map(len, groups)):
        raise ValueError(
            f"{len(everyone)} speakers in {k} folds leave no training speaker with {val_speakers} validation speakers"
        )
    folds = []
    for i, test in enumerate(groups):
        later_groups = [s for j in range(1, k) for s in groups[(i + j) % k]]
        val = later_groups[:val_speakers]
        train = [s for s in everyone if s not in test and s not in val]
        folds.append(Fold(f"fold{i}", tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test))))
    return folds


def final_split(samples: Iterable[Sample], val_speakers: int = 2, seed: int = 0, stratify: str | None = None) -> Fold:
    """Train on every speaker except ``val_speakers`` (chosen as in :func:`kfold_by_speaker`,
    alternating strata); the test part is empty."""
    strata = _speaker_strata(samples, stratify)
    speakers = sorted(s for members in strata.values() for s in members)
    if not 0 < val_speakers < len(speakers):
        raise ValueError(f"val_speakers must be between 1 and {len(speakers) - 1}, not {val_speakers}")
    val = _deal(strata, 1, seed)[0][:val_speakers]
    return Fold("final", tuple(s for s in speakers if s not in val), tuple(sorted(val)), ())


def leave_one_session_out(samples: Iterable[Sample], val: str = "other_speaker") -> list[Fold]:
    """Folds that hold out one session (``Sample.group``) at a time; see the module docstring."""
    sessions: dict[str, set[str]] = {}
    for s in samples:
        if s.group is None or s.speaker is None:
            raise ValueError(f"sample {s.id} has no session (group) or speaker")
        sessions.setdefault(s.group, set()).add(s.speaker)
    names = sorted(sessions)
    if len(names) < 3:
        raise ValueError(f"leave-one-session-out needs 3 or more sessions, got {names}")
    folds = []
    for i, held_out in enumerate(names):
        if val == "next_session":
            val_session = names[(i + 1) % len(names)]
            train = [p for n in names if n not in (held_out, val_session) for p in sessions[n]]
            folds.append(
                Fold(
                    f"test_{held_out}",
                    tuple(sorted(train)),
                    tuple(sorted(sessions[val_session])),
                    tuple(sorted(sessions[held_out])),
                )
            )
        elif val == "other_speaker":
            train = [p for n in names if n != held_out for p in sessions[n]]
            for speaker in sorted(sessions[held_out]):
                others = tuple(sorted(sessions[held_out] - {speaker}))
                folds.append(Fold(f"test_{speaker}", tuple(sorted(train)), others, (speaker,)))
        else:
            raise ValueError(f"val must be 'other_speaker' or 'next_session', not {val!r}")
    return folds


def apply(
    samples: Iterable[Sample], fold: Fold, strict: bool = True
) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """(train, val, test) samples of a fold, in input order.

    Samples whose ``<key>`` the fold does not name are left out (e.g. RAVDESS actors 21-24 with
    the committed 01-20 folds). With ``strict`` a fold naming a value no sample has is an error:
    it means the samples are not the data the fold was made for (or ids are spelled otherwise).
    """
    samples = list(samples)
    present = {getattr(s, fold.key) for s in samples}
    missing = sorted(set(fold.train + fold.val + fold.test) - present)
    if strict and missing:
        raise ValueError(
            f"fold {fold.name} names {fold.key} values absent from the samples: {missing} "
            f"(present: {sorted(map(str, present))[:8]} ...); pass strict=False to ignore"
        )
    train, val, test = (
        [s for s in samples if getattr(s, fold.key) in set(names)] for names in (fold.train, fold.val, fold.test)
    )
    return train, val, test


def validation_outside_test(folds: Sequence[Fold], fold: Fold) -> list[Fold]:
    """The folds (``fold`` first) whose validation values are none of ``fold``'s test values: what is
    fitted on their validation parts never sees a sample of ``fold``'s test part. E.g. a late fusion
    fitted on 4 folds' validation actors instead of 1's. (Each part answered by its own fold's model:
    those models did train on ``fold``'s test actors, so no test label is fitted on, but the
    answers are not wholly independent of them.)"""
    test = set(fold.test)
    return [fold] + [other for other in folds if other is not fold and not set(other.val) & test]


def save_splits(path: str | Path, folds: Sequence[Fold], **info: object) -> Path:
    """Write folds (and free-form provenance ``info``: dataset, seed, protocol) as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fold_lines = ",\n".join(f"  {json.dumps(asdict(f))}" for f in folds)  # one fold per line
    path.write_text(f'{{\n "info": {json.dumps(info)},\n "folds": [\n{fold_lines}\n ]\n}}\n', encoding="utf-8")
    return path


def load_splits(path: str | Path) -> list[Fold]:
    """Read folds written by :func:`save_splits` (a bare name is looked up in ``splits/``)."""
    path = Path(path)
    if not path.is_file() and (SPLITS_DIR / path).is_file():
        path = SPLITS_DIR / path
    if not path.is_file():
        raise FileNotFoundError(
            f"split file {path} not found; committed ones: {sorted(p.name for p in SPLITS_DIR.glob('*.json'))}"
        )
    try:
        return [
            Fold(f["name"], tuple(f["train"]), tuple(f["val"]), tuple(f["test"]), f.get("key", "speaker"))
            for f in json.loads(path.read_text(encoding="utf-8"))["folds"]
        ]
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a split file written by save_splits: {error}") from None


def _speaker_strata(samples: Iterable[Sample], stratify: str | None) -> dict[str, list[str]]:
    """stratum -> sorted speakers (one stratum "" without ``stratify``)."""
    stratum_of: dict[str, str] = {}
    for s in samples:
        if s.speaker is None:
            raise ValueError(f"sample {s.id} has no speaker: speaker-independent splits need one")
        value = "" if stratify is None else str(s.meta[stratify])
        if stratum_of.setdefault(s.speaker, value) != value:
            raise ValueError(f"speaker {s.speaker} has several {stratify} values")
    strata: dict[str, list[str]] = {}
    for speaker, value in sorted(stratum_of.items()):
        strata.setdefault(value, []).append(speaker)
    return strata


def _deal(strata: dict[str, list[str]], k: int, seed: int) -> list[list[str]]:
    """Shuffle each stratum, concatenate them, deal round-robin into k groups; each group lists its
    speakers alternating strata (so its first members span the strata)."""
    rng = random.Random(seed)
    order = []
    for value in sorted(strata):
        members = list(strata[value])
        rng.shuffle(members)
        order += [(value, m) for m in members]
    if len(order) < k:
        raise ValueError(f"{len(order)} speakers cannot fill {k} folds")
    return [_interleave(order[i::k]) for i in range(k)]


def _interleave(group: list[tuple[str, str]]) -> list[str]:
    """Members of one dealt group, first of each stratum, then second of each, and so on."""
    seen: dict[str, int] = {}
    ranked = []
    for value, member in group:
        ranked.append((seen.get(value, 0), value, member))
        seen[value] = seen.get(value, 0) + 1
    return [member for _, _, member in sorted(ranked)]


def write_committed(ravdess_root: Path | None, out: Path = SPLITS_DIR) -> list[Path]:
    """Regenerate the committed split files (RAVDESS from its folder; IEMOCAP from its speaker names)."""
    from emodemo.data import ravdess  # the loader is needed only here

    written = []
    if ravdess_root is not None:
        actors = ravdess.load(ravdess_root, actors=range(1, 21))
        info = {"dataset": "ravdess", "speakers": "Actor_01..Actor_20", "seed": 0, "stratify": "gender"}
        written.append(
            save_splits(
                out / RAVDESS_KFOLD,
                kfold_by_speaker(actors, 5, 0, 2, "gender"),
                protocol="5-fold by actor, 2 validation actors per fold",
                **info,
            )
        )
        written.append(
            save_splits(
                out / RAVDESS_FINAL,
                [final_split(actors, 2, 0, "gender")],
                protocol="final: train on 18 actors, validate on 2",
                **info,
            )
        )
    sessions = [
        Sample(id=f"Ses0{n}{g}", dataset="iemocap", label=None, speaker=f"Ses0{n}{g}", group=f"Ses0{n}")
        for n in range(1, 6)
        for g in "FM"
    ]
    written.append(
        save_splits(
            out / IEMOCAP_LOSO,
            leave_one_session_out(sessions),
            dataset="iemocap",
            protocol="leave one session out; the held-out session's other speaker validates",
        )
    )
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write the committed split files under splits/.")
    parser.add_argument(
        "--ravdess",
        type=Path,
        default=Path("../shared/datasets/ravdess_speech"),
        help="RAVDESS speech folder (actors 01-20 are used)",
    )
    for written_path in write_committed(parser.parse_args().ravdess):
        print("wrote", written_path)
