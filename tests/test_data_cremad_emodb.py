"""CREMA-D and EmoDB loaders on fixture trees of their published layouts."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from emodemo.core.labels import CREMAD6, EMODB7
from emodemo.data import DatasetNotFoundError, cremad, emodb, layouts, load


def test_cremad_names_labels_and_demographics(tmp_path):
    root = layouts.make_cremad(tmp_path, actors=(1001, 1002), seconds=0.02)
    samples = load("cremad", root)
    assert Counter(s.speaker for s in samples) == {"1001": 82, "1002": 82}
    assert set(s.label for s in samples) == set(CREMAD6)
    clip = next(s for s in samples if s.id == "1002_IEO_HAP_HI")
    assert clip.label == "happy" and clip.text == "It's eleven o'clock" and clip.meta["level"] == "high"
    assert clip.meta["gender"] == "male" and clip.meta["age"] == 20 + 1002 % 40
    assert len(load("cremad", root / "AudioWAV")) == 164  # pointing at the audio folder works too


def test_cremad_bad_names_and_full_set_count(tmp_path, caplog):
    root = layouts.make_cremad(tmp_path, actors=(1001,), seconds=0.01)
    layouts.write_tone(root / "AudioWAV" / "1001_XYZ_ANG_XX.wav", 0.01, 16000, 0)
    with pytest.raises(DatasetNotFoundError, match="1001_XYZ_ANG_XX.wav"):
        load("cremad", root)
    (root / "AudioWAV" / "1001_XYZ_ANG_XX.wav").unlink()
    for actor in cremad.ACTORS[1:]:  # one clip for each other actor: all 91 present, far too few clips
        layouts.write_tone(root / "AudioWAV" / f"{actor}_DFA_ANG_XX.wav", 0.01, 16000, 0)
    with pytest.raises(DatasetNotFoundError, match="found 172, the published release has 7,442"):
        load("cremad", root)
    with caplog.at_level(logging.WARNING, logger="emodemo.data"):
        assert len(load("cremad", root, strict=False)) == 172


def test_emodb_names_labels_and_speakers(tmp_path):
    root = layouts.make_emodb(tmp_path, speakers=("03", "16"), texts=("a01", "b10"), seconds=0.02)
    samples = load("emodb", root)
    assert len(samples) == 2 * 2 * 7 and set(s.label for s in samples) == set(EMODB7)
    clip = next(s for s in samples if s.id == "16b10La")
    assert clip.label == "bored" and clip.speaker == "16" and clip.meta["gender"] == "female"
    assert clip.text == emodb.TEXTS["b10"] and clip.meta["language"] == "de"


def test_emodb_wrong_folder_says_where_to_download(tmp_path):
    (tmp_path / "wav").mkdir()
    with pytest.raises(DatasetNotFoundError, match="emodb.bilderbar.info"):
        load("emodb", tmp_path)
    layouts.write_tone(tmp_path / "wav" / "03a01Fa.wav", 0.01, 16000, 0)
    layouts.write_tone(tmp_path / "wav" / "03a01Xa.wav", 0.01, 16000, 0)
    with pytest.raises(DatasetNotFoundError, match="03a01Xa.wav"):
        load("emodb", tmp_path)


def test_emodb_loads_flac_copies_too(tmp_path):
    root = layouts.make_emodb(tmp_path, speakers=("03",), texts=("a01",), seconds=0.02, suffix=".flac")
    samples = load("emodb", root)
    assert len(samples) == 7 and all(s.audio.suffix == ".flac" for s in samples)
    layouts.make_emodb(tmp_path, speakers=("03",), texts=("a01",), seconds=0.02)  # the same utterances as WAV
    with pytest.raises(DatasetNotFoundError, match="found twice"):
        load("emodb", root)
