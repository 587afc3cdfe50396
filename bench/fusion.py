"""Does the fused answer beat its best expert? Equal-weight mean vs five learned fusions (issue 20).

Protocol: RAVDESS actors 01-20, the committed 5 folds by actor, 7 classes (calm = neutral). The
voice expert is a speech-probe variant's fold models (``bench/speech_probe_ablation.py`` trains
them; each calibrated on its validation actors); the words expert is a served words-only
checkpoint (trained on text corpora only, so no RAVDESS actor was ever its training data),
reading Whisper's words of each clip (real pairs) or a GoEmotions test line of the clip's emotion
(constructed pairs). Every answer about a RAVDESS clip comes from the fold model that never heard
its actor. Per fold the :class:`emodemo.serving.fusion.Stacker` (a 7 x 7 matrix per modality, one
weight per modality and a bias per class: ``Stacker.fit_weights``, the same with no bias:
``bias=False``, or one weight per modality and class: ``per_class``, with or without the bias) is
fitted on validation actors' mixed pairs (each clip with both texts), either the fold's own 2
(240 pairs) or, "pooled", every fold's validation actors that are not among this fold's test
actors (8 actors, 960 pairs, each answered by its own fold's model), and scored on the fold's 4
test actors, each pairing apart; TESS choose half (words 1-25, 350 clips) is scored with each
fold's voice model, the words expert on Whisper's words, and that fold's stacker. Each rule is
also fitted on all 5 folds' validation actors (10 actors, 1,200 pairs; its weights kept in the
results as ``final_fits``); the one ``--save`` names is written to ``checkpoints/fusion/stacker.json``.
``--report RULE`` scores the TESS report half (words 26-50) once, for the final choice, per fold and
as the app serves it. With ``--save``, the saved rule is also scored as the app serves it on the
TESS choose half: the served voice expert (the fold probes' mean) and the words expert, fused, with
its "unsure" line (the words left out where Whisper was guessing them, as the app does).

    python bench/fusion.py --voice checkpoints/speech_probe --words words_minilm \\
        --root ../shared/datasets/ravdess_speech --goemotions ../shared/datasets/goemotions \\
        --tess ../shared/datasets/tess --save "learned weights, no class bias"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emodemo.core import CANONICAL7, classification_report  # noqa: E402
from emodemo.serving import Stacker, canonical_probabilities, fuse  # noqa: E402

RESULTS = REPO / "bench" / "results" / "fusion.json"
REPORT = REPO / "bench" / "results" / "fusion_tess_report.json"
STACKER = REPO / "checkpoints" / "fusion" / "stacker.json"
MODALITIES = ("audio", "text")
FITS = {  # the learned fusions, each fitted on held-out actors' mixed pairs
    "learned stacker": Stacker.fit,
    "learned weights": Stacker.fit_weights,
    "learned per-class weights": lambda *args, **kwargs: Stacker.fit_weights(*args, per_class=True, **kwargs),
    "learned weights, no class bias": lambda *args, **kwargs: Stacker.fit_weights(*args, bias=False, **kwargs),
    "learned per-class weights, no class bias": lambda *args, **kwargs: Stacker.fit_weights(
        *args, per_class=True, bias=False, **kwargs
    ),
}
OWN = ""  # each fold's rule fitted on its own 2 validation actors (240 pairs)
POOLED = ", pooled validation actors"  # ... on every fold's validation actors outside its test actors (8 here)


def answers_of(model, samples, gate: bool = True) -> list[dict[str, float]]:
    """Canonical calibrated probabilities of a checkpoint (folder or served name, or loaded) for each sample,
    its words read through the words gate as the app reads them (``gate=False``: as given)."""
    from emodemo.serving import evaluation, load_models

    loaded = load_models([str(model)])[0] if isinstance(model, (str, Path)) else model
    probs, _ = evaluation.calibrated(loaded, samples, gate)
    return [canonical_probabilities(list(zip(loaded.labels, row))) for row in probs]


def paired_answers(voice: str, words: str, pairs) -> list[dict[str, dict[str, float]]]:
    """``[{"audio": ..., "text": ...}]`` for (clip, text) samples."""
    return [{"audio": a, "text": t} for a, t in zip(answers_of(voice, pairs), answers_of(words, pairs))]


def top(answer: dict[str, float]) -> str:
    return max(answer.items(), key=lambda kv: kv[1])[0]


def scores(answers, truth) -> dict:
    rules = {
        "voice alone": lambda a: a["audio"],
        "words alone": lambda a: a["text"],
        "mean (equal weights)": lambda a: fuse(a, {"audio": 1, "text": 1}),
    }
    out = {}
    for name, rule in rules.items():
        report = classification_report(truth, [top(rule(a)) for a in answers], CANONICAL7)
        out[name] = {"WA": report["WA"], "UA": report["UA"]}
    return out


def real_pairs_of(parts, real: dict) -> tuple[list, list]:
    """``(answers, truth)`` of the real pairs among validation ``parts`` ``[(answers, truth, fold name)]``
    (``real[fold name]`` flags each pair)."""
    kept = [(a, t) for answers, truth, name in parts for a, t, r in zip(answers, truth, real[name]) if r]
    return [a for a, _ in kept], [t for _, t in kept]


def fused_probabilities(stacker: Stacker, answers) -> np.ndarray:
    """``[N, 7]`` the stacker's canonical probabilities for each clip's experts' answers."""
    return np.array([[stacker(a)[label] for label in CANONICAL7] for a in answers])


def trust(probs: np.ndarray, targets: np.ndarray, line: float | np.ndarray) -> dict:
    """How far fused answers ``probs [N, 7]`` with true classes ``targets [N]`` can be trusted: top-label
    ECE (15 bins) with its bootstrap interval and what a calibrated model would show (mean, 2.5 and
    97.5 %), the share of clips at or above the "unsure" ``line`` (one per clip or one for all) and
    their accuracy."""
    from emodemo.training import calibration

    answered = probs.max(axis=1) >= line
    right = probs.argmax(axis=1) == targets
    spread = calibration.ece_uncertainty(probs, targets)
    return {
        "ECE": round(calibration.expected_calibration_error(probs, targets), 4),
        "ECE 95 % interval": [round(spread["low"], 4), round(spread["high"], 4)],
        "ECE if calibrated": [round(spread[k], 4) for k in ("if_calibrated", "calibrated_low", "calibrated_high")],
        "answered": round(float(answered.mean()), 4),
        "accuracy answered": round(float(right[answered].mean()), 4) if answered.any() else None,
    }


def as_served(stacker: Stacker, voice: str, words: str, pairs) -> dict:
    """What the app shows on new voices: the served ``voice`` expert (the fold probes' mean) and the
    ``words`` expert fused by ``stacker`` (a rule fitted on every fold's validation actors) on
    ``pairs``, made as the app makes it (:func:`emodemo.serving.fused_answers`: the words left out
    where Whisper heard none or was guessing them): WA, UA and :func:`trust` at its "unsure" line
    (those few voice-only answers counted at it too, where the app points to the voice expert's own
    line)."""
    from emodemo.serving import fused_answers, load_models

    result = fused_answers(*load_models([voice, words]), stacker, pairs, "tess")
    probs = np.array([[fused[label] for label in CANONICAL7] for fused in result["fused"]])  # [N, 7]
    truth = [s.label for s in result["samples"]]
    report = classification_report(truth, [CANONICAL7[i] for i in probs.argmax(axis=1)], CANONICAL7)
    targets = np.array([CANONICAL7.index(t) for t in truth])
    return {
        "voice": voice,
        "WA": round(report["WA"], 4),
        "UA": round(report["UA"], 4),
        **trust(probs, targets, stacker.unsure_below),
    }


def confidence(
    stackers: dict, line_on: dict, test_parts: dict, parts: tuple[str, ...] = ("real", "constructed", "tess")
) -> dict:
    """How far the fused answer can be trusted. Per fold its "unsure" line is chosen on ``line_on[fold]``
    ``(answers, truth)``: the real pairs of the validation actors its rule was fitted on (what the app
    gives: a clip with its own words; :func:`emodemo.training.calibration.unsure_threshold`, 80 % of
    answers above it right); pooled over the folds' test actors, :func:`trust` on each of ``parts``
    of ``test_parts[fold]`` (real pairs, constructed pairs and the TESS choose half)."""
    from emodemo.training import calibration

    index = lambda labels: np.array([CANONICAL7.index(t) for t in labels])
    lines, pooled = {}, {part: ([], [], []) for part in parts}
    for name, stacker in stackers.items():
        answers, truth = line_on[name]
        lines[name] = calibration.unsure_threshold(fused_probabilities(stacker, answers), index(truth))["threshold"]
        for part, (probs, targets, line) in pooled.items():
            answers, truth = test_parts[name][part]
            probs.append(fused_probabilities(stacker, answers))
            targets.append(index(truth))
            line.append(np.full(len(truth), lines[name]))
    result = {"unsure lines": {name: round(line, 4) for name, line in lines.items()}}
    for part, parts_of in pooled.items():
        result[part] = trust(*(np.concatenate(p) for p in parts_of))
    return result


def changed_parts(clips, folds, voice: Path, words: str) -> tuple[dict, dict]:
    """The robustness set's changed clips of actors 01-20 (level -20 / +20 dB, white noise at 10 dB,
    babble at 5 dB, telephone band: :func:`emodemo.serving.cross_corpus.robustness_set`, the clips the
    app refuses left out), each with Whisper's words of the changed clip, answered by the fold model
    that never heard its actor: ``(val, test)``, ``val[fold] = (answers, truth)`` of that fold's
    validation actors' changed clips (every condition), ``test[fold][condition] = (answers, truth)``
    of its test actors'."""
    from emodemo.protocols import pairing
    from emodemo.serving import cross_corpus
    from emodemo.speech import transcribe_samples

    changed: dict[str, dict[str, list]] = {}  # actor -> condition -> real pairs
    for fold in folds:
        for condition, samples in cross_corpus.robustness_set(clips, fold, cross_corpus.robustness_folder()).items():
            heard = [s for s in samples if not cross_corpus.refused_by_app(s.audio)]
            if condition != "clean":  # one condition at a time: its clips keep their clean takes' ids
                for pair in pairing.real_pairs(heard, transcribe_samples(heard)):
                    changed.setdefault(pair.speaker, {}).setdefault(condition, []).append(pair)
    conditions = sorted({c for by_condition in changed.values() for c in by_condition})
    val, test = {}, {}
    for fold in folds:
        model = str(voice / "folds" / fold.name)
        pairs = [p for actor in fold.val for c in conditions for p in changed[actor].get(c, [])]
        val[fold.name] = (paired_answers(model, words, pairs), [p.label for p in pairs])
        test[fold.name] = {}
        for condition in conditions:
            pairs = [p for actor in fold.test for p in changed[actor].get(condition, [])]
            test[fold.name][condition] = (paired_answers(model, words, pairs), [p.label for p in pairs])
    return val, test


def line_on_changed_clips(stackers: dict, folds, real_val: dict, val_changed: dict, test_parts: dict) -> dict:
    """Does the fused "unsure" line carry better to new voices when it is chosen on the validation
    actors' real pairs *and* the same clips changed (as the voice models' temperatures were fitted),
    rather than on the clean pairs alone? Per fold, both lines for its rule (``stackers``), each
    scored by :func:`confidence` on every part of ``test_parts`` (the test actors' real pairs,
    constructed pairs, TESS choose half and changed clips, per condition and pooled)."""
    from emodemo.data.splits import validation_outside_test

    with_changed = {
        fold.name: tuple(
            real_val[fold.name][i] + [x for f in validation_outside_test(folds, fold) for x in val_changed[f.name][i]]
            for i in (0, 1)
        )
        for fold in folds
    }
    parts = tuple(test_parts[folds[0].name])
    return {
        "clean real pairs": confidence(stackers, real_val, test_parts, parts),
        "clean real pairs and the same clips changed": confidence(stackers, with_changed, test_parts, parts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", type=Path, required=True, help="a speech-probe run folder with folds/fold<k>/")
    parser.add_argument("--words", required=True, help="the words expert (served name or checkpoint folder)")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--goemotions", type=Path, required=True)
    parser.add_argument("--tess", type=Path, required=True)
    parser.add_argument(
        "--served-voice", default="speech_probe", help="the voice expert the app serves, scored with --save's rule"
    )
    parser.add_argument(
        "--report",
        choices=tuple(FITS),
        help="score the TESS report half (words 26-50) once, for that rule's final choice (pooled fits), "
        f"beside the voice alone; written to {REPORT.relative_to(REPO)}",
    )
    parser.add_argument(
        "--changed",
        choices=tuple(FITS),
        help="for that rule (pooled fits), choose the fused unsure line on the validation actors' real pairs "
        "and the same clips changed too (the robustness set's conditions), against the clean pairs alone",
    )
    parser.add_argument(
        "--save",
        choices=tuple(FITS),
        help="write that rule, fitted on every fold's validation actors (with its unsure line), to checkpoints/fusion/",
    )
    args = parser.parse_args()

    from emodemo import data
    from emodemo.data.splits import RAVDESS_KFOLD, load_splits, validation_outside_test
    from emodemo.protocols import pairing
    from emodemo.speech import transcribe_samples
    from emodemo.training import calibration

    clips = data.load("ravdess", args.root, calm_as_neutral=True)
    transcripts = transcribe_samples(clips)
    tess_halves = {}
    for half in ("choose", "report") if args.report else ("choose",):
        tess = [s for s in data.load("tess", args.tess) if s.split == half]
        tess_halves[half] = pairing.real_pairs(tess, transcribe_samples(tess))
    folds = load_splits(RAVDESS_KFOLD)
    val_parts, val_real, test_parts = {}, {}, {}
    for fold in folds:  # every answer from the fold model that never heard the clip's actor
        voice = str(args.voice / "folds" / fold.name)
        _, val, test = pairing.mixed_pairs(clips, transcripts, fold, "goemotions", args.goemotions)
        val_parts[fold.name] = (paired_answers(voice, args.words, val), [s.label for s in val])
        val_real[fold.name] = [s.meta.get("pairing") == "real" for s in val]
        test_parts[fold.name] = {
            half: (paired_answers(voice, args.words, chosen), [s.label for s in chosen])
            for half, chosen in (
                ("constructed", [s for s in test if s.meta.get("pairing") == "constructed"]),
                ("real", [s for s in test if s.meta.get("pairing") == "real"]),
            )
        }
        for half, pairs in tess_halves.items():
            part = "tess" if half == "choose" else "tess report"
            test_parts[fold.name][part] = (paired_answers(voice, args.words, pairs), [s.label for s in pairs])
    real_val = {  # per fold, the real pairs of the validation actors its pooled rule is fitted on
        fold.name: real_pairs_of([(*val_parts[f.name], f.name) for f in validation_outside_test(folds, fold)], val_real)
        for fold in folds
    }
    fitted = {}  # (rule, fold name) -> Stacker
    for fold in folds:
        for pool, folds_fitted_on in (
            (OWN, [fold]),
            (POOLED, validation_outside_test(folds, fold)),
        ):
            answers = [a for f in folds_fitted_on for a in val_parts[f.name][0]]
            truth = [t for f in folds_fitted_on for t in val_parts[f.name][1]]
            for rule, fit in FITS.items():
                fitted[f"{rule}{pool}", fold.name] = fit(answers, truth, MODALITIES)
    results = {"voice": str(args.voice), "words": args.words, "protocol": __doc__.split("\n\n")[1]}
    rules = [f"{rule}{pool}" for pool in (OWN, POOLED) for rule in FITS]
    for part in ("constructed", "real", "tess"):
        answers = [a for f in folds for a in test_parts[f.name][part][0]]
        truth = [t for f in folds for t in test_parts[f.name][part][1]]
        part_scores = scores(answers, truth)
        for rule in rules:
            guesses = [top(fitted[rule, f.name](a)) for f in folds for a in test_parts[f.name][part][0]]
            report = classification_report(truth, guesses, CANONICAL7)
            part_scores[rule] = {"WA": report["WA"], "UA": report["UA"]}
        results[part] = part_scores
        print(part, json.dumps(part_scores))
    results["confidence"] = {  # the fused answer's "unsure" line and calibration, for the pooled fits
        f"{rule}{POOLED}": confidence({f.name: fitted[f"{rule}{POOLED}", f.name] for f in folds}, real_val, test_parts)
        for rule in FITS
    }
    print("confidence", json.dumps(results["confidence"]))
    if args.changed:
        val_changed, test_changed = changed_parts(clips, folds, args.voice, args.words)
        parts = {  # never the TESS report half: it is scored once, for the final choice
            f.name: {**{k: v for k, v in test_parts[f.name].items() if k != "tess report"}, **test_changed[f.name]}
            for f in folds
        }
        for f in folds:  # and every condition at once
            parts[f.name]["every change"] = tuple(
                [x for part in test_changed[f.name].values() for x in part[i]] for i in (0, 1)
            )
        stackers = {f.name: fitted[f"{args.changed}{POOLED}", f.name] for f in folds}
        results["unsure line on changed clips"] = {
            "rule": f"{args.changed}{POOLED}",
            **line_on_changed_clips(stackers, folds, real_val, val_changed, parts),
        }
        print("changed", json.dumps(results["unsure line on changed clips"]))
    about = (
        f"voice {args.voice} (each fold model on its own fold's validation actors) + words {args.words}, "
        f"fitted on the mixed pairs of RAVDESS actors {', '.join(sorted(a for f in folds for a in f.val))} "
        "(every fold's validation actors)"
    )
    answers = [a for f in folds for a in val_parts[f.name][0]]
    truth = [t for f in folds for t in val_parts[f.name][1]]
    final_fits = {rule: fit(answers, truth, MODALITIES, about=f"{rule}: {about}") for rule, fit in FITS.items()}
    real_answers, real_truth = real_pairs_of([(*val_parts[f.name], f.name) for f in folds], val_real)
    real_targets = np.array([CANONICAL7.index(t) for t in real_truth])
    for stacker in final_fits.values():  # its "unsure" line, on those actors' real pairs
        probs = fused_probabilities(stacker, real_answers)
        stacker.unsure_below = calibration.unsure_threshold(probs, real_targets)["threshold"]
    results["final_fits"] = {  # what each rule would serve: its weights on the voice's and the words' classes
        rule: {
            "voice": dict(zip(CANONICAL7, np.diag(stacker.weights[:, :7]).round(3).tolist())),
            "words": dict(zip(CANONICAL7, np.diag(stacker.weights[:, 7:]).round(3).tolist())),
            "bias": dict(zip(CANONICAL7, stacker.bias.round(3).tolist())),
            "unsure_below": round(stacker.unsure_below, 4),
        }
        for rule, stacker in final_fits.items()
        if rule != "learned stacker"  # a full 7 x 7 matrix per modality: no diagonal to show
    }
    if args.report:
        rule = f"{args.report}{POOLED}"
        answers = [a for f in folds for a in test_parts[f.name]["tess report"][0]]
        truth = [t for f in folds for t in test_parts[f.name]["tess report"][1]]
        guesses = [top(fitted[rule, f.name](a)) for f in folds for a in test_parts[f.name]["tess report"][0]]
        experts = scores(answers, truth)
        report = {name: experts[name] for name in ("voice alone", "words alone")}
        report[rule] = {key: classification_report(truth, guesses, CANONICAL7)[key] for key in ("WA", "UA")}
        served = as_served(final_fits[args.report], args.served_voice, args.words, tess_halves["report"])
        saved = {
            "voice": str(args.voice),
            "words": args.words,
            "tess report": report,
            "as served, TESS report": {"rule": args.report, **served},
        }
        REPORT.write_text(json.dumps(saved, indent=1) + "\n")
        print("tess report", json.dumps(report), json.dumps(saved["as served, TESS report"]))
    if args.save:  # what the app shows on new voices: the served voice expert (the fold probes' mean) and this rule
        served = as_served(final_fits[args.save], args.served_voice, args.words, tess_halves["choose"])
        results["as served, TESS choose"] = {"rule": args.save, "cross-validated as": f"{args.save}{POOLED}", **served}
        print("as served", json.dumps(results["as served, TESS choose"]))
    elif RESULTS.is_file():  # the served rule's numbers stay until a --save replaces it
        kept = json.loads(RESULTS.read_text()).get("as served, TESS choose")
        results.update({"as served, TESS choose": kept} if kept else {})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    if args.save:
        print("saved", final_fits[args.save].save(STACKER))
    from headline import render_headline

    render_headline()  # the README's headline table opens with the fused answer


if __name__ == "__main__":
    main()
