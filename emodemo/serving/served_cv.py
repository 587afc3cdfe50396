"""A served run's cross-validation as the app serves it: each fold model on its own test actors, the
words read as the app reads them.

A training run scores each fold's test clips as it trained on them. The app reads words through two
rules that the served runs, trained before them, did not apply to their test clips:

* words Whisper only guessed (:meth:`emodemo.speech.asr.Transcript.as_read`) are read as none
  (training applies it too since; 7 of RAVDESS's 1,440 transcripts are guesses);
* a model that learnt to read no words reads none where the words expert hears no emotion in them
  (the words gate, :mod:`emodemo.serving.words_gate`).

:func:`scored_as_served` scores the committed fold models of a served voice + words checkpoint
again, on the very test parts their run scored (:func:`fold_parts`: RAVDESS actors 01-20, the
committed 5 folds by actor, 7 classes with calm counted as neutral, the run's seeded draw of lines for
the constructed half), each pairing apart, through :func:`emodemo.serving.evaluation.predicted` as
every score of a served checkpoint is. The result has the training run's ``by_pairing`` layout
(``{pairing: {"summary", "folds"}}``, mean ± std over the test folds), so that the comparison, the
README's headline and the generalisation harness read the served models' in-corpus numbers from it
(``python -m emodemo cv-as-served MODEL``, written to ``checkpoints/MODEL/cv/as_served.json``). Where
every fold model was calibrated on its own fold's validation actors as the served checkpoint was
(``python -m emodemo calibrate FOLD_MODEL [--perturbed]``), it also holds the calibration error of the
answers pooled over the test folds, before and after (:func:`pooled_calibration`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from emodemo.serving.pipeline import CHECKPOINTS
from emodemo.speech import asr
from emodemo.training.calibration import fit_temperature

AS_SERVED = "as_served.json"  # under the checkpoint's cv/ folder
CARD_KEY = "by_pairing_as_served"  # the same numbers in the checkpoint's metrics (its card)
READINGS = ("constructed", "real", "none")  # a clip with a written line of its emotion, with its own words, with none


class FoldAnswers(NamedTuple):
    """One fold model's answers to one reading of its test part, and what calibrates them."""

    probs: np.ndarray  # [N, C], softmax at temperature 1
    targets: np.ndarray  # [N] class ids
    temperature: float | None  # the fold model's own (as its served checkpoint's was fitted); None: never calibrated
    clean_temperature: float | None  # fitted on its validation actors' clean clips alone, for comparison
    unsure_line: float | None  # its "unsure" line; None: it has none


def readings(meta: dict) -> list[str]:
    """The readings of the test clips the served checkpoint's run made (its card's pairing), in :data:`READINGS`
    order: both halves of mixed pairs or real ones alone, and none for a run that learnt to read no words (a
    pair's mean of :mod:`emodemo.serving.pairs` too, whose card holds no scores yet when it is first scored)."""
    how = run_pairing(meta)
    made = {"constructed", "real"} if how["pairing"] == "mixed" else {"real"}
    return [r for r in READINGS if r in made | ({"none"} if how["no_words"] else set())]


def run_pairing(meta: dict) -> dict[str, Any]:
    """How the checkpoint's run paired its clips, from its card: the arguments of
    :func:`emodemo.recipes.common.paired_parts` (``pairing``, ``text_source``, ``seed``, ``no_words``)."""
    from emodemo.protocols import pairing

    card = meta.get("data_card") or {}
    name = card.get("pairing") or ""
    if card.get("dataset") != "ravdess":
        raise ValueError("only a run cross-validated on RAVDESS can be scored again on its test actors")
    kind = next((k for k in ("mixed", "real") if name.startswith(k)), None)
    if kind is None:
        raise ValueError(f"a run on {name!r}: the app gives a model a clip's own words, scored on mixed or real pairs")
    sources = [s for s, shown in pairing.TEXT_SOURCES.items() if kind == "mixed" and f"a {shown} line" in name]
    return {
        "pairing": kind,
        "text_source": sources[0] if sources else "goemotions",
        "seed": run_seed(meta),
        "no_words": pairing.learnt_no_words(name),
    }


def run_seed(meta: dict) -> int:
    """The seed a checkpoint's run trained with (its card's training configuration; 0 when it has none)."""
    return int((meta.get("train_config") or {}).get("seed", 0))


def with_seed(meta: dict, seed: int) -> dict:
    """``meta`` with its training seed set to ``seed`` (a fold model trained in its own process with its own)."""
    return {**meta, "train_config": {**(meta.get("train_config") or {}), "seed": seed}}


def fold_parts(meta: dict, root: Path, text_root: Path | None) -> tuple[list, dict[str, tuple[list, list]]]:
    """``(folds, {fold name: (validation clips with their own words, test pairs)})``: each fold's parts as
    the served checkpoint's run made them (:func:`emodemo.recipes.common.paired_parts` with its card's
    pairing, :func:`run_pairing`) from the RAVDESS clips under ``root``, the words as the app reads them;
    the validation actors' clips as a temperature is fitted on them (``calibrate``)."""
    from emodemo.data.splits import apply
    from emodemo.recipes.common import paired_parts

    how = run_pairing(meta)
    if how["pairing"] == "mixed" and text_root is None:
        raise ValueError("its constructed half needs the lines it was paired with: give --text-root")
    made, folds, _, _ = paired_parts(
        meta["model_name"],
        "ravdess",
        root,
        how["pairing"],
        how["text_source"],
        text_root,
        how["seed"],
        no_words=how["no_words"],
    )  # neutral lines (a training option) change the training part alone: left out
    split = made if callable(made) else lambda fold: apply(made, fold)
    own = lambda part: [s for s in part if s.meta.get("pairing", "real") == "real"]
    return folds, {fold.name: (own(split(fold)[1]), split(fold)[2]) for fold in folds}


def scored_as_served(
    name: str,
    root: str | Path,
    text_root: str | Path | None = None,
    checkpoints: Path = CHECKPOINTS,
    only: list[str] | None = None,
    fold_models: str | Path | None = None,
) -> dict[str, Any]:
    """Served checkpoint ``name``'s fold models (:func:`emodemo.serving.cross_corpus.fold_checkpoints`;
    with ``fold_models``, those under that folder, ``fold<k>``: fold models too large to commit, kept where
    their run wrote them), each on its fold's test part of the RAVDESS clips under ``root``
    (:func:`fold_parts`, drawn with the fold model's own seed: a fold trained in its own process drew its own
    lines) as served:
    ``{"model", "protocol", "fold_models", "by_pairing": {pairing: {"summary", "folds"}}, "words_gate":
    {pairing: clips whose words it took} or None, "calibration": {pairing: ...}}``; ``only``: these folds'
    names (default: every fold)."""
    from emodemo.core.metrics import classification_report
    from emodemo.recipes.common import summarised
    from emodemo.serving import evaluation, load_models, words_gate
    from emodemo.serving.cross_corpus import fold_checkpoints
    from emodemo.serving.pipeline import unsure_line
    from emodemo.training.checkpoint import read_checkpoint_config

    meta = read_checkpoint_config(Path(checkpoints) / name)
    paths = fold_checkpoints(name, checkpoints, Path(fold_models) if fold_models else None)
    folds, parts = fold_parts(meta, Path(root), Path(text_root) if text_root else None)
    folds = [f for f in folds if only is None or f.name in only]
    missing = [f.name for f in folds if f.name not in paths]
    if missing:
        home = Path(fold_models) if fold_models else Path(checkpoints) / name
        raise FileNotFoundError(f"{name} has no model of {', '.join(missing)} under {home}")
    seeds = {f.name: run_seed(read_checkpoint_config(paths[f.name])) for f in folds}
    for seed in sorted(set(seeds.values()) - {run_seed(meta)}):  # a fold run with its own seed drew its own lines
        _, drawn = fold_parts(with_seed(meta, seed), Path(root), Path(text_root) if text_root else None)
        parts.update({fold_name: drawn[fold_name] for fold_name, s in seeds.items() if s == seed})
    per_pairing: dict[str, list[dict]] = {}
    taken: dict[str, int] = {}
    answers: dict[str, list[FoldAnswers]] = {}  # reading -> one per fold
    for fold in folds:
        loaded = load_models([str(paths[fold.name])])[0]
        space = evaluation.scoring_labels(loaded.labels)
        validation, test = parts[fold.name]
        served_fit = (loaded.meta.get("calibration") or {}).get("temperature")
        clean_fit = None
        if served_fit is not None:  # for comparison: a temperature fitted on the clean validation clips alone
            val_probs, val_targets = evaluation.predicted(loaded, validation)  # [V, C], as calibrate reads them
            clean_fit = fit_temperature(np.log(np.clip(val_probs, 1e-12, None)), val_targets)
        for reading in readings(meta):
            pairs = [s for s in test if s.meta.get("pairing", "real") == reading]
            read = evaluation.through_words_gate(loaded, pairs)
            taken[reading] = taken.get(reading, 0) + sum(bool(a.text) and not b.text for a, b in zip(pairs, read))
            probs, targets = evaluation.predicted(loaded, read, gate=False)  # [N, C]; the gate is applied: read
            answers.setdefault(reading, []).append(
                FoldAnswers(probs, targets, served_fit, clean_fit, unsure_line(loaded.meta))
            )
            report = classification_report(
                [evaluation.scored_as(loaded.labels[t], space) for t in targets],
                [evaluation.scored_as(loaded.labels[p], space) for p in probs.argmax(axis=1)],
                space,
            )
            per_pairing.setdefault(reading, []).append(dict(report, fold=fold.name))
    return {
        "model": name,
        "protocol": (
            "RAVDESS actors 01-20, the committed 5 folds by actor, 7 classes (calm counted as neutral); each fold "
            "model on its own fold's 4 test actors, the test part its run scored (the same draw of lines), the "
            f"words as the app reads them ({asr.described()}): none where Whisper guessed them"
            + (", and through the words gate" if words_gate.gated(meta) else "")
            + "; mean ± std over the test folds"
        ),
        "fold_models": [fold_label(paths[f.name], Path(checkpoints) / name) for f in folds],
        "by_pairing": {reading: summarised(runs) for reading, runs in per_pairing.items()},
        "words_gate": taken if words_gate.gated(meta) else None,
        "calibration": {reading: pooled_calibration(per_fold) for reading, per_fold in answers.items()},
    }


def pooled_calibration(per_fold: list[FoldAnswers]) -> dict[str, Any] | None:
    """Top-label ECE (15 bins) and reliability bins of the fold models' answers pooled over the test folds: raw
    (temperature 1), at each fold model's own temperature (fitted on its fold's validation actors as the served
    checkpoint's was: ``python -m emodemo calibrate FOLD_MODEL [--perturbed]``), and, for comparison, at a
    temperature fitted on those actors' clean clips alone; and how the app's "unsure" line holds on actors it
    was not chosen on (each fold model's own line, chosen for 80 % right on its validation actors: the share
    of test clips answered over it, and how many of those are right). None when a fold model has no
    temperature of its own."""
    from emodemo.training.calibration import expected_calibration_error, reliability, softmax

    if any(f.temperature is None for f in per_fold):
        return None
    targets = np.concatenate([f.targets for f in per_fold])  # [N] over the folds
    raw = np.concatenate([f.probs for f in per_fold])  # [N, C]
    at = lambda temperatures: np.concatenate(  # [N, C], each fold's answers at its own temperature
        [softmax(np.log(np.clip(f.probs, 1e-12, None)), t) for f, t in zip(per_fold, temperatures)]
    )
    served = [float(f.temperature) for f in per_fold]
    clean = [float(f.clean_temperature) for f in per_fold]
    calibrated = at(served)
    bins = lambda probs: {
        k: [None if np.isnan(v) else float(v) for v in a] for k, a in reliability(probs, targets).items()
    }
    return {
        "temperatures": served,
        "ece_raw": expected_calibration_error(raw, targets),
        "ece_calibrated": expected_calibration_error(calibrated, targets),
        "reliability_raw": bins(raw),
        "reliability_calibrated": bins(calibrated),
        "temperatures_clean_fit": clean,
        "ece_clean_fit": expected_calibration_error(at(clean), targets),
        "unsure": answered_over_the_line(calibrated, targets, [(len(f.targets), f.unsure_line) for f in per_fold]),
    }


def answered_over_the_line(probs: np.ndarray, targets: np.ndarray, lines: list[tuple[int, float | None]]) -> dict:
    """``{"lines", "answered", "accuracy_answered"}`` of calibrated answers ``[N, C]`` pooled over folds, each
    fold's ``(clips, "unsure" line)`` in order: the share of clips whose top probability reaches their fold's
    line (as the app answers them), and the accuracy of those (None when none is answered); lines None where a
    fold model has none (every clip answered)."""
    line = np.concatenate([np.full(n, 0.0 if t is None else t) for n, t in lines])  # [N]
    answered = probs.max(axis=1) >= line
    right = probs.argmax(axis=1) == targets
    return {
        "lines": [None if t is None else float(t) for _, t in lines],
        "answered": float(answered.mean()),
        "accuracy_answered": float(right[answered].mean()) if answered.any() else None,
    }


def fold_label(path: Path, checkpoint: Path) -> str:
    """Where a fold model lies, as saved: its path under its checkpoint's folder (``folds/fold0``), else
    under the repository (``runs/...``), else its own folder's name; never a path of this machine."""
    for home in (checkpoint, CHECKPOINTS.parent):
        if path.resolve().is_relative_to(home.resolve()):
            return path.resolve().relative_to(home.resolve()).as_posix()
    return path.name


def served_name(folder: Path) -> str:
    """A checkpoint folder's served name: its path under the nearest ``checkpoints`` folder above it
    (``ssl_mha/cross``), else the folder's own name; never a path of this machine."""
    parts = folder.resolve().parts
    home = max((k for k, part in enumerate(parts) if part == CHECKPOINTS.name), default=None)
    return "/".join(parts[home + 1 :]) if home is not None else folder.name


def write_as_served(
    model: str, root: str | Path, text_root: str | Path | None = None, fold_models: str | Path | None = None
) -> Path:
    """:func:`scored_as_served` on every RAVDESS clip under ``root`` for ``model`` (a served name or a
    checkpoint folder; ``fold_models``: its fold models' folder when they are kept outside it), saved as
    ``<checkpoint>/cv/as_served.json`` and into the checkpoint's card (:data:`CARD_KEY`, beside its
    training run's ``by_pairing``); returns the file's path."""
    from emodemo.training.checkpoint import add_metrics

    folder = Path(model) if (Path(model) / "config.json").is_file() else CHECKPOINTS / model
    scored = scored_as_served(folder.name, root, text_root, folder.parent, fold_models=fold_models)
    result = {**scored, "model": served_name(folder)}
    out = folder / "cv" / AS_SERVED
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    ece = {  # top-label ECE pooled over the test folds: raw -> at each fold model's temperature
        reading: f"{c['ece_raw']:.3f} -> {c['ece_calibrated']:.3f} (fit on clean takes alone: {c['ece_clean_fit']:.3f})"
        for reading, c in result["calibration"].items()
        if c is not None
    }
    card = {CARD_KEY: result["by_pairing"], f"{CARD_KEY}_protocol": result["protocol"]}
    add_metrics(folder, {**card, **({f"{CARD_KEY}_ece": ece} if ece else {})}, overwrite=True)
    return out
