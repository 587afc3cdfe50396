"""Every measured run of a model, from one config file: ``python -m emodemo reproduce MODEL``.

``configs/reproduce/<model>.toml`` is the record of what was run for a model's committed numbers:
each run's recipe options, folds, epochs and seeds, where its results are committed, and the steps
that follow it. It is read into the dataclasses below and checked before anything runs: an unknown
key, a value of the wrong type, an option the recipe's ``train`` does not take (or of another type
than it declares), an unknown step or placeholder is an error that names the file and the run.

The file (TOML)::

    model = "coattention"            # the recipe; the file's name
    about = "..."                    # what these runs are, how long they take
    jobs = 2                         # trainings at a time, one thread each (--quick: one, on every core)
    quick = ["fusion_mixed"]         # what --quick runs (a need it does not list is not waited for)
    prepare = [{ call = "warm_caches", root = "{data}/ravdess_speech", speech_top_layers = [0] }]
                                     # steps before the trainings (not in --quick): fill caches once

    [defaults]                       # every training run's settings unless it gives its own
    root = "{data}/ravdess_speech"
    cv = true

    [[run]]                          # a training: python -m emodemo train MODEL ...
    name = "fusion_mixed"            # the variant's name (--variant)
    served = true                    # one of the runs behind a served checkpoint
    options = { stages = "head", normalise = true, pairing = "mixed", text_root = "{data}/goemotions" }
    per_fold = [0, 1, 2, 3, 4]       # these folds, each its own process (seed = the run's seed + its index), merged
    results = "{checkpoints}/coattention/cv/fusion_mixed.json"

    [[run]]
    name = "final"
    final = true
    out = "{checkpoints}/coattention"
    needs = ["fusion_mixed"]         # runs after these (and their steps) are done
    after = [{ call = "attach_cross_validation", checkpoint = "{checkpoints}/coattention",
               results = "{checkpoints}/coattention/cv/fusion_mixed.json" }]

A run is a training (the default; ``cv`` and ``final`` are false unless set), a named step (``call =
"choose_words_minilm"`` with its
arguments in ``args``) or a script (``command = ["bench/x.py", "--root", "{data}/..."]``). Keys of
a training run: ``dataset`` (default "ravdess"), ``root``, ``cv``, ``final``, ``out`` (the
checkpoint folder; needed with ``final``), ``options``, ``epochs``, ``seed``, ``folds`` (the fold
indices one process runs; all by default), ``per_fold`` (fold indices each run in its own process,
seed = ``seed`` + the index, so that ``seed = 5`` trains a second draw of a 5-fold run; merged: with ``cv``; ``[]``:
none), ``merge`` (the results file is
:func:`~emodemo.training.experiment.merge_fold_runs` of the run's own, which keeps each fold's
curves only), ``results`` (default ``{runs}/<name>.json``), ``needs``, ``after`` (named steps),
``note``. Placeholders: ``{data}`` (the datasets folder,
``--data``), ``{runs}`` (scratch space of this model: logs, per-fold results, fold models; not
committed), ``{checkpoints}`` and ``{repo}``. ``{runs}`` and ``{checkpoints}`` are under the
workspace: the repository, or the scratch folder of a ``--quick`` run or of ``--into DIR``.

Idempotent: a run whose results file exists is skipped (and so is a fold whose own results file
exists); results are written last (after the run's steps), so an interrupted run is not taken for
done. ``--quick`` runs the config's ``quick`` runs (or the ``--variant`` s given) as smoke runs
(one fold, two epochs: :data:`emodemo.recipes.common.QUICK_EPOCHS`; one process at a time, on every
core) into a scratch workspace (``runs/quick/<model>`` unless ``--into``), skipping nothing and
touching no committed file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib
import types
import typing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from emodemo.core.files import REPO

CONFIGS = REPO / "configs" / "reproduce"
DEFAULT_DATA = Path(os.environ.get("EMODEMO_DATA", REPO.parent / "shared" / "datasets"))
PLACEHOLDERS = ("data", "runs", "checkpoints", "repo")
NAME_PATTERN = re.compile(r"[a-z0-9_]+")
SCORED_AS_SERVED = "as_served.json"  # what the pair and cv_as_served steps write (emodemo.serving.served_cv.AS_SERVED)
TRAINING_KEYS = (
    "dataset",
    "root",
    "cv",
    "final",
    "out",
    "options",
    "epochs",
    "seed",
    "folds",
    "per_fold",
    "merge",
    "after",
)


class ConfigError(ValueError):
    """A config file that does not describe runs this version can make."""


@dataclass(frozen=True)
class Step:
    """A named step (:data:`STEPS`) and its arguments."""

    call: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """One run of a config file (see the module's doc for what each key means)."""

    name: str
    note: str = ""
    served: bool = False
    results: str | None = None
    needs: list[str] = field(default_factory=list)
    # a training
    dataset: str = "ravdess"
    root: str | None = None
    cv: bool = False
    final: bool = False
    out: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    seed: int = 0
    folds: list[int] | None = None
    per_fold: list[int] = field(default_factory=list)
    merge: bool = False
    after: list[Step] = field(default_factory=list)
    # or a named step, or a script
    call: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    command: list[str] | None = None

    @property
    def kind(self) -> str:
        return "call" if self.call else "command" if self.command else "train"

    @property
    def results_path(self) -> str:
        return self.results or "{runs}/" + f"{self.name}.json"


@dataclass(frozen=True)
class Reproduction:
    """A model's config file: its runs, in file order."""

    model: str
    path: Path
    runs: tuple[Run, ...]
    about: str = ""
    jobs: int = 1
    quick: tuple[str, ...] = ()
    prepare: tuple[Step, ...] = ()

    def run(self, name: str) -> Run:
        for run in self.runs:
            if run.name == name:
                return run
        raise ValueError(f"{self.model} has no run {name!r}; its runs: {', '.join(r.name for r in self.runs)}")


# --- reading and checking -----------------------------------------------------------------------------


def models(configs: Path = CONFIGS) -> list[str]:
    """The models with a config file."""
    return sorted(p.stem for p in Path(configs).glob("*.toml"))


def load(model: str, configs: Path = CONFIGS) -> Reproduction:
    """The config of ``model`` (``configs/reproduce/<model>.toml``), checked."""
    path = Path(configs) / f"{model}.toml"
    if not path.is_file():
        raise ConfigError(f"no config {path}; configs: {', '.join(models(configs)) or 'none'}")
    return read(path)


def read(path: Path) -> Reproduction:
    """A config file read into a :class:`Reproduction` and checked (:class:`ConfigError` says what is wrong)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    where = str(path)
    _check_keys(
        raw,
        {"model": str, "about": str, "jobs": int, "quick": list[str], "prepare": list, "defaults": dict, "run": list},
        where,
        required=("model", "run"),
    )
    defaults = raw.get("defaults", {})
    _check_keys(defaults, _run_types(), f"{where} [defaults]")
    runs = tuple(_run(table, defaults, f"{where}, run {i + 1}") for i, table in enumerate(raw["run"]))
    config = Reproduction(
        model=raw["model"],
        path=path,
        runs=runs,
        about=raw.get("about", ""),
        jobs=raw.get("jobs", 1),
        quick=tuple(raw.get("quick", ())),
        prepare=tuple(_steps(raw.get("prepare", []), f"{where} prepare")),
    )
    _check(config)
    return config


def _run_types() -> dict[str, Any]:
    hints = typing.get_type_hints(Run)
    return {f.name: (list if f.name == "after" else hints[f.name]) for f in fields(Run)}


def _run(table, defaults: dict, where: str) -> Run:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: a run is a table ([[run]]), got {table!r}")
    where = f"{where} ({table.get('name', 'no name')})"
    _check_keys(table, _run_types(), where, required=("name",))
    values = dict(table)
    if "call" not in table and "command" not in table:
        values = {**defaults, **table}
    elif set(table) & (set(TRAINING_KEYS) - {"after"}):
        raise ConfigError(
            f"{where}: a {'call' if 'call' in table else 'command'} run takes no training keys "
            f"{sorted(set(table) & (set(TRAINING_KEYS) - {'after'}))}"
        )
    values["after"] = _steps(values.get("after", []), f"{where} after")
    if "call" in table and Path(str(table.get("results", ""))).name == SCORED_AS_SERVED:
        raise ConfigError(  # the step's record (a step writes none of its own) would overwrite the scores
            f"{where}: a step run's results file is the record of its step, not {SCORED_AS_SERVED}, which the "
            "step writes itself: name it after the run"
        )
    return Run(**values)


def _steps(tables: list, where: str) -> list[Step]:
    steps = []
    for i, step in enumerate(tables):
        if not isinstance(step, dict) or not isinstance(step.get("call"), str):
            raise ConfigError(f"{where}[{i}]: a step is a table with the step's name in 'call', got {step!r}")
        steps.append(Step(step["call"], {k: v for k, v in step.items() if k != "call"}))
    return steps


def _check_keys(table: dict, types: dict[str, Any], where: str, required: tuple[str, ...] = ()) -> None:
    for key in required:
        if key not in table:
            raise ConfigError(f"{where}: missing {key!r}")
    for key, value in table.items():
        if key not in types:
            raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(types))}")
        if not _is(value, types[key]):
            raise ConfigError(f"{where}: {key} must be {_type_name(types[key])}, got {value!r}")


def _is(value, hint) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is(value, a) for a in args)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is bool:
        return type(value) is bool
    if hint is int:
        return type(value) is int
    if hint is float:
        return type(value) in (int, float)
    if origin is list or hint is list:
        return isinstance(value, list) and all(_is(v, args[0]) for v in value) if args else isinstance(value, list)
    if origin is dict or hint is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    return isinstance(value, hint)


def _type_name(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    if origin is list:
        return f"a list of {_type_name(args[0])}"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "a table",
        list: "a list",
    }.get(hint, str(hint))


def _check(config: Reproduction) -> None:
    """What a config must hold beyond types: its recipe's options, steps, paths, names."""
    from emodemo.recipes import get_recipe, names
    from emodemo.recipes.contract import options_of, typed_option

    where = str(config.path)
    if config.model not in names():
        raise ConfigError(f"{where}: model {config.model!r} is not registered; models: {', '.join(names())}")
    if config.path.stem != config.model:
        raise ConfigError(f"{where}: the file of model {config.model!r} is {config.model}.toml")
    if config.jobs < 1:
        raise ConfigError(f"{where}: jobs must be at least 1")
    recipe = get_recipe(config.model)
    for step in config.prepare:
        _check_step(step, f"{where}, prepare")
        _check_placeholders(step.args, f"{where}, prepare")
    seen: set[str] = set()
    for run in config.runs:
        at = f"{where}, run {run.name!r}"
        if not NAME_PATTERN.fullmatch(run.name) or run.name in seen:
            raise ConfigError(f"{at}: a run's name is unique, lower case letters, digits and _")
        for need in run.needs:
            if need not in seen:
                raise ConfigError(f"{at}: needs {need!r}, which is not an earlier run of this file")
        seen.add(run.name)
        _check_placeholders(
            [run.results, run.root, run.out, run.options, run.args, run.command, [s.args for s in run.after]], at
        )
        for key in ("results", "root", "out"):
            value = getattr(run, key)
            if value is not None and not value.startswith(tuple(f"{{{p}}}" for p in PLACEHOLDERS)):
                raise ConfigError(
                    f"{at}: {key} must start with "
                    + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                    + f" (where the path is), got {value!r}"
                )
        for step in run.after + ([Step(run.call, run.args)] if run.call else []):
            _check_step(step, at)
        if run.kind != "train":
            continue
        if run.root is None:
            raise ConfigError(f'{at}: a training run needs root (the dataset folder, e.g. "{{data}}/ravdess_speech")')
        if run.final and run.out is None:
            raise ConfigError(f"{at}: a run with final = true needs out (the checkpoint folder)")
        if run.per_fold and run.folds:
            raise ConfigError(
                f"{at}: per_fold runs each of its folds in its own process: give folds or per_fold, not both"
            )
        unknown = sorted(set(run.options) - set(options_of(recipe)))
        if unknown:
            raise ConfigError(
                f"{at}: {config.model} has no setting {unknown}; its settings: {', '.join(sorted(options_of(recipe)))}"
            )
        for name, value in run.options.items():
            try:
                typed = typed_option(recipe, name, value)
            except ValueError as err:
                raise ConfigError(f"{at}: {err}") from None
            if isinstance(value, str) and not isinstance(typed, (str, Path)):
                raise ConfigError(
                    f"{at}: option {name} = {value!r} is a string: write it as a TOML "
                    f"{type(typed).__name__} (true, 2, 0.5), as train() declares it"
                )
    for name in config.quick:
        if name not in seen:
            raise ConfigError(f"{where}: quick names {name!r}, which is no run of this file")


def _check_placeholders(value, where: str) -> None:
    for text in _strings(value):
        for name in re.findall(r"\{([^}]*)\}", text):
            if name not in PLACEHOLDERS:
                raise ConfigError(
                    f"{where}: unknown placeholder {{{name}}} in {text!r}; placeholders: "
                    + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                )


def _check_step(step: Step, where: str) -> None:
    import inspect

    if step.call not in STEPS:
        raise ConfigError(f"{where}: unknown step {step.call!r}; steps: {', '.join(sorted(STEPS))}")
    parameters = inspect.signature(STEPS[step.call]).parameters
    given = dict(step.args, **{k: None for k in INJECTED if k in parameters and k not in step.args})
    try:
        inspect.signature(STEPS[step.call]).bind(**given)
    except TypeError as err:
        raise ConfigError(f"{where}: step {step.call}: {err}") from None


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


# --- the named steps ------------------------------------------------------------------------------------


def attach_cross_validation(checkpoint: str, results: str) -> None:
    """The final model was trained apart from its variant's cross-validation: add it to the card
    (:func:`emodemo.training.checkpoint.attach_cross_validation`)."""
    from emodemo.training.checkpoint import attach_cross_validation as attach

    attach(checkpoint, results)


def copy_file(source: str, target: str) -> None:
    """Copy one file (e.g. a bench's run results into the committed folder)."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def copy_checkpoint(source: str, target: str) -> None:
    """Copy a checkpoint (weights, config, card) to another folder, e.g. a fold's model kept for a notebook."""
    if not (Path(source) / "config.json").is_file():
        raise FileNotFoundError(
            f"no checkpoint at {source}: run the variant that makes it first (--force if its results are committed "
            "but its models, kept under runs/, are not on this machine)"
        )
    Path(target).mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors", "MODEL_CARD.md"):
        shutil.copy2(Path(source) / name, Path(target) / name)


def calibrate(
    checkpoint: str,
    dataset: str,
    root: str,
    perturbed: bool = False,
    quick: bool = False,
    python: str = sys.executable,
    clean_half: bool = False,
) -> None:
    """Fit a checkpoint's temperature and "unsure" line on its validation part (``python -m emodemo
    calibrate``, for a recipe whose final model is not calibrated as it is saved; ``perturbed``: the
    temperature on its validation clips changed by the robustness set's conditions too, except in a
    ``quick`` smoke run, which would transcribe some 600 changed clips; ``clean_half``: the clean clips weighing as
    much as all the changed ones together)."""
    if clean_half and not perturbed:
        raise ValueError("clean_half weighs the clean clips against the changed ones: it needs perturbed")
    changed = ["--perturbed"] + (["--clean-half"] if clean_half else []) if perturbed and not quick else []
    command = [python, "-m", "emodemo", "calibrate", checkpoint, "--dataset", dataset, "--root", root]
    _call(command + changed, quick=quick)


def calibrate_folds(
    folder: str,
    dataset: str,
    root: str,
    perturbed: bool = False,
    quick: bool = False,
    python: str = sys.executable,
    clean_half: bool = False,
) -> None:
    """:func:`calibrate` each fold model (``fold<k>``) under ``folder``, each on its own fold's validation actors."""
    folds = sorted(Path(folder).glob("fold[0-9]*"))
    if not folds:
        raise FileNotFoundError(f"no fold models under {folder}: run the variant that keeps them first")
    for fold in folds:
        calibrate(str(fold), dataset, root, perturbed=perturbed, quick=quick, python=python, clean_half=clean_half)


def pair(
    out: str,
    fold_models: list[str],
    root: str,
    text_root: str | None = None,
    quick: bool = False,
    python: str = sys.executable,
    clean_half: bool = False,
) -> None:
    """Serve at ``out`` the mean of one run's calibrated fold models, or of two runs' joined into fold pairs (two
    ``ssl_mha`` runs reading other layers, two runs of another recipe with a served mean; ``python -m emodemo pair``:
    calibrated, with ``clean_half`` the clean clips weighing half; the folds scored as served). Not in a ``quick``
    smoke run, which trains one fold."""
    if quick:
        return
    _call(
        [python, "-m", "emodemo", "pair", out, "--fold-models", *fold_models, "--root", root]
        + (["--text-root", text_root] if text_root else [])
        + (["--clean-half"] if clean_half else [])
    )


def cv_as_served(
    checkpoint: str,
    root: str,
    text_root: str | None = None,
    calibrate_folds: bool = False,
    fold_models: str | None = None,
    quick: bool = False,
    python: str = sys.executable,
    clean_half: bool = False,
) -> None:
    """Score a served checkpoint's fold models on their test actors as the app reads the words (``python -m
    emodemo cv-as-served``: guessed words as none, the words gate); ``fold_models``: their folder when it is
    not ``<checkpoint>/folds`` (too large to commit); with ``calibrate_folds``, each fold model
    (``fold<k>`` there) calibrated first (``calibrate --perturbed`` on its own fold's validation actors, with
    ``clean_half`` its clean clips weighing half: as the served one was), for the calibration error on the test
    folds. Not in a ``quick`` smoke run, which trains one fold."""
    if quick:
        return
    home = Path(fold_models or Path(checkpoint) / "folds")
    folds = sorted(home.glob("fold[0-9]*"))
    if not folds:
        raise FileNotFoundError(
            f"no fold models under {home}: run the variant whose cross-validation keeps them first (--force if its "
            "results are committed but its fold models, too large to commit, are not on this machine)"
        )
    if calibrate_folds:
        for fold in folds:
            calibrate(str(fold), "ravdess", root, perturbed=True, python=python, clean_half=clean_half)
    _call(
        [python, "-m", "emodemo", "cv-as-served", checkpoint, "--root", root]
        + (["--text-root", text_root] if text_root else [])
        + (["--fold-models", fold_models] if fold_models else [])
    )


def warm_caches(
    root: str,
    transcripts: bool = True,
    speech_top_layers: list[int] = (),
    normalised_top_layers: list[int] = (),
    mesm_chunks: bool = False,
) -> None:
    """Fill the transcript and feature caches of the RAVDESS clips under ``root`` once, before two
    training processes would both compute them."""
    from emodemo import data
    from emodemo.recipes import frozen_states

    clips = data.load("ravdess", root)
    if mesm_chunks:
        from emodemo.recipes import mesm

        mesm.chunks_of_samples(clips)
    if transcripts:
        from emodemo.speech import transcribe_samples

        transcribe_samples(clips)
    for top in speech_top_layers:
        frozen_states.speech_of_samples(clips, top_layers=top)
    for top in normalised_top_layers:
        frozen_states.speech_of_samples(clips, top_layers=top, normalised=True)


def choose_words_minilm(
    variants: list[str],
    runs: str,
    out: str,
    meld_root: str,
    output: Path,
    goemotions_root: str | None = None,
    quick: bool = False,
) -> None:
    """The words expert's choice: of the ``variants`` trained (``runs/<variant>.json`` and their
    checkpoints ``runs/<variant>/``), the best weighted F1 on the held-out MELD train dialogues
    becomes the checkpoint at ``out``, scored once on MELD dev (and GoEmotions Ekman test); every
    variant's held-out scores go to ``output`` (the run's results: choice.json)."""
    from emodemo.recipes.words_minilm import score_once

    trained = {
        v: json.loads((Path(runs) / f"{v}.json").read_text()) for v in variants if (Path(runs) / f"{v}.json").is_file()
    }
    if not trained:
        raise ValueError(f"none of the variants {variants} has been trained (no results under {runs})")
    chosen = max(trained, key=lambda v: trained[v]["validation"]["WF1"])
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(Path(runs) / chosen, out)
    metrics = score_once(Path(out), Path(meld_root), Path(goemotions_root) if goemotions_root else None, quick=quick)
    choice = {
        "protocol": metrics["protocol"],
        "chosen": chosen,
        "by": "held-out MELD train dialogues, weighted F1",
        "variants": {
            v: {
                "settings": r["settings"],
                "best_epoch": r["best_epoch"],
                "train_seconds": r["train_seconds"],
                **{k: r["validation"][k] for k in ("WA", "UA", "WF1", "UF1")},
            }
            for v, r in trained.items()
        },
    }
    _write_json(Path(output), choice)
    for v, r in choice["variants"].items():
        print(
            f"{v:16s} held-out WA {r['WA']:.3f} UA {r['UA']:.3f} WF1 {r['WF1']:.3f} UF1 {r['UF1']:.3f} "
            f"({r['train_seconds'] / 60:.1f} min)",
            file=sys.stderr,
        )
    t = metrics["test"]
    print(
        f"chosen {chosen}: MELD dev WA {t['WA']:.3f} UA {t['UA']:.3f} WF1 {t['WF1']:.3f} UF1 {t['UF1']:.3f}",
        file=sys.stderr,
    )


STEPS: dict[str, Callable[..., None]] = {
    "attach_cross_validation": attach_cross_validation,
    "calibrate": calibrate,
    "calibrate_folds": calibrate_folds,
    "choose_words_minilm": choose_words_minilm,
    "copy_checkpoint": copy_checkpoint,
    "copy_file": copy_file,
    "cv_as_served": cv_as_served,
    "pair": pair,
    "warm_caches": warm_caches,
}
INJECTED = ("output", "quick", "python")  # what the runner gives a step that asks for it (output: the run's results)


# --- running -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Places:
    """Where the placeholders point."""

    data: Path
    workspace: Path
    model: str

    def expand(self, value):
        """``value`` (a string, list or table of them) with the placeholders filled in."""
        if isinstance(value, str):
            for name, path in (
                ("data", self.data),
                ("runs", self.workspace / "runs" / self.model),
                ("checkpoints", self.workspace / "checkpoints"),
                ("repo", REPO),
            ):
                value = value.replace(f"{{{name}}}", str(path))
            return value
        if isinstance(value, list):
            return [self.expand(v) for v in value]
        if isinstance(value, dict):
            return {k: self.expand(v) for k, v in value.items()}
        return value


def selected(
    config: Reproduction, variants: list[str] | None = None, served: bool = False, quick: bool = False
) -> list[Run]:
    """The runs asked for, in file order: the ``variants`` named, else the served ones (``served``),
    else the config's quick runs (``quick``), else all."""
    if variants:
        chosen = {config.run(v).name for v in variants}
    elif served:
        chosen = {r.name for r in config.runs if r.served}
    elif quick:
        chosen = set(config.quick)
    else:
        chosen = {r.name for r in config.runs}
    return [r for r in config.runs if r.name in chosen]


def is_done(run: Run, places: Places) -> bool:
    return _nonempty(Path(places.expand(run.results_path)))


def describe(run: Run) -> str:
    """One line on what a run does."""
    if run.kind == "call":
        return f"step {run.call}"
    if run.kind == "command":
        return "script " + " ".join(run.command)
    what = (
        [run.dataset]
        + (["cv" + (" per fold" if run.per_fold else "")] if run.cv else [])
        + (["final"] if run.final else [])
    )
    options = " ".join(f"{k}={_text(v)}" for k, v in run.options.items())
    return ", ".join(what) + (f"; {options}" if options else "") + (f"; {run.epochs} epochs" if run.epochs else "")


def listing(config: Reproduction, places: Places) -> str:
    """The runs of a config, one per line: done or to do, served, what, results."""
    width = max(len(r.name) for r in config.runs)
    lines = [
        f"{config.model}: {config.about.strip().splitlines()[0] if config.about.strip() else ''}",
        f"  {'run':{width}s}  done  served  what -> results",
    ]
    for run in config.runs:
        lines.append(
            f"  {run.name:{width}s}  {'yes ' if is_done(run, places) else 'no  '}  "
            f"{'yes   ' if run.served else '      '}  {describe(run)} -> {run.results_path}"
        )
    lines.append(f"quick: {', '.join(config.quick) or 'none'}")
    return "\n".join(lines)


def reproduce(
    config: Reproduction,
    places: Places,
    runs: list[Run],
    quick: bool = False,
    force: bool = False,
    jobs: int | None = None,
    python: str = sys.executable,
    say: Callable[[str], None] | None = None,
) -> dict:
    """Make ``runs`` of ``config`` (in dependency order, ``jobs`` trainings at a time; ``quick``: one,
    on every core); returns
    ``{run name: "done" | "skipped" | "failed: why" | "not run: why"}``. A run is skipped when its
    results exist, unless ``force`` or ``quick``."""
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    names = {r.name for r in runs}
    for run in runs:
        for need in run.needs:
            if need not in names and not quick and not is_done(config.run(need), places):
                raise ValueError(
                    f"run {run.name!r} needs {need!r}, which is not done "
                    f"({config.run(need).results_path} is missing): add --variant {need}"
                )
    status: dict[str, str] = {}
    to_train = [r for r in runs if r.kind == "train" and (force or not is_done(r, places))]
    if config.prepare and to_train and not quick:
        for step in config.prepare:
            say(f"[{config.model}] prepare: {step.call}")
            _step(step, places, quick, python)
    finished = {run.name: threading.Event() for run in runs}
    # the trainings, scripts and steps: jobs at a time; a quick smoke run's one at a time, on every core (threads())
    pool = ThreadPoolExecutor(max_workers=1 if quick else (jobs or config.jobs))

    def one(run: Run) -> None:
        try:
            for need in run.needs:
                if need in finished:
                    finished[need].wait()
                    if status[need] not in ("done", "skipped"):
                        status[run.name] = f"not run: {need} {status[need].split(':')[0]}"
                        return
            results = Path(places.expand(run.results_path))
            if not (force or quick) and _nonempty(results):
                status[run.name] = "skipped"
                say(f"[{config.model}] {run.name}: skipped ({results} exists)")
                return
            started = time.time()
            say(f"[{config.model}] {run.name}: {describe(run)}")
            _make(run, results, config, places, pool, quick, force, python, say)
            status[run.name] = "done"
            say(f"[{config.model}] {run.name}: done in {_minutes(time.time() - started)} -> {results}")
        except Exception as err:  # noqa: BLE001  (one failed run must not stop the others)
            status[run.name] = f"failed: {err}"
            say(f"[{config.model}] {run.name}: FAILED: {err}")
        finally:
            finished[run.name].set()

    with ThreadPoolExecutor(max_workers=len(runs) or 1) as coordinators:  # one per run: waits for its needs
        list(coordinators.map(one, runs))
    pool.shutdown()
    return {run.name: status[run.name] for run in runs}


def _make(
    run: Run,
    results: Path,
    config: Reproduction,
    places: Places,
    pool: ThreadPoolExecutor,
    quick: bool,
    force: bool,
    python: str,
    say,
) -> None:
    partial = results.with_name(results.name + ".partial")
    results.parent.mkdir(parents=True, exist_ok=True)
    runs_dir = Path(places.expand("{runs}"))
    runs_dir.mkdir(parents=True, exist_ok=True)
    if run.kind == "call":
        if not _step(Step(run.call, run.args), places, quick, python, output=partial):
            _write_json(partial, {"step": run.call, "args": places.expand(run.args), "finished": time.ctime()})
    elif run.kind == "command":
        log = runs_dir / f"{run.name}.log"
        pool.submit(_call, [python, *places.expand(run.command)], log, REPO).result()
        if not results.is_file():
            raise ValueError(f"{' '.join(run.command)} did not write {results} (see {log})")
        partial = None
    else:
        if run.cv and run.per_fold:
            units = [(i, runs_dir / f"{run.name}_f{i}.json") for i in (run.per_fold[:1] if quick else run.per_fold)]
            pending = [
                pool.submit(
                    _train,
                    run,
                    config.model,
                    places,
                    quick,
                    python,
                    f,
                    path,
                    runs_dir / f"{run.name}_f{f}.log",
                    not (force or quick) and _nonempty(path),
                )
                for f, path in units
            ]
            for job in pending:
                job.result()
            _write_json(partial, _merged([path for _, path in units], config.model))
        elif run.cv and run.merge:
            own = runs_dir / f"{run.name}.json"
            pool.submit(
                _train,
                run,
                config.model,
                places,
                quick,
                python,
                None,
                own,
                runs_dir / f"{run.name}.log",
                not (force or quick) and _nonempty(own),
            ).result()
            _write_json(partial, _merged([own], config.model))
        else:
            pool.submit(
                _train, run, config.model, places, quick, python, None, partial, runs_dir / f"{run.name}.log", False
            ).result()
    for step in run.after:  # in the pool too: a step may start a process (calibrate) as a training does
        say(f"[{config.model}] {run.name}: step {step.call}")
        pool.submit(_step, step, places, quick, python).result()
    if partial is not None:
        if not partial.is_file():
            raise ValueError(f"{run.name} wrote no results ({partial})")
        os.replace(partial, results)


def _train(
    run: Run,
    model: str,
    places: Places,
    quick: bool,
    python: str,
    fold: int | None,
    results: Path,
    log: Path,
    done: bool,
) -> None:
    """One ``python -m emodemo train`` process (a fold of a per-fold run, seed = the run's seed + its index, or the
    whole run), its output in ``log``; nothing when ``done``."""
    if done:
        return
    command = [
        python,
        "-m",
        "emodemo",
        "-v",
        "train",
        model,
        "--dataset",
        run.dataset,
        "--root",
        places.expand(run.root),
        "--out",
        places.expand(run.out or "{runs}/" + run.name),
        "--seed",
        str(run.seed + (fold if fold is not None else 0)),
        "--results",
        str(results),
    ]
    command += ["--cv"] if run.cv else []
    command += [] if run.final else ["--no-final"]
    if quick:
        command.append("--quick")  # one fold, two epochs: the config's epochs and folds give way
    else:
        command += ["--epochs", str(run.epochs)] if run.epochs else []
        folds = [fold] if fold is not None else run.folds
        command += ["--folds", ",".join(map(str, folds))] if folds and run.cv else []
    for key, value in places.expand(run.options).items():
        command += ["--option", f"{key}={_text(value)}"]
    _call(command, log, quick=quick)


def _step(step: Step, places: Places, quick: bool, python: str, output: Path | None = None) -> bool:
    """Run a named step; whether it wrote ``output`` itself (it takes that argument)."""
    import inspect

    function = STEPS[step.call]
    parameters = inspect.signature(function).parameters
    injected = {
        k: v
        for k, v in {"output": output, "quick": quick, "python": python}.items()
        if k in parameters and k not in step.args
    }
    function(**places.expand(step.args), **injected)
    return "output" in injected


def _merged(paths: list[Path], model: str) -> dict:
    """The runs' folds as one result, the model's recipe's own summaries of its folds computed again."""
    from emodemo.recipes import get_recipe
    from emodemo.recipes.contract import hook
    from emodemo.training.experiment import merge_fold_runs

    summaries = hook(get_recipe(model), "FOLD_SUMMARIES")
    return merge_fold_runs([json.loads(p.read_text(encoding="utf-8")) for p in paths], summaries)


def threads(quick: bool) -> str:
    """Each process's ``OMP_NUM_THREADS``: the user's; else, in a ``quick`` smoke run (one process at
    a time), every core this process may use; else one (the measured runs train ``jobs`` at a time,
    one thread each, and their float sums depend on it)."""
    return os.environ.get("OMP_NUM_THREADS") or str(len(os.sched_getaffinity(0)) if quick else 1)


def _call(command: list[str], log: Path | None = None, cwd: Path | None = None, quick: bool = False) -> None:
    env = dict(os.environ, OMP_NUM_THREADS=threads(quick), TQDM_DISABLE="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if log is None:
        done = subprocess.run(command, env=env, cwd=cwd or REPO, capture_output=True, text=True)
        if done.returncode != 0:
            raise ValueError(f"{' '.join(command[2:5])} failed: {done.stderr.strip()[-1500:]}")
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as out:
        done = subprocess.run(command, env=env, cwd=cwd or REPO, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        raise ValueError(f"exit {done.returncode} (log {log}): " + " | ".join(tail))


def _write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, default=str) + "\n", encoding="utf-8")


def _nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _text(value) -> str:
    """An option's value as ``--option`` writes it (the CLI converts it back to the declared type)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
