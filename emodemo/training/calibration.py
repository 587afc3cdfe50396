"""How far to trust an answer: temperature scaling, expected calibration error, and the "unsure" line.

A classifier's softmax is calibrated when, of the clips it answers with probability 0.8, about 80 %
are right. Networks trained with cross-entropy are usually over-confident; *temperature scaling*
(Guo et al., 2017) divides the logits by one number T > 0 fitted on held-out data by minimising the
negative log-likelihood. It never changes which class wins (accuracy is unchanged), only how sure
the model says it is.

- :func:`fit_temperature`: T from validation speakers' logits and labels (LBFGS on log T).
- :func:`expected_calibration_error`: top-label ECE with 15 equal-width confidence bins (the usual
  definition): the bin-size-weighted mean gap between accuracy and mean confidence.
- :func:`reliability`: the per-bin numbers a reliability diagram draws.
- :func:`unsure_threshold`: the lowest confidence above which the answered clips are right at least
  ``target`` of the time (chosen on validation speakers; the app says "unsure" below it).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

N_BINS = 15


def fit_temperature(
    logits: np.ndarray | torch.Tensor,
    targets: np.ndarray | torch.Tensor,
    bounds: tuple[float, float] = (0.05, 20.0),
    weights: np.ndarray | None = None,
) -> float:
    """The T minimising the NLL of ``softmax(logits / T)``: logits ``[N, C]``, targets ``[N]`` class ids;
    ``weights [N]``: each answer's share of the NLL (default: equal)."""
    z = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    y = torch.as_tensor(np.asarray(targets, dtype=np.int64))
    if z.ndim != 2 or len(z) != len(y) or len(y) == 0:
        raise ValueError(f"expected logits [N, C] and N targets, got {tuple(z.shape)} and {tuple(y.shape)}")
    w = torch.ones(len(y), dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    if w.shape != y.shape or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise ValueError(f"expected {len(y)} weights, none negative and not all 0, got {tuple(w.shape)}")
    w = w / w.sum()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = (F.cross_entropy(z / log_t.exp(), y, reduction="none") * w).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    low, high = bounds
    return float(min(max(math.exp(float(log_t.detach())), low), high))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``[N, C]`` logits -> probabilities at ``temperature``."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def reliability(probs: np.ndarray, targets: np.ndarray, n_bins: int = N_BINS) -> dict[str, np.ndarray]:
    """Per equal-width confidence bin of the top label: ``count``, mean ``confidence``, ``accuracy``
    (NaN where a bin is empty) and the bin ``edges`` ``[n_bins + 1]``."""
    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(axis=1)  # [N]
    correct = (probs.argmax(axis=1) == np.asarray(targets)).astype(np.float64)  # [N]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)  # bins (a, b]
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, confidence, n_bins) / count
        accuracy = np.bincount(which, correct, n_bins) / count
    return {"count": count, "confidence": mean_confidence, "accuracy": accuracy, "edges": edges}


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, n_bins: int = N_BINS) -> float:
    """Top-label ECE: sum over bins of (clips in bin / N) * |accuracy - mean confidence|."""
    bins = reliability(probs, targets, n_bins)
    used = bins["count"] > 0
    weights = bins["count"][used] / bins["count"].sum()
    return float(np.sum(weights * np.abs(bins["accuracy"][used] - bins["confidence"][used])))


def ece_uncertainty(
    probs: np.ndarray, targets: np.ndarray, n_resamples: int = 1000, seed: int = 0, n_bins: int = N_BINS
) -> dict[str, float]:
    """How much of an ECE is sampling noise, for a few hundred clips.

    ``low`` / ``high``: a 95 % bootstrap interval of the ECE over clips (``scipy.stats.bootstrap``,
    bias-corrected BCa: resampling inflates binned ECE; the plain percentile interval when BCa cannot
    be computed, or collapses to a point: an ECE under 99 % of the resamples' or more; the percentile interval
    then lies over the ECE itself). ``if_calibrated``: the mean ECE a perfectly calibrated model would show on as many
    clips at the same confidences (each answer right with probability its confidence), and
    ``calibrated_low`` / ``calibrated_high`` the 2.5 / 97.5 percentiles of it: an ECE inside that
    band is what calibration itself gives on this many clips."""
    from scipy.stats import bootstrap

    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets)

    def ece_of(rows: np.ndarray) -> float:  # rows: clip indices, drawn with replacement
        return expected_calibration_error(probs[rows], targets[rows], n_bins)

    rng = np.random.default_rng(seed)
    rows = (np.arange(len(targets)),)
    with warnings.catch_warnings():  # a degenerate BCa warns and gives NaN: the fallback below takes over
        warnings.simplefilter("ignore")
        interval = bootstrap(rows, ece_of, n_resamples=n_resamples, method="BCa", vectorized=False, rng=rng)
    low, high = interval.confidence_interval
    resampled = interval.bootstrap_distribution  # [n_resamples] ECEs
    under = np.mean(resampled < ece_of(rows[0]))  # resamples under the ECE: BCa's bias estimate
    if not (np.isfinite(low) and np.isfinite(high)) or min(under, 1 - under) < 0.01:  # BCa undefined, or collapsed
        low, high = np.percentile(resampled, [2.5, 97.5])  # the percentile interval of the same resamples
    top = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    simulated = []
    for _ in range(n_resamples):  # answers drawn right with probability = confidence: calibrated by construction
        right = rng.random(len(confidence)) < confidence
        truth = np.where(right, top, (top + 1) % probs.shape[1])  # any other class makes the top answer wrong
        simulated.append(expected_calibration_error(probs, truth, n_bins))
    return {
        "low": float(low),
        "high": float(high),
        "if_calibrated": float(np.mean(simulated)),
        "calibrated_low": float(np.percentile(simulated, 2.5)),
        "calibrated_high": float(np.percentile(simulated, 97.5)),
    }


def unsure_threshold(probs: np.ndarray, targets: np.ndarray, target: float = 0.80) -> dict[str, float]:
    """The lowest top-label confidence t such that the clips answered with confidence >= t are right
    at least ``target`` of the time. Returns ``{"threshold", "answered", "accuracy_answered"}``
    (``answered``: the share of clips at or above t); ``threshold`` is 1.0 (answer nothing) when no
    t reaches the target."""
    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(targets)
    order = np.argsort(-confidence, kind="stable")  # most confident first
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    sorted_confidence = confidence[order]
    # a threshold answers whole groups of equal confidence: only the last index of a group can end the answered set
    group_ends = np.append(sorted_confidence[1:] != sorted_confidence[:-1], True)
    ok = np.flatnonzero(group_ends & (running >= target))
    if ok.size == 0:
        return {"threshold": 1.0, "answered": 0.0, "accuracy_answered": float("nan")}
    threshold = float(sorted_confidence[ok[-1]])
    answered = confidence >= threshold
    return {
        "threshold": threshold,
        "answered": float(answered.mean()),
        "accuracy_answered": float(correct[answered].mean()),
    }


def calibrated_on(
    probs: np.ndarray,
    targets: np.ndarray,
    speakers,
    perturbed: tuple[np.ndarray, np.ndarray, str] | None = None,
    clean_half: bool = False,
) -> dict:
    """The temperature (:func:`fit_temperature`) and "unsure" threshold (:func:`unsure_threshold`,
    right >= 80 % of the answered clips) fitted on held-out speakers' answers ``probs [N, C]`` to
    ``targets [N]``, with ECE before and after: ``{"temperature", "fitted_on", "unsure",
    "ece_before", "ece_after"}``, what :func:`emodemo.training.checkpoint.save_checkpoint` keeps as
    ``calibration``.

    ``perturbed``: ``(probs [M, C], targets [M], what they are)``, the same speakers' clips changed
    the way new recordings differ (level, noise, telephone line): the temperature is fitted on both,
    so that a model sure of itself on its own corpus's clean takes is tempered where it meets
    something new; the "unsure" line and ``ece_before`` / ``ece_after`` stay on the clean clips, and
    ``perturbed`` (what), ``ece_perturbed_before`` / ``ece_perturbed_after`` are added. ``clean_half``: the clean
    clips weigh as much in the fit as the changed ones together (else each clip as much as any other: five
    conditions of changed clips outweigh the clean ones 5 to 1), recorded as ``clean_share`` 0.5."""
    if clean_half and perturbed is None:
        raise ValueError("clean_half weighs the clean clips against changed ones: give the perturbed answers too")
    logits = np.log(np.clip(probs, 1e-12, None))  # log-softmax: the logits up to a shift per clip
    fit_logits, fit_targets = logits, np.asarray(targets)
    if perturbed is not None:
        more = np.log(np.clip(perturbed[0], 1e-12, None))  # [M, C]
        fit_logits = np.concatenate([logits, more])  # [N + M, C]
        fit_targets = np.concatenate([fit_targets, np.asarray(perturbed[1])])
    weights = None
    if clean_half:  # [N + M]: each kind half the fit
        weights = np.r_[np.full(len(logits), 0.5 / len(logits)), np.full(len(more), 0.5 / len(more))]
    temperature = fit_temperature(fit_logits, fit_targets, weights=weights)
    calibrated = softmax(logits, temperature)
    out = {
        "temperature": temperature,
        "fitted_on": list(speakers),
        "unsure": unsure_threshold(calibrated, targets),
        "ece_before": expected_calibration_error(probs, targets),
        "ece_after": expected_calibration_error(calibrated, targets),
    }
    if perturbed is not None:
        out["perturbed"] = perturbed[2]
        out["ece_perturbed_before"] = expected_calibration_error(perturbed[0], perturbed[1])
        out["ece_perturbed_after"] = expected_calibration_error(softmax(more, temperature), perturbed[1])
        if clean_half:
            out["clean_share"] = 0.5
    return out
