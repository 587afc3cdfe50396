"""Metrics agree with scikit-learn on random cases and on the awkward edge cases."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from emodemo.core.metrics import classification_report, confusion_matrix, mean_std, multilabel_report, weighted_accuracy

LABELS = ["neutral", "happy", "sad", "angry", "fearful"]


def random_cases(n_cases: int = 200, seed: int = 0):
    """Random (y_true, y_pred) pairs of varied size and class coverage, so classes go missing."""
    rng = np.random.default_rng(seed)
    for _ in range(n_cases):
        n = int(rng.integers(1, 40))
        true_classes = rng.choice(len(LABELS), size=int(rng.integers(1, len(LABELS) + 1)), replace=False)
        pred_classes = rng.choice(len(LABELS), size=int(rng.integers(1, len(LABELS) + 1)), replace=False)
        yield rng.choice(true_classes, n), rng.choice(pred_classes, n)


def sklearn_scores(y_true, y_pred):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when a predicted class is absent from y_true
        return {
            "WA": skm.accuracy_score(y_true, y_pred),
            "UA": skm.balanced_accuracy_score(y_true, y_pred),
            "WF1": skm.f1_score(y_true, y_pred, average="weighted", zero_division=0),
            "UF1": skm.f1_score(y_true, y_pred, average="macro", zero_division=0),
            "macro_precision": skm.precision_score(y_true, y_pred, average="macro", zero_division=0),
        }


def test_summary_scores_match_sklearn_on_random_cases():
    for y_true, y_pred in random_cases():
        report = classification_report(y_true, y_pred, LABELS)
        for key, expected in sklearn_scores(y_true, y_pred).items():
            assert report[key] == pytest.approx(expected), (key, y_true, y_pred)


def test_per_class_scores_and_confusion_matrix_match_sklearn_on_random_cases():
    everything = list(range(len(LABELS)))
    for y_true, y_pred in random_cases(seed=1):
        report = classification_report(y_true, y_pred, LABELS)
        precision, recall, f1, support = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=everything, zero_division=0
        )
        per_class = report["per_class"]
        assert [per_class[name]["precision"] for name in LABELS] == pytest.approx(precision)
        assert [per_class[name]["recall"] for name in LABELS] == pytest.approx(recall)
        assert [per_class[name]["f1"] for name in LABELS] == pytest.approx(f1)
        assert [per_class[name]["support"] for name in LABELS] == support.tolist()
        assert report["confusion_matrix"] == skm.confusion_matrix(y_true, y_pred, labels=everything).tolist()


def test_label_names_and_indices_give_the_same_report():
    rng = np.random.default_rng(2)
    y_true, y_pred = rng.integers(0, 5, 30), rng.integers(0, 5, 30)
    by_name = classification_report([LABELS[i] for i in y_true], [LABELS[i] for i in y_pred], LABELS)
    assert by_name == classification_report(y_true, y_pred, LABELS)


def test_class_never_predicted_scores_zero_precision_and_counts_in_uf1():
    report = classification_report([0, 0, 1, 1], [0, 0, 0, 0], ["neutral", "happy"])
    assert report["per_class"]["happy"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2, "predicted": 0}
    assert report["UA"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert report["UF1"] == pytest.approx((2 / 3 + 0) / 2)


def test_class_absent_from_y_true_is_left_out_of_ua_but_not_uf1_when_predicted():
    report = classification_report([0, 0, 0], [0, 0, 1], ["neutral", "happy", "sad"])
    assert report["UA"] == pytest.approx(2 / 3)  # only "neutral" is true: its recall
    assert report["UF1"] == pytest.approx((0.8 + 0) / 2)  # "happy" was predicted, so it counts
    assert report["per_class"]["sad"]["f1"] == 0.0  # absent from both: 0 in the table, left out of UF1
    assert report["confusion_matrix"][2] == [0, 0, 0]  # absent classes keep their row and column


def test_single_class_data_is_perfect_when_predicted_right():
    report = classification_report(["sad"] * 4, ["sad"] * 4, LABELS)
    assert (report["WA"], report["UA"], report["WF1"], report["UF1"]) == (1.0, 1.0, 1.0, 1.0)


def test_report_is_json_serialisable_and_names_the_labels():
    report = classification_report(np.array([0, 1]), np.array([1, 1]), LABELS)
    assert json.loads(json.dumps(report))["labels"] == LABELS


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        ([], [], "empty"),
        ([0, 7], [0, 1], "outside 0..4"),
        (["happy", "bored"], ["happy", "sad"], "'bored'"),
        ([0, 1, 2], [0, 1], "3 items but y_pred has 2"),
    ],
)
def test_bad_input_gets_a_clear_message(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        classification_report(y_true, y_pred, LABELS)


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix(["happy", "happy", "sad"], ["sad", "happy", "sad"], ["happy", "sad"])
    assert cm.tolist() == [[1, 1], [0, 1]]


def test_multilabel_scores_match_the_mesm_formula_and_sklearn():
    rng = np.random.default_rng(3)
    for _ in range(100):
        n, c = int(rng.integers(2, 50)), int(rng.integers(1, 7))
        y_true = (rng.random((n, c)) < rng.random(c)).astype(int)  # varied prevalence per emotion
        y_pred = (rng.random((n, c)) < 0.4).astype(int)
        report = multilabel_report(y_true, y_pred, [f"e{j}" for j in range(c)])
        for j in range(c):
            t, p = y_true[:, j], y_pred[:, j]
            scores = report["per_class"][f"e{j}"]
            positives, negatives = int(t.sum()), int(n - t.sum())
            tp, tn = int(((t == 1) & (p == 1)).sum()), int(((t == 0) & (p == 0)).sum())
            if positives and negatives:
                assert scores["wacc"] == pytest.approx((tp * negatives / positives + tn) / (2 * negatives))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert scores["wacc"] == pytest.approx(skm.balanced_accuracy_score(t, p))
            assert scores["accuracy"] == pytest.approx(skm.accuracy_score(t, p))
            assert scores["f1"] == pytest.approx(skm.f1_score(t, p, zero_division=0))
        assert report["mean_wacc"] == pytest.approx(np.mean([v["wacc"] for v in report["per_class"].values()]))


def test_wacc_does_not_reward_predicting_all_negative():
    y_true = np.array([[1]] + [[0]] * 9)
    report = multilabel_report(y_true, np.zeros_like(y_true), ["angry"])
    assert report["per_class"]["angry"]["accuracy"] == pytest.approx(0.9)
    assert report["per_class"]["angry"]["wacc"] == pytest.approx(0.5)


def test_wacc_needs_examples_and_multilabel_needs_binary_input():
    with pytest.raises(ValueError, match="undefined"):
        weighted_accuracy(0, 0, 0, 0)
    with pytest.raises(ValueError, match="only 0 and 1"):
        multilabel_report([[0.2, 0.9]], [[0, 1]], ["a", "b"])


def test_mean_std_aggregates_every_number_and_pools_confusion_matrices():
    folds = [
        classification_report([0, 1, 1], [0, 1, 0], LABELS[:2]),
        classification_report([0, 1, 1], [0, 1, 1], LABELS[:2]),
    ]
    summary = mean_std(folds)
    was = [f["WA"] for f in folds]
    assert summary["WA"] == pytest.approx({"mean": np.mean(was), "std": np.std(was, ddof=1)})
    assert summary["per_class"]["happy"]["recall"]["mean"] == pytest.approx(0.75)
    assert summary["confusion_matrix"] == [[2, 0], [1, 3]]
    assert summary["n_reports"] == 2 and summary["labels"] == LABELS[:2]
    assert mean_std(folds[:1])["UF1"]["std"] == 0.0
