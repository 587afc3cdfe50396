"""TESS: the original download's layout and the shared FLAC copy, labels, word halves."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import shared_dataset

from emodemo.core.labels import CANONICAL7
from emodemo.data import DatasetNotFoundError, layouts, load, tess


def test_original_download_layout_labels_and_halves(tmp_path):
    root = layouts.make_tess(tmp_path, words=("book", "mill", "yes"), seconds=0.02)
    samples = load("tess", root)
    assert len(samples) == 2 * 7 * 3 and set(s.label for s in samples) == set(CANONICAL7)
    clip = next(s for s in samples if s.id == "YAF_mill_ps")
    assert clip.label == "surprised" and clip.speaker == "YAF" and clip.text == "Say the word mill"
    assert clip.split == "report" and clip.meta["age"] == 26 and clip.meta["gender"] == "female"
    assert next(s for s in samples if s.id == "OAF_book_fear").label == "fearful"
    assert Counter(s.split for s in samples) == {"choose": 14, "report": 28}  # book | mill, yes


def test_word_halves_are_fixed_and_disjoint():
    halves = tess.word_halves()
    choose = sorted(w for w, h in halves.items() if h == "choose")
    report = sorted(w for w, h in halves.items() if h == "report")
    assert len(choose) == len(report) == 25 and max(choose) < min(report)  # sorted, first 25 / last 25


def test_a_stranger_file_is_named(tmp_path):
    root = layouts.make_tess(tmp_path, words=("book",), seconds=0.02)
    layouts.write_tone(
        root / "TESS Toronto emotional speech set data" / "OAF_angry" / "OAF_book_bored.wav", 0.02, 16000, 0
    )
    with pytest.raises(DatasetNotFoundError, match="OAF_book_bored.wav"):
        load("tess", root)


def test_the_shared_copy():
    samples = load("tess", shared_dataset("tess"))
    assert len(samples) == 700 and Counter(s.label for s in samples) == {label: 100 for label in CANONICAL7}
    assert Counter(s.split for s in samples) == {"choose": 350, "report": 350}
    assert {s.speaker for s in samples} == {"OAF", "YAF"}
