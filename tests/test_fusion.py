"""Late fusion of single-modality experts with user weights: canonical labels, weighted means,
expert choice, and refusals."""
import pytest

from emodemo.fusion import canonical_probabilities, choose_experts, fuse
from emodemo.labels import CANONICAL7


def test_calm_joins_neutral_and_labels_outside_the_seven_are_dropped():
    probs = canonical_probabilities([("calm", 0.3), ("neutral", 0.2), ("happy", 0.3), ("bored", 0.2)])
    assert list(probs) == list(CANONICAL7)
    assert probs["neutral"] == pytest.approx(0.5 / 0.8) and probs["happy"] == pytest.approx(0.3 / 0.8)
    with pytest.raises(ValueError, match="none of the model's labels"):
        canonical_probabilities([("bored", 1.0)])


def test_fusion_is_the_weighted_mean_of_the_modalities_that_answered():
    voice = dict.fromkeys(CANONICAL7, 0.0) | {"angry": 1.0}
    words = dict.fromkeys(CANONICAL7, 0.0) | {"happy": 1.0}
    fused = fuse({"audio": voice, "text": words}, {"audio": 3, "text": 1, "face": 5})   # no face answered
    assert fused["angry"] == pytest.approx(0.75) and fused["happy"] == pytest.approx(0.25)
    assert fuse({"audio": voice, "text": words}, {"audio": 0, "text": 1})["happy"] == 1.0
    with pytest.raises(ValueError, match="at least one"):
        fuse({"audio": voice}, {"audio": 0, "text": 1})
    with pytest.raises(ValueError, match="non-negative"):
        fuse({"audio": voice}, {"audio": -1})


def test_each_modality_gets_its_best_single_modality_model():
    models = {"probe": (("audio",), 0.66), "svm": (("audio",), 0.48), "both": (("audio", "text"), 0.9),
              "text": (("text",), 0.6)}
    experts = choose_experts(list(models), lambda m: models[m][0], lambda m: models[m][1])
    assert experts == {"audio": "probe", "text": "text"}
