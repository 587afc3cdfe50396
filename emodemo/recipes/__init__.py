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
recipes, so a new architecture appears everywhere once its recipe is registered here.
"""
from __future__ import annotations

from importlib import import_module

# model name -> module under emodemo.recipes holding its recipe (imported on demand: heavy deps)
_RECIPES = {
    "speech_probe": "speech_probe",
    "speech_probe_ensemble": "speech_probe",   # the served probe: its cross-validation folds' models averaged
    "nmt_attention": "nmt_attention",
    "coattention": "coattention",
    "ssl_mha": "ssl_mha",
    "fer_cnn": "fer_cnn",
    "handcrafted_ensemble": "handcrafted_ensemble",
    "mesm": "mesm",
    "words_minilm": "words_minilm",
}


def names() -> list[str]:
    return sorted(_RECIPES)


def get_recipe(name: str):
    """The recipe module of model ``name``."""
    try:
        return import_module(f"emodemo.recipes.{_RECIPES[name]}")
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(names())}") from None
