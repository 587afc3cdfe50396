"""How far the training seed and the probe's own settings move the speech probe on new voices (issue 20).

Each variant trains the speech probe's 5 fold models in this process, with the recipe's own features
(normalised input, Whisper tiny.en layer statistics, cached), training settings and folds: RAVDESS actors
01-20, 7 classes (calm counted as neutral), the committed 5 folds by actor (14 train / 2 validation /
4 test actors), the epoch chosen on the validation actors. Scored:

- RAVDESS: UA of the fold models on their test actors, pooled over the folds;
- TESS **choose half** (words 1-25, 350 clips, 2 speakers; never trained on): UA of the mean of the
  fold models' softmax (no temperature: the served probe's members are calibrated, which moves this
  by about a point), each fold model's own UA (mean), and the collapse of the mean.

Variants: the recipe as served for its clean members, with seeds 0, 1 and 2; the three seeds' 15 models
averaged; the layer statistics' means alone (the standard deviations zeroed); a smaller probe (64 hidden
units, dropout 0.5); weight decay 0.5 (10 times the recipe's). The TESS report half is not touched.

    python bench/speech_probe_seeds.py --root ../shared/datasets/ravdess_speech --tess ../shared/datasets/tess

Writes ``bench/results/speech_probe_seeds.json`` and prints a table (~15 minutes on one core once the
features are cached).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from timing import save_and_print  # noqa: E402

from emodemo import data  # noqa: E402
from emodemo.core import CANONICAL7, classification_report, metrics  # noqa: E402
from emodemo.models import build  # noqa: E402
from emodemo.recipes import speech_probe as recipe  # noqa: E402
from emodemo.recipes.common import cross_validation_metrics  # noqa: E402
from emodemo.training import TrainConfig, standard_protocol  # noqa: E402

OUT = REPO / "bench" / "results" / "speech_probe_seeds"
SPEC = recipe.input_spec({"encoder": "tiny.en", "normalise": True})
# variant -> (seeds, probe settings, weight decay, means only)
VARIANTS = {
    "recipe, seed 0": ((0,), {}, 0.05, False),
    "recipe, seed 1": ((1,), {}, 0.05, False),
    "recipe, seed 2": ((2,), {}, 0.05, False),
    "recipe, seeds 0-2 averaged": ((0, 1, 2), {}, 0.05, False),
    "means only": ((0,), {}, 0.05, True),
    "64 hidden, dropout 0.5": ((0,), {"hidden": 64, "dropout": 0.5}, 0.05, False),
    "weight decay 0.5": ((0,), {}, 0.5, False),
}


def means_only(stats: torch.Tensor) -> torch.Tensor:
    """Layer statistics ``[N, L, 2D]`` (means, then standard deviations) with the deviations zeroed."""
    stats = stats.clone()
    stats[..., stats.shape[-1] // 2 :] = 0
    return stats


def fold_models(samples, folds, seed: int, probe: dict, weight_decay: float, inputs) -> tuple[list, np.ndarray]:
    """The 5 fold models of one seed and the pooled confusion matrix on their test actors."""
    kwargs = dict(recipe.model_kwargs(len(CANONICAL7), SPEC), **probe)

    def make(chosen):
        dataset = recipe.make_dataset(chosen, CANONICAL7, SPEC)
        dataset.tensors["stats"] = inputs(dataset.tensors["stats"])
        return dataset

    cfg = TrainConfig(
        epochs=60,
        batch_size=32,
        lr=1e-3,
        weight_decay=weight_decay,
        patience=12,
        class_weights=True,
        monitor="UF1",
        seed=seed,
        progress=False,
    )
    kept: dict = {}
    result = cross_validation_metrics(
        samples,
        folds,
        make,
        lambda: build(recipe.NAME, **kwargs),
        CANONICAL7,
        cfg,
        seed,
        recipe.NAME,
        keep_model=lambda fold, model, report: kept.setdefault(fold.name, model),
        chance=False,
    )
    return list(kept.values()), sum(np.array(f["confusion_matrix"]) for f in result["folds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="RAVDESS speech")
    parser.add_argument("--tess", type=Path, required=True, help="TESS")
    parser.add_argument("--variant", action="append", choices=list(VARIANTS), help="default: all")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    samples = data.load("ravdess", args.root, calm_as_neutral=True)
    folds, _ = standard_protocol("ravdess", samples)
    tess = [s for s in data.load("tess", args.tess) if s.split == "choose"]
    tess_stats = recipe.stats_of_samples(tess, SPEC, progress=False)  # [350, L, 2D]
    tess_true = [s.label for s in tess]
    rows = []
    for name in args.variant or VARIANTS:
        seeds, probe, weight_decay, means = VARIANTS[name]
        inputs = means_only if means else (lambda stats: stats)
        models, confusion = [], 0
        for seed in seeds:
            fold_list, matrix = fold_models(samples, folds, seed, probe, weight_decay, inputs)
            models += fold_list
            confusion = confusion + matrix
        with torch.no_grad():
            probs = [torch.softmax(m.eval()(stats=inputs(tess_stats)), -1).numpy() for m in models]  # [350, 7] each
        answers = [CANONICAL7[i] for i in np.mean(probs, 0).argmax(1)]
        mean = classification_report(tess_true, answers, CANONICAL7)
        singles = [
            classification_report(tess_true, [CANONICAL7[i] for i in p.argmax(1)], CANONICAL7)["UA"] for p in probs
        ]
        rows.append(
            {
                "variant": name,
                "fold models": len(models),
                "RAVDESS UA": round(100 * float(metrics.per_class_scores(confusion)["recall"].mean()), 1),
                "TESS choose UA": round(100 * mean["UA"], 1),
                "one model's UA": round(100 * float(np.mean(singles)), 1),
                "collapse": round(max(answers.count(c) for c in CANONICAL7) / len(answers), 3),
            }
        )
        print(rows[-1], flush=True)
    protocol = __doc__.split("\n\n")[1]
    save_and_print({"protocol": protocol, "rows": rows}, OUT)


if __name__ == "__main__":
    main()
