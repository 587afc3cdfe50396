"""What a recipe module provides, said once: the :class:`Recipe` protocol and its optional hooks.

A recipe is a module of :mod:`emodemo.recipes` named after its model in
:data:`emodemo.models.REGISTRY` (:func:`emodemo.recipes.get_recipe` finds it). The CLI, the batch
predictor, the evaluation harness and the app talk to a model only through its recipe, so these
members are the whole contract. ``tests/test_recipe_contract.py`` checks every registered recipe
against it.

Required (:class:`Recipe`; ``isinstance(module, Recipe)`` checks that they are present):

- ``NAME``: the model's name, as in the registry;
- ``MODALITIES``: the :class:`~emodemo.data.record.Sample` fields it reads ("audio", "text",
  "video", "image");
- ``prepare(spec)``: load its frozen parts once (the app calls it at start-up with the
  checkpoint's ``input_spec``; recipes without frozen parts do nothing);
- ``make_dataset(samples, labels, spec)``: a dataset of model inputs for
  :func:`emodemo.training.engine.fit` (items are dicts with a "label");
- ``clip_inputs(wave, transcript, spec)``: the batch-of-one inputs for a user's clip (its 16 kHz
  waveform and Whisper transcript, or None when transcription is off);
- ``train(dataset, root, out, cv, final, epochs, seed, quick, **options)``: the training protocol
  behind ``python -m emodemo train``. Its keyword ``options`` are the recipe's settings
  (``--option KEY=VALUE``); their annotations say their types (bool, int, float, str, optional),
  and the CLI converts ``--option`` strings with them (:func:`typed_options`). ``quick`` is a smoke
  run: one fold, :data:`emodemo.recipes.common.QUICK_EPOCHS` epochs (an SVM recipe: one fold), the
  same code path. Returns the metrics (what ``--results`` writes).

``spec`` is the checkpoint's ``input_spec``: what turning data into inputs depends on and must be
the same at training and serving time (a vocabulary, a feature version), or None.

Optional hooks (:data:`HOOKS`): a recipe defines them or gets the default. Callers ask
:func:`hook` (``hook(recipe, "explain")``) rather than probing the module:

- ``LABELS``: the classes it always predicts, when fixed (default None: they depend on the data
  or options, e.g. the speech probe's 7 or 8);
- ``FITTED_KWARGS``: constructor arguments that each fit sets from the data (an SVM's support-vector
  counts, a forest's node count; ``argument.key`` for a key of a dict argument), so two folds of one
  run differ there; default ``()``;
- ``reads(meta) -> tuple[str, ...]``: what a checkpoint of it reads, when the checkpoint decides
  (a words-only variant of a voice + words model); default: ``MODALITIES``;
- ``explain(output, wave, transcript, spec, labels, title) -> Figure | None``: a figure of what the
  model looked at in a clip (attention, kept positions, a face track); default None: no view;
- ``explains(meta) -> bool``: whether this checkpoint has such a view; default True (with
  ``explain``);
- ``video_emotion(model, labels, path, fps, max_frames, temperature) -> dict``: a face model's answer
  for a video file (faces per frame, their mean); default None: not a face model. A face model
  also has ``face_inputs(crops)``;
- ``FOLD_SUMMARIES``: ``{key: function of the folds' results}``, the recipe's own summaries of its folds that
  its cross-validation result holds beside the mean ± std (``mesm``'s per-emotion scores), computed again when
  runs of some folds each are merged (:func:`emodemo.training.experiment.merge_fold_runs`); default ``{}``;
- ``one_input(folds, into) -> {key: folder}``: the fold models of a served mean's runs (``{key: folder}``, one run's
  keyed by fold name, two runs' by ``"<run index>/<fold name>"``) made to read one input, so that the mean
  (:mod:`emodemo.serving.pairs`) feeds all of them the same tensors, copies written under ``into/<key>`` where they
  must change (``nmt_attention``: folds trained in separate processes built their own vocabularies); default: the
  folders as they are.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

# the arguments every recipe's train() takes first, in this order (the CLI passes them by name)
TRAIN_ARGUMENTS = ("dataset", "root", "out", "cv", "final", "epochs", "seed", "quick")
FOLD_IDS = "fold_ids"  # the folds to run (``--folds``), in the recipes that have folds; not a setting


@runtime_checkable
class Recipe(Protocol):
    """The members every recipe module has (see the module's doc for what each does)."""

    NAME: str
    MODALITIES: tuple[str, ...]

    def prepare(self, spec: dict | None = None) -> None: ...

    def make_dataset(self, samples: Sequence, labels: Sequence[str], spec: dict | None) -> Any: ...

    def clip_inputs(self, wave, transcript=None, spec: dict | None = None) -> dict: ...

    def train(
        self,
        dataset: str,
        root: Path,
        out: Path,
        cv: bool = True,
        final: bool = True,
        epochs: int | None = None,
        seed: int = 0,
        quick: bool = False,
        **options,
    ) -> dict: ...


# name -> default, a function of the recipe module (the value a recipe without the hook gets)
HOOKS: dict[str, Callable[[Any], Any]] = {
    "LABELS": lambda recipe: None,
    "FITTED_KWARGS": lambda recipe: (),
    "reads": lambda recipe: lambda meta: tuple(recipe.MODALITIES),
    "explain": lambda recipe: None,
    "explains": lambda recipe: lambda meta: True,
    "video_emotion": lambda recipe: None,
    "FOLD_SUMMARIES": lambda recipe: {},
    "one_input": lambda recipe: lambda folds, into: dict(folds),
}


def hook(recipe, name: str):
    """The recipe's optional member ``name`` (one of :data:`HOOKS`), or its documented default."""
    if name not in HOOKS:
        raise ValueError(f"{name!r} is no optional recipe hook; hooks: {sorted(HOOKS)}")
    own = getattr(recipe, name, None)
    return own if own is not None else HOOKS[name](recipe)


def explains(recipe, meta: dict) -> bool:
    """Whether a checkpoint of ``recipe`` (its config ``meta``) can draw what it looked at."""
    return hook(recipe, "explain") is not None and bool(hook(recipe, "explains")(meta))


def reads_faces(recipe) -> bool:
    """Whether ``recipe`` is a face model (it answers for a video's faces: ``video_emotion``)."""
    return hook(recipe, "video_emotion") is not None


# --- options ---------------------------------------------------------------------------------------


def options_of(recipe) -> dict[str, inspect.Parameter]:
    """The recipe's settings: ``train``'s keyword arguments after :data:`TRAIN_ARGUMENTS`."""
    return {
        name: p
        for name, p in inspect.signature(recipe.train).parameters.items()
        if name not in TRAIN_ARGUMENTS and name != FOLD_IDS and p.kind is p.POSITIONAL_OR_KEYWORD
    }


def option_types(recipe) -> dict[str, tuple[type, ...]]:
    """``{option: the types its annotation allows}`` (``NoneType`` for an optional one)."""
    hints = typing.get_type_hints(recipe.train)
    out = {}
    for name in options_of(recipe):
        hint = hints.get(name, str)
        args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        out[name] = tuple(typing.get_origin(a) or a for a in args)
    return out


def as_flag(value) -> bool:
    """A yes/no setting: a bool, or a string 1/0, true/false, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a yes/no setting (1/0, true/false), got {value!r}")


def typed_option(recipe, name: str, value):
    """``value`` (a ``--option`` string, or a value already typed) as the type ``train`` declares
    for option ``name``: the first of bool (1/0, true/false, yes/no, on/off), int, float, str and
    path that its annotation allows. A typed value of another type is an error (an int is taken
    for a float)."""
    allowed = option_types(recipe).get(name)
    if allowed is None:
        raise ValueError(f"{recipe.NAME} has no setting {name!r}; its settings: {sorted(options_of(recipe))}")
    wrong = ValueError(f"{recipe.NAME}'s setting {name} is {_names(allowed)}, got {value!r}")
    if isinstance(value, str):
        try:
            for kind in (bool, int, float, str, Path):
                if kind in allowed:
                    return as_flag(value) if kind is bool else kind(value)
        except ValueError:
            raise wrong from None
        raise wrong
    if isinstance(value, bool):
        ok = bool in allowed
    elif isinstance(value, int):
        ok = int in allowed or float in allowed
        value = value if int in allowed else float(value)
    else:
        ok = isinstance(value, tuple(t for t in allowed if isinstance(t, type)))
    if not ok:
        raise wrong
    return value


def typed_options(recipe, options: dict[str, Any]) -> dict[str, Any]:
    """:func:`typed_option` of each ``{name: value}``; an unknown name is an error that lists the settings."""
    unknown = sorted(set(options) - set(options_of(recipe)))
    if unknown:
        raise ValueError(f"{recipe.NAME} has no setting {unknown}; its settings: {sorted(options_of(recipe))}")
    return {name: typed_option(recipe, name, value) for name, value in options.items()}


def _names(kinds: Sequence[type]) -> str:
    return " or ".join("None" if t is type(None) else getattr(t, "__name__", str(t)) for t in kinds)
