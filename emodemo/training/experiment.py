"""Speaker-independent experiments: k-fold cross-validation and the final model, for any recipe.

A *recipe* (see :mod:`emodemo.recipes`) knows how to turn samples into a dataset of model inputs
and how to build its model; this module runs the protocol every architecture shares:

- :func:`cross_validate`: for each fold, train on the fold's training speakers, pick the epoch on
  its validation speakers, score its test speakers once; report mean and std over folds.
- :func:`chance_baseline`: the random-prediction row on the same test speakers.
- :func:`train_final`: train on all training speakers of the final split (validation speakers for
  early stopping only) and return the model with its history.

Both take optional :class:`Stage` s: training in several stages on the same model (talk 001's
staged fine-tuning: the head, then the top encoder layer, then more), each with its own settings
and early stopping; cross-validation then scores the test speakers after every stage, so a table
shows what each stage buys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import Dataset

from emodemo.core.metrics import classification_report, mean_std
from emodemo.data.record import Sample
from emodemo.data.splits import Fold, apply
from emodemo.training.engine import TrainConfig, evaluate, fit, seed_everything
from emodemo.training.history import History

log = logging.getLogger(__name__)

MakeDataset = Callable[[Sequence[Sample]], Dataset]
BuildModel = Callable[[], nn.Module]
Parts = Callable[[Fold], tuple[Sequence[Sample], Sequence[Sample], Sequence[Sample]]]


@dataclass
class Stage:
    """One stage of staged training: ``prepare(model)`` sets what trains (``requires_grad``),
    then :func:`~emodemo.training.engine.fit` runs with ``cfg`` from the weights the previous stage kept."""

    name: str
    cfg: TrainConfig
    prepare: Callable[[nn.Module], None]


def cross_validate(
    samples: Sequence[Sample] | Parts,
    folds: Sequence[Fold],
    make_dataset: MakeDataset,
    build_model: BuildModel,
    labels: Sequence[str],
    cfg: TrainConfig,
    keep_model: Callable[[Fold, nn.Module, dict], None] | None = None,
    stages: Sequence[Stage] | None = None,
) -> dict[str, Any]:
    """Train and test once per fold (see :mod:`emodemo.data.splits` for the folds).

    ``samples`` are split by each fold's speakers; or, when the parts depend on the fold in
    another way (constructed pairs draw their text by fold, :mod:`emodemo.protocols.pairing`), a function
    ``fold -> (train, val, test)`` samples.

    Returns ``{"folds": [report per fold, with its history and speakers], "summary": mean/std}``.
    With ``stages`` (``cfg`` is then unused), each fold trains through them in order and its test
    speakers are scored after each; the result also has ``"stages": {name: {"folds", "summary"}}``
    and its top-level folds and summary are the last stage's.
    ``keep_model(fold, model, report)``, when given, receives each fold's trained model (to save
    it, e.g. for looking inside the models of several folds later).
    """
    parts = samples if callable(samples) else (lambda fold: apply(samples, fold))
    plan = _plan(stages, cfg)
    by_stage: dict[str, list[dict]] = {stage.name: [] for stage in plan}
    for i, fold in enumerate(folds):
        log.info("%s (%d/%d): test %s", fold.name, i + 1, len(folds), ", ".join(fold.test))
        train, val, test = (make_dataset(part) for part in parts(fold))
        seed_everything(cfg.seed + i)  # the initial weights too, not only what fit() draws
        model = build_model()
        for stage in plan:
            stage.prepare(model)
            history = fit(model, train, val, replace(stage.cfg, seed=stage.cfg.seed + i), labels=labels)
            report = evaluate(
                model,
                test,
                labels,
                batch_size=stage.cfg.batch_size,
                multilabel=stage.cfg.multilabel,
                threshold=stage.cfg.threshold,
            )
            by_stage[stage.name].append(
                dict(
                    report,
                    fold=fold.name,
                    train=fold.train,
                    val=fold.val,
                    test=fold.test,
                    best_epoch=history.best_epoch,
                    history=history.to_dict(),
                )
            )
        if keep_model is not None:
            keep_model(fold, model, report)
    results = {
        name: {"summary": mean_std([_scores(f) for f in fold_runs]), "folds": fold_runs}
        for name, fold_runs in by_stage.items()
    }
    last = results[plan[-1].name]
    return dict(last, stages=results) if stages else last


def chance_baseline(
    samples: Sequence[Sample] | Parts, folds: Sequence[Fold], labels: Sequence[str], seed: int = 0
) -> dict[str, Any]:
    """The random-prediction row: each test clip of each fold gets a class drawn uniformly at random.

    Scored like :func:`cross_validate` on the same test speakers (``{"folds", "summary"}``), so a
    table can show what a model adds to chance under the same class balance.
    """
    parts = samples if callable(samples) else (lambda fold: apply(samples, fold))
    fold_runs = []
    for i, fold in enumerate(folds):
        truth = [s.label for s in parts(fold)[2]]
        guesses = np.random.default_rng(seed + i).integers(len(labels), size=len(truth))
        report = classification_report(truth, [labels[g] for g in guesses], labels)
        fold_runs.append(dict(report, fold=fold.name, test=fold.test))
    return {"summary": mean_std([_scores(f) for f in fold_runs]), "folds": fold_runs}


def train_final(
    samples: Sequence[Sample] | Parts,
    split: Fold,
    make_dataset: MakeDataset,
    build_model: BuildModel,
    labels: Sequence[str],
    cfg: TrainConfig,
    stages: Sequence[Stage] | None = None,
) -> tuple[nn.Module, History | dict[str, History], dict]:
    """Train the model that gets published: training speakers, early stopping on validation ones.

    Returns the model, its history (with ``stages``: ``{stage name: History}``) and its report on
    the validation speakers (not a test score: they chose the epoch).
    """
    parts = samples(split) if callable(samples) else apply(samples, split)
    train, val, _ = (make_dataset(part) if part else None for part in parts)
    seed_everything(cfg.seed)
    model = build_model()
    histories = {}
    for stage in _plan(stages, cfg):
        stage.prepare(model)
        histories[stage.name] = fit(model, train, val, stage.cfg, labels=labels)
    report = evaluate(model, val, labels, batch_size=cfg.batch_size, multilabel=cfg.multilabel, threshold=cfg.threshold)
    return model, (histories if stages else histories[""]), report


def _plan(stages: Sequence[Stage] | None, cfg: TrainConfig) -> list[Stage]:
    """The stages to run: as given, or one unnamed stage that trains everything with ``cfg``."""
    return list(stages) if stages else [Stage("", cfg, lambda model: None)]


def _scores(fold_result: Mapping[str, Any]) -> dict[str, Any]:
    """A fold's report without its bookkeeping (speakers, history)."""
    return {k: v for k, v in fold_result.items() if k not in ("history", "fold", "train", "val", "test", "best_epoch")}


def standard_protocol(dataset: str, samples: Sequence[Sample]) -> tuple[list[Fold], Fold]:
    """The folds every architecture uses on ``dataset`` and the split of its final model.

    RAVDESS: the committed 5-fold-by-actor and final splits (actors 01-20, seed 0). IEMOCAP:
    leave one session out over the sessions present (on the full release, the committed
    ``splits/iemocap_loso.json``). CMU-MOSEI: its standard train / valid / test folds. Anything else: 5 folds by
    speaker, seed 0, made here.
    """
    from emodemo.data import splits

    if dataset == "ravdess":
        return splits.load_splits(splits.RAVDESS_KFOLD), splits.load_splits(splits.RAVDESS_FINAL)[0]
    if dataset == "iemocap":
        return splits.leave_one_session_out(samples), splits.final_split(samples)
    if dataset == "cmu_mosei":  # the release's folds (by video): train / valid / test
        return [splits.OFFICIAL], splits.OFFICIAL
    return splits.kfold_by_speaker(samples, k=5, seed=0), splits.final_split(samples)


EPOCH_KEEP = ("epoch", "train_loss", "val_loss", "lr", "seconds")
VAL_KEEP = ("WA", "UA", "WF1", "UF1")


def merge_fold_runs(
    runs: Sequence[Mapping[str, Any]], summaries: Mapping[str, Callable[[list[dict]], Any]] | None = None
) -> dict[str, Any]:
    """One cross-validation result from runs that each did some folds (``train --folds i``, e.g.
    in parallel): folds in name order, the mean/std summary over all of them, and each fold's
    history cut down to the curves (loss, lr, seconds and the validation WA/UA/WF1/UF1 per epoch).
    Staged runs (``"stages"``) are merged stage by stage, chance rows (``"chance"``,
    :func:`chance_baseline`) and mixed pairs' halves (``"by_pairing"``: ``{pairing: {"summary",
    "folds"}}``) fold by fold.

    ``summaries``: a recipe's own summaries of its folds (``{key: function of the folds}``, as ``mesm``'s
    ``per_emotion``), computed again over the merged folds where the runs recorded them.
    Everything else a run recorded (``pairing`` ...) must agree between runs and is kept.
    """
    summaries = summaries or {}
    folds: dict[str, dict] = {}
    shared: dict[str, Any] = {}
    for run in runs:
        for key, value in run.items():
            if key in ("folds", "cross_validation", "summary", "stages", "chance", "by_pairing", *summaries):
                continue
            if key in shared and shared[key] != value:
                raise ValueError(f"runs disagree on {key!r}: {shared[key]!r} vs {value!r}")
            shared[key] = value
        for fold in run["folds"]:
            if fold["fold"] in folds:
                raise ValueError(f"{fold['fold']} appears in two runs")
            folds[fold["fold"]] = dict(fold, history=_curves(fold["history"]))
    ordered = [folds[name] for name in sorted(folds)]
    merged = dict(shared, cross_validation=mean_std([_scores(fold) for fold in ordered]), folds=ordered)
    merged.update({key: summary(ordered) for key, summary in summaries.items() if all(key in run for run in runs)})
    if all("chance" in run for run in runs):
        merged["chance"] = _pooled_folds([run["chance"] for run in runs])
    if all("by_pairing" in run for run in runs):
        merged["by_pairing"] = {
            name: _pooled_folds([run["by_pairing"][name] for run in runs]) for name in runs[0]["by_pairing"]
        }
    if any("stages" in run for run in runs):
        names = list(runs[0].get("stages", {}))
        merged["stages"] = {name: merge_fold_runs([run["stages"][name] for run in runs], summaries) for name in names}
    return merged


def _pooled_folds(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"summary", "folds"}`` results of disjoint folds as one: folds in name order, summary over all."""
    folds = sorted((f for result in results for f in result["folds"]), key=lambda f: f["fold"])
    return {"summary": mean_std([_scores(f) for f in folds]), "folds": folds}


def _curves(history: Mapping[str, Any]) -> dict[str, Any]:
    epochs = [
        dict({k: e[k] for k in EPOCH_KEEP}, val={k: e["val_metrics"][k] for k in VAL_KEEP}) for e in history["epochs"]
    ]
    return dict({k: v for k, v in history.items() if k != "epochs"}, epochs=epochs)
