"""Classification metrics for emotion recognition, in plain numpy.

Emotion papers name the same few numbers differently; this module computes them once:

- **WA** (weighted accuracy) = plain accuracy: correct predictions / all predictions.
- **UA** (unweighted accuracy) = mean per-class recall = scikit-learn's ``balanced_accuracy_score``.
  It averages over the classes *present in y_true*: a class nobody said has no recall.
- **WF1** = per-class F1 averaged with weights = class support (``f1_score(average="weighted")``).
- **UF1** = per-class F1 averaged without weights (``f1_score(average="macro")``), over the classes
  present in y_true *or* y_pred: a class only ever predicted, never true, scores F1 = 0 and counts.
- per class: precision, recall (which is that class's accuracy) and F1, support, predicted count.

Conventions (the same as scikit-learn's with ``zero_division=0``): a ratio whose denominator is 0
is 0. So a class never predicted has precision 0; a class absent from y_true has recall 0 in the
per-class table (and is left out of UA); a class absent from both has F1 0 in the table (and is
left out of UF1).

Multi-label data (CMU-MOSEI, GoEmotions) is scored per emotion as a binary task, the MESM way
(talk 004): accuracy, F1 of the positive class, and WAcc = (TP * N/P + TN) / (2N), the accuracy
re-weighted as if positives and negatives were equally many; see :func:`multilabel_report`.

Every report is a JSON-serialisable ``dict``; :func:`mean_std` aggregates the reports of
cross-validation folds.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

Report = dict[str, Any]


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise ratio with 0 where the denominator is 0 (scikit-learn's ``zero_division=0``)."""
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _as_indices(values: Sequence[Hashable] | np.ndarray, labels: Sequence[Hashable], name: str) -> np.ndarray:
    """Turn predictions or targets into class indices 0..C-1.

    Integer arrays are taken as indices into ``labels``; anything else (names) is looked up in it.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: there is nothing to score")
    if np.issubdtype(array.dtype, np.integer):
        bad = (array < 0) | (array >= len(labels))
        if bad.any():
            raise ValueError(
                f"{name} holds class index {array[bad][0]} outside 0..{len(labels) - 1} "
                f"(there are {len(labels)} labels)"
            )
        return array.astype(np.int64)
    position = {label: i for i, label in enumerate(labels)}
    unknown = [v for v in array.tolist() if v not in position]
    if unknown:
        raise ValueError(f"{name} holds {unknown[0]!r}, which is not one of the labels {list(labels)}")
    return np.array([position[v] for v in array.tolist()], dtype=np.int64)


def confusion_matrix(y_true, y_pred, labels: Sequence[Hashable]) -> np.ndarray:
    """Counts ``[C, C]``: row = true class, column = predicted class, in the order of ``labels``.

    Classes absent from the data keep their (all-zero) row and column, so matrices of different
    folds line up. ``y_true``/``y_pred`` are class indices or label names.
    """
    true = _as_indices(y_true, labels, "y_true")
    pred = _as_indices(y_pred, labels, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {true.size} items but y_pred has {pred.size}")
    n_classes = len(labels)
    counts = np.bincount(true * n_classes + pred, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def per_class_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1, support and predicted count of every class, from a confusion matrix."""
    cm = np.asarray(cm)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)  # [C] how often each class is true
    predicted = cm.sum(axis=0)  # [C] how often each class is predicted
    return {
        "precision": _safe_divide(tp, predicted),
        "recall": _safe_divide(tp, support),
        # 2PR/(P+R) written with counts, which stays defined when P or R is 0
        "f1": _safe_divide(2 * tp, support + predicted),
        "support": support,
        "predicted": predicted,
    }


def classification_report(y_true, y_pred, labels: Sequence[Hashable]) -> Report:
    """Every single-label metric of this project in one JSON-ready dict.

    >>> r = classification_report([0, 0, 1, 2], [0, 1, 1, 1], ["neutral", "happy", "sad"])
    >>> r["WA"], r["UA"], r["per_class"]["happy"]["precision"]
    (0.5, 0.5, 0.3333333333333333)

    Keys: ``labels``, ``n``, ``WA``, ``UA``, ``WF1``, ``UF1``, ``macro_precision`` (over the same
    classes as UF1), ``per_class`` (label -> precision, recall, f1, support, predicted) and
    ``confusion_matrix`` (list of rows, true x predicted).
    """
    cm = confusion_matrix(y_true, y_pred, labels)
    scores = per_class_scores(cm)
    support, predicted = scores["support"], scores["predicted"]
    in_true = support > 0
    in_either = in_true | (predicted > 0)
    n = int(support.sum())
    return {
        "labels": [str(label) for label in labels],
        "n": n,
        "WA": float(np.trace(cm) / n),
        "UA": float(scores["recall"][in_true].mean()),
        "WF1": float(np.sum(scores["f1"] * support) / n),
        "UF1": float(scores["f1"][in_either].mean()),
        "macro_precision": float(scores["precision"][in_either].mean()),
        "per_class": {
            str(label): {
                "precision": float(scores["precision"][i]),
                "recall": float(scores["recall"][i]),
                "f1": float(scores["f1"][i]),
                "support": int(support[i]),
                "predicted": int(predicted[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": cm.tolist(),
    }


def weighted_accuracy(tp: float, tn: float, positives: float, negatives: float) -> float:
    """MESM's WAcc = (TP * N/P + TN) / (2N), i.e. the mean of the true-positive and true-negative rates.

    When one side is missing (P = 0 or N = 0) the formula is undefined; we then return the rate of
    the side that exists, which is what ``balanced_accuracy_score`` does on that binary column.
    """
    if positives == 0 and negatives == 0:
        raise ValueError("no examples: WAcc is undefined")
    if positives == 0:
        return tn / negatives
    if negatives == 0:
        return tp / positives
    return (tp * negatives / positives + tn) / (2 * negatives)


def _as_binary_matrix(values, name: str) -> np.ndarray:
    matrix = np.asarray(values)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a 2-D 0/1 matrix [n_examples, n_emotions], got shape {matrix.shape}")
    if matrix.shape[0] == 0:
        raise ValueError(f"{name} is empty: there is nothing to score")
    if not np.isin(matrix, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1 (threshold probabilities first)")
    return matrix.astype(bool)


def multilabel_report(y_true, y_pred, labels: Sequence[Hashable]) -> Report:
    """Per-emotion binary scores of multi-label predictions, MESM style (talk 004).

    ``y_true`` and ``y_pred`` are 0/1 matrices ``[n_examples, n_emotions]``; each column is scored
    as its own "emotion present?" task. Returns ``labels``, ``n``, ``per_class`` (label ->
    accuracy, f1 (of the positive class), wacc, positives, negatives), and the plain means over
    emotions ``mean_accuracy``, ``mean_f1``, ``mean_wacc`` (the papers' "Average" column).
    """
    true = _as_binary_matrix(y_true, "y_true")
    pred = _as_binary_matrix(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(f"y_true has shape {true.shape} but y_pred has {pred.shape}")
    if true.shape[1] != len(labels):
        raise ValueError(f"{true.shape[1]} columns but {len(labels)} labels")
    n = true.shape[0]
    tp = (true & pred).sum(axis=0)  # [C]
    tn = (~true & ~pred).sum(axis=0)  # [C]
    positives = true.sum(axis=0)  # [C]
    negatives = n - positives  # [C]
    predicted = pred.sum(axis=0)  # [C]
    accuracy = (tp + tn) / n
    f1 = _safe_divide(2 * tp, positives + predicted)
    wacc = np.array([weighted_accuracy(*counts) for counts in zip(tp, tn, positives, negatives)])
    return {
        "labels": [str(label) for label in labels],
        "n": int(n),
        "mean_accuracy": float(accuracy.mean()),
        "mean_f1": float(f1.mean()),
        "mean_wacc": float(wacc.mean()),
        "per_class": {
            str(label): {
                "accuracy": float(accuracy[i]),
                "f1": float(f1[i]),
                "wacc": float(wacc[i]),
                "positives": int(positives[i]),
                "negatives": int(negatives[i]),
            }
            for i, label in enumerate(labels)
        },
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _aggregate(values: list[Any]) -> Any:
    """Mean/std of numbers, recursing through dicts; other values (lists, strings) are skipped."""
    first = values[0]
    if _is_number(first):
        array = np.asarray(values, dtype=float)
        std = float(array.std(ddof=1)) if len(array) > 1 else 0.0
        return {"mean": float(array.mean()), "std": std}
    if isinstance(first, Mapping):
        keys = [k for k in first if all(isinstance(v, Mapping) and k in v for v in values)]
        nested = {k: _aggregate([v[k] for v in values]) for k in keys}
        return {k: v for k, v in nested.items() if v is not None}
    return None


def mean_std(reports: Sequence[Report]) -> Report:
    """Aggregate fold reports: every number becomes ``{"mean": m, "std": s}``.

    ``std`` is the sample standard deviation (ddof=1, what "mean ± std over 5 folds" usually
    means; 0 for a single report). Nested numbers (``per_class``) are aggregated the same way.
    When every report has the same ``labels`` and a ``confusion_matrix``, the result also holds
    the summed (pooled) confusion matrix and the labels. ``n_reports`` says how many were merged.
    """
    if not reports:
        raise ValueError("mean_std needs at least one report")
    result: Report = _aggregate(list(reports))
    result["n_reports"] = len(reports)
    same_labels = all(r.get("labels") == reports[0].get("labels") for r in reports)
    if same_labels and "labels" in reports[0]:
        result["labels"] = list(reports[0]["labels"])
        if all("confusion_matrix" in r for r in reports):
            result["confusion_matrix"] = np.sum([r["confusion_matrix"] for r in reports], axis=0).tolist()
    return result
