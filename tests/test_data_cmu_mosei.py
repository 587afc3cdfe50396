"""CMU-MOSEI raw tree: HDF5 labels matched to transcript lines, multi-label emotions (present when
the intensity is above 0), segments cut from the full wav, the standard folds or a hashed split."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from emodemo import data
from emodemo.data import cmu_mosei, layouts
from emodemo.data.record import DatasetNotFoundError


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return layouts.make_cmu_mosei(tmp_path_factory.mktemp("mosei"))


@pytest.fixture(scope="module")
def samples(tree, tmp_path_factory):
    return data.load("cmu_mosei", tree, segments=tmp_path_factory.mktemp("segments"))


def test_every_transcribed_segment_is_a_sample_with_its_words(samples):
    assert len(samples) == 6 * 4  # video 0's extra label has no line
    first = samples[0]
    assert first.id == f"{first.speaker}_0" and first.text == f"words of segment 0 of {first.speaker}"
    assert {s.split for s in samples} == {"train", "dev", "test"}


def test_emotions_are_present_above_zero_and_the_strongest_is_the_label(samples):
    by_id = {s.id: s for s in samples}
    video = samples[0].speaker  # video 0 cycles from pattern 0
    assert by_id[f"{video}_0"].labels == ("happy",) and by_id[f"{video}_0"].label == "happy"
    assert by_id[f"{video}_1"].labels == ("sad", "fearful") and by_id[f"{video}_1"].label == "sad"
    assert by_id[f"{video}_2"].labels == ("angry", "disgust") and by_id[f"{video}_2"].label == "angry"
    assert by_id[f"{video}_3"].labels == () and by_id[f"{video}_3"].label is None
    assert by_id[f"{video}_1"].meta["intensities"]["fearful"] == pytest.approx(0.33)
    assert set(cmu_mosei.MOSEI6) == {label for s in samples for label in s.labels}


def test_segment_audio_is_cut_from_the_full_wav_at_its_interval(samples, tree):
    sample = samples[1]
    full, rate = sf.read(str(tree / cmu_mosei.AUDIO / f"{sample.speaker}.wav"), dtype="float32")
    cut, cut_rate = sf.read(str(sample.audio), dtype="float32")
    start = int(sample.meta["start"] * rate)
    assert cut_rate == rate == 16000 and len(cut) == pytest.approx(rate * 1.0, abs=2)
    np.testing.assert_allclose(cut, full[start : start + len(cut)], atol=1 / 32768)


def test_without_standard_folds_videos_split_by_hash_with_a_warning(tmp_path, caplog):
    tree = layouts.make_cmu_mosei(tmp_path / "mosei", videos=3, with_folds=False)
    with caplog.at_level(logging.WARNING):
        samples = data.load("cmu_mosei", tree, segments=tmp_path / "segments")
    assert "not comparable" in caplog.text
    assert all(s.split in ("train", "dev", "test") for s in samples)
    again = data.load("cmu_mosei", tree, segments=tmp_path / "segments")
    assert [s.split for s in again] == [s.split for s in samples]


def test_missing_or_broken_label_file_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="CMU-MOSEI"):
        data.load("cmu_mosei", tmp_path)
    (tmp_path / cmu_mosei.LABELS_FILE).write_bytes(b"not hdf5")
    with pytest.raises(DatasetNotFoundError, match="not a readable label sequence"):
        data.load("cmu_mosei", tmp_path)
