"""One temperature from every fold's validation actors, or each checkpoint's own from two? (issue 20)

A served checkpoint's temperature is fitted on its own 2 validation actors' clips, clean and changed (level, noise,
babble, telephone: ``calibrate --perturbed``). Two actors make a noisy fit: co-attention's fold models got 1.2-4.2
and its served model 1.12, so on RAVDESS's test folds its fold models sound less sure than they are (ECE 0.077,
0.033 with a clean-only fit) while the served model is over-sure on TESS (report half: 0.63 confidence, 46 % right,
ECE 0.189). The cross-validation's fold models have answered 10 validation actors between them, each the actors it
did not train on: one temperature fitted on all those answers (**pooled**) estimates the recipe's calibration from
five times the actors.

For each served single checkpoint with committed fold models (co-attention, ``mesm`` and ``nmt_attention`` when the
committed table was taken; since then each is served as its fold models' mean, and none is left to score), each fold
model answers (temperature 1, read as the app reads: Whisper's words, through the words gate where the model has
one) its own validation actors' clips, clean and changed (the robustness set's conditions, as ``calibrate
--perturbed``), and its own test actors' clips with their own words. Scored, top-label ECE with 15 bins:

- **RAVDESS test folds** (pooled, 1,200 clips): each fold model at its own temperature (as served, what ``cv-as-served``
  reports), and at the pooled temperature **cross-fitted**: for fold k, fitted on the validation answers of the folds
  whose validation actors are none of fold k's test actors, so no clip or actor it is scored on is in its fit;
- **TESS choose half** (350 clips): the served checkpoint at its own temperature and at the pooled one (all 5 folds).

Rule, set before the run: a model's served temperature becomes the pooled one if, with it, the ECE on RAVDESS's test
folds is no higher than as served and the served checkpoint's ECE on TESS's choose half is no higher than at its own
temperature. Then its "unsure" line is chosen again at that temperature, on the 5 folds' clean validation answers
pooled (80 % right over it, as every line), and TESS's report half is scored once, for the choice made.

**Halves** (added after co-attention's pooled run, its rule set before it was scored): the changed clips outnumber
the clean ones 5 to 1 in every fit (five conditions, each as many clips as the clean ones), so the fits learn how
sure a model may be on changed clips far more than on clean ones. Here each model (each fold model, and the served
checkpoint on its own validation actors, clean and changed, read as ``calibrate`` reads them) gets a temperature
fitted with its clean clips weighing as much as all its changed clips together (``fit_temperature``'s weights). The
same rule decides; where both candidates meet it, the one with the lower ECE on RAVDESS's test folds is served, and
its "unsure" line is chosen on the served checkpoint's own clean validation answers (as ``calibrate`` chooses it).

"Own" is what the checkpoints hold when the bench runs: the committed table was taken before ``nmt_attention`` was
refitted with its clean clips weighing half (a rerun reads that fit as its own).

    python bench/pooled_temperature.py --root ../shared/datasets/ravdess_speech \\
        --text-root ../shared/datasets/goemotions --tess ../shared/datasets/tess --models MODEL[,MODEL]

The fold models' answers are kept under ``runs/pooled_temperature/`` (a rerun reads them); results in
``bench/results/pooled_temperature.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from timing import save_and_print  # noqa: E402

from emodemo import data  # noqa: E402
from emodemo.serving import cross_corpus, evaluation, load_models, pairs, pipeline, served_cv, temperature  # noqa: E402
from emodemo.training import calibration, checkpoint  # noqa: E402

ANSWERS = REPO / "runs" / "pooled_temperature"
RESULTS = REPO / "bench" / "results" / "pooled_temperature.json"
PARTS = ("val", "changed", "test")  # each fold model's answers: its validation actors clean, changed; its test actors


def logits(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probs, 1e-12, None))


def fold_answers(name: str, root: Path, text_root: Path) -> list[dict]:
    """Per fold model of served checkpoint ``name``: its answers at temperature 1 (``<part>_probs [N, C]``,
    ``<part>_targets [N]``) to each of :data:`PARTS`, its own temperature and its validation and test actors;
    read from ``runs/pooled_temperature/<name>/`` when kept there."""
    folder = ANSWERS / name.replace("/", "_")
    meta = checkpoint.read_checkpoint_config(pipeline.CHECKPOINTS / name)
    folds, parts = served_cv.fold_parts(meta, root, text_root)
    paths = cross_corpus.fold_checkpoints(name)
    clips = data.load("ravdess", root, **evaluation.LOADER_OPTIONS.get("ravdess", {}))
    out = []
    for fold in folds:
        kept = folder / f"{fold.name}.npz"
        loaded = load_models([str(paths[fold.name])])[0]
        row = {"fold": fold.name, "val_actors": list(fold.val), "test_actors": list(fold.test)}
        row["temperature"] = temperature(loaded.meta)
        if kept.exists():
            out.append({**row, **dict(np.load(kept))})
            continue
        validation, test = parts[fold.name]
        answers = {"val": evaluation.predicted(loaded, validation)}  # clean, as calibrate reads them
        changed = cross_corpus.perturbed_answers(loaded, [s for s in clips if s.speaker in set(fold.val)], "ravdess")
        answers["changed"] = changed[:2]
        own = [s for s in test if s.meta.get("pairing", "real") == "real"]
        answers["test"] = evaluation.predicted(loaded, own)  # own words, through the words gate as served
        arrays = {f"{part}_{what}": a for part, (p, t) in answers.items() for what, a in (("probs", p), ("targets", t))}
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(kept, **arrays)
        out.append({**row, **arrays})
    return out


def pooled_fit(folds: list[dict], halves: bool = False) -> float:
    """The temperature fitted on the folds' validation answers, clean and changed, pooled; with ``halves``, the
    clean answers weigh as much as the changed ones together."""
    parts = [(f[f"{part}_probs"], f[f"{part}_targets"], part == "val") for f in folds for part in ("val", "changed")]
    z = np.concatenate([logits(p) for p, _, _ in parts])  # [N, C]
    y = np.concatenate([t for _, t, _ in parts])  # [N]
    clean = np.concatenate([np.full(len(t), is_clean) for _, t, is_clean in parts])  # [N]
    weights = np.where(clean, 1.0 / clean.sum(), 1.0 / (~clean).sum()) if halves else None  # each kind half the fit
    return calibration.fit_temperature(z, y, weights=weights)


def served_answers(name: str, root: Path) -> dict:
    """The served checkpoint's answers at temperature 1 to its own validation actors' clips, clean and changed (as
    ``calibrate --perturbed`` reads them); kept under ``runs/pooled_temperature/<name>/served.npz``."""
    kept = ANSWERS / name.replace("/", "_") / "served.npz"
    if kept.exists():
        return dict(np.load(kept))
    loaded = load_models([str(pipeline.CHECKPOINTS / name)])[0]
    speakers = set(loaded.meta["data_card"]["validation_speakers"])
    samples = [s for s in data.load("ravdess", root) if s.speaker in speakers]
    usable, *_ = evaluation.readable(loaded, samples, "ravdess", transcribe=True)
    answers = {
        "val": evaluation.predicted(loaded, usable),
        "changed": cross_corpus.perturbed_answers(loaded, samples, "ravdess")[:2],
    }
    arrays = {f"{part}_{what}": a for part, (p, t) in answers.items() for what, a in (("probs", p), ("targets", t))}
    kept.parent.mkdir(parents=True, exist_ok=True)
    np.savez(kept, **arrays)
    return arrays


def cross_fitted(folds: list[dict]) -> list[float]:
    """Fold k's pooled temperature: fitted on the folds whose validation actors are none of fold k's test actors."""
    return [pooled_fit([f for f in folds if not set(f["val_actors"]) & set(k["test_actors"])]) for k in folds]


def test_ece(folds: list[dict], temperatures: list[float]) -> float:
    probs = np.concatenate([calibration.softmax(logits(f["test_probs"]), t) for f, t in zip(folds, temperatures)])
    return calibration.expected_calibration_error(probs, np.concatenate([f["test_targets"] for f in folds]))


def tess_answers(name: str, tess: list, half: str) -> tuple[np.ndarray, np.ndarray]:
    """The served checkpoint's answers at temperature 1 to a TESS half, read as the app reads it."""
    loaded = load_models([str(pipeline.CHECKPOINTS / name)])[0]
    usable, *_ = evaluation.readable(loaded, [s for s in tess if s.split == half], "tess", transcribe=True)
    return evaluation.predicted(loaded, usable)


def scored(name: str, root: Path, text_root: Path, tess: list) -> dict:
    folds = fold_answers(name, root, text_root)
    served = served_answers(name, root)
    choose = tess_answers(name, tess, "choose")
    ece = lambda answers, t: calibration.expected_calibration_error(  # noqa: E731
        calibration.softmax(logits(answers[0]), t), answers[1]
    )
    candidates = {  # name -> (each fold model's temperature, the served checkpoint's)
        "own": (
            [float(f["temperature"]) for f in folds],
            temperature(checkpoint.read_checkpoint_config(pipeline.CHECKPOINTS / name)),
        ),
        "pooled": (cross_fitted(folds), pooled_fit(folds)),
        "halves": ([pooled_fit([f], halves=True) for f in folds], pooled_fit([served], halves=True)),
    }
    row: dict = {"model": name}
    for how, (fold_temperatures, served_temperature) in candidates.items():
        row[f"fold temperatures, {how}"] = fold_temperatures
        row[f"RAVDESS test folds ECE, {how}"] = test_ece(folds, fold_temperatures)
        row[f"served temperature, {how}"] = served_temperature
        row[f"TESS choose ECE, {how}"] = ece(choose, served_temperature)
    meeting = [
        how
        for how in ("pooled", "halves")
        if row[f"RAVDESS test folds ECE, {how}"] <= row["RAVDESS test folds ECE, own"]
        and row[f"TESS choose ECE, {how}"] <= row["TESS choose ECE, own"]
    ]
    row["chosen"] = min(meeting, key=lambda how: row[f"RAVDESS test folds ECE, {how}"]) if meeting else "own"
    chosen = candidates[row["chosen"]][1]
    row["TESS report ECE, chosen"] = ece(tess_answers(name, tess, "report"), chosen)
    if row["chosen"] != "own":
        val = served["val_probs"] if row["chosen"] == "halves" else np.concatenate([f["val_probs"] for f in folds])
        targets = (
            served["val_targets"] if row["chosen"] == "halves" else np.concatenate([f["val_targets"] for f in folds])
        )
        row["unsure line, chosen"] = calibration.unsure_threshold(calibration.softmax(logits(val), chosen), targets)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="RAVDESS speech (actors 01-20)")
    parser.add_argument("--text-root", type=Path, required=True, help="GoEmotions (the mixed runs' lines)")
    parser.add_argument("--tess", type=Path, required=True)
    parser.add_argument("--models", required=True, help="comma-separated served single checkpoints with fold models")
    args = parser.parse_args()
    means = [
        n
        for n in args.models.split(",")
        if checkpoint.read_checkpoint_config(pipeline.CHECKPOINTS / n)["model_name"] in pairs.MEAN_OF.values()
    ]
    if means:  # each member keeps the temperature fitted on its own fold: there is no served one to replace
        parser.error(
            f"{', '.join(means)} is served as its fold models' mean, not as one checkpoint with its own temperature"
        )
    tess = data.load("tess", args.tess)
    kept = json.loads(RESULTS.read_text())["rows"] if RESULTS.exists() else []
    for name in args.models.split(","):
        row = scored(name, args.root, args.text_root, tess)
        kept = [r for r in kept if r["model"] != name] + [row]
    protocol = " ".join(__doc__.split("\n\n")[2:6]).replace("\n", " ")  # the readings, the rule and the halves
    save_and_print({"protocol": protocol, "rows": kept}, RESULTS, label="model")


if __name__ == "__main__":
    main()
