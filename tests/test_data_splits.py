"""Speaker-independent splits: fold properties, the committed files, and applying folds."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from emodemo.data import layouts, load, ravdess, splits
from emodemo.data.record import Sample
from emodemo.data.splits import Fold


def actors(n: int = 20, clips: int = 2) -> list[Sample]:
    """In-memory RAVDESS-like samples: actors 1..n (odd male), a few clips each."""
    return [
        Sample(
            id=f"{a}-{c}",
            dataset="ravdess",
            label="happy",
            speaker=ravdess.speaker_id(a),
            meta={"gender": "male" if a % 2 else "female"},
        )
        for a in range(1, n + 1)
        for c in range(clips)
    ]


@pytest.mark.parametrize("n, k, val", [(20, 5, 2), (23, 5, 3), (10, 10, 1)])
def test_every_speaker_is_tested_exactly_once_and_parts_never_overlap(n, k, val):
    folds = splits.kfold_by_speaker(actors(n), k=k, seed=3, val_speakers=val)
    everyone = {s.speaker for s in actors(n)}
    assert Counter(s for f in folds for s in f.test) == Counter(everyone)
    for fold in folds:
        assert set(fold.train) | set(fold.val) | set(fold.test) == everyone
        assert len(fold.val) == val and not set(fold.val) & (set(fold.train) | set(fold.test))
    assert max(len(f.test) for f in folds) - min(len(f.test) for f in folds) <= 1


def test_folds_depend_on_the_seed_only_and_can_be_gender_balanced():
    a = splits.kfold_by_speaker(actors(), seed=0, stratify="gender")
    assert a == splits.kfold_by_speaker(list(reversed(actors())), seed=0, stratify="gender")
    assert a != splits.kfold_by_speaker(actors(), seed=1, stratify="gender")
    for fold in a:
        assert Counter(int(s[-2:]) % 2 for s in fold.test) == {0: 2, 1: 2}
        assert Counter(int(s[-2:]) % 2 for s in fold.val) == {0: 1, 1: 1}


def test_committed_ravdess_folds_are_reproducible_from_the_speaker_list():
    committed = splits.load_splits(splits.RAVDESS_KFOLD)
    assert committed == splits.kfold_by_speaker(actors(), k=5, seed=0, val_speakers=2, stratify="gender")
    assert [f.name for f in committed] == [f"fold{i}" for i in range(5)]
    final = splits.load_splits(splits.RAVDESS_FINAL)
    assert final == [splits.final_split(actors(), val_speakers=2, seed=0, stratify="gender")]
    assert len(final[0].train) == 18 and final[0].test == ()


def test_committed_files_are_what_the_writer_writes(tmp_path, ravdess_root):
    for path in splits.write_committed(ravdess_root, out=tmp_path):
        assert path.read_text() == (splits.SPLITS_DIR / path.name).read_text()


def test_apply_partitions_samples_and_checks_the_fold_matches_them():
    fold = splits.load_splits(splits.RAVDESS_KFOLD)[0]
    data = actors(24)  # actors 21-24 are in no committed fold
    train, val, test = splits.apply(data, fold)
    assert len(train) + len(val) + len(test) == 20 * 2
    assert {s.speaker for s in test} == set(fold.test) and {s.speaker for s in val} == set(fold.val)
    absent = fold.test[0]
    with pytest.raises(ValueError, match=absent):
        splits.apply([s for s in data if s.speaker != absent], fold)
    assert splits.apply(actors(2), fold, strict=False)[0] == [s for s in actors(2) if s.speaker in fold.train]


def test_leave_one_session_out_on_an_iemocap_fixture(tmp_path):
    release = layouts.make_iemocap(tmp_path, sessions=(1, 2, 3, 4, 5), seconds=0.01)
    samples = load("iemocap", release, strict=False)  # a fixture is too small for the 5,531 check
    by_speaker = splits.leave_one_session_out(samples)
    assert [f.name for f in by_speaker] == [f"test_Ses0{n}{g}" for n in range(1, 6) for g in "FM"]
    assert by_speaker[0].val == ("Ses01M",) and "Ses01M" not in by_speaker[0].train
    assert by_speaker == splits.load_splits(splits.IEMOCAP_LOSO)
    by_session = splits.leave_one_session_out(samples, val="next_session")
    assert by_session[4].test == ("Ses05F", "Ses05M") and by_session[4].val == ("Ses01F", "Ses01M")
    train, val, test = splits.apply(samples, by_session[0])
    assert {s.group for s in train} == {"Ses03", "Ses04", "Ses05"} and {s.group for s in val} == {"Ses02"}
    assert {s.group for s in test} == {"Ses01"}


def test_official_split_of_meld(tmp_path):
    samples = load("meld", layouts.make_meld(tmp_path))
    train, val, test = splits.apply(samples, splits.OFFICIAL)
    assert {s.split for s in train} == {"train"} and {s.split for s in val} == {"dev"} and test


def test_save_load_round_trip_and_bad_files(tmp_path):
    folds = splits.kfold_by_speaker(actors(10), k=5, val_speakers=1)
    path = splits.save_splits(tmp_path / "s.json", folds, dataset="toy", seed=0)
    assert splits.load_splits(path) == folds and json.loads(path.read_text())["info"]["dataset"] == "toy"
    with pytest.raises(FileNotFoundError, match="committed ones"):
        splits.load_splits(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"folds": [{"name": "x"}]}')
    with pytest.raises(ValueError, match="not a split file"):
        splits.load_splits(tmp_path / "bad.json")


def test_impossible_requests_are_refused():
    with pytest.raises(ValueError, match="in both train and test"):
        Fold("f", train=("a",), val=(), test=("a",))
    with pytest.raises(ValueError, match="no training speaker"):
        splits.kfold_by_speaker(actors(5), k=5, val_speakers=4)
    with pytest.raises(ValueError, match="has no speaker"):
        splits.kfold_by_speaker([Sample(id="x", dataset="fer2013", label="happy")])


def test_pooled_validation_never_includes_a_test_actor_of_the_fold_it_serves():
    folds = [
        Fold("a", train=("s3", "s4"), val=("s1",), test=("s2",)),
        Fold("b", train=("s1", "s4"), val=("s2",), test=("s3",)),  # its validation actor is a's test actor
        Fold("c", train=("s1", "s2"), val=("s4",), test=("s3",)),
    ]
    assert [f.name for f in splits.validation_outside_test(folds, folds[0])] == ["a", "c"]
    assert [f.name for f in splits.validation_outside_test(folds, folds[2])] == ["c", "a", "b"]
    committed = splits.load_splits(splits.SPLITS_DIR / splits.RAVDESS_KFOLD)
    for fold in committed:
        pooled = splits.validation_outside_test(committed, fold)
        actors = [actor for f in pooled for actor in f.val]
        assert not set(actors) & set(fold.test) and len(actors) == 8 and pooled[0] is fold
