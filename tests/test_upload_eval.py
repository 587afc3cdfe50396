"""Scoring the served models on a user's zip of labelled clips: RAVDESS names or a CSV, bad
entries left out with a note, unsafe or oversized zips refused."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
import soundfile as sf

from emodemo.pipeline import Pipeline
from emodemo.upload_eval import UploadError, canonical_label, evaluate_upload, labelled_clips, unpack


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline(models=["speech_probe"], transcribe=False)


@pytest.fixture(scope="module")
def ravdess_zip(tmp_path_factory, ravdess_root):
    """Actor 01's first take of each of the 8 emotions, a silent clip under a RAVDESS name, a note."""
    folder = tmp_path_factory.mktemp("upload")
    archive = folder / "clips.zip"
    takes = sorted((ravdess_root / "Actor_01").glob("03-01-0[1-8]-01-01-01-01.*"))
    assert len(takes) == 8
    silent = folder / "03-01-04-01-02-01-01.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    with zipfile.ZipFile(archive, "w") as handle:
        for take in takes:
            handle.write(take, f"clips/{take.name}")
        handle.write(silent, f"clips/{silent.name}")
        handle.writestr("clips/readme.txt", "my clips")
    return archive


def test_ravdess_named_clips_are_scored_and_the_silent_one_is_noted(pipeline, ravdess_zip, tmp_path):
    seen = []
    reports, notes = evaluate_upload(pipeline, ravdess_zip, tmp_path / "out", progress=lambda i, n: seen.append((i, n)))
    report = reports["speech_probe"]
    assert report["n"] == 8 and sum(map(sum, report["confusion_matrix"])) == 8
    assert report["per_class"]["neutral"]["support"] == 2                  # neutral + calm
    assert seen[-1] == (9, 9) and any("could not be analysed" in note and "silent" in note for note in notes)


def test_a_csv_labels_the_clips_with_aliases_and_unknown_labels_are_noted(tmp_path, ravdess_root):
    folder = tmp_path / "mine"
    folder.mkdir()
    clip = next((ravdess_root / "Actor_01").glob("03-01-05-01-01-01-01.*"))
    (folder / "a.flac").write_bytes(clip.read_bytes())
    (folder / "b.flac").write_bytes(clip.read_bytes())
    (folder / "labels.csv").write_text("file,label\na.flac,Anger\nb.flac,boredom\nmissing.wav,joy\n")
    clips, notes = labelled_clips(folder)
    assert clips == [((folder / "a.flac").resolve(), "angry")]
    assert "2 files had no usable label" in notes[0]
    assert canonical_label(" Sadness ") == "sad" and canonical_label("calm") == "neutral"


def test_unsafe_oversized_unlabelled_and_broken_zips_are_refused(tmp_path, monkeypatch):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as handle:
        handle.writestr("../outside.wav", b"x")
    with pytest.raises(UploadError, match="outside"):
        unpack(evil, tmp_path / "out")
    assert not (tmp_path / "outside.wav").exists()
    monkeypatch.setattr("emodemo.upload_eval.MAX_FILES", 0)
    with pytest.raises(UploadError, match="limit"):
        unpack(evil, tmp_path / "out2")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(UploadError, match="not a readable zip"):
        unpack(tmp_path / "broken.zip", tmp_path / "out3")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "hello.wav").write_bytes(b"x")
    with pytest.raises(UploadError, match="no labelled clip"):
        labelled_clips(tmp_path / "plain")
