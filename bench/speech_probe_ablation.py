"""What each input change buys the speech probe, on voices it never met (issue 20's ablation).

Each variant is the speech probe trained by its recipe with different inputs (``python -m emodemo
train speech_probe --cv --option keep_folds=1 ...``): the 5 fold models of the committed RAVDESS
folds (actors 01-20, 7 classes, calm counted as neutral), each saved with a temperature fitted on
its 2 validation actors. They are then scored on

- RAVDESS CV: each fold model on its 4 test actors (WA, UA; ECE before and after temperature,
  pooled over the test folds);
- TESS **choose half** (words 1-25 of the committed halves, 350 clips, 2 speakers): every fold model,
  mean of UA and collapse (the share of clips given the most frequent answer), pooled ECE; and the
  mean of the 5 fold models' calibrated probabilities (the ensemble the app serves);
- the robustness set: each fold's test actors' takes of statement 1, repetition 1 (15 per actor:
  every emotion and intensity once; 300 clips over the 5 folds) with the level at -20 / +20 dB
  (clipped at full scale), white noise at 10 dB SNR, babble at 5 dB SNR (6 clips of the fold's
  other test actors summed) and a telephone band; UA of the fold model, pooled over folds, beside
  the same clips clean.

The TESS report half is not touched here: it is scored once, for the final choice, by
``bench/generalisation.py --report``. Results: ``bench/results/speech_probe_ablation.json`` and a
Markdown table on stdout.

    python bench/speech_probe_ablation.py --root ../shared/datasets/ravdess_speech --tess ../shared/datasets/tess \\
        --variant raw --variant normalised ...
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emodemo.core import CANONICAL7, classification_report, to_canonical  # noqa: E402
from emodemo.training import calibration  # noqa: E402

RESULTS = REPO / "bench" / "results" / "speech_probe_ablation.json"
RUNS = REPO / "runs" / "speech_probe_ablation"
# variant -> the recipe's options (all 7 classes, fold models kept)
VARIANTS: dict[str, dict[str, str]] = {
    "raw (served until now: tiny.en)": {},
    "normalised": {"normalise": "1"},
    "normalised + 2 augmented copies": {"normalise": "1", "augment": "2"},
    "base, normalised": {"normalise": "1", "encoder_name": "base"},
    "base, normalised + 2 augmented copies": {"normalise": "1", "augment": "2", "encoder_name": "base"},
}
# combinations: per fold, the mean of the named variants' calibrated fold models (each trained on that fold)
COMBINED: dict[str, tuple[str, ...]] = {
    "normalised and normalised + 2 augmented copies, averaged per fold": (
        "normalised",
        "normalised + 2 augmented copies",
    ),
}
SHORT = {
    name: name.split(" (")[0].replace(", ", "-").replace(" + ", "-").replace(" ", "_")
    for name in [*VARIANTS, *COMBINED]
}


def train_variant(name: str, root: Path, epochs: int | None) -> Path:
    """Train the variant's fold models (no final model) unless they are there; returns their folder."""
    out = RUNS / SHORT[name]
    if (out / "folds" / "fold4" / "config.json").is_file():
        return out
    options = [
        arg
        for key, value in dict(VARIANTS[name], classes="7", keep_folds="1").items()
        for arg in ("--option", f"{key}={value}")
    ]
    command = [
        sys.executable,
        "-m",
        "emodemo",
        "train",
        "speech_probe",
        "--root",
        str(root),
        "--cv",
        "--no-final",
        "--out",
        str(out),
        "--results",
        str(out / "cv.json"),
        *options,
    ] + (["--epochs", str(epochs)] if epochs else [])
    subprocess.run(command, check=True, cwd=REPO)
    return out


def fold_logits(model_dir: Path, samples, perturb=None, condition: str = "clean"):
    """Log-probabilities ``[N, C]`` of the fold model at ``model_dir`` on ``samples`` (perturbed
    waves go through a feature cache keyed by the condition)."""
    import torch

    from emodemo.recipes import speech_probe as recipe
    from emodemo.serving import load_models

    loaded = load_models([str(model_dir)])[0]
    spec = recipe.input_spec(loaded.meta["input_spec"])
    if perturb is None:
        stats = recipe.stats_of_samples(samples, spec, progress=False)
    else:
        cache = recipe.feature_cache(spec)
        cache = type(cache)(
            cache.name,
            dict(cache.config, robustness=condition, babble="2 clips of each of the fold's other test actors"),
        )
        stats = torch.stack(
            cache.get_many(
                [s.audio for s in samples],
                lambda paths: recipe.stats_of_waves([perturb(path) for path in paths], spec),
                batch=recipe.BATCH,
                progress=False,
            )
        )
    with torch.inference_mode():
        logits = loaded.model(stats=stats).float()
    log_probs = torch.log_softmax(logits, dim=-1).numpy()
    return log_probs, loaded.labels, float(loaded.meta["calibration"]["temperature"])


def members_logits(outs: list[Path], fold: str, samples, perturb=None, condition: str = "clean"):
    """:func:`fold_logits` of fold ``fold``'s model in one run folder; with several, the log of the
    mean of their calibrated probabilities (temperature 1: each member's own is applied)."""
    if len(outs) == 1:
        return fold_logits(outs[0] / "folds" / fold, samples, perturb, condition)
    members = [fold_logits(out / "folds" / fold, samples, perturb, condition) for out in outs]
    labels = members[0][1]
    if any(m[1] != labels for m in members):
        raise ValueError("the combined runs' models answer different classes")
    mean = np.mean([calibration.softmax(lp, t) for lp, _, t in members], axis=0)  # [N, C]
    return np.log(np.clip(mean, 1e-12, None)), labels, 1.0


def canonical_answers(log_probs: np.ndarray, labels) -> list[str]:
    return [to_canonical(labels[i]) for i in log_probs.argmax(axis=1)]


def collapse(answers) -> float:
    """The share of clips given the single most frequent answer."""
    values, counts = np.unique(np.asarray(answers), return_counts=True)
    return float(counts.max() / len(answers))


def score_variant(outs: list[Path], ravdess, tess_choose) -> dict:
    from emodemo.data.splits import RAVDESS_KFOLD, apply, load_splits
    from emodemo.inputs import load_audio, robustness_conditions

    folds = load_splits(RAVDESS_KFOLD)
    pooled = {"cv": [], "tess": []}
    tess_runs, robust, fold_wa = [], {}, []
    for fold in folds:
        test = apply(ravdess, fold)[2]
        log_probs, labels, t = members_logits(outs, fold.name, test)
        fold_wa.append(
            float(np.mean([a == to_canonical(s.label) for a, s in zip(canonical_answers(log_probs, labels), test)]))
        )
        pooled["cv"].append((log_probs, [s.label for s in test], labels, t))
        tess_lp, _, _ = members_logits(outs, fold.name, tess_choose)
        answers = canonical_answers(tess_lp, labels)
        report = classification_report([s.label for s in tess_choose], answers, CANONICAL7)
        tess_runs.append({"UA": report["UA"], "WA": report["WA"], "collapse": collapse(answers)})
        pooled["tess"].append((tess_lp, [s.label for s in tess_choose], labels, t))
        by_actor: dict[str, list] = {}
        for s in robustness_set(test):
            by_actor.setdefault(s.speaker, []).append(s)
        waves = {s.audio: load_audio(s.audio, max_seconds=30.0) for clips in by_actor.values() for s in clips}
        for actor, clips in by_actor.items():
            others = [waves[c.audio] for a, cs in sorted(by_actor.items()) if a != actor for c in cs[:2]]
            for condition, perturb in robustness_conditions(others).items():
                lp, _, _ = members_logits(
                    outs,
                    fold.name,
                    clips,
                    None if condition == "clean" else (lambda path, p=perturb: p(waves[path])),
                    condition,
                )
                robust.setdefault(condition, []).append((canonical_answers(lp, labels), [c.label for c in clips]))
    result = {
        "ravdess_cv": _pooled_scores(pooled["cv"]),
        "tess_choose": _pooled_scores(pooled["tess"]),
        "ravdess_cv_WA": {"mean": float(np.mean(fold_wa)), "std": float(np.std(fold_wa)), "per_fold": fold_wa},
        "tess_choose_ensemble": _ensemble_scores(pooled["tess"]),
    }
    result["tess_choose"].update(
        UA_mean=float(np.mean([r["UA"] for r in tess_runs])),
        UA_std=float(np.std([r["UA"] for r in tess_runs])),
        collapse_mean=float(np.mean([r["collapse"] for r in tess_runs])),
        per_fold=tess_runs,
    )
    result["robustness_UA"] = {
        c: classification_report([t for _, ts in runs for t in ts], [a for ans, _ in runs for a in ans], CANONICAL7)[
            "UA"
        ]
        for c, runs in robust.items()
    }
    return result


def robustness_set(test):
    """The takes of statement 1, repetition 1 of ``test`` (each emotion and intensity once per actor)."""
    return [s for s in test if int(s.meta["statement"]) == 1 and int(s.meta["repetition"]) == 1]


def _pooled_scores(runs) -> dict:
    """WA / UA / collapse and ECE before and after each fold's temperature, test folds pooled."""
    answers, truth, probs_raw, probs_cal, targets = [], [], [], [], []
    for log_probs, labels_true, labels, t in runs:
        canonical = [to_canonical(label) for label in labels]
        merged_raw, merged_cal = (_merge(calibration.softmax(log_probs, temp), canonical) for temp in (1.0, t))
        answers += [CANONICAL7[i] for i in merged_cal.argmax(1)]
        truth += list(labels_true)
        probs_raw.append(merged_raw)
        probs_cal.append(merged_cal)
        targets += [CANONICAL7.index(label) for label in labels_true]
    report = classification_report(truth, answers, CANONICAL7)
    raw, cal, y = np.concatenate(probs_raw), np.concatenate(probs_cal), np.array(targets)
    bins = {
        when: {k: np.nan_to_num(v, nan=-1).tolist() for k, v in calibration.reliability(p, y).items()}
        for when, p in (("before", raw), ("after", cal))
    }
    return {
        "WA": report["WA"],
        "UA": report["UA"],
        "collapse": collapse(answers),
        "ECE_before": calibration.expected_calibration_error(raw, y),
        "ECE_after": calibration.expected_calibration_error(cal, y),
        "n": len(y),
        "confusion_matrix": report["confusion_matrix"],
        "reliability": bins,
    }


def _ensemble_scores(runs) -> dict:
    """UA / collapse / ECE of the mean of the fold models' calibrated probabilities on the same clips."""
    mean = np.mean(
        [_merge(calibration.softmax(lp, t), [to_canonical(x) for x in labels]) for lp, _, labels, t in runs], 0
    )
    truth = runs[0][1]
    answers = [CANONICAL7[i] for i in mean.argmax(1)]
    report = classification_report(truth, answers, CANONICAL7)
    return {
        "WA": report["WA"],
        "UA": report["UA"],
        "collapse": collapse(answers),
        "ECE": calibration.expected_calibration_error(mean, np.array([CANONICAL7.index(t) for t in truth])),
        "confusion_matrix": report["confusion_matrix"],
    }


def _merge(probs: np.ndarray, canonical) -> np.ndarray:
    """``[N, C]`` over a model's labels -> ``[N, 7]`` over CANONICAL7 (calm's mass goes to neutral)."""
    out = np.zeros((len(probs), len(CANONICAL7)))
    for j, label in enumerate(canonical):
        out[:, CANONICAL7.index(label)] += probs[:, j]
    return out


def table(results: dict) -> str:
    rows = [
        "| variant | RAVDESS CV WA | UA | ECE raw → calibrated | TESS choose UA (mean ± std of 5 fold models) "
        "| collapse | TESS ECE calibrated | TESS choose, 5 folds averaged: UA (collapse, ECE) | "
        + " | ".join(next(iter(results.values()))["robustness_UA"])
        + " |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(next(iter(results.values()))["robustness_UA"]),
    ]
    for name, r in results.items():
        cv, tess = r["ravdess_cv"], r["tess_choose"]
        rows.append(
            f"| {name} | {cv['WA']:.3f} | {cv['UA']:.3f} | {cv['ECE_before']:.3f} → {cv['ECE_after']:.3f} | "
            f"{tess['UA_mean']:.3f} ± {tess['UA_std']:.3f} | {tess['collapse_mean']:.2f} | {tess['ECE_after']:.3f} | "
            + (
                f"{r['tess_choose_ensemble']['UA']:.3f} ({r['tess_choose_ensemble']['collapse']:.2f}, "
                f"{r['tess_choose_ensemble']['ECE']:.3f}) | "
                if "tess_choose_ensemble" in r
                else "not scored | "
            )
            + " | ".join(f"{v:.3f}" for v in r["robustness_UA"].values())
            + " |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="RAVDESS speech folder")
    parser.add_argument("--tess", type=Path, required=True, help="TESS folder")
    parser.add_argument(
        "--variant", action="append", choices=sorted(SHORT.values()), help="variants to run (default: all)"
    )
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from emodemo import data

    ravdess = data.load("ravdess", args.root, calm_as_neutral=True)
    tess_choose = [s for s in data.load("tess", args.tess) if s.split == "choose"]
    for name in [*VARIANTS, *COMBINED]:
        if args.variant and SHORT[name] not in args.variant:
            continue
        members = COMBINED.get(name, (name,))
        outs = [train_variant(member, args.root, args.epochs) for member in members]
        scored = dict(
            score_variant(outs, ravdess, tess_choose),
            options=[VARIANTS[m] for m in members] if name in COMBINED else VARIANTS[name],
        )
        if name not in COMBINED:
            scored["cv_summary"] = json.loads((outs[0] / "cv.json").read_text())["cross_validation"]["WA"]
        results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}  # other variants may run beside
        results[name] = scored
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps(dict(sorted(results.items(), key=lambda kv: [*VARIANTS, *COMBINED].index(kv[0]))), indent=1)
            + "\n"
        )
        print(table(results), flush=True)


if __name__ == "__main__":
    main()
