"""IEMOCAP loader on fixture trees of the full-release layout (the real data is licence-gated)."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from emodemo.core.labels import IEMOCAP4, IEMOCAP4_MAP, IEMOCAP6, IEMOCAP_CODES
from emodemo.data import DatasetNotFoundError, iemocap, layouts, load
from emodemo.data.layouts import IEMOCAP_FIXTURE_CODES, IEMOCAP_FIXTURE_DIALOGS


def expected_count(protocol: dict[str, str] | None, sessions: int) -> int:
    kept = [c for c in IEMOCAP_FIXTURE_CODES if protocol is None or IEMOCAP_CODES[c] in protocol]
    return len(kept) * len(IEMOCAP_FIXTURE_DIALOGS) * sessions


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return layouts.make_iemocap(tmp_path_factory.mktemp("iemocap"), sessions=(1, 2), seconds=0.05)


@pytest.mark.parametrize("classes", [4, 6, None])
def test_protocols_keep_their_classes(release, classes):
    samples = load("iemocap", release, classes=classes)
    assert len(samples) == expected_count(iemocap.PROTOCOLS[classes], sessions=2)
    if classes == 4:
        assert set(s.label for s in samples) == set(IEMOCAP4)
        assert Counter(s.meta["code"] for s in samples if s.label == "happy") == {"hap": 4, "exc": 4}
    if classes == 6:
        assert set(s.label for s in samples) == set(IEMOCAP6)


def test_speakers_sessions_text_audio_and_dimensions(release):
    samples = {s.id: s for s in load("iemocap", release.parent)}  # the folder holding the release works too
    utterance = samples["Ses02M_script01_1_F002"]
    assert utterance.speaker == "Ses02F" and utterance.group == "Ses02"  # speaker from the F in F002
    assert utterance.meta["dialog"] == "Ses02M_script01_1" and not utterance.meta["improvised"]
    assert utterance.label == "angry" and utterance.text == "Get out of my way."
    assert utterance.audio == release / "Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_F002.wav"
    assert (utterance.meta["valence"], utterance.meta["activation"], utterance.meta["dominance"]) == (2.5, 3.0, 3.5)
    assert {s.speaker for s in samples.values()} == {"Ses01F", "Ses01M", "Ses02F", "Ses02M"}


def test_session_filter_and_missing_audio(tmp_path, caplog):
    release = layouts.make_iemocap(tmp_path, sessions=(3,), seconds=0.05)
    (release / "Session3/sentences/wav/Ses03F_impro01/Ses03F_impro01_F000.wav").unlink()
    with caplog.at_level(logging.WARNING, logger="emodemo.data"):
        samples = {s.id: s for s in load("iemocap", release)}
    assert samples["Ses03F_impro01_F000"].audio is None and "1 have no sentence WAV" in caplog.text
    assert load("iemocap", release, sessions=[1]) == []


def test_all_sessions_must_give_the_published_four_class_count(tmp_path, caplog):
    release = layouts.make_iemocap(tmp_path, sessions=(1, 2, 3, 4, 5), seconds=0.01)
    found = expected_count(IEMOCAP4_MAP, sessions=5)
    with pytest.raises(DatasetNotFoundError, match=f"found {found}, the published release has 5,531"):
        load("iemocap", release)
    with caplog.at_level(logging.WARNING, logger="emodemo.data"):
        assert len(load("iemocap", release, strict=False)) == found
    assert "5,531" in caplog.text


def test_wrong_folders_and_options_are_reported(tmp_path):
    (tmp_path / "Session1").mkdir()
    with pytest.raises(DatasetNotFoundError, match="sail.usc.edu/iemocap"):
        load("iemocap", tmp_path)
    (tmp_path / "Session1/dialog/EmoEvaluation").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no EmoEvaluation/\\*.txt files"):
        load("iemocap", tmp_path)
    with pytest.raises(ValueError, match="classes must be 4, 6 or None"):
        load("iemocap", tmp_path, classes=5)
