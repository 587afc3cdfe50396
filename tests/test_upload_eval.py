"""Scoring the served models on a user's zip of labelled clips: RAVDESS names or a CSV, bad
entries left out with a note, unsafe or oversized zips refused."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import soundfile as sf

from emodemo.serving.pipeline import Pipeline
from emodemo.serving.upload_eval import UploadError, canonical_label, evaluate_upload, labelled_clips, unpack


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
    assert report["per_class"]["neutral"]["support"] == 2  # neutral + calm
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
    assert "1 files had no usable label" in notes[0] and "b.flac" in notes[0]
    assert "1 rows of labels.csv were refused" in notes[1] and "missing.wav" in notes[1]
    assert canonical_label(" Sadness ") == "sad" and canonical_label("calm") == "neutral"


def test_unsafe_oversized_unlabelled_and_broken_zips_are_refused(tmp_path, monkeypatch):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as handle:
        handle.writestr("../outside.wav", b"x")
    with pytest.raises(UploadError, match="outside"):
        unpack(evil, tmp_path / "out")
    assert not (tmp_path / "outside.wav").exists()
    monkeypatch.setattr("emodemo.serving.upload_eval.MAX_FILES", 0)
    with pytest.raises(UploadError, match="limit"):
        unpack(evil, tmp_path / "out2")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(UploadError, match="not a readable zip"):
        unpack(tmp_path / "broken.zip", tmp_path / "out3")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "hello.wav").write_bytes(b"x")
    with pytest.raises(UploadError, match="no labelled clip"):
        labelled_clips(tmp_path / "plain")


def test_csv_rows_may_only_name_media_files_inside_the_zip(tmp_path, ravdess_root, ravdess_clip):
    """A row naming a server file (absolute path, ``..``, a link out, a folder) is refused and
    listed; only the clip inside the extracted folder is scored."""
    folder = tmp_path / "extracted"
    (folder / "sub").mkdir(parents=True)
    (tmp_path / "outside.flac").write_bytes(ravdess_clip.read_bytes())
    (folder / "inside.flac").write_bytes(ravdess_clip.read_bytes())
    (folder / "link.flac").symlink_to(ravdess_clip)
    rows = [
        str(ravdess_clip),
        "../outside.flac",
        "sub/../../outside.flac",
        "link.flac",
        "sub",
        "labels.csv",
        "inside.flac",
    ]
    (folder / "labels.csv").write_text("file,label\n" + "".join(f"{row},angry\n" for row in rows))
    clips, notes = labelled_clips(folder)
    assert clips == [((folder / "inside.flac").resolve(), "angry")]
    assert "6 rows of labels.csv were refused" in notes[0]
    assert all(repr(row) in notes[0] for row in rows[:5])


def test_a_csv_row_naming_a_server_file_is_not_analysed_through_the_zip(pipeline, tmp_path, ravdess_clip):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("labels.csv", f"file,label\n{ravdess_clip},angry\n../../../{ravdess_clip},angry\n")
    with pytest.raises(UploadError, match="no labelled clip"):
        evaluate_upload(pipeline, archive, tmp_path / "out")


def _patched(archive, local_offset: int, central_offset: int, value: bytes):
    """``archive`` with ``value`` written at the same field of every local and central header."""
    data = bytearray(archive.read_bytes())
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        start = data.find(signature)
        while start != -1:
            data[start + offset : start + offset + len(value)] = value
            start = data.find(signature, start + 4)
    archive.write_bytes(bytes(data))
    return archive


@pytest.fixture()
def clip_zip(tmp_path, ravdess_clip):
    """A zip of one RAVDESS clip, deflated."""
    archive = tmp_path / "clips.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        handle.write(ravdess_clip, ravdess_clip.name)
    return archive


@pytest.mark.parametrize(
    "field, value, message",
    [
        ((6, 8), b"\x01\x00", "clips.zip is password-protected"),  # general purpose flag: encrypted
        ((8, 10), b"\x5d\x00", "compressed with method 93, which the app cannot read"),  # 93: zstandard
        ((14, 16), b"\x00\x00\x00\x00", "fails its checksum \\(CRC error\\)"),  # CRC-32 zeroed
    ],
)
def test_every_archive_problem_gets_a_clear_message(clip_zip, tmp_path, field, value, message):
    with pytest.raises(UploadError, match=message) as caught:
        unpack(_patched(clip_zip, *field, value), tmp_path / "out")
    assert str(tmp_path) not in str(caught.value)


def test_zips_inside_the_zip_are_named_as_not_searched(clip_zip, tmp_path, ravdess_clip):
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as handle:
        handle.write(clip_zip, "more/inner.zip")
        handle.write(ravdess_clip, ravdess_clip.name)
    folder, notes = unpack(outer, tmp_path / "out")
    assert "not searched: more/inner.zip" in notes[0]
    assert not (folder / "more" / "inner.zip").exists() and (folder / ravdess_clip.name).is_file()


def test_the_size_limit_counts_the_bytes_actually_unpacked(clip_zip, tmp_path, monkeypatch):
    """Headers can lie: the limit is also enforced on the bytes that come out of each entry."""
    from emodemo.serving import upload_eval

    monkeypatch.setattr(upload_eval, "CHUNK", 1024)
    with zipfile.ZipFile(clip_zip) as handle, pytest.raises(UploadError, match="more than"):
        upload_eval._extract(handle, handle.infolist()[0], tmp_path / "out.flac", 4096, "clips.zip")


def test_notes_name_the_users_files_never_a_server_folder(pipeline, tmp_path, ravdess_clip):
    archive = tmp_path / "clips.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(ravdess_clip, f"mine/{ravdess_clip.name}")
        handle.writestr("mine/03-01-05-01-01-01-02.mp3", b"not audio at all " * 50)
        handle.writestr("mine/03-01-05-01-01-01-03.wav", b"")
    reports, notes = evaluate_upload(pipeline, archive, tmp_path / "server" / "folder")
    assert "2 clips could not be analysed" in notes[-1] and "mine/03-01-05-01-01-01-02.mp3" in notes[-1]
    assert "server" not in " ".join(notes) and str(tmp_path) not in " ".join(notes)
