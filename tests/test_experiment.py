"""The shared protocol: folds never leak speakers, and every recipe gets the same treatment."""

import pytest
import torch

from emodemo.core.labels import RAVDESS8
from emodemo.data import layouts, load
from emodemo.data.splits import final_split, kfold_by_speaker
from emodemo.training.datasets import DictDataset
from emodemo.training.engine import TrainConfig
from emodemo.training.experiment import cross_validate, standard_protocol, train_final


def _pitch_features(samples):
    """A feature a linear model can use on fixture clips (their pitch encodes the emotion)."""
    index = {name: i for i, name in enumerate(RAVDESS8)}
    noise = torch.randn(len(samples), 8, generator=torch.Generator().manual_seed(len(samples)))
    x = torch.tensor([[float(index[s.label] == j) for j in range(8)] for s in samples]) + 0.1 * noise
    return x, torch.tensor([index[s.label] for s in samples])


def test_cross_validation_trains_and_tests_on_disjoint_speakers(tmp_path):
    samples = load("ravdess", layouts.make_ravdess(tmp_path, actors=(1, 2, 3, 4, 5, 6), sr=8000))
    folds = kfold_by_speaker(samples, k=3, seed=0, val_speakers=1)
    seen = []

    def make_dataset(part):
        seen.append({s.speaker for s in part})
        x, y = _pitch_features(part)
        return DictDataset(input=x, label=y)

    cfg = TrainConfig(epochs=5, batch_size=16, lr=0.05, progress=False, patience=None)
    result = cross_validate(samples, folds, make_dataset, lambda: torch.nn.Linear(8, 8), RAVDESS8, cfg)
    assert len(result["folds"]) == 3
    for i in range(3):
        train, val, test = seen[3 * i : 3 * i + 3]
        assert not (train & test) and not (val & test) and not (train & val)
    assert result["summary"]["n_reports"] == 3
    assert 0.9 <= result["summary"]["WA"]["mean"] <= 1.0  # the features give the label away
    assert {f["fold"] for f in result["folds"]} == {"fold0", "fold1", "fold2"}


def test_final_model_never_trains_on_its_validation_speakers(tmp_path):
    samples = load("ravdess", layouts.make_ravdess(tmp_path, actors=(1, 2, 3), sr=8000))
    split = final_split(samples, val_speakers=1)
    parts = []

    def make_dataset(part):
        parts.append({s.speaker for s in part})
        x, y = _pitch_features(part)
        return DictDataset(input=x, label=y)

    cfg = TrainConfig(epochs=2, batch_size=16, progress=False)
    model, history, report = train_final(samples, split, make_dataset, lambda: torch.nn.Linear(8, 8), RAVDESS8, cfg)
    assert parts[0] == set(split.train) and parts[1] == set(split.val)
    assert report["n"] == sum(1 for s in samples if s.speaker in split.val)
    assert len(history.epochs) == 2


def test_ravdess_uses_the_committed_folds():
    folds, final = standard_protocol("ravdess", [])
    assert len(folds) == 5
    tested = [a for f in folds for a in f.test]
    assert sorted(tested) == [f"Actor_{i:02d}" for i in range(1, 21)]
    assert set(final.train) | set(final.val) == set(tested) and not final.test


def test_same_seed_same_result(tmp_path):
    """Initial weights are seeded too: a rerun reproduces every number."""
    samples = load("ravdess", layouts.make_ravdess(tmp_path, actors=(1, 2, 3, 4), sr=8000))
    folds = kfold_by_speaker(samples, k=2, seed=0, val_speakers=1)

    def make_dataset(part):
        x, y = _pitch_features(part)
        return DictDataset(input=x, label=y)

    cfg = TrainConfig(epochs=2, batch_size=16, progress=False)
    runs = []
    for _ in range(2):
        torch.seed()  # whatever state the process is in
        runs.append(cross_validate(samples, folds, make_dataset, lambda: torch.nn.Linear(8, 8), RAVDESS8, cfg))
    assert runs[0]["summary"] == runs[1]["summary"]


def test_folds_run_apart_merge_into_one_cross_validation():
    from emodemo.training.experiment import merge_fold_runs

    def run(name, wa):
        epoch = {
            "epoch": 1,
            "train_loss": 1.0,
            "val_loss": 1.2,
            "lr": 1e-3,
            "seconds": 2.0,
            "val_metrics": {"WA": wa, "UA": wa, "WF1": wa, "UF1": wa, "per_class": {}, "confusion_matrix": [[1]]},
        }
        fold = {
            "fold": name,
            "labels": ["a", "b"],
            "n": 4,
            "WA": wa,
            "UA": wa,
            "WF1": wa,
            "UF1": wa,
            "confusion_matrix": [[2, 0], [1, 1]],
            "train": ["s1"],
            "val": ["s2"],
            "test": ["s3"],
            "best_epoch": 1,
            "history": {"monitor": "UF1", "best_epoch": 1, "best_score": wa, "stopped_early": False, "epochs": [epoch]},
        }
        return {"pairing": "real", "cross_validation": {"WA": {"mean": wa, "std": 0.0}}, "folds": [fold]}

    merged = merge_fold_runs([run("fold1", 0.6), run("fold0", 0.4)])
    assert [f["fold"] for f in merged["folds"]] == ["fold0", "fold1"] and merged["pairing"] == "real"
    assert merged["cross_validation"]["WA"]["mean"] == pytest.approx(0.5)
    assert merged["cross_validation"]["confusion_matrix"] == [[4, 0], [2, 2]]
    assert merged["folds"][0]["history"]["epochs"][0]["val"] == {"WA": 0.4, "UA": 0.4, "WF1": 0.4, "UF1": 0.4}
    with pytest.raises(ValueError, match="two runs"):
        merge_fold_runs([run("fold0", 0.4), run("fold0", 0.5)])
    with pytest.raises(ValueError, match="disagree"):
        merge_fold_runs([run("fold0", 0.4), dict(run("fold1", 0.5), pairing="constructed")])

    def mixed(name, wa):  # a mixed-pairs run: each half of its test clips scored apart
        half = {"fold": name, "labels": ["a", "b"], "WA": wa, "UA": wa, "WF1": wa, "UF1": wa}
        return dict(
            run(name, wa),
            by_pairing={
                "constructed": {"summary": {}, "folds": [dict(half, WA=1.0)]},
                "real": {"summary": {}, "folds": [half]},
            },
        )

    halves = merge_fold_runs([mixed("fold1", 0.6), mixed("fold0", 0.4)])["by_pairing"]
    assert [f["fold"] for f in halves["real"]["folds"]] == ["fold0", "fold1"]
    assert halves["real"]["summary"]["WA"]["mean"] == pytest.approx(0.5)
    assert halves["constructed"]["summary"]["WA"] == {"mean": 1.0, "std": 0.0}

    # a recipe's own summary of its folds (mesm's per-emotion scores) differs between runs: computed again
    from emodemo.recipes import mesm

    def own(name, wa, cm):
        result = run(name, wa)
        result["folds"][0]["confusion_matrix"] = cm
        return dict(result, per_emotion=mesm.per_emotion_summary(result["folds"]))

    runs = [own("fold1", 0.6, [[2, 0], [0, 2]]), own("fold0", 0.4, [[2, 0], [1, 1]])]
    with pytest.raises(ValueError, match="disagree on 'per_emotion'"):
        merge_fold_runs(runs)
    merged = merge_fold_runs(runs, mesm.FOLD_SUMMARIES)
    assert merged["per_emotion"] == mesm.per_emotion_summary(merged["folds"])
    assert merged["per_emotion"]["mean_accuracy"]["mean"] == pytest.approx((1.0 + 0.75) / 2)


def test_staged_cross_validation_scores_the_test_speakers_after_every_stage_and_merges_by_stage(tmp_path):
    """Talk 001's staged fine-tuning: stages continue from the previous stage's weights, each fold is
    scored after each stage, and folds run apart are merged stage by stage."""
    from emodemo.training.experiment import Stage, merge_fold_runs

    samples = load("ravdess", layouts.make_ravdess(tmp_path, actors=(1, 2, 3, 4, 5, 6), sr=8000))
    folds = kfold_by_speaker(samples, k=3, seed=0, val_speakers=1)

    def make_dataset(part):
        x, y = _pitch_features(part)
        return DictDataset(input=x, label=y)

    class TwoPart(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.frozen, self.head = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)

        def forward(self, input):
            return self.head(self.frozen(input))

    prepared = []

    def only_head(model):
        prepared.append(("head", model.frozen.weight.detach().clone()))
        model.frozen.requires_grad_(False)

    def everything(model):
        prepared.append(("all", model.frozen.weight.detach().clone()))
        model.requires_grad_(True)

    cfg = TrainConfig(epochs=4, batch_size=16, lr=0.05, progress=False, patience=None)
    stages = [Stage("head", cfg, only_head), Stage("all", cfg, everything)]
    result = cross_validate(samples, folds[:2], make_dataset, TwoPart, RAVDESS8, cfg, stages=stages)
    assert list(result["stages"]) == ["head", "all"] and len(result["stages"]["all"]["folds"]) == 2
    assert [name for name, _ in prepared] == ["head", "all", "head", "all"]
    assert torch.equal(prepared[0][1], prepared[1][1])  # stage 1 left the frozen part as it was
    assert result["folds"] == result["stages"]["all"]["folds"]
    runs = [
        dict(result, folds=[f], stages={n: {"folds": [s["folds"][i]]} for n, s in result["stages"].items()})
        for i, f in enumerate(result["folds"])
    ]
    merged = merge_fold_runs(runs)
    assert merged["stages"]["head"]["cross_validation"]["WA"]["mean"] == pytest.approx(
        result["stages"]["head"]["summary"]["WA"]["mean"]
    )
