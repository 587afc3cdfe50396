"""How far one training run's fold models disagree on new voices: each fold model alone on TESS's choose half.

A served mean averages a run's 5 fold models (one per committed RAVDESS fold, seed = fold index). Whether a change of
recipe moves the mean's answers on TESS by more than the fold models themselves spread is what this shows: for each
run folder asked for, each of its fold models (``<run>/folds/fold<k>``) reads TESS's choose half (words 1-25, 350
clips) as the harness reads it (``emodemo.serving.evaluation``; words from Whisper's transcript), at its own
temperature: its UA, its most frequent answer and that answer's share of the clips (the collapse) in the row, and
the share of clips it gives each class, over both speakers and per speaker, under ``shares``.

    python bench/tess_fold_models.py --runs runs/mesm/RUN_A,runs/mesm/RUN_B [--tess ../shared/datasets/tess]

Only the choose half is read: the report half is scored once per final choice, by bench/generalisation.py and
bench/tess_calibration.py, never for a diagnosis. Writes ``bench/results/tess_fold_models.json`` (the saved rows of
runs not asked for are kept).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from timing import save_and_print  # noqa: E402

from emodemo import data  # noqa: E402
from emodemo.serving import evaluation, load_models, pairs  # noqa: E402

OUT = REPO / "bench" / "results" / "tess_fold_models"


def answer_row(answers: np.ndarray, truth: np.ndarray, labels: list[str]) -> dict:
    """UA, the collapse (share of clips given the most frequent answer, in percent) and that answer, of ``answers [N]``
    against ``truth [N]`` (class ids into ``labels``), scored as the harness scores them (calm counted as neutral)."""
    space = evaluation.scoring_labels(labels)
    named = [[evaluation.scored_as(labels[k], space) for k in ids] for ids in (truth, answers)]
    report = evaluation.scores_with_collapse(*named, space)
    return {
        "UA": round(100 * report["UA"], 1),
        "collapse": round(100 * report["collapse"], 1),
        "answer": report["most_frequent_answer"],
    }


def answer_shares(answers: np.ndarray, labels: list[str], speakers: np.ndarray) -> dict:
    """Every class's share of ``answers [N]`` in percent, over all clips and per speaker (``speakers [N]``)."""
    shares = {}
    for who in ["all", *sorted(set(speakers.tolist()))]:
        mine = answers if who == "all" else answers[speakers == who]
        shares[who] = {label: round(100 * float(np.mean(mine == k)), 1) for k, label in enumerate(labels)}
    return shares


def fold_folders(run: Path) -> list[Path]:
    """A run folder's fold models (``folds/fold<k>`` holding a checkpoint, as ``pair`` finds them), in fold order; a
    clear exit where it has none."""
    found = {name: p for name, p in pairs.fold_models_under(run / "folds").items() if re.fullmatch(r"fold\d+", name)}
    folds = [found[name] for name in sorted(found, key=lambda name: int(name[len("fold") :]))]
    if not folds:
        sys.exit(f"{run} has no fold models under {run / 'folds'} (fold0, fold1, ...)")
    return folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", required=True, help="comma-separated run folders, each with folds/fold<k>")
    parser.add_argument("--tess", type=Path, default=REPO.parent / "shared" / "datasets" / "tess")
    args = parser.parse_args()
    choose = [s for s in data.load("tess", args.tess) if s.split == "choose"]
    rows, shares = [], {}
    for run in (r for r in args.runs.split(",") if r):
        for folder in fold_folders(Path(run)):
            loaded = load_models([str(folder)])[0]
            usable, *_ = evaluation.readable(loaded, choose, "tess", transcribe=True)  # words as the app hears them
            probs, truth = evaluation.calibrated(loaded, usable)  # [N, C] at its temperature, [N]
            answers, speakers = probs.argmax(1), np.array([s.speaker for s in usable])
            name = f"{run} / {folder.name}"  # the run as asked for: two recipes' runs may share a folder name
            rows.append({"run / fold": name, **answer_row(answers, np.asarray(truth), list(loaded.labels))})
            shares[name] = answer_shares(answers, list(loaded.labels), speakers)
    saved = json.loads(OUT.with_suffix(".json").read_text()) if OUT.with_suffix(".json").exists() else {}
    fresh = {r["run / fold"]: r for r in rows}  # a saved row scored again is replaced where it stood
    rows = [fresh.pop(r["run / fold"], r) for r in saved.get("rows", [])] + list(fresh.values())
    result = {"protocol": __doc__.split("\n\n")[1], "rows": rows, "shares": {**saved.get("shares", {}), **shares}}
    save_and_print(result, OUT, label="run / fold")


if __name__ == "__main__":
    main()
