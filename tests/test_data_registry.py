"""The dataset registry: every published layout loads through one entry point, and fails clearly."""

from __future__ import annotations

import pytest

from emodemo.data import DATASETS, DatasetNotFoundError, layouts, load
from emodemo.data.checks import SOURCES


def test_registry_names():
    assert set(DATASETS) == {
        "ravdess",
        "ravdess_au",
        "fer2013",
        "goemotions",
        "meld",
        "iemocap",
        "cmu_mosei",
        "cremad",
        "emodb",
        "tess",
    }
    assert set(layouts.MAKERS) == set(DATASETS) <= set(SOURCES)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_fixture_layout_loads_through_the_registry(tmp_path, monkeypatch, name):
    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path / "cache"))  # where CMU-MOSEI's segments are cut to
    samples = load(name, layouts.MAKERS[name](tmp_path / "data"))
    # every sample labelled; a multi-label segment may carry no emotion at all (label None, no labels)
    assert samples and all(s.dataset == name and (s.label is not None or s.labels == ()) for s in samples)
    assert len({s.id for s in samples}) == len(samples)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_a_missing_folder_says_what_where_and_where_to_download(tmp_path, name):
    with pytest.raises(DatasetNotFoundError) as error:
        load(name, tmp_path / "not_here")
    message = str(error.value)
    assert "does not exist" in message and str(tmp_path / "not_here") in message
    assert SOURCES[name].download in message


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_an_empty_folder_is_not_mistaken_for_a_dataset(tmp_path, name):
    with pytest.raises(DatasetNotFoundError, match="expected layout"):
        load(name, tmp_path)


def test_unknown_names_and_options_are_refused_with_the_choices(tmp_path):
    with pytest.raises(ValueError, match="choose one of"):
        load("savee", tmp_path)
    with pytest.raises(TypeError, match=r"no option\(s\) \['calm'\]; its options are \['calm_as_neutral'"):
        load("ravdess", tmp_path, calm=True)
