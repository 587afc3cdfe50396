"""What each modality says alone, and their late fusion with weights the user sets (the app).

Per modality one *expert*: the served model that reads that modality alone (voice: audio only;
words: text only; face: video frames) with the best score on what the app gives it
(:func:`emodemo.evaluation.expert_score`: headline accuracy; for words, weighted F1 on spoken dialogue). Each expert's probabilities are put on the canonical
7 classes (RAVDESS "calm" added to "neutral") and fused as a weighted mean,

    p(emotion) = sum_m w_m p_m(emotion) / sum_m w_m        over the experts that answered, w_m >= 0,

which is what the talks call late (decision-level) fusion, with the weights in the user's hands.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from emodemo.labels import CANONICAL7, to_canonical

MODALITY_NAMES = {"audio": "voice", "text": "words", "face": "face"}


def canonical_probabilities(ranking: Sequence[tuple[str, float]]) -> dict[str, float]:
    """A model's ``[(label, probability)]`` on the canonical 7 classes (labels with no place there,
    and their mass, are dropped; the rest is renormalised)."""
    probs = dict.fromkeys(CANONICAL7, 0.0)
    for label, p in ranking:
        canonical = to_canonical(label)
        if canonical is not None:
            probs[canonical] += float(p)
    total = sum(probs.values())
    if total <= 0:
        raise ValueError("none of the model's labels is one of the canonical 7 emotions")
    return {label: p / total for label, p in probs.items()}


def fuse(answers: Mapping[str, Mapping[str, float]], weights: Mapping[str, float]) -> dict[str, float]:
    """The weighted mean of each modality's canonical probabilities (``answers[modality]``), by
    ``weights[modality]`` (missing: 0). Raises when no answering modality has a positive weight."""
    if any(weight < 0 for weight in weights.values()):
        raise ValueError(f"weights must be non-negative, got {dict(weights)}")
    used = {m: float(weights.get(m, 0.0)) for m in answers if weights.get(m, 0.0) > 0}
    if not used:
        raise ValueError("give at least one modality that answered a weight above 0")
    total = sum(used.values())
    return {label: sum(w * answers[m][label] for m, w in used.items()) / total for label in CANONICAL7}


def choose_experts(models: Sequence, modality_of, score_of) -> dict[str, object]:
    """``{modality: model}``: for each single modality the model reading it alone with the best
    ``score_of(model)``; ``modality_of(model)`` gives a model's modalities (a tuple)."""
    experts: dict[str, object] = {}
    for model in models:
        modalities = modality_of(model)
        if len(modalities) != 1:
            continue
        (modality,) = modalities
        if modality not in experts or score_of(model) > score_of(experts[modality]):
            experts[modality] = model
    return experts
