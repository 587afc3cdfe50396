"""FER-2013 folder loader and its content-hash de-duplication."""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict

import pytest
from conftest import shared_dataset

from emodemo.core.files import content_digest
from emodemo.core.labels import FER7
from emodemo.data import DatasetNotFoundError, fer2013, layouts, load

TRAIN, TEST = 3, 2  # images per emotion folder in the fixture


@pytest.fixture(scope="module")
def fer_root(tmp_path_factory):
    return layouts.make_fer(tmp_path_factory.mktemp("fer"), train_per_class=TRAIN, test_per_class=TEST)


def test_folder_layout_loads_with_our_label_names(fer_root):
    samples = load("fer2013", fer_root, dedupe=False)
    assert Counter(s.split for s in samples) == {"train": 7 * TRAIN + 2, "test": 7 * TEST + 1}
    assert set(s.label for s in samples) == set(FER7)
    fear = next(s for s in samples if s.image.parent.name == "fear")
    assert fear.label == "fearful" and fear.id.startswith("train/fear/Training_") and fear.speaker is None


def test_dedup_report_counts_each_kind_of_duplicate(fer_root):
    kept, report = fer2013.deduplicate(load("fer2013", fer_root, dedupe=False))
    train, test = report.splits["train"], report.splits["test"]
    assert (train.before, train.within_split_duplicates, train.cross_split_leaks, train.label_conflicts) == (
        7 * TRAIN + 2,
        1,
        0,
        2,
    )
    assert (test.before, test.within_split_duplicates, test.cross_split_leaks, test.label_conflicts) == (
        7 * TEST + 1,
        0,
        1,
        0,
    )
    assert (train.after, test.after) == (7 * TRAIN - 1, 7 * TEST)
    assert Counter(s.split for s in kept) == {"train": train.after, "test": test.after}
    assert "within" in str(report) and f"{test.after:>7,}" in str(report)


def test_dedupe_applies_across_splits_even_when_one_split_is_asked_for(fer_root):
    test_only = load("fer2013", fer_root, split="test")
    assert {s.split for s in test_only} == {"test"} and len(test_only) == 7 * TEST
    assert "test/sad/PublicTest_99999999" not in {s.id for s in test_only}  # the planted leak
    assert len(load("fer2013", fer_root, split="test", dedupe=False)) == 7 * TEST + 1


def test_conflicting_copies_are_all_dropped(fer_root):
    kept_ids = {s.id for s in load("fer2013", fer_root)}
    conflict = sorted((fer_root / "train" / "fear").glob("*.jpg"))
    names = {p.name for p in (fer_root / "train" / "angry").glob("*.jpg")} & {p.name for p in conflict}
    assert len(names) == 1
    stem = names.pop().removesuffix(".jpg")
    assert f"train/angry/{stem}" not in kept_ids and f"train/fear/{stem}" not in kept_ids


def test_unknown_emotion_folder_and_missing_splits_are_reported(tmp_path):
    root = layouts.make_fer(tmp_path / "fer", train_per_class=1, test_per_class=1, plant_duplicates=False)
    shutil.move(root / "train" / "disgust", root / "train" / "contempt")
    with pytest.raises(DatasetNotFoundError, match="contempt"):
        load("fer2013", root)
    with pytest.raises(DatasetNotFoundError, match=r"split\(s\) \['val'\] not found"):
        load("fer2013", root, split="val", strict=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="kaggle.com/datasets/msambare/fer2013"):
        load("fer2013", tmp_path / "empty")


def test_real_copy_counts_before_and_after_dedup():
    root = shared_dataset("fer2013")
    samples = load("fer2013", root, dedupe=False)
    kept, report = fer2013.deduplicate(samples)
    print(f"\nFER-2013 de-duplication:\n{report}")
    assert Counter(s.split for s in samples) == {"train": 28709, "test": 3589}
    digests = defaultdict(list)
    for sample in kept:
        digests[content_digest(sample.image)].append(sample)
    assert all(len(copies) == 1 for copies in digests.values())  # no duplicate survives anywhere
    for name, counts in report.splits.items():
        assert counts.after == sum(s.split == name for s in kept) < counts.before
    assert report.splits["train"].cross_split_leaks == 0 and report.splits["test"].cross_split_leaks > 0
    assert report.splits["train"].label_conflicts > 0
