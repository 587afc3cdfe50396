"""The speech probe's variants judged over three seeds on new voices (issue 20).

Each variant trains the speech probe's 5 fold models in this process once per seed (0, 1, 2), with the
recipe's own features (normalised input, Whisper tiny.en layer statistics, cached), training settings
and folds: RAVDESS actors 01-20, 7 classes (calm counted as neutral), the committed 5 folds by actor
(14 train / 2 validation / 4 test actors), the epoch chosen on the validation actors. Scored:

- RAVDESS: WA and UA of the fold models on their test actors, pooled over the folds, per seed (an
  averaged variant: each fold's test actors answered by the mean softmax of its members' fold models);
- TESS **choose half** (words 1-25, 350 clips, 2 speakers; never trained on): per seed, UA of the mean
  of the 5 fold models' softmax (no temperature: the served probe's members are calibrated, which
  moves this by about a point) and its collapse; the mean of one fold model's UA; and the UA of all
  15 models (3 seeds) averaged;
- the robustness set's white noise at 10 dB SNR (each fold's test actors, the files bench/generalisation.py
  scores): UA of each fold's model(s) on its own actors' noisy clips, pooled over the folds, per seed.

A single seed moves the TESS choose half by up to 7 points (two speakers, 350 clips), so a variant is judged
on its mean over the seeds, against the spread. Variants: the recipe (tiny.en, all its layers: the clean
member of the pair served before Whisper base); the layer statistics' means alone (standard deviations zeroed)
or their deviations alone (the per-clip means, which carry the channel and the speaker as cepstral means do,
zeroed); a smaller probe (64 hidden units, dropout 0.5); weight decay 0.5 (10 times the recipe's); 2 augmented
copies per training clip (that pair's other member); per fold the clean and augmented models averaged (that
pair, its softmaxes averaged uncalibrated: every averaged variant here is); a speaker adversary (an actor
classifier on the probe's hidden layer, its gradient reversed, weight 0.3 or 1) that pushes the probe to
forget who speaks; Whisper base's encoder in place of tiny.en's (clean, with augmented copies, and the two
averaged); tiny.en's lower (0-2) or upper (3-4) layers alone, or all but its last; Whisper base's lower half
(0-3) (also with augmented copies, and those two averaged; or with 2 copies that only add noise, and those
averaged with the clean models), its lower half and one block more (0-4), all but its last layer, or its lower
half and all layers averaged. The TESS report half is not touched.

    python bench/speech_probe_seeds.py --root ../shared/datasets/ravdess_speech --tess ../shared/datasets/tess

Writes ``bench/results/speech_probe_seeds.json`` (rows of variants run before are kept) and prints a
table (1-3 minutes a variant on one core once the features are cached; 5-10 with augmented copies).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from timing import save_and_print  # noqa: E402

from emodemo import data  # noqa: E402
from emodemo.core import CANONICAL7  # noqa: E402
from emodemo.data.splits import apply  # noqa: E402
from emodemo.models import build  # noqa: E402
from emodemo.recipes import speech_probe as recipe  # noqa: E402
from emodemo.recipes.common import cross_validation_metrics  # noqa: E402
from emodemo.serving import evaluation  # noqa: E402
from emodemo.training import TrainConfig, standard_protocol  # noqa: E402

OUT = REPO / "bench" / "results" / "speech_probe_seeds"
NOISE = "white noise 10 dB"  # the robustness condition scored beside TESS
SEEDS = (0, 1, 2)
N_ACTORS = 24  # RAVDESS actor numbers 1-24 -> speaker classes 0-23


@dataclass(frozen=True)
class Variant:
    probe: dict = field(default_factory=dict)  # SpeechProbe settings over the recipe's
    weight_decay: float = 0.05
    statistics: str = "both"  # of each layer's states over time: "both", "means" or "deviations"
    copies: int = 0  # augmented training copies per clip
    chain: str = "all"  # the augmentation chain that makes them (emodemo.inputs.augment.training_chain)
    adversary: float = 0.0  # weight of the reversed speaker gradient (0: none)
    members: tuple[str, ...] = ()  # averaged from other variants' fold models (same seed), not trained
    encoder: str = "tiny.en"  # the frozen Whisper encoder whose layer statistics the probe reads
    layers: tuple[int, ...] | None = None  # the layers kept (0: the convolutions' output); None: all
    denoise: bool = False  # stationary noise gated out of every clip first (emodemo.inputs.normalise.denoise)

    @property
    def spec(self) -> dict:
        chosen = {"layers": list(self.layers)} if self.layers is not None else {}
        chosen.update({"denoise": True} if self.denoise else {})
        return recipe.input_spec({"encoder": self.encoder, "normalise": True, **chosen})

    @property
    def heard(self) -> tuple[str, bool]:
        """What decides the features: the encoder and the noise gate (each probe picks its layers)."""
        return self.encoder, self.denoise

    def inputs(self, stats: torch.Tensor) -> torch.Tensor:
        """The layer statistics ``[N, L, 2D]`` this variant's probe is given (it picks its layers itself)."""
        return one_statistic(stats, self.statistics) if self.statistics != "both" else stats


VARIANTS = {
    "recipe": Variant(),
    "means only": Variant(statistics="means"),
    "deviations only": Variant(statistics="deviations"),
    "64 hidden, dropout 0.5": Variant(probe={"hidden": 64, "dropout": 0.5}),
    "weight decay 0.5": Variant(weight_decay=0.5),
    "2 augmented copies": Variant(copies=2),
    "clean and augmented averaged (tiny.en's pair, served before base)": Variant(
        members=("recipe", "2 augmented copies")
    ),
    "speaker adversary 0.3": Variant(adversary=0.3),
    "speaker adversary 1": Variant(adversary=1.0),
    "Whisper base": Variant(encoder="base"),
    "Whisper base, 2 augmented copies": Variant(encoder="base", copies=2),
    "Whisper base, clean and augmented averaged": Variant(
        encoder="base", members=("Whisper base", "Whisper base, 2 augmented copies")
    ),
    "layers 0-2 (tiny.en's lower half)": Variant(layers=(0, 1, 2)),
    "layers 3-4 (tiny.en's upper half)": Variant(layers=(3, 4)),
    "layers 0-3 (tiny.en's last layer dropped)": Variant(layers=(0, 1, 2, 3)),
    "Whisper base, layers 0-3 (its lower half)": Variant(encoder="base", layers=(0, 1, 2, 3)),
    "Whisper base, layers 0-4 (its lower half and one block more)": Variant(encoder="base", layers=(0, 1, 2, 3, 4)),
    "Whisper base, layers 0-5 (its last layer dropped)": Variant(encoder="base", layers=(0, 1, 2, 3, 4, 5)),
    "Whisper base, its lower half and all layers averaged": Variant(
        encoder="base", members=("Whisper base, layers 0-3 (its lower half)", "Whisper base")
    ),
    "Whisper base, layers 0-3, 2 augmented copies": Variant(encoder="base", layers=(0, 1, 2, 3), copies=2),
    "Whisper base, layers 0-3, 2 noisy copies": Variant(encoder="base", layers=(0, 1, 2, 3), copies=2, chain="noise"),
    "Whisper base, layers 0-3, clean and noisy averaged": Variant(
        encoder="base",
        members=("Whisper base, layers 0-3 (its lower half)", "Whisper base, layers 0-3, 2 noisy copies"),
    ),
    "Whisper base, layers 0-3, noise gated out": Variant(encoder="base", layers=(0, 1, 2, 3), denoise=True),
    "Whisper base, layers 0-3, clean and augmented averaged": Variant(
        encoder="base",
        members=("Whisper base, layers 0-3 (its lower half)", "Whisper base, layers 0-3, 2 augmented copies"),
    ),
}


class _ReversedGradient(torch.autograd.Function):
    """Identity forward; the gradient times ``-weight`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.weight * grad, None


class SpeakerAdversary(nn.Module):
    """Training wrapper: the probe, and an actor classifier on its hidden layer through a reversed
    gradient (domain-adversarial training with speakers as domains). In eval mode, the probe alone."""

    def __init__(self, probe: nn.Module, weight: float) -> None:
        super().__init__()
        self.probe, self.weight = probe, weight
        hidden = probe.head[-1].in_features
        self.speakers = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, N_ACTORS))

    def forward(self, stats: torch.Tensor, speaker: torch.Tensor | None = None):
        h = self.probe.hidden(stats)  # [B, L, 2D] -> [B, H]
        logits = self.probe.head[-1](h)  # [B, C]
        if not self.training or speaker is None:
            return logits
        guesses = self.speakers(_ReversedGradient.apply(h, self.weight))  # [B, N_ACTORS]
        return {"logits": logits, "aux_loss": F.cross_entropy(guesses, speaker)}


def one_statistic(stats: torch.Tensor, kept: str) -> torch.Tensor:
    """Layer statistics ``[N, L, 2D]`` (means, then standard deviations) with the other one zeroed."""
    stats = stats.clone()
    half = stats.shape[-1] // 2
    if kept == "means":
        stats[..., half:] = 0
    else:
        stats[..., :half] = 0
    return stats


def fold_models(samples, folds, seed: int, variant: Variant) -> tuple[list[nn.Module], list[np.ndarray]]:
    """The 5 fold probes of one seed and each one's softmax on its own fold's test actors ``[N_k, C]``."""
    kwargs = dict(recipe.model_kwargs(len(CANONICAL7), variant.spec), **variant.probe)

    def make(chosen):
        dataset = recipe.make_dataset(chosen, CANONICAL7, variant.spec)
        dataset.tensors["stats"] = variant.inputs(dataset.tensors["stats"])
        if variant.adversary:
            dataset.tensors["speaker"] = torch.tensor([s.meta["actor"] - 1 for s in chosen])
        return dataset

    def new_model():
        probe = build(recipe.NAME, **kwargs)
        return SpeakerAdversary(probe, variant.adversary) if variant.adversary else probe

    cfg = TrainConfig(
        epochs=60,
        batch_size=32,
        lr=1e-3,
        weight_decay=variant.weight_decay,
        patience=12,
        class_weights=True,
        monitor="UF1",
        seed=seed,
        progress=False,
    )
    kept: dict = {}
    cross_validation_metrics(
        recipe.parts_with_copies(samples, variant.copies, variant.chain),
        folds,
        make,
        new_model,
        CANONICAL7,
        cfg,
        seed,
        recipe.NAME,
        keep_model=lambda fold, model, report: kept.setdefault(fold.name, getattr(model, "probe", model)),
        chance=False,
    )
    models = [kept[fold.name] for fold in folds]
    return models, [test_softmax(m, samples, fold, variant) for m, fold in zip(models, folds)]


def test_softmax(model: nn.Module, samples, fold, variant: Variant) -> np.ndarray:
    """A fold model's softmax on its fold's test actors ``[N_k, C]`` (no temperature)."""
    dataset = recipe.make_dataset(apply(samples, fold)[2], CANONICAL7, variant.spec)
    with torch.no_grad():
        return torch.softmax(model.eval()(stats=variant.inputs(dataset.tensors["stats"])), -1).numpy()


def ravdess_scores(test_probs: list[np.ndarray], truth: list[list[str]]) -> tuple[float, float]:
    """WA and UA (%) of the answers pooled over the test folds: ``test_probs`` one ``[N_k, C]`` per fold."""
    true = [label for fold in truth for label in fold]
    guessed = [CANONICAL7[i] for probs in test_probs for i in probs.argmax(1)]
    report = evaluation.scores_with_collapse(true, guessed, list(CANONICAL7))
    return 100 * report["WA"], 100 * report["UA"]


def ua(true: list[str], probs: np.ndarray) -> tuple[float, float]:
    """UA in percent and the collapse (share of the most frequent answer) of ``probs`` ``[N, C]``."""
    report = evaluation.scores_with_collapse(true, [CANONICAL7[i] for i in probs.argmax(1)], list(CANONICAL7))
    return 100 * report["UA"], report["collapse"]


def white_noise_sets(samples, folds) -> dict[str, list]:
    """Each fold's test actors' clips with white noise at 10 dB SNR: the robustness set's condition
    (:func:`emodemo.serving.cross_corpus.robustness_set`, the same files as bench/generalisation.py's)."""
    from emodemo.serving import cross_corpus

    folder = cross_corpus.robustness_folder()
    return {fold.name: cross_corpus.robustness_set(samples, fold, folder)[NOISE] for fold in folds}


def noise_ua(models: list[nn.Module], noisy: dict[str, list], stats: dict[str, torch.Tensor], variant) -> float:
    """UA (%) on the white-noise clips, each fold's clips answered by the mean softmax of that fold's
    models (``models`` holds each member's fold models in fold order), pooled over the folds."""
    true, guessed = [], []
    for k, (fold, clips) in enumerate(noisy.items()):
        own = models[k :: len(noisy)]
        with torch.no_grad():
            probs = torch.stack([torch.softmax(m.eval()(stats=variant.inputs(stats[fold])), -1) for m in own]).mean(0)
        true += [s.label for s in clips]
        guessed += [CANONICAL7[i] for i in probs.argmax(-1).tolist()]
    return 100 * evaluation.scores_with_collapse(true, guessed, list(CANONICAL7))["UA"]


def spread(values: list[float]) -> str:
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}"


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
    tess_stats = {}  # (encoder, denoise) -> [350, L, 2D]
    noisy = white_noise_sets(samples, folds)
    noisy_stats: dict[tuple, dict[str, torch.Tensor]] = {}  # (encoder, denoise) -> fold -> [240, L, 2D]
    tess_true = [s.label for s in tess]
    test_truth = [[s.label for s in apply(samples, fold)[2]] for fold in folds]  # each fold's test actors
    chosen = args.variant or list(VARIANTS)
    needed = list(dict.fromkeys([m for name in chosen for m in VARIANTS[name].members] + chosen))
    trained: dict[tuple[str, int], tuple[list, list[np.ndarray]]] = {}  # fold models, their test softmax per fold
    rows = []
    for name in needed:
        variant = VARIANTS[name]
        # (RAVDESS UA, TESS UA of the mean, collapse, one model's UA, softmax [5, 350, 7], noise UA, RAVDESS WA)
        per_seed = []
        for seed in SEEDS:
            if variant.members:  # each fold's test actors answered by the mean of the members' fold models
                parts = [trained[(m, seed)] for m in variant.members]
                models = [m for p in parts for m in p[0]]
                test_probs = [np.mean([p[1][k] for p in parts], axis=0) for k in range(len(folds))]
            else:
                models, test_probs = trained.setdefault((name, seed), fold_models(samples, folds, seed, variant))
            if variant.heard not in tess_stats:
                tess_stats[variant.heard] = recipe.stats_of_samples(tess, variant.spec, progress=False)
                noisy_stats[variant.heard] = {
                    fold: recipe.stats_of_samples(clips, variant.spec, progress=False) for fold, clips in noisy.items()
                }
            inputs = variant.inputs(tess_stats[variant.heard])
            with torch.no_grad():
                probs = np.stack([torch.softmax(m.eval()(stats=inputs), -1).numpy() for m in models])  # [M, 350, 7]
            tess_ua, collapse = ua(tess_true, probs.mean(0))
            ravdess_wa, ravdess_ua = ravdess_scores(test_probs, test_truth)
            one_model = np.mean([ua(tess_true, p)[0] for p in probs])
            in_noise = noise_ua(models, noisy, noisy_stats[variant.heard], variant)
            per_seed.append((ravdess_ua, tess_ua, collapse, one_model, probs, in_noise, ravdess_wa))
            print(
                f"{name}, seed {seed}: RAVDESS WA {ravdess_wa:.1f} UA {ravdess_ua:.1f}, TESS choose UA {tess_ua:.1f}, "
                f"{NOISE} UA {in_noise:.1f}",
                flush=True,
            )
        if name not in chosen:
            continue
        rows.append(
            {
                "variant": name,
                "seeds": list(SEEDS),
                "RAVDESS WA": spread([s[6] for s in per_seed]),
                "RAVDESS UA": spread([s[0] for s in per_seed]),
                "TESS choose UA (5 averaged)": spread([s[1] for s in per_seed]),
                "per seed": [round(s[1], 1) for s in per_seed],
                "one model's UA": round(float(np.mean([s[3] for s in per_seed])), 1),
                "all seeds averaged": round(ua(tess_true, np.concatenate([s[4] for s in per_seed]).mean(0))[0], 1),
                "collapse": round(float(np.mean([s[2] for s in per_seed])), 3),
                f"{NOISE} UA": spread([s[5] for s in per_seed]),
            }
        )
        print(rows[-1], flush=True)
    kept = [r for r in previous_rows() if r["variant"] in VARIANTS and r["variant"] not in chosen]
    order = list(VARIANTS)
    rows = sorted(kept + rows, key=lambda r: order.index(r["variant"]))
    save_and_print({"protocol": __doc__.split("\n\n")[1], "rows": rows}, OUT)


def previous_rows() -> list[dict]:
    """The rows saved by earlier runs of this bench (variants not re-run are kept)."""
    path = OUT.with_suffix(".json")
    return json.loads(path.read_text())["rows"] if path.exists() else []


if __name__ == "__main__":
    main()
