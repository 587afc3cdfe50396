"""What each modality says alone, and their late fusion (the app).

Per modality one *expert*: the served model that reads that modality alone (voice: audio only;
words: text only; face: video frames) with the best score on what the app gives it
(:func:`emodemo.reports.headline.expert_score`: headline accuracy; for words, weighted F1 on spoken
dialogue). Each expert's (calibrated) probabilities are put on the canonical 7 classes (RAVDESS
"calm" added to "neutral") and fused.

Two fusions:

- :func:`fuse`, the weighted mean ``p = sum_m w_m p_m / sum_m w_m`` with the weights in the
  user's hands (what the talks call late, decision-level fusion). With equal weights a confident
  words expert outvotes an unsure voice even when the words carry nothing ("Kids are talking by
  the door" is neutral whatever the voice says).
- :class:`Stacker`, a learned log-linear fusion: ``z = b + sum_m s_m A_m log p_m``, softmax over
  the 7 classes, fitted on held-out speakers' clips paired both with their own words and with
  emotional lines (mixed pairs), so it learns how far to trust each expert. ``A_m`` is a 7 x 7
  matrix per modality (:meth:`Stacker.fit`, multinomial logistic regression), one weight per
  modality (:meth:`Stacker.fit_weights`), with no class bias ``b`` (``bias=False``: the app's) or
  one weight per modality and class (``per_class``). ``s_m`` are the user's slider weights (1 = as
  learned, 0 = ignore a modality); a modality the stacker never saw (the face) joins as
  ``s_face log p_face`` (a product of experts).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from emodemo.core.labels import CANONICAL7, to_canonical

FLOOR = 1e-4  # probabilities are floored before the log: one expert's 0 must not veto a class

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


def _log_probs(answer: Mapping[str, float]) -> np.ndarray:
    """``[7]`` log of a canonical answer's probabilities, floored at :data:`FLOOR`."""
    return np.log(np.maximum([answer[label] for label in CANONICAL7], FLOOR))


class Stacker:
    """Learned late fusion of per-modality canonical probabilities (see the module doc).

    ``modalities``: the order of the blocks of ``weights`` ``[7, 7 * M]``; ``bias`` ``[7]``;
    ``unsure_below``: the fused top probability under which the answer is shown as unsure (chosen on
    held-out clips, :func:`emodemo.training.calibration.unsure_threshold`), or None.
    """

    def __init__(
        self,
        modalities: Sequence[str],
        weights: np.ndarray,
        bias: np.ndarray,
        about: str = "",
        unsure_below: float | None = None,
    ):
        self.modalities = tuple(modalities)
        self.weights = np.asarray(weights, dtype=np.float64).reshape(len(CANONICAL7), 7 * len(self.modalities))
        self.bias = np.asarray(bias, dtype=np.float64).reshape(len(CANONICAL7))
        self.about = about
        self.unsure_below = unsure_below

    @classmethod
    def fit(
        cls,
        answers: Sequence[Mapping[str, Mapping[str, float]]],
        truth: Sequence[str],
        modalities: Sequence[str],
        c: float = 1.0,
        about: str = "",
    ) -> Stacker:
        """Multinomial logistic regression (L2, inverse strength ``c``) of ``truth`` on the experts'
        log-probabilities; ``answers[i][modality]`` is clip i's canonical answer of each modality."""
        from sklearn.linear_model import LogisticRegression

        x = np.stack([np.concatenate([_log_probs(a[m]) for m in modalities]) for a in answers])  # [N, 7M]
        y = np.array([CANONICAL7.index(t) for t in truth])
        missing = sorted(set(range(len(CANONICAL7))) - set(y))
        if missing:
            raise ValueError(
                f"the stacker needs every class among its training clips; none of {[CANONICAL7[i] for i in missing]}"
            )
        model = LogisticRegression(C=c, max_iter=2000).fit(x, y)
        return cls(modalities, model.coef_, model.intercept_, about)

    @classmethod
    def fit_weights(
        cls,
        answers: Sequence[Mapping[str, Mapping[str, float]]],
        truth: Sequence[str],
        modalities: Sequence[str],
        about: str = "",
        per_class: bool = False,
        bias: bool = True,
    ) -> Stacker:
        """The low-capacity stacker: one weight per modality and one bias per class,
        ``z = b + sum_m a_m log p_m`` (``A_m = a_m I``), fitted by maximum likelihood (LBFGS);
        ``M + 7`` numbers instead of ``49 M + 7``, for when few held-out clips are at hand. With
        ``per_class``, one weight per modality and class (``A_m = diag(a_m)``, ``7 M + 7`` numbers):
        it can learn that one expert's word for a class is weak evidence (the words saying "neutral"
        about a sentence whose wording is neutral whatever the emotion) and its others strong. Without
        ``bias``, ``b = 0``: only how far to trust each expert is learnt, not the fitting clips' class
        priors, which need not hold for other voices and words (a weighted product of experts, ``M``
        numbers). Weights are kept non-negative."""
        import torch

        x = torch.tensor(np.stack([np.stack([_log_probs(a[m]) for m in modalities]) for a in answers]))  # [N, M, 7]
        y = torch.tensor([CANONICAL7.index(t) for t in truth])
        shape = (len(modalities), len(CANONICAL7)) if per_class else (len(modalities), 1)
        # the weights are softplus(raw) >= 0: an expert's word for a class is never evidence against it
        raw = torch.full(shape, float(np.log(np.e - 1)), dtype=torch.float64, requires_grad=True)  # softplus 1
        offsets = torch.zeros(len(CANONICAL7), dtype=torch.float64, requires_grad=bias)  # b [7]
        optimiser = torch.optim.LBFGS([raw, offsets] if bias else [raw], max_iter=500, line_search_fn="strong_wolfe")
        weights = lambda: torch.nn.functional.softplus(raw)  # [M, 7] or [M, 1]

        def closure():
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(offsets + (weights() * x).sum(dim=1), y)  # [N, 7]
            loss.backward()
            return loss

        optimiser.step(closure)
        a = weights().detach().numpy() * np.ones((1, len(CANONICAL7)))  # [M, 7]
        matrices = np.concatenate([np.diag(w) for w in a], axis=1)  # [7, 7M]
        return cls(modalities, matrices, offsets.detach().numpy(), about)

    def __call__(
        self, answers: Mapping[str, Mapping[str, float]], scales: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        """Fused canonical probabilities; ``scales[modality]`` (default 1) multiplies each
        modality's term. Modalities that did not answer are left out (their term is 0)."""
        scales = dict(scales or {})
        if any(v < 0 for v in scales.values()):
            raise ValueError(f"weights must be non-negative, got {scales}")
        z = self.bias.copy()
        used = 0
        for k, modality in enumerate(self.modalities):
            if modality in answers and scales.get(modality, 1.0) > 0:
                z += scales.get(modality, 1.0) * self.weights[:, 7 * k : 7 * (k + 1)] @ _log_probs(answers[modality])
                used += 1
        for modality, answer in answers.items():  # experts it never learnt about: a product of experts
            if modality not in self.modalities and scales.get(modality, 1.0) > 0:
                z += scales.get(modality, 1.0) * _log_probs(answer)
                used += 1
        if not used:
            raise ValueError("give at least one modality that answered a weight above 0")
        p = np.exp(z - z.max())
        return dict(zip(CANONICAL7, (p / p.sum()).tolist()))

    def unsure(
        self, fused: Mapping[str, float], answers: Mapping[str, object], scales: Mapping[str, float]
    ) -> bool | None:
        """Whether a fused answer is under the "unsure" line; None when the line does not apply: none
        was chosen, or the answer was not fused as the line was chosen (exactly this stacker's
        modalities at slider 1; a modality whose slider is 0 takes no part, e.g. a video's face)."""
        active = {m for m in answers if scales.get(m, 1.0) > 0}
        as_chosen = active == set(self.modalities) and all(scales.get(m, 1.0) == 1.0 for m in active)
        if self.unsure_below is None or not as_chosen:
            return None
        return max(fused.values()) < self.unsure_below

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "modalities": list(self.modalities),
                    "labels": list(CANONICAL7),
                    "weights": self.weights.tolist(),
                    "bias": self.bias.tolist(),
                    "about": self.about,
                    "unsure_below": self.unsure_below,
                },
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Stacker:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("labels") != list(CANONICAL7):
            raise ValueError(f"{path} fuses labels {data.get('labels')}, not the canonical 7")
        return cls(data["modalities"], data["weights"], data["bias"], data.get("about", ""), data.get("unsure_below"))
