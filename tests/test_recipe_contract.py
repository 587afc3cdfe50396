"""The recipe contract (emodemo.recipes.contract): every registered recipe provides what the protocol
requires, with the signatures the CLI, the pipeline and the evaluation harness call; its optional
hooks have their documented defaults; ``--option`` strings become the types ``train`` declares."""

from __future__ import annotations

import inspect
import types
from pathlib import Path

import pytest

from emodemo.recipes import Recipe, explains, get_recipe, hook, names, reads_faces, typed_options
from emodemo.recipes.contract import FOLD_IDS, HOOKS, TRAIN_ARGUMENTS, option_types

RECIPES = sorted({get_recipe(name).__name__: get_recipe(name) for name in names()}.items())
IDS = [name.rsplit(".", 1)[1] for name, _ in RECIPES]
OPTION_TYPES = {bool, int, float, str, Path, type(None)}


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.mark.parametrize("module, recipe", RECIPES, ids=IDS)
def test_every_registered_recipe_satisfies_the_protocol(module, recipe):
    assert isinstance(recipe, Recipe), f"{module} lacks a required member of emodemo.recipes.Recipe"
    assert isinstance(recipe.NAME, str) and recipe.NAME in names()
    assert isinstance(recipe.MODALITIES, tuple) and set(recipe.MODALITIES) <= {"audio", "text", "video", "image"}
    assert parameters(recipe.prepare) == ["spec"]
    assert parameters(recipe.make_dataset)[:3] == ["samples", "labels", "spec"]
    assert parameters(recipe.clip_inputs)[:3] == ["wave", "transcript", "spec"]
    train = inspect.signature(recipe.train).parameters
    assert list(train)[: len(TRAIN_ARGUMENTS)] == list(TRAIN_ARGUMENTS)
    assert all(p.default is not p.empty for name, p in train.items() if name not in ("dataset", "root", "out")), (
        "every setting has a default: the CLI passes only those given"
    )


@pytest.mark.parametrize("module, recipe", RECIPES, ids=IDS)
def test_every_setting_has_a_type_the_command_line_can_convert_to(module, recipe):
    for name, allowed in option_types(recipe).items():
        assert set(allowed) <= OPTION_TYPES and set(allowed) - {type(None)}, f"{module}.train's {name}: {allowed}"
        assert not ({bool, int, float} & set(allowed) and str in allowed), (
            f"{module}.train's {name} is a {allowed}: say one type, the CLI converts --option strings to it"
        )


@pytest.mark.parametrize("module, recipe", RECIPES, ids=IDS)
def test_optional_hooks_have_the_documented_signatures_or_defaults(module, recipe):
    for name in HOOKS:
        assert hook(recipe, name) is getattr(recipe, name, None) or not hasattr(recipe, name)
    if hasattr(recipe, "explain"):
        assert parameters(recipe.explain)[:6] == ["output", "wave", "transcript", "spec", "labels", "title"]
    for name in ("reads", "explains"):
        if hasattr(recipe, name):
            assert parameters(getattr(recipe, name)) == ["meta"]
    if reads_faces(recipe):
        assert parameters(recipe.video_emotion)[:3] == ["model", "labels", "path"] and callable(recipe.face_inputs)
    if FOLD_IDS in inspect.signature(recipe.train).parameters:
        assert list(inspect.signature(recipe.train).parameters)[len(TRAIN_ARGUMENTS)] == FOLD_IDS


def test_a_recipe_without_hooks_gets_the_defaults():
    bare = types.SimpleNamespace(NAME="bare", MODALITIES=("audio", "text"))
    assert hook(bare, "LABELS") is None and hook(bare, "explain") is None and hook(bare, "video_emotion") is None
    assert hook(bare, "reads")({}) == ("audio", "text") and hook(bare, "explains")({}) is True
    assert not explains(bare, {}) and not reads_faces(bare)
    with pytest.raises(ValueError, match="no optional recipe hook"):
        hook(bare, "explian")


def test_hooks_the_recipes_declare():
    nmt = get_recipe("nmt_attention")
    text_only = {"model_kwargs": {"mode": "text"}}
    assert hook(nmt, "reads")(text_only) == ("text",) and not explains(nmt, text_only)
    assert explains(nmt, {"model_kwargs": {"mode": "fusion"}})
    assert reads_faces(get_recipe("fer_cnn")) and not reads_faces(get_recipe("mesm"))
    assert hook(get_recipe("speech_probe"), "LABELS") is None


def test_option_strings_arrive_typed():
    mesm = get_recipe("mesm")
    assert typed_options(
        mesm,
        {
            "sparse": "true",
            "top_p": "0.7",
            "batch_size": "8",
            "modalities": "TA",
            "text_root": "/data/goemotions",
            "normalise": "1",
        },
    ) == {
        "sparse": True,
        "top_p": 0.7,
        "batch_size": 8,
        "modalities": "TA",
        "text_root": "/data/goemotions",
        "normalise": True,
    }
    assert typed_options(mesm, {"top_p": 1, "sparse": False}) == {"top_p": 1.0, "sparse": False}
    with pytest.raises(ValueError, match="setting top_p is float"):
        typed_options(mesm, {"top_p": "high"})
    with pytest.raises(ValueError, match="setting sparse is bool"):
        typed_options(mesm, {"sparse": "maybe"})
    with pytest.raises(ValueError, match="setting batch_size is int"):
        typed_options(mesm, {"batch_size": 0.5})
    with pytest.raises(ValueError, match=r"has no setting \['topp'\]"):
        typed_options(mesm, {"topp": "0.5"})
    assert typed_options(get_recipe("speech_probe"), {"classes": "7", "augment": "2"}) == {"classes": 7, "augment": 2}
