"""Recipes: what each model eats, and how it is trained, evaluated and asked about one clip.

A model module (:mod:`emodemo.models`) is plain PyTorch. Its recipe adds the rest: the inputs it
needs from a :class:`~emodemo.data.record.Sample` or a user's clip, the datasets and label set it
is trained on, its training protocol. What every recipe module provides, and its optional hooks
with their defaults, is written once in :mod:`emodemo.recipes.contract` (:class:`Recipe`,
:func:`hook`). The CLI, the batch predictor and the app only talk to recipes, so a new
architecture appears everywhere once its model is in :data:`emodemo.models.REGISTRY` and its recipe
is the module of the same name here (the one registry of model names). What the recipes share (the
cross-validation, final-model and text-benchmark steps, the quick mode) is in
:mod:`emodemo.recipes.common`; each model's measured runs are made from its config file by
:mod:`emodemo.recipes.reproduce` (``python -m emodemo reproduce MODEL``).
"""

from __future__ import annotations

from importlib import import_module

from emodemo.models import REGISTRY
from emodemo.recipes.contract import Recipe, explains, hook, reads_faces, typed_options

__all__ = ["Recipe", "explains", "get_recipe", "hook", "names", "reads_faces", "typed_options"]

# The names are the model registry's (emodemo.models.REGISTRY): a model's recipe is the module of its
# name here, but for a model served with another's recipe (imported on demand: heavy deps).
_SHARED_RECIPE = {  # a model served with another's recipe
    "speech_probe_ensemble": "speech_probe",  # the served probe: its folds' models averaged
    "ssl_mha_ensemble": "ssl_mha",  # the served Self-MHA: a pair reading other layers, averaged
    "coattention_mean": "coattention",  # co-attention's fold models averaged (measured, not served)
    "nmt_attention_mean": "nmt_attention",  # nmt_attention's fold models averaged
    "mesm_mean": "mesm",  # MESM's fold models averaged
}


def names() -> list[str]:
    return sorted(REGISTRY)


def get_recipe(name: str) -> Recipe:
    """The recipe module of model ``name``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(names())}")
    return import_module(f"emodemo.recipes.{_SHARED_RECIPE.get(name, name)}")
