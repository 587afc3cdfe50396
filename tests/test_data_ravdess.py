"""RAVDESS speech and action-unit loaders: fixture layouts, checks, duplicates, and the real copy."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
from conftest import shared_dataset

from emodemo.core.labels import RAVDESS8
from emodemo.data import DatasetNotFoundError, layouts, load, ravdess


@pytest.fixture(scope="module")
def wav_root(tmp_path_factory):
    """Original layout, actors 01 and 07 (07 carries the duplicate-take quirk)."""
    return layouts.make_ravdess(tmp_path_factory.mktemp("ravdess_wav"), actors=(1, 7), seconds=0.1)


def test_original_layout_loads_from_the_download_folder_or_its_parent(wav_root):
    from_parent = load("ravdess", wav_root)
    from_folder = load("ravdess", wav_root / "Audio_Speech_Actors_01-24")
    assert [s.id for s in from_parent] == [s.id for s in from_folder]
    assert len(from_parent) == 2 * 60
    assert Counter(s.speaker for s in from_parent) == {"Actor_01": 60, "Actor_07": 60}
    assert all(s.audio.suffix == ".wav" and s.audio.is_file() for s in from_parent)
    assert sf.info(str(from_parent[0].audio)).samplerate == 48000


def test_every_file_name_field_becomes_a_label_or_meta(wav_root):
    samples = {s.id: s for s in load("ravdess", wav_root)}
    clip = samples["03-01-05-02-02-01-07"]
    assert clip.label == "angry" and clip.labels == ("angry",)
    assert clip.text == "Dogs are sitting by the door"
    assert clip.meta["intensity"] == "strong" and clip.meta["repetition"] == 1
    assert clip.meta["gender"] == "male" and clip.meta["actor"] == 7
    assert clip.meta["modality"] == "audio-only" and clip.meta["vocal_channel"] == "speech"
    assert samples["03-01-01-01-01-02-01"].text == "Kids are talking by the door"
    per_actor = Counter(s.label for s in samples.values() if s.speaker == "Actor_01")
    assert per_actor == {**{label: 8 for label in RAVDESS8}, "neutral": 4}


def test_flac_layout_and_calm_as_neutral(tmp_path):
    root = layouts.make_ravdess(tmp_path, actors=(2,), fmt="flac", seconds=0.1)
    samples = load("ravdess", root, calm_as_neutral=True)
    assert len(samples) == 60 and all(s.audio.suffix == ".flac" for s in samples)
    assert Counter(s.label for s in samples)["neutral"] == 4 + 8
    assert "calm" not in {s.label for s in samples}
    assert Counter(s.meta["emotion"] for s in samples)["calm"] == 8  # the original label is kept
    assert {s.meta["gender"] for s in samples} == {"female"}


def test_actor_filter(wav_root):
    assert {s.speaker for s in load("ravdess", wav_root, actors=[7])} == {"Actor_07"}


def test_missing_take_is_named_and_strict_false_loads_the_rest(tmp_path, caplog):
    root = layouts.make_ravdess(tmp_path, actors=(3,), fmt="flac", seconds=0.05)
    (root / "Actor_03" / "03-01-08-02-01-02-03.flac").unlink()
    with pytest.raises(DatasetNotFoundError, match="03-01-08-02-01-02-03") as error:
        load("ravdess", root)
    assert "actor 03 is incomplete" in str(error.value) and "zenodo" in str(error.value)
    with caplog.at_level(logging.WARNING, logger="emodemo.data"):
        assert len(load("ravdess", root, strict=False)) == 59
    assert "found 59" in caplog.text


def test_foreign_files_are_rejected_and_song_files_skipped(tmp_path):
    root = layouts.make_ravdess(tmp_path, actors=(4,), fmt="flac", seconds=0.05)
    layouts.write_tone(root / "Actor_04" / "03-02-03-01-01-01-04.flac", 0.05, 16000, 0)  # a song take
    assert len(load("ravdess", root)) == 60
    layouts.write_tone(root / "Actor_04" / "03-01-03-01-01-01-05.flac", 0.05, 16000, 0)  # wrong actor
    with pytest.raises(DatasetNotFoundError, match="03-01-03-01-01-01-05.flac"):
        load("ravdess", root)


@pytest.mark.parametrize("make", ["missing", "empty", "no_actor_folders"])
def test_unusable_folders_fail_with_where_and_how_to_get_it(tmp_path, make):
    root = tmp_path / "ravdess"
    if make != "missing":
        root.mkdir()
    if make == "no_actor_folders":
        (root / "readme.txt").write_text("x")
    with pytest.raises(DatasetNotFoundError) as error:
        load("ravdess", root)
    message = str(error.value)
    assert str(root) in message and "zenodo.org/records/1188976" in message
    assert "Actor_01/03-01-01-01-01-01-01.wav" in message


def test_action_units_join_by_take_and_load_alone(wav_root, tmp_path, caplog):
    csv_path = layouts.make_ravdess_au(tmp_path, actors=(1,))
    with caplog.at_level(logging.WARNING, logger="emodemo.data"):
        samples = load("ravdess", wav_root, au_csv=csv_path)
    with_au = [s for s in samples if "au" in s.meta]
    assert {s.speaker for s in with_au} == {"Actor_01"} and len(with_au) == 60
    assert "60 of 120 clips have no row" in caplog.text
    table = ravdess.read_au_table(tmp_path)
    assert table.columns == ravdess.AU_COLUMNS and len(table.columns) == 35
    row = table.clip_ids.index("01-01-04-02-01-02-01")
    clip = next(s for s in with_au if s.id == "03-01-04-02-01-02-01")
    assert clip.meta["au"].dtype == np.float32 and clip.meta["au"].shape == (35,)
    np.testing.assert_array_equal(clip.meta["au"], table.values[row])
    faces = load("ravdess_au", csv_path)
    assert len(faces) == 60 and faces[0].id.startswith("01-01-") and faces[0].audio is None
    assert faces[0].meta["au"].shape == (35,) and faces[0].text in ravdess.SENTENCES.values()


def test_action_unit_table_with_missing_columns_is_rejected(tmp_path):
    path = layouts.make_ravdess_au(tmp_path, actors=(1,))
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")  # drop mean_AU45_c
    with pytest.raises(DatasetNotFoundError, match="mean_AU45_c"):
        ravdess.read_au_table(path)


def test_duplicate_takes_are_found_by_content(wav_root, tmp_path):
    assert ravdess.find_duplicates(load("ravdess", wav_root)) == [("03-01-03-01-02-01-07", "03-01-03-01-02-02-07")]
    clean = layouts.make_ravdess(tmp_path, actors=(1,), fmt="flac", seconds=0.05)
    assert ravdess.find_duplicates(load("ravdess", clean)) == []


def test_real_copy_has_20_whole_actors_8_emotions_and_full_au_coverage(ravdess_root):
    samples = load("ravdess", ravdess_root, au_csv=shared_dataset("ravdess_facial_au"))
    assert len(samples) == 1200
    assert Counter(s.speaker for s in samples) == {ravdess.speaker_id(a): 60 for a in range(1, 21)}
    assert set(s.label for s in samples) == set(RAVDESS8)
    assert all(s.meta["au"].shape == (35,) for s in samples)
    assert len(load("ravdess_au", shared_dataset("ravdess_facial_au"))) == 1200


def test_real_copy_duplicates_are_the_known_actor_07_pair(ravdess_root):
    groups = ravdess.find_duplicates(load("ravdess", ravdess_root))
    print("RAVDESS duplicate takes:", groups)
    assert groups == [("03-01-03-01-02-01-07", "03-01-03-01-02-02-07")]


def test_incomplete_actor_in_the_action_unit_table_is_named(tmp_path):
    path = layouts.make_ravdess_au(tmp_path, actors=(2,))
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line for line in lines if not line.startswith("01-01-06-02-02-01-02")) + "\n")
    expected = "facial action units: actor 02 is incomplete, missing 01-01-06-02-02-01-02"
    with pytest.raises(DatasetNotFoundError, match=expected):
        load("ravdess_au", path)
    assert len(load("ravdess_au", path, strict=False)) == 59
