"""Two ``nmt_attention`` runs' fold models, alone and averaged, on their folds' test pairs (issue 20).

The served ``nmt_attention`` (the mean of its pitch-copy run's 5 fold models) misses the voice + words bar on a
GoEmotions line (72.4 WA as served, 72.8 with the words as given, against 78.3). Its run with every text branch
started from the words expert's (``fusion_pitch_words_expert``, ``--option text_from=...``) reads those lines far
better (80.7, words as given) but its clips' own words and no words worse (68.9 / 68.8 against 72.2 / 69.9). This
bench asks what the two runs give together, as the served Self- and Cross-MHA pairs average two runs per fold.

Protocol: RAVDESS actors 01-20, 7 classes (calm counted as neutral), the committed 5 folds by actor; each fold's test
part built as its training run built it (mixed pairs: each test clip with a GoEmotions test-split line, with its own
words, and with no words; seed = fold index, as the per-fold runs), words as given (not through the app's words
gate). Per fold and pairing: the WA of fold model k of each run, and of their mean softmax, each model at temperature
1 (the served run's fold models are calibrated, the other run's are not: temperature 1 keeps the two alike). Mean over
the 5 folds. A diagnostic, not a served number: a served mean of both runs would calibrate each fold model and be
scored through the words gate (``cv-as-served``).

    python bench/nmt_runs_mean.py --runs checkpoints/nmt_attention/folds \\
        --runs runs/nmt_attention/fusion_pitch_words_expert/folds

Writes ``bench/results/nmt_runs_mean.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from timing import save_and_print  # noqa: E402

from emodemo.models import REGISTRY  # noqa: E402
from emodemo.recipes import nmt_attention as recipe  # noqa: E402
from emodemo.recipes.common import paired_parts  # noqa: E402
from emodemo.training import load_checkpoint, predict  # noqa: E402

FOLDS = 5


def test_pairs(root: Path, text_root: Path, fold: int) -> dict[str, list]:
    """Fold ``fold``'s test part as the per-fold runs built it (seed = fold index), by pairing."""
    parts, folds, _, _ = paired_parts(
        recipe.NAME, "ravdess", root, "mixed", "goemotions", text_root, fold, no_words=True, copies_chain="pitch"
    )
    groups: dict[str, list] = {}
    for sample in parts(folds[fold])[2]:
        groups.setdefault(sample.meta.get("pairing", "real"), []).append(sample)
    return groups


def answers(loaded: tuple, samples: list) -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities [N, C] at temperature 1, labels [N])`` of a loaded fold model ``(model, meta)``."""
    model, meta = loaded
    data = recipe.make_dataset(samples, recipe.DATASET_LABELS["ravdess"], meta["input_spec"])
    return predict(model, data, batch_size=32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, action="append", required=True, help="a folder of fold0 .. fold4")
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets" / "ravdess_speech")
    parser.add_argument("--text-root", type=Path, default=REPO.parent / "shared" / "datasets" / "goemotions")
    args = parser.parse_args()
    if len(args.runs) != 2:
        parser.error("give two --runs")
    names = [run.as_posix() for run in args.runs]
    scores: dict[str, dict[str, list[float]]] = {}  # pairing -> model -> WA per fold
    for fold in range(FOLDS):
        models = [load_checkpoint(run / f"fold{fold}", REGISTRY) for run in args.runs]  # each once per fold
        for pairing, samples in test_pairs(args.root, args.text_root, fold).items():
            (first, labels), (second, again) = (answers(loaded, samples) for loaded in models)
            if not np.array_equal(labels, again):
                raise ValueError("the two runs' test pairs differ")
            row = scores.setdefault(pairing, {})
            for name, probabilities in zip([*names, "mean of both"], (first, second, first + second)):
                row.setdefault(name, []).append(float((probabilities.argmax(1) == labels).mean()))
    rows = [
        {"pairing": pairing, **{name: 100 * float(np.mean(folds)) for name, folds in row.items()}}
        for pairing, row in sorted(scores.items())
    ]
    result = {"protocol": __doc__.split("Protocol: ")[1].split("\n\n")[0], "runs": names, "rows": rows, "folds": scores}
    save_and_print(result, REPO / "bench" / "results" / "nmt_runs_mean", label="pairing")


if __name__ == "__main__":
    main()
