"""GoEmotions loader: taxonomies, multi-label rows, derivation from the 28 labels, and the real copy."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import shared_dataset

from emodemo.core.labels import CANONICAL7, GOEMOTIONS28, SENTIMENT4
from emodemo.data import DatasetNotFoundError, layouts, load

ROWS = {"train": 6, "dev": 2, "test": 2}


@pytest.fixture(scope="module")
def go_root(tmp_path_factory):
    return layouts.make_goemotions(tmp_path_factory.mktemp("goemotions"), rows=ROWS)


def test_original_labels_keep_every_label_and_the_first_as_label(go_root):
    samples = load("goemotions", go_root)
    assert Counter(s.split for s in samples) == ROWS
    multi = next(s for s in samples if s.text.startswith("I'm really sorry"))
    assert multi.labels == ("sadness", "remorse", "caring") and multi.label == "sadness"
    assert all(set(s.labels) <= set(GOEMOTIONS28) for s in samples)
    quoted = next(s for s in samples if s.text.startswith("He said"))
    assert quoted.text == 'He said "no" and just walked off.'  # quotes are text, not CSV quoting


def test_ekman_and_sentiment_use_our_spelling(go_root):
    ekman = {s.id: s for s in load("goemotions", go_root, labels="ekman")}
    assert {label for s in ekman.values() for label in s.labels} <= set(CANONICAL7)
    laughing = next(s for s in ekman.values() if s.text.startswith("That's so funny"))
    assert laughing.labels == ("happy",)  # amusement + joy collapse to one Ekman label
    sentiment = load("goemotions", go_root, labels="sentiment")
    assert {label for s in sentiment for label in s.labels} <= set(SENTIMENT4)


@pytest.mark.parametrize("labels", ["ekman", "sentiment"])
def test_derivation_from_original_equals_the_shipped_folder(go_root, tmp_path, labels):
    shipped = load("goemotions", go_root, labels=labels)
    derived = load("goemotions", go_root, labels=labels, from_original=True)
    assert [(s.id, s.labels) for s in derived] == [(s.id, s.labels) for s in shipped]
    only_original = layouts.make_goemotions(tmp_path, rows=ROWS, taxonomies=("original",))
    assert [s.labels for s in load("goemotions", only_original, labels=labels)] == [s.labels for s in shipped]


def test_single_label_protocol_and_split_choice(go_root):
    single = load("goemotions", go_root, single_label=True)
    assert single and all(len(s.labels) == 1 for s in single)
    assert len(single) < len(load("goemotions", go_root))
    assert {s.split for s in load("goemotions", go_root, split=["dev", "test"])} == {"dev", "test"}


def test_a_taxonomy_folder_itself_can_be_the_root(go_root):
    ekman = load("goemotions", go_root / "ekman", labels="ekman")
    assert len(ekman) == sum(ROWS.values()) and ekman[0].meta["taxonomy"] == "ekman"
    with pytest.raises(DatasetNotFoundError, match=r"no original/ folder to read original labels"):
        load("goemotions", go_root / "ekman")


def test_bad_files_are_reported_with_the_line(tmp_path):
    root = layouts.make_goemotions(tmp_path, rows=ROWS, taxonomies=("original",))
    (root / "original" / "labels.txt").write_text("joy\nanger")
    with pytest.raises(DatasetNotFoundError, match=r"lists \['joy', 'anger'\], but the official original labels"):
        load("goemotions", root)
    root = layouts.make_goemotions(tmp_path / "b", rows=ROWS, taxonomies=("original",))
    with (root / "original" / "dev.tsv").open("a") as f:
        f.write("a comment without ids\n")
    with pytest.raises(DatasetNotFoundError, match="line 3"):
        load("goemotions", root)
    with pytest.raises(ValueError, match="labels must be one of"):
        load("goemotions", root, labels="plutchik")


def test_real_copy_has_the_published_split_sizes():
    original = load("goemotions", shared_dataset("goemotions"))
    assert Counter(s.split for s in original) == {"train": 43410, "dev": 5426, "test": 5427}
    multi = sum(len(s.labels) > 1 for s in original if s.split == "train") / 43410
    assert 0.1 < multi < 0.25  # "about 16% of train rows have several labels"


@pytest.mark.parametrize("labels", ["ekman", "sentiment"])
def test_real_copy_derivation_equals_the_shipped_folder(labels):
    root = shared_dataset("goemotions")
    shipped = [(s.id, s.labels) for s in load("goemotions", root, labels=labels)]
    assert [(s.id, s.labels) for s in load("goemotions", root, labels=labels, from_original=True)] == shipped
