"""Late fusion of single-modality experts with user weights: canonical labels, weighted means,
expert choice, and refusals."""

import bench_scripts
import numpy as np
import pytest

from emodemo.core.labels import CANONICAL7
from emodemo.serving.fusion import canonical_probabilities, choose_experts, fuse


def test_calm_joins_neutral_and_labels_outside_the_seven_are_dropped():
    probs = canonical_probabilities([("calm", 0.3), ("neutral", 0.2), ("happy", 0.3), ("bored", 0.2)])
    assert list(probs) == list(CANONICAL7)
    assert probs["neutral"] == pytest.approx(0.5 / 0.8) and probs["happy"] == pytest.approx(0.3 / 0.8)
    with pytest.raises(ValueError, match="none of the model's labels"):
        canonical_probabilities([("bored", 1.0)])


def test_fusion_is_the_weighted_mean_of_the_modalities_that_answered():
    voice = dict.fromkeys(CANONICAL7, 0.0) | {"angry": 1.0}
    words = dict.fromkeys(CANONICAL7, 0.0) | {"happy": 1.0}
    fused = fuse({"audio": voice, "text": words}, {"audio": 3, "text": 1, "face": 5})  # no face answered
    assert fused["angry"] == pytest.approx(0.75) and fused["happy"] == pytest.approx(0.25)
    assert fuse({"audio": voice, "text": words}, {"audio": 0, "text": 1})["happy"] == 1.0
    with pytest.raises(ValueError, match="at least one"):
        fuse({"audio": voice}, {"audio": 0, "text": 1})
    with pytest.raises(ValueError, match="non-negative"):
        fuse({"audio": voice}, {"audio": -1})


def test_each_modality_gets_its_best_single_modality_model():
    models = {
        "probe": (("audio",), 0.66),
        "svm": (("audio",), 0.48),
        "both": (("audio", "text"), 0.9),
        "text": (("text",), 0.6),
    }
    experts = choose_experts(list(models), lambda m: models[m][0], lambda m: models[m][1])
    assert experts == {"audio": "probe", "text": "text"}


def _answer(top: str, p: float) -> dict[str, float]:
    rest = (1 - p) / 6
    return {label: (p if label == top else rest) for label in CANONICAL7}


def test_a_learned_stacker_learns_that_neutral_words_say_nothing(tmp_path):
    """Voice right 70 % of the time; words right when emotional and "neutral" for half the clips
    (real pairs: the sentence says nothing). Learned fusion beats both and ignores neutral words."""
    from emodemo.serving.fusion import Stacker

    rng = np.random.default_rng(0)
    answers, truth = [], []
    for i in range(1400):
        label = CANONICAL7[i % 7]
        voice = label if rng.random() < 0.7 else CANONICAL7[rng.integers(7)]
        words = "neutral" if i % 2 else label
        answers.append({"audio": _answer(voice, 0.5), "text": _answer(words, 0.9)})
        truth.append(label)
    stacker = Stacker.fit(answers[:700], truth[:700], ["audio", "text"])
    fused = [max(stacker(a).items(), key=lambda kv: kv[1])[0] for a in answers[700:]]
    mean = [max(fuse(a, {"audio": 1, "text": 1}).items(), key=lambda kv: kv[1])[0] for a in answers[700:]]
    accuracy = lambda guesses: np.mean([g == t for g, t in zip(guesses, truth[700:])])
    assert accuracy(fused) > accuracy(mean) + 0.1
    angry_voice = {"audio": _answer("angry", 0.5), "text": _answer("neutral", 0.9)}
    assert max(stacker(angry_voice).items(), key=lambda kv: kv[1])[0] == "angry"
    assert max(stacker(angry_voice, {"audio": 0}).items(), key=lambda kv: kv[1])[0] == "neutral"
    again = Stacker.load(stacker.save(tmp_path / "stacker.json"))
    assert again(angry_voice) == pytest.approx(stacker(angry_voice))
    with_face = stacker({**angry_voice, "face": _answer("happy", 0.99)})
    assert with_face["happy"] > stacker(angry_voice)["happy"]


def _voice_right_70_percent_words_neutral_half_the_time(seed: int) -> tuple[list, list]:
    """1,400 clips: the voice names the emotion 70 % of the time (unsure, 0.5), the words name it for
    every other clip and say "neutral" (sure, 0.9) for the rest, whatever the emotion."""
    rng = np.random.default_rng(seed)
    answers, truth = [], []
    for i in range(1400):
        label = CANONICAL7[i % 7]
        voice = label if rng.random() < 0.7 else CANONICAL7[rng.integers(7)]
        answers.append({"audio": _answer(voice, 0.5), "text": _answer("neutral" if i % 2 else label, 0.9)})
        truth.append(label)
    return answers, truth


def test_learned_weights_give_one_weight_per_modality_and_beat_the_mean():
    """One weight per modality and a bias per class (the bias learns that "neutral" words are cheap):
    on held-out clips it beats the equal-weight mean."""
    from emodemo.serving.fusion import Stacker

    answers, truth = _voice_right_70_percent_words_neutral_half_the_time(seed=1)
    stacker = Stacker.fit_weights(answers[:700], truth[:700], ["audio", "text"])
    audio, text = stacker.weights[0, 0], stacker.weights[0, 7]
    assert np.allclose(stacker.weights[:, :7], audio * np.eye(7)) and np.allclose(
        stacker.weights[:, 7:], text * np.eye(7)
    )
    top = lambda answer: max(answer.items(), key=lambda kv: kv[1])[0]
    learned = np.mean([top(stacker(a)) == t for a, t in zip(answers[700:], truth[700:])])
    mean = np.mean([top(fuse(a, {"audio": 1, "text": 1})) == t for a, t in zip(answers[700:], truth[700:])])
    assert learned > mean + 0.05


def test_per_class_weights_learn_that_the_words_saying_neutral_is_weak_evidence():
    """One weight per modality and class: where the words say "neutral" about half the clips whatever
    their emotion (RAVDESS's sentences), the words' weight on "neutral" ends below their weight on the
    emotions they do name, and the fusion beats the equal-weight mean on held-out clips."""
    from emodemo.serving.fusion import Stacker

    answers, truth = _voice_right_70_percent_words_neutral_half_the_time(seed=2)
    stacker = Stacker.fit_weights(answers[:700], truth[:700], ["audio", "text"], per_class=True)
    audio, text = np.diag(stacker.weights[:, :7]), np.diag(stacker.weights[:, 7:])
    assert np.allclose(stacker.weights[:, :7], np.diag(audio)) and np.allclose(stacker.weights[:, 7:], np.diag(text))
    neutral = CANONICAL7.index("neutral")
    assert text[neutral] < np.delete(text, neutral).mean()
    top = lambda answer: max(answer.items(), key=lambda kv: kv[1])[0]
    learned = np.mean([top(stacker(a)) == t for a, t in zip(answers[700:], truth[700:])])
    mean = np.mean([top(fuse(a, {"audio": 1, "text": 1})) == t for a, t in zip(answers[700:], truth[700:])])
    assert learned > mean + 0.05


def test_learned_weights_never_count_an_experts_word_against_its_class():
    """Words that say "angry" mostly when the clip is *not* angry would earn a negative weight on
    angry from a free fit; the weights stay at or above 0 (the angry one at 0)."""
    from emodemo.serving.fusion import Stacker

    rng = np.random.default_rng(3)
    answers, truth = [], []
    for i in range(1400):
        label = CANONICAL7[i % 7]
        voice = label if rng.random() < 0.7 else CANONICAL7[rng.integers(7)]
        words = "sad" if label == "angry" else "angry" if rng.random() < 0.5 else label
        answers.append({"audio": _answer(voice, 0.5), "text": _answer(words, 0.9)})
        truth.append(label)
    stacker = Stacker.fit_weights(answers, truth, ["audio", "text"], per_class=True)
    words = np.diag(stacker.weights[:, 7:])
    assert (stacker.weights >= 0).all() and words[CANONICAL7.index("angry")] < 0.05


def test_without_a_class_bias_only_how_far_to_trust_each_expert_is_learnt():
    """``bias=False`` (the app's rule): b stays 0, one non-negative weight per modality, and an expert
    that names the emotion more often earns the larger weight (the voice here, right 70 % of the time,
    against words right half the time); with neither expert answering, no class is favoured."""
    from emodemo.serving.fusion import Stacker

    answers, truth = _voice_right_70_percent_words_neutral_half_the_time(seed=6)
    stacker = Stacker.fit_weights(answers, truth, ["audio", "text"], bias=False)
    audio, text = stacker.weights[0, 0], stacker.weights[0, 7]
    assert np.array_equal(stacker.bias, np.zeros(7)) and (stacker.weights >= 0).all()
    assert np.allclose(stacker.weights, np.concatenate([audio * np.eye(7), text * np.eye(7)], axis=1))
    assert audio > text > 0
    assert Stacker.fit_weights(answers, truth, ["audio", "text"]).bias.std() > 0.1  # a bias is learnt otherwise


def test_the_fused_unsure_line_applies_only_as_it_was_chosen(tmp_path):
    """The line was chosen on fused answers of exactly the stacker's modalities with every slider at
    1: there it marks answers under it; with a slider moved or a face fused in it does not apply
    (None); a face whose slider is 0, or a face slider when no face answered, changes nothing; it
    survives a save."""
    from emodemo.serving.fusion import Stacker

    answers, truth = _voice_right_70_percent_words_neutral_half_the_time(seed=7)
    stacker = Stacker.fit_weights(answers, truth, ["audio", "text"], bias=False)
    stacker.unsure_below = 0.6
    stacker = Stacker.load(stacker.save(tmp_path / "stacker.json"))
    sure = {"audio": _answer("angry", 0.9), "text": _answer("angry", 0.9)}
    torn = {"audio": _answer("angry", 0.4), "text": _answer("neutral", 0.4)}
    ones = {"audio": 1.0, "text": 1.0}
    assert stacker.unsure(stacker(sure, ones), sure, ones) is False
    assert stacker.unsure(stacker(torn, ones), torn, ones) is True
    assert stacker.unsure(stacker(torn, {"audio": 0.5}), torn, {"audio": 0.5, "text": 1.0}) is None
    with_face = {**torn, "face": _answer("sad", 0.5)}
    assert stacker.unsure(stacker(with_face), with_face, {}) is None
    face_off = {"audio": 1.0, "text": 1.0, "face": 0.0}  # a video with the face slider at 0: voice and words alone
    assert stacker(with_face, face_off) == pytest.approx(stacker(torn, ones))
    assert stacker.unsure(stacker(with_face, face_off), with_face, face_off) is True
    assert stacker.unsure(stacker(torn, {**ones, "face": 0.3}), torn, {**ones, "face": 0.3}) is True  # no face came
    assert Stacker(["audio"], np.eye(7), np.zeros(7)).unsure({"angry": 0.2}, {"audio": {}}, {}) is None


def test_the_fusion_bench_scores_each_folds_clips_with_that_folds_rule_and_line():
    """bench/fusion.py's confidence check: fold a's rule trusts only the voice, fold b's only the
    words; each fold's clips are answered right only by its own rule. Every answer is right, so every
    clip is answered, and the real pairs are picked from the validation parts by their flags."""
    from emodemo.serving.fusion import Stacker

    bench = bench_scripts.load("fusion")
    voice_only = Stacker(["audio", "text"], np.concatenate([np.eye(7), np.zeros((7, 7))], axis=1), np.zeros(7))
    words_only = Stacker(["audio", "text"], np.concatenate([np.zeros((7, 7)), np.eye(7)], axis=1), np.zeros(7))
    labels = list(CANONICAL7) * 4
    wrong = lambda label: CANONICAL7[(CANONICAL7.index(label) + 1) % 7]

    def part(right: str) -> tuple[list, list]:  # the expert named answers right, the other one class off
        said = lambda modality, t: _answer(t if right == modality else wrong(t), 0.9)
        return [{"audio": said("audio", t), "text": said("text", t)} for t in labels], labels

    test_parts = {"a": dict.fromkeys(("real", "constructed", "tess"), part("audio"))}
    test_parts["b"] = dict.fromkeys(("real", "constructed", "tess"), part("text"))
    flags = {"a": [i % 2 == 0 for i in range(len(labels))], "b": [True] * len(labels)}
    real_a = bench.real_pairs_of([(*part("audio"), "a")], flags)
    assert len(real_a[0]) == len(labels) // 2 and real_a[1] == labels[::2]
    result = bench.confidence({"a": voice_only, "b": words_only}, {"a": real_a, "b": part("text")}, test_parts)
    for half in ("real", "constructed", "tess"):
        assert result[half]["answered"] == 1.0 and result[half]["accuracy answered"] == 1.0
    swapped = bench.confidence({"a": words_only, "b": voice_only}, {"a": real_a, "b": part("text")}, test_parts)
    assert swapped["real"]["answered"] == 0.0  # with the other fold's rule nothing is right, so nothing clears a line
