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
import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from tess_calibration import calibrated_answers  # noqa: E402
from timing import save_and_print  # noqa: E402

from emodemo import data  # noqa: E402
from emodemo.serving import load_models  # noqa: E402

OUT = REPO / "bench" / "results" / "tess_fold_models"


def answer_row(answers: np.ndarray, truth: np.ndarray, labels: list[str]) -> dict:
    """UA, the collapse (share of clips given the most frequent answer, in percent) and that answer, of ``answers [N]``
    against ``truth [N]`` (class ids into ``labels``)."""
    ua = np.mean([np.mean(answers[truth == c] == c) for c in np.unique(truth)])
    top, count = Counter(answers.tolist()).most_common(1)[0]
    return {"UA": round(100 * float(ua), 1), "collapse": round(100 * count / len(answers), 1), "answer": labels[top]}


def answer_shares(answers: np.ndarray, labels: list[str], speakers: np.ndarray) -> dict:
    """Every class's share of ``answers [N]`` in percent, over all clips and per speaker (``speakers [N]``)."""
    shares = {}
    for who in ["all", *sorted(set(speakers.tolist()))]:
        mine = answers if who == "all" else answers[speakers == who]
        shares[who] = {label: round(100 * float(np.mean(mine == k)), 1) for k, label in enumerate(labels)}
    return shares


def fold_folders(run: Path) -> list[Path]:
    """A run folder's fold models, in fold order; a clear exit where it has none."""
    folds = sorted((run / "folds").glob("fold[0-9]*"), key=lambda p: int(p.name[4:]))
    if not folds:
        sys.exit(f"{run} has no fold models under {run / 'folds'} (fold0, fold1, ...)")
    return folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", required=True, help="comma-separated run folders, each with folds/fold<k>")
    parser.add_argument("--tess", type=Path, default=REPO.parent / "shared" / "datasets" / "tess")
    args = parser.parse_args()
    choose = [s for s in data.load("tess", args.tess) if s.split == "choose"]
    speakers = np.array([s.speaker for s in choose])
    rows, shares = [], {}
    for run in (Path(r) for r in args.runs.split(",") if r):
        for folder in fold_folders(run):
            loaded = load_models([str(folder)])[0]
            probs, truth, _ = calibrated_answers(loaded, choose)  # [N, C], [N]
            labels, name = list(loaded.meta["labels"]), f"{run.name} / {folder.name}"
            rows.append({"run / fold": name, **answer_row(probs.argmax(1), truth, labels)})
            shares[name] = answer_shares(probs.argmax(1), labels, speakers)
    saved = json.loads(OUT.with_suffix(".json").read_text()) if OUT.with_suffix(".json").exists() else {}
    fresh = {r["run / fold"]: r for r in rows}  # a saved row scored again is replaced where it stood
    rows = [fresh.pop(r["run / fold"], r) for r in saved.get("rows", [])] + list(fresh.values())
    result = {"protocol": __doc__.split("\n\n")[1], "rows": rows, "shares": {**saved.get("shares", {}), **shares}}
    save_and_print(result, OUT, label="run / fold")


if __name__ == "__main__":
    main()
