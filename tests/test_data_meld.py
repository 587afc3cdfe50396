"""MELD loader: CSV columns, label mapping, mojibake repair, video links, and the real copy."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest
from conftest import shared_dataset

from emodemo.core.labels import CANONICAL7
from emodemo.data import DatasetNotFoundError, layouts, load, meld

DIALOGUE_ROWS = 8  # utterances per split in the fixture (3 dialogues: 3 + 3 + 2)


@pytest.fixture(scope="module")
def meld_root(tmp_path_factory):
    return layouts.make_meld(tmp_path_factory.mktemp("meld"))


def test_rows_fields_and_labels(meld_root):
    samples = load("meld", meld_root)
    assert Counter(s.split for s in samples) == {"train": DIALOGUE_ROWS, "dev": DIALOGUE_ROWS, "test": DIALOGUE_ROWS}
    first = samples[0]
    assert (first.id, first.speaker, first.group) == ("train_dia0_utt0", "Chandler", "train_dia0")
    assert first.label == "surprised"
    assert first.meta["sentiment"] == "positive" and first.meta["start"] == "00:00:00,000"
    assert {s.label for s in samples} == set(CANONICAL7)
    assert all(s.video is None for s in samples)


def test_mojibake_in_the_published_csvs_is_repaired(meld_root):
    raw = (meld_root / "train_sent_emo.csv").read_text(encoding="utf-8")
    assert "can\u00e2\u0080\u0099t" in raw  # the fixture writes text the way the release carries it
    texts = [s.text for s in load("meld", meld_root, split="train")]
    assert "I can’t believe you did that!" in texts and "That’s… actually really sweet." in texts


@pytest.mark.parametrize(
    "broken, fixed",
    [
        ("it\u00e2\u0080\u0099s", "it’s"),  # UTF-8 read as Latin-1
        ("it\u00e2\u20ac\u2122s", "it’s"),  # UTF-8 read as Windows-1252
        ("wait\u00e2\u0080\u00a6", "wait…"),
        ("caf\u00e9 au lait", "caf\u00e9 au lait"),  # correct accents stay
        ("Â£5", "£5"),
    ],
)
def test_fix_mojibake(broken, fixed):
    assert meld.fix_mojibake(broken) == fixed


def test_videos_are_linked_when_present(tmp_path):
    root = layouts.make_meld(tmp_path, splits=("dev",), with_video=True)
    samples = load("meld", root)
    assert all(
        s.video == root / "dev_splits_complete" / f"dia{s.meta['dialogue_id']}_utt{s.meta['utterance_id']}.mp4"
        for s in samples
    )
    (root / "dev").mkdir()
    shutil.move(root / "dev_splits_complete", root / "dev" / "dev_splits_complete")  # as the tarball unpacks
    (root / "dev" / "dev_splits_complete" / "dia0_utt1.mp4").unlink()
    videos = {s.id: s.video for s in load("meld", root)}
    assert videos["dev_dia0_utt1"] is None and videos["dev_dia0_utt0"].is_file()


def test_missing_split_column_or_emotion_is_reported(tmp_path):
    root = layouts.make_meld(tmp_path, splits=("train", "dev"))
    with pytest.raises(DatasetNotFoundError, match=r"split\(s\) \['test'\] not found"):
        load("meld", root, split="test")
    path = root / "dev_sent_emo.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("Emotion", "Emo", 1), encoding="utf-8")
    with pytest.raises(DatasetNotFoundError, match=r"lacks columns \['Emotion'\]"):
        load("meld", root)
    path.write_text(
        path.read_text(encoding="utf-8").replace("Emo,", "Emotion,", 1).replace(",fear,", ",scared,"), encoding="utf-8"
    )
    with pytest.raises(DatasetNotFoundError, match="unknown emotions \\['scared'\\]"):
        load("meld", root)
    with pytest.raises(DatasetNotFoundError, match="affective-meld.github.io"):
        load("meld", tmp_path / "nowhere")


def test_real_copy_counts_labels_and_clean_text():
    samples = load("meld", shared_dataset("meld_text"))
    assert Counter(s.split for s in samples) == {"train": 9989, "dev": 1109}
    assert {s.label for s in samples} == set(CANONICAL7)
    assert not any("\u00e2\u0080" in s.text or "\u00e2\u20ac" in s.text for s in samples)
    assert len({s.id for s in samples}) == len(samples)
