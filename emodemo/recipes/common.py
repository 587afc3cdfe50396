"""What several recipes share: the RAVDESS pairings with their folds, label sets, licences, the quick
mode, and the cross-validation, final-model and text-benchmark steps of their protocols.

Every recipe trains through these steps: :func:`chosen_folds` (which folds a run trains),
:func:`cross_validation_metrics` (the folds, their summary and the chance row),
:func:`final_model` (the published model and its card's metrics) and, on a text corpus,
:func:`text_benchmark_train` (official splits, test scored once, the checkpoint saved). ``--quick``
means the same in every recipe: :data:`QUICK_FOLDS` fold and :data:`QUICK_EPOCHS` epochs
(:func:`epochs_for`); an SVM recipe has no epochs, a recipe without folds trains once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emodemo.core.labels import CANONICAL7, IEMOCAP4
from emodemo.data.cmu_mosei import MOSEI6
from emodemo.recipes.contract import as_flag  # recipes read their yes/no settings with it too
from emodemo.recipes.training_copies import with_copies

log = logging.getLogger(__name__)

# the classes a model trained on each dataset predicts (RAVDESS calm counts as neutral)
DATASET_LABELS = {
    "ravdess": CANONICAL7,
    "iemocap": IEMOCAP4,
    "goemotions": CANONICAL7,
    "meld": CANONICAL7,
    "cmu_mosei": MOSEI6,
}
MULTILABEL_DATASETS = ("cmu_mosei",)  # a clip carries any number of emotions
NORMALISED = "normalised (DC removed, voiced region, -23 LUFS)"  # a card's words for emodemo.inputs.normalise
# the terms of the pre-trained parts inside the weights (see licence())
WHISPER_TINY_LICENCE = "Whisper tiny.en: MIT"
WHISPER_BASE_LICENCE = "Whisper base: MIT"
MINILM_LICENCE = "all-MiniLM-L6-v2: Apache-2.0"
GLOVE_LICENCE = "GloVe 6B: PDDL"

# --quick, in every recipe: a smoke run of the same code path (a minute or two per model on 2 CPU cores)
QUICK_FOLDS = 1
QUICK_EPOCHS = 2


def copies_asked(pitch_copies, pitch_tempo_copies, no_sound: str | None = None) -> str | None:
    """The training-copies chain a recipe's ``pitch_copies`` / ``pitch_tempo_copies`` flags ask
    :func:`paired_parts` for (``"pitch"``, ``"pitch_tempo"`` or None); a ``ValueError`` for both at once (each adds
    one copy per pair) or for either beside ``no_sound``, the option that leaves the model no sound to change (e.g.
    ``"mode=text"``), when it is set."""
    asked = [name for name, on in (("pitch", pitch_copies), ("pitch_tempo", pitch_tempo_copies)) if as_flag(on)]
    if asked and no_sound:
        raise ValueError(f"{asked[0]}_copies changes the clips' sound: it has no meaning with {no_sound}")
    if len(asked) > 1:
        raise ValueError("pitch_copies and pitch_tempo_copies each add one copy per pair: give one of them")
    return asked[0] if asked else None


def whisper_minilm_licences(speech_encoder_name: str) -> tuple[str, ...]:
    """The pre-trained encoders' licences of a model on Whisper ``speech_encoder_name`` (the frozen
    states' name, ``whisper-tiny.en`` or ``whisper-base``) and MiniLM's word pieces."""
    whisper = WHISPER_BASE_LICENCE if speech_encoder_name == "whisper-base" else WHISPER_TINY_LICENCE
    return (whisper, MINILM_LICENCE)


def parse_layers(text: str) -> tuple[int, ...] | None:
    """``"0-3"`` or ``"0,1,2,3"`` -> ``(0, 1, 2, 3)``; ``""`` or ``"all"`` -> None (every layer)."""
    text = str(text).strip()
    if text in ("", "all"):
        return None
    try:
        if "-" in text:
            first, last = (int(part) for part in text.split("-"))
            return tuple(range(first, last + 1))
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"layers is a range like 0-3, a list like 0,1,2,3 or 'all', not {text!r}") from None


def contiguous_layers(text: str, model: str) -> list[int] | None:
    """``--option layers=0-3``: the contiguous range of speech layers a model mixes (None: all)."""
    kept = parse_layers(text)
    if kept and list(kept) != list(range(kept[0], kept[-1] + 1)):
        raise ValueError(f"{model} mixes a contiguous range of layers (like 0-3), not {text!r}")
    return list(kept) if kept else None


def gate_note(spec: dict) -> str:
    """The card's words for a run's noise gate (``denoise_below_db``, ``steady_floor_below_db``; "" without one)."""
    below = spec.get("denoise_below_db")
    if below is None:
        return ""
    steady = spec.get("steady_floor_below_db")
    floor = "" if steady is None else f" and a steady noise floor (its quietest frames' levels within {steady:g} dB)"
    return (
        f"; a clip under {below:g} dB estimated SNR{floor} has its stationary noise gated out first (noisereduce), "
        "in training and in the app alike"
    )


def epochs_for(epochs: int | None, full: int, quick: bool) -> int:
    """The epochs a run trains: ``epochs`` when given, else :data:`QUICK_EPOCHS` in a quick run, else ``full``."""
    return epochs or (QUICK_EPOCHS if quick else full)


def paired_parts(
    model: str,
    dataset: str,
    root: str | Path,
    pairing: str,
    text_source: str,
    text_root: str | Path | None,
    seed: int,
    quick: bool = False,
    no_words: bool | str = False,
    neutral_lines: bool | str = False,
    neutral_share: float = 0.5,
    copies_chain: str | None = None,
):
    """``(samples or parts function, folds, final split, pairing name)`` for a pairing of RAVDESS clips
    (in a ``quick`` smoke run a quarter of them: :func:`quick_share`); with ``no_words``, a parts
    function with the clips' no-words pairs too (:func:`emodemo.protocols.pairing.with_unheard_words`);
    with ``neutral_lines``, ``neutral_share`` (half) of the training clips' own-words pairs left get a
    neutral written line (:func:`emodemo.protocols.pairing.with_neutral_lines`); with ``copies_chain``
    (``"pitch"`` or ``"pitch_tempo"``), every training pair is there once more with its clip made by that
    augmentation chain (:mod:`emodemo.recipes.training_copies`: read by models of frozen speech states), validation
    and test pairs as they are."""
    from emodemo import data
    from emodemo.data.splits import apply
    from emodemo.protocols import pairing as pairings
    from emodemo.speech.transcripts import words_read
    from emodemo.training.experiment import standard_protocol

    root, text_root = Path(root), Path(text_root) if text_root else None
    no_words, neutral_lines, neutral_share = as_flag(no_words), as_flag(neutral_lines), float(neutral_share)
    if dataset in ("iemocap", "cmu_mosei") and copies_chain:
        raise ValueError("training copies are made of RAVDESS pairings here, not of the talks' gold pairs")
    if dataset in ("iemocap", "cmu_mosei"):  # the talks' data: gold transcripts are the real pairs
        clips = [
            s
            for s in data.load(dataset, root, **({"classes": 4} if dataset == "iemocap" else {}))
            if s.audio is not None
        ]
        folds, final = standard_protocol(dataset, clips)
        return clips, folds, final, pairings.gold_pairing_name("IEMOCAP" if dataset == "iemocap" else "CMU-MOSEI")
    if dataset != "ravdess":
        raise ValueError(f"{model} trains on RAVDESS pairings or IEMOCAP, not {dataset!r}")
    clips = data.load("ravdess", root, calm_as_neutral=True)
    clips = quick_share(clips) if quick else clips
    folds, final = standard_protocol(dataset, clips)
    if pairing == "real" and not (no_words or neutral_lines or copies_chain):
        return pairings.real_pairs(clips, words_read(clips)), folds, final, pairings.REAL_PAIRING_NAME
    if pairing not in ("real", "constructed", "mixed"):
        raise ValueError(f"pairing must be 'real', 'constructed' or 'mixed', got {pairing!r}")
    if pairing == "constructed" and no_words:
        raise ValueError("no_words=1 drops a clip's own words: it needs real or mixed pairs")
    if pairing == "constructed" and neutral_lines:
        raise ValueError("neutral_lines=1 swaps a clip's own words for a neutral line: it needs real or mixed pairs")
    if (pairing != "real" or neutral_lines) and text_root is None:
        raise ValueError(f"{pairing} pairs need --option text_root=PATH (the GoEmotions or MELD folder)")
    transcripts = words_read(clips) if pairing != "constructed" else None

    @functools.cache
    def parts(fold):
        if pairing == "real":
            made = apply(pairings.real_pairs(clips, transcripts), fold)
        elif pairing == "mixed":
            made = pairings.mixed_pairs(clips, transcripts, fold, text_source, text_root, seed=seed)
        else:
            made = pairings.constructed_pairs(clips, fold, text_source, text_root, seed=seed)
        train, val, test = pairings.with_unheard_words(made, seed=seed) if no_words else made
        if neutral_lines:
            train = pairings.with_neutral_lines(train, text_source, text_root, seed, neutral_share)
        if copies_chain:
            train = with_copies(train, 1, copies_chain)
        return train, val, test

    if pairing == "real":
        name = pairings.REAL_PAIRING_NAME
    elif pairing == "mixed":
        name = pairings.mixed_pairing_name(text_source)
    else:
        name = pairings.constructed_pairing_name(text_source)
    name = pairings.no_words_pairing_name(name) if no_words else name
    if neutral_lines:
        name = pairings.neutral_lines_pairing_name(name, neutral_share)
    if copies_chain:
        name = f"{name}; each training pair once more with a {copies_chain} copy of its clip"
    return parts, folds, final, name


def quick_share(clips: list) -> list:
    """A quick smoke run's RAVDESS clips: each actor's takes of the first sentence, first repetition
    (15 of 60: every emotion and intensity), so that it trains the same code on every actor on a quarter
    of the clips."""
    return [s for s in clips if s.meta["statement"] == 1 and s.meta["repetition"] == 1]


def licence(dataset: str, pairing: str, text_source: str, pretrained: tuple[str, ...]) -> str:
    """The terms whoever reuses the weights inherits, from every corpus that trained them and the
    pre-trained parts inside them (``pretrained``, e.g. ``("GloVe 6B: PDDL",)``)."""
    parts = {
        "ravdess": "RAVDESS: CC BY-NC-SA 4.0 (non-commercial)",
        "iemocap": "IEMOCAP: research use under USC's licence agreement",
        "cmu_mosei": "CMU-MOSEI: research use (YouTube videos, terms of the CMU MultiComp Lab)",
        "goemotions": "GoEmotions: CC BY 4.0",
        "meld": "MELD: GPL-3.0",
    }[dataset].split(";")
    if dataset == "ravdess" and pairing in ("constructed", "mixed"):
        parts.append({"goemotions": "GoEmotions: CC BY 4.0", "meld": "MELD: GPL-3.0"}[text_source])
    return "; ".join(parts + list(pretrained))


def chosen_folds(folds: list, quick: bool, fold_ids=None) -> list:
    """The folds a run trains: the first :data:`QUICK_FOLDS` in a ``quick`` smoke run, else those
    ``fold_ids`` name (default all)."""
    folds = folds[:QUICK_FOLDS] if quick else folds
    return folds if fold_ids is None else [folds[i] for i in fold_ids]


def cross_validation_metrics(
    samples,
    folds,
    make,
    new_model,
    labels,
    cfg,
    seed: int,
    what: str,
    keep_model=None,
    stages=None,
    chance: bool = True,
) -> dict:
    """Cross-validate (:func:`emodemo.training.experiment.cross_validate`, ``keep_model`` and
    ``stages`` passed on) and add the random-prediction row on the same test speakers (unless
    ``chance`` is false); logs the summary (each stage's). Returns ``{"cross_validation", "folds",
    "stages" (staged runs), "chance"}`` (multi-label runs: no chance row)."""
    from emodemo.training.experiment import chance_baseline, cross_validate

    result = cross_validate(samples, folds, make, new_model, labels, cfg, keep_model=keep_model, stages=stages)
    s = result["summary"]
    metrics = {"cross_validation": s, "folds": result["folds"]}
    if stages:
        metrics["stages"] = result["stages"]
        for name, stage in result["stages"].items():
            t = stage["summary"]
            log.info(
                "%s, stage %s: %d-fold WA %.3f±%.3f UA %.3f±%.3f",
                what,
                name,
                len(folds),
                t["WA"]["mean"],
                t["WA"]["std"],
                t["UA"]["mean"],
                t["UA"]["std"],
            )
    if cfg.multilabel:
        log.info(
            "%s: %d fold(s) mean accuracy %.3f mean F1 %.3f mean WAcc %.3f",
            what,
            len(folds),
            s["mean_accuracy"]["mean"],
            s["mean_f1"]["mean"],
            s["mean_wacc"]["mean"],
        )
        return metrics
    log.info(
        "%s: %d-fold WA %.3f±%.3f UA %.3f±%.3f UF1 %.3f±%.3f",
        what,
        len(folds),
        s["WA"]["mean"],
        s["WA"]["std"],
        s["UA"]["mean"],
        s["UA"]["std"],
        s["UF1"]["mean"],
        s["UF1"]["std"],
    )
    if chance:
        metrics["chance"] = chance_baseline(samples, folds, labels, seed)
    return metrics


def fold_model_saver(folder: str | Path | None, recipe: str, card: dict, **checkpoint) -> Callable | None:
    """A ``keep_model`` callback that saves each cross-validation fold's model as a checkpoint
    ``folder/<fold name>`` (the card ``card`` plus the fold's train / validation / test speakers, its
    test report as metrics; ``checkpoint``: the rest of :func:`emodemo.training.checkpoint.save_checkpoint`'s
    arguments), so a harness can score each fold's test actors with a model that never heard them;
    None without a ``folder``."""
    from emodemo.training.checkpoint import save_checkpoint

    if not folder:
        return None

    def save(fold, model, report) -> None:
        speakers = dict(
            train_speakers=list(fold.train), validation_speakers=list(fold.val), test_speakers=list(fold.test)
        )
        save_checkpoint(
            Path(folder) / fold.name,
            model,
            model_name=recipe,
            data_card=dict(card, **speakers),
            metrics={"test": report},
            **checkpoint,
        )

    return save


def every_fold(*callbacks: Callable | None) -> Callable | None:
    """One ``keep_model`` callback calling each given one in turn (None ones skipped); None when none is."""
    chosen = [c for c in callbacks if c]
    if not chosen:
        return None

    def keep(fold, model, report) -> None:
        for callback in chosen:
            callback(fold, model, report)

    return keep


def final_model(samples, split, make, new_model, labels, cfg, stages=None):
    """The published model (:func:`emodemo.training.experiment.train_final`, through ``stages`` if
    given) and the metrics its card reports (a staged run's history per stage)."""
    from emodemo.training.experiment import train_final

    model, history, val_report = train_final(samples, split, make, new_model, labels, cfg, stages=stages)
    histories = {name: h.to_dict() for name, h in history.items()} if stages else history.to_dict()
    return model, {"final_validation_not_a_test_score": val_report, "final_history": histories}


def reports_by_pairing(model, samples, make, labels, batch_size: int) -> dict[str, dict]:
    """``{pairing: report}`` of ``model`` on each pairing's share of ``samples`` (by
    ``meta["pairing"]``; mixed pairs hold a constructed and a real half)."""
    from emodemo.training.engine import evaluate

    groups: dict[str, list] = {}
    for sample in samples:
        groups.setdefault(sample.meta.get("pairing", "real"), []).append(sample)
    return {name: evaluate(model, make(group), labels, batch_size=batch_size) for name, group in sorted(groups.items())}


class PairingScores:
    """Mixed pairs' test clips scored per pairing, fold by fold: given as ``keep_model`` to
    cross-validation, it scores each fold's test part (``parts(fold)[2]``) with
    :func:`reports_by_pairing`; :meth:`summary` gives ``{pairing: {"summary", "folds"}}``."""

    def __init__(self, parts, make, labels, batch_size: int):
        self.parts, self.make, self.labels, self.batch_size = parts, make, labels, batch_size
        self.folds: dict[str, list[dict]] = {}

    def __call__(self, fold, model, report=None) -> None:
        halves = reports_by_pairing(model, self.parts(fold)[2], self.make, self.labels, self.batch_size)
        for name, half in halves.items():
            self.folds.setdefault(name, []).append(dict(half, fold=fold.name))

    def summary(self) -> dict[str, dict]:
        return {name: summarised(runs) for name, runs in self.folds.items()}


def summarised(runs: list[dict]) -> dict[str, Any]:
    """``{"summary", "folds"}`` of the test reports of a pairing's folds (each with its ``fold`` name):
    mean ± std over the folds beside the reports."""
    from emodemo.core.metrics import mean_std

    return {"summary": mean_std([{k: v for k, v in r.items() if k != "fold"} for r in runs]), "folds": runs}


def served_final_extras(model, samples, split, make, labels, batch_size: int) -> tuple[dict, dict]:
    """What a served final model's card adds: ``(metrics, calibration)``. Metrics hold
    ``final_validation_by_pairing`` (the validation clips scored per pairing) when they mix
    pairings; the calibration (:func:`validation_calibration`) is fitted on the validation speakers'
    real pairs, the clip with its own words as the app reads it (on every pair when there is none).
    ``samples``: a list split by speakers or a parts function (:func:`paired_parts`)."""
    from emodemo.data.splits import apply

    val = (samples(split) if callable(samples) else apply(samples, split))[1]
    metrics = {}
    if len({s.meta.get("pairing", "real") for s in val}) > 1:
        metrics["final_validation_by_pairing"] = reports_by_pairing(model, val, make, labels, batch_size)
    real = [s for s in val if s.meta.get("pairing", "real") == "real"]
    calibration = validation_calibration(model, make(real or val), split.val)
    return metrics, dict(calibration, pairs="real (each clip with its own words)" if real else "every pair")


def validation_calibration(model, val_set, speakers) -> dict:
    """:func:`emodemo.training.calibration.calibrated_on` the model's answers to ``val_set`` (a dataset of
    the validation ``speakers``' clips)."""
    from emodemo.training.calibration import calibrated_on
    from emodemo.training.engine import predict

    probs, targets = predict(model, val_set)  # [N, C], [N]
    return calibrated_on(probs, targets, speakers)


def text_benchmark_run(recipe: str, benchmark: str, parts, make, new_model, labels, cfg, stages=None):
    """A model's text side alone on a text benchmark (:mod:`emodemo.protocols.text_benchmarks`): seeded, built
    by ``new_model()``, trained on the training part (``make(part)`` gives a part's dataset; the
    epoch chosen on the validation part), test scored once. Returns ``(model, metrics)``, metrics
    ``{"protocol", "sizes", "test", "best_epoch", "history"}``; with ``stages`` (staged training,
    :class:`emodemo.training.experiment.Stage`) the test is scored after each stage:
    ``{"protocol", "sizes", "stages": {name: {"test", "best_epoch", "history"}}, "test"}`` (the last stage's)."""
    from emodemo.protocols.text_benchmarks import DESCRIPTIONS
    from emodemo.training.engine import evaluate, fit, seed_everything

    metrics = {"protocol": DESCRIPTIONS[benchmark], "sizes": [len(p) for p in parts]}
    train_set, val_set, test_set = (make(part) for part in parts)
    seed_everything((stages[0].cfg if stages else cfg).seed)
    model = new_model()
    if stages:
        metrics["stages"] = {}
        for stage in stages:
            stage.prepare(model)
            history = fit(model, train_set, val_set, stage.cfg, labels=labels)
            report = evaluate(model, test_set, labels, batch_size=stage.cfg.batch_size)
            metrics["stages"][stage.name] = {
                "test": report,
                "best_epoch": history.best_epoch,
                "history": history.to_dict(),
            }
            log.info(
                "%s text-only on %s, stage %s: test WA %.3f UA %.3f UF1 %.3f",
                recipe,
                benchmark,
                stage.name,
                report["WA"],
                report["UA"],
                report["UF1"],
            )
        metrics["test"] = metrics["stages"][stages[-1].name]["test"]
        return model, metrics
    history = fit(model, train_set, val_set, cfg, labels=labels)
    metrics.update(
        test=evaluate(model, test_set, labels, batch_size=cfg.batch_size),
        best_epoch=history.best_epoch,
        history=history.to_dict(),
    )
    log.info(
        "%s text-only on %s: test WA %.3f UA %.3f UF1 %.3f",
        recipe,
        benchmark,
        metrics["test"]["WA"],
        metrics["test"]["UA"],
        metrics["test"]["UF1"],
    )
    return model, metrics


def text_only(benchmark: str, alone: bool, option: str) -> None:
    """Refuse a text benchmark run of a model that is not its text side alone (``option`` makes it so)."""
    if not alone:
        raise ValueError(f"{benchmark} has no audio: train it with --option {option}")


def text_benchmark_train(
    recipe: str,
    benchmark: str,
    parts,
    make,
    new_model,
    labels,
    cfg,
    *,
    out: Path,
    final: bool,
    model_kwargs: dict,
    input_spec: dict,
    inputs: str,
    pretrained: tuple[str, ...],
    variant: dict | None = None,
    stages=None,
    half: bool = False,
) -> dict:
    """The one text-benchmark path of every recipe: :func:`text_benchmark_run` on the benchmark's
    official ``parts`` (``variant`` added to the metrics), then, with ``final``, the model saved at
    ``out`` with its card (the benchmark's protocol, the licences of the corpus and of the
    ``pretrained`` parts, the ``inputs`` it reads). Returns the metrics."""
    from emodemo.protocols.text_benchmarks import DESCRIPTIONS
    from emodemo.training.checkpoint import save_checkpoint

    model, metrics = text_benchmark_run(recipe, benchmark, parts, make, new_model, labels, cfg, stages=stages)
    if variant is not None:
        metrics["variant"] = variant
    if final:
        card = {
            "dataset": benchmark,
            "protocol": DESCRIPTIONS[benchmark],
            "licence": licence(benchmark, "real", benchmark, pretrained),
            "inputs": inputs,
        }
        save_checkpoint(
            out,
            model,
            model_name=recipe,
            model_kwargs=model_kwargs,
            labels=list(labels),
            data_card=card,
            metrics=metrics,
            train_cfg=stages[-1].cfg if stages else cfg,
            input_spec=input_spec,
            half=half,
        )
    return metrics
