"""Recipes: what each model eats, and how it is trained, evaluated and asked about one clip.

A model module (:mod:`emodemo.models`) is plain PyTorch. Its recipe adds the rest: the inputs it
needs from a :class:`~emodemo.data.record.Sample` or a user's clip, the datasets and label set it
is trained on, its training protocol. Every recipe module defines:

- ``NAME`` and ``MODALITIES`` (``Sample`` fields it reads: "audio", "text", "video", "image");
- ``prepare(spec)``: load its frozen parts once (the app calls it at start-up with the checkpoint's ``input_spec``);
- ``make_dataset(samples, labels, spec)``: a dataset of model inputs for :func:`emodemo.training.engine.fit`;
- ``clip_inputs(wave, transcript, spec)``: the batch-of-one inputs for a user's clip (its 16 kHz
  waveform and Whisper transcript, or None when transcription is off);

``spec`` is the checkpoint's ``input_spec``: what turning data into inputs depends on and must
be the same at training and serving time (a vocabulary, a feature version), or None.
- ``train(dataset, root, out, cv, final, epochs, seed, quick)``: the protocol behind the CLI. The CLI, the batch predictor and the app only talk to
recipes, so a new architecture appears everywhere once its model is in :data:`emodemo.models.REGISTRY`
and its recipe is the module of the same name here (the one registry of model names).
"""
from __future__ import annotations

from importlib import import_module

from emodemo.models import REGISTRY

# The names are the model registry's (emodemo.models.REGISTRY): a model's recipe is the module of its
# name here, but for a model served with another's recipe (imported on demand: heavy deps).
_SHARED_RECIPE = {"speech_probe_ensemble": "speech_probe"}   # the served probe: its folds' models averaged


def names() -> list[str]:
    return sorted(REGISTRY)


def get_recipe(name: str):
    """The recipe module of model ``name``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(names())}")
    return import_module(f"emodemo.recipes.{_SHARED_RECIPE.get(name, name)}")
