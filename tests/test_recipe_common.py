"""The mixed-pairs steps the voice + words recipes share (emodemo.recipes.common): each half of a
fold's test clips scored apart, and the served model's calibration fitted on the pairs the app reads."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from conftest import shared_dataset

from emodemo.data.record import Sample
from emodemo.data.splits import Fold, apply
from emodemo.recipes.common import PairingScores, served_final_extras
from emodemo.training.datasets import DictDataset

LABELS = ("neutral", "happy", "sad")


def _pairs(speakers, pairing: str) -> list[Sample]:
    """Six clips per speaker; a constructed pair's line names its emotion, a real pair's does not."""
    return [
        Sample(f"{pairing}-{s}-{i}", "ravdess", LABELS[i % 3], speaker=s, meta={"pairing": pairing})
        for s in speakers
        for i in range(6)
    ]


def make(samples) -> DictDataset:
    """Features [N, 3]: the one-hot emotion on constructed pairs (the words tell), zeros on real ones."""
    hot = torch.eye(3)[[LABELS.index(s.label) for s in samples]]  # [N, 3]
    told = torch.tensor([[float(s.meta["pairing"] == "constructed")] for s in samples])  # [N, 1]
    return DictDataset(features=hot * told, label=torch.tensor([LABELS.index(s.label) for s in samples]))


class Reader(torch.nn.Module):
    """Confident where the words tell (logits 4 x the features), flat otherwise."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return 4 * features + torch.tensor([0.1, 0.0, 0.0])


FOLD = Fold("fold0", train=("a",), val=("b",), test=("c", "d"))
MIXED = _pairs("abcd", "constructed") + _pairs("abcd", "real")


def mixed_parts(fold):
    return apply(MIXED, fold)


def test_each_folds_test_clips_are_scored_per_pairing():
    scores = PairingScores(mixed_parts, make, LABELS, batch_size=8)
    scores(FOLD, Reader())
    summary = scores.summary()
    assert set(summary) == {"constructed", "real"}
    assert summary["constructed"]["summary"]["WA"]["mean"] == 1.0  # the words told
    assert summary["real"]["summary"]["WA"]["mean"] == pytest.approx(1 / 3)  # always "neutral"
    assert [f["fold"] for f in summary["real"]["folds"]] == ["fold0"]
    assert sum(map(sum, summary["real"]["folds"][0]["confusion_matrix"])) == 12  # speakers c and d, real half


def test_the_served_model_is_calibrated_on_the_real_pairs_of_the_validation_speakers():
    metrics, calibration = served_final_extras(Reader(), mixed_parts, FOLD, make, LABELS, batch_size=8)
    by_pairing = metrics["final_validation_by_pairing"]
    assert by_pairing["constructed"]["WA"] == 1.0 and by_pairing["real"]["WA"] == pytest.approx(1 / 3)
    assert calibration["fitted_on"] == ["b"] and calibration["pairs"].startswith("real")
    # the real half is a flat guess right 1/3 of the time: the fitted T flattens it (a sharper
    # model on constructed pairs would have pulled T down), and nothing reaches 80 % right
    assert calibration["temperature"] > 1 and calibration["ece_after"] < calibration["ece_before"] + 1e-9
    assert calibration["unsure"]["answered"] == 0.0


def test_a_single_pairing_is_calibrated_on_all_its_validation_pairs():
    constructed = _pairs("abcd", "constructed")
    metrics, calibration = served_final_extras(Reader(), constructed, FOLD, make, LABELS, batch_size=8)
    assert metrics == {} and calibration["pairs"] == "every pair"
    assert calibration["unsure"]["accuracy_answered"] == 1.0


def _tone_clips(tmp_path, seconds: float):
    """RAVDESS-like tones of 3 actors (``tmp_path / "ravdess"``) and one fold: train 1, validate 2, test 3."""
    from emodemo import data
    from emodemo.data import layouts

    root = layouts.make_ravdess(tmp_path / "ravdess", actors=(1, 2, 3), fmt="flac", seconds=seconds)
    fold = Fold("fold0", train=("Actor_01",), val=("Actor_02",), test=("Actor_03",))
    return data.load("ravdess", root, calm_as_neutral=True), fold


@pytest.mark.parametrize("name, options", [("coattention", {"stages": "head"}), ("ssl_mha", {"fusion": "cross"})])
def test_a_served_voice_and_words_recipe_on_mixed_pairs_reports_both_halves_and_calibrates(
    name, options, tmp_path, monkeypatch
):
    """Everything after the pairing, end to end on RAVDESS-like tones (3 actors, one fold, 2 epochs):
    cross-validation scores each half of the test clips apart, and the saved final model's card holds
    both halves of its validation clips and a temperature fitted on their real pairs."""
    import importlib

    from emodemo.training.checkpoint import read_checkpoint_config

    recipe = importlib.import_module(f"emodemo.recipes.{name}")
    clips, fold = _tone_clips(tmp_path, seconds=0.3)

    def parts(chosen):  # each clip with a line naming its emotion, and with the same neutral sentence
        return tuple(
            [replace(s, text=f"I feel {s.label}", meta={"pairing": "constructed"}) for s in part]
            + [replace(s, text="Kids are talking by the door.", meta={"pairing": "real"}) for s in part]
            for part in apply(clips, chosen)
        )

    def paired_parts(*args, no_words=False, neutral_lines=False, **_):
        assert args[-1] is True  # a quick run asks for the quick share of the clips
        assert not (no_words or neutral_lines)  # neither asked for
        return parts, [fold], fold, "mixed (fixture)"

    monkeypatch.setattr(recipe, "paired_parts", paired_parts)
    metrics = recipe.train(
        "ravdess", tmp_path / "ravdess", tmp_path / "out", quick=True, pairing="mixed", text_root="unused", **options
    )
    assert set(metrics["by_pairing"]) == {"constructed", "real"}
    assert all(sum(map(sum, half["folds"][0]["confusion_matrix"])) == 60 for half in metrics["by_pairing"].values())
    config = read_checkpoint_config(tmp_path / "out")
    assert set(config["metrics"]["final_validation_by_pairing"]) == {"constructed", "real"}
    assert config["calibration"]["fitted_on"] == ["Actor_02"] and config["calibration"]["pairs"].startswith("real")
    assert config["weights_dtype"] == "float16"


@pytest.mark.parametrize("name, pairing", [("nmt_attention", "real"), ("mesm", "mixed")])
def test_a_recipe_asked_for_no_words_reports_the_no_words_half_of_every_test_clip(name, pairing, tmp_path, monkeypatch):
    """``--option no_words=1`` end to end on RAVDESS-like tones (3 actors, one fold, 2 epochs): the
    recipe asks for the no-words pairs, and cross-validation scores every test clip with its words
    and without them."""
    import importlib

    from emodemo.protocols.pairing import with_unheard_words

    recipe = importlib.import_module(f"emodemo.recipes.{name}")
    clips, fold = _tone_clips(tmp_path, seconds=1.0)
    asked = {}

    def paired_parts(*args, no_words=False, neutral_lines=False, **_):
        asked["no_words"], asked["neutral_lines"] = no_words, neutral_lines
        real = [
            replace(
                s,
                text="Kids are talking by the door.",
                meta={"pairing": "real", "words": [("Kids", 0.1, 0.3), ("are", 0.3, 0.4), ("talking", 0.4, 0.7)]},
            )
            for s in clips
        ]
        return (lambda chosen: with_unheard_words(apply(real, chosen))), [fold], fold, "real (fixture)"

    monkeypatch.setattr(recipe, "paired_parts", paired_parts)
    options = {"pairing": pairing, "text_root": "unused"} if pairing == "mixed" else {}
    metrics = recipe.train(
        "ravdess", tmp_path / "ravdess", tmp_path / "out", quick=True, final=False, no_words=True, **options
    )
    assert asked["no_words"] is True and not asked["neutral_lines"]
    assert set(metrics["by_pairing"]) == {"real", "none"}
    assert all(sum(map(sum, half["folds"][0]["confusion_matrix"])) == 60 for half in metrics["by_pairing"].values())


def test_every_registered_model_has_a_recipe():
    """One registry: the recipes' names are the model registry's, and each resolves to its module."""
    from emodemo.models import REGISTRY
    from emodemo.recipes import get_recipe, names

    assert names() == sorted(REGISTRY)
    for name in names():
        recipe = get_recipe(name)
        assert callable(recipe.train) and callable(recipe.clip_inputs) and callable(recipe.make_dataset), name
    with pytest.raises(ValueError, match="unknown model"):
        get_recipe("no_such_model")


def test_a_quick_run_trains_on_a_quarter_of_ravdess_with_every_actor_emotion_and_intensity(ravdess_root):
    from emodemo import data
    from emodemo.recipes.common import quick_share

    clips = data.load("ravdess", ravdess_root, calm_as_neutral=True)
    share = quick_share(clips)
    assert len(share) * 4 == len(clips)
    assert {s.speaker for s in share} == {s.speaker for s in clips}
    takes = lambda part: {(s.meta["emotion"], s.meta["intensity"]) for s in part}
    assert all(takes(s for s in share if s.speaker == actor) == takes(clips) for actor in {s.speaker for s in clips})


def _heard(samples, **_):
    """Transcripts made here in place of Whisper's, so that no test needs RAVDESS transcribed
    (tests/test_evaluation.py reads a real guess): the first clip's words are a guess, the rest heard."""
    from emodemo.speech.asr import Transcript, Word

    samples = list(samples)
    sure, unsure = [0.9] * 6, [0.2] * 6  # median word confidence: heard, guessed
    return {
        s.id: Transcript(
            "Kids are talking by the door",
            [
                Word(w, i * 0.3, i * 0.3 + 0.2, p)
                for i, (w, p) in enumerate(
                    zip("Kids are talking by the door".split(), unsure if s is samples[0] else sure)
                )
            ],
            "en",
            "faster-whisper",
            0.1,
            3.0,
            "tiny.en",
        )
        for s in samples
    }


@pytest.mark.parametrize("pairing", ["real", "mixed"])
def test_training_pairs_read_no_words_where_whisper_guessed_them(ravdess_root, monkeypatch, pairing):
    """The voice + words recipes train on the words the app gives them: none where Whisper was guessing
    (Transcript.as_read)."""
    from emodemo.recipes.common import paired_parts
    from emodemo.speech import transcripts

    monkeypatch.setattr(transcripts, "transcribe_samples", _heard)
    text_root = shared_dataset("goemotions") if pairing == "mixed" else None
    samples, folds, _, _ = paired_parts(
        "ssl_mha", "ravdess", ravdess_root, pairing, "goemotions", text_root, 0, quick=True
    )
    if pairing == "mixed":  # one fold's real half
        samples = [s for part in samples(folds[0]) for s in part if s.meta.get("pairing") == "real"]
    texts = {s.text for s in samples}
    assert texts == {"", "Kids are talking by the door"}  # the guess read as no words, the rest as heard
    assert sum(not s.text for s in samples) == 1


@pytest.mark.parametrize("pairing", ["real", "mixed"])
def test_no_words_pairs_train_on_half_the_clips_without_words_and_score_every_test_clip_both_ways(
    ravdess_root, monkeypatch, pairing
):
    """``no_words=1``: the input the app gives for speech in another language (no words) is trained on
    and scored, without growing the training set."""
    from emodemo.recipes.common import paired_parts
    from emodemo.speech import transcripts

    monkeypatch.setattr(transcripts, "transcribe_samples", _heard)
    text_root = shared_dataset("goemotions") if pairing == "mixed" else None
    args = ("nmt_attention", "ravdess", ravdess_root, pairing, "goemotions", text_root, 0)
    plain, folds, _, name = paired_parts(*args, quick=True)
    parts, _, _, no_words_name = paired_parts(*args, quick=True, no_words=True)
    assert no_words_name.startswith(name) and "no words" in no_words_name
    before = plain(folds[0]) if callable(plain) else apply(plain, folds[0])
    train, val, test = parts(folds[0])
    real = [s for s in before[0] if s.meta["pairing"] == "real"]
    dropped = [s for s in train if s.meta["pairing"] == "none"]
    assert len(train) == len(before[0]) and len(dropped) == len(real) // 2
    assert all(s.text == "" and s.meta["words"] == [] and s.audio for s in dropped)
    assert {s.id.removesuffix("+no-words") for s in dropped} <= {s.id for s in real}
    assert sum(s.meta["pairing"] == "constructed" for s in train) == len(before[0]) - len(real)  # kept
    for now, then in ((val, before[1]), (test, before[2])):
        assert now[: len(then)] == then
        copies = now[len(then) :]
        assert [s.id for s in copies] == [f"{s.id}+no-words" for s in then if s.meta["pairing"] == "real"]
        assert all(s.text == "" and s.meta["pairing"] == "none" for s in copies)
    again, *_ = paired_parts(*args, quick=True, no_words=True)
    assert again(folds[0]) == (train, val, test)  # seeded: the same clips lose their words every time


def test_neutral_lines_swap_half_the_remaining_own_words_for_neutral_written_lines_in_training_only(
    ravdess_root, monkeypatch
):
    """``neutral_lines=1``: the model meets own words other than RAVDESS's two sentences, each a
    neutral line of GoEmotions' train split, the voice's label kept; validation and test untouched."""
    from emodemo.protocols.pairing import text_pools
    from emodemo.recipes.common import paired_parts
    from emodemo.speech import transcripts

    monkeypatch.setattr(transcripts, "transcribe_samples", _heard)
    text_root = shared_dataset("goemotions")
    args = ("mesm", "ravdess", ravdess_root, "mixed", "goemotions", text_root, 0)
    plain, folds, _, name = paired_parts(*args, quick=True, no_words=True)
    parts, _, _, swapped_name = paired_parts(*args, quick=True, no_words=True, neutral_lines=True)
    assert swapped_name.startswith(name) and "neutral" in swapped_name
    before, after = plain(folds[0]), parts(folds[0])
    assert after[1:] == before[1:]  # validation and test as they were
    train_before, train = before[0], after[0]
    assert len(train) == len(train_before)
    own = [s for s in train_before if s.meta["pairing"] == "real"]
    lines = [s for s in train if s.meta["pairing"] == "neutral_line"]
    assert len(lines) == len(own) // 2 and sum(s.meta["pairing"] == "real" for s in train) == len(own) - len(lines)
    neutral = {line.id: line.text for line in text_pools("goemotions", text_root)["train"]["neutral"]}
    assert all(neutral[s.meta["text_id"]] == s.text and "words" not in s.meta for s in lines)
    assert len({s.meta["text_id"] for s in lines}) == len(lines)  # drawn without replacement
    labels = {s.id: s.label for s in own}
    assert all(labels[s.id.removesuffix(f"+{s.meta['text_id']}")] == s.label for s in lines)  # the voice's label
    assert sum(s.meta["pairing"] == "none" for s in train) == sum(s.meta["pairing"] == "none" for s in train_before)
    again, *_ = paired_parts(*args, quick=True, no_words=True, neutral_lines=True)
    assert again(folds[0]) == after  # seeded
    every, *_, every_name = paired_parts(*args, quick=True, no_words=True, neutral_lines=True, neutral_share=1.0)
    assert "; all the training clips'" in every_name
    train_all = every(folds[0])[0]
    assert sum(s.meta["pairing"] == "neutral_line" for s in train_all) == len(own)  # no RAVDESS sentence left
    assert not any(s.meta["pairing"] == "real" for s in train_all)


def test_no_words_needs_the_clips_own_words(ravdess_root):
    from emodemo.recipes.common import paired_parts

    with pytest.raises(ValueError, match="real or mixed"):
        paired_parts(
            "mesm",
            "ravdess",
            ravdess_root,
            "constructed",
            "goemotions",
            shared_dataset("goemotions"),
            0,
            quick=True,
            no_words=True,
        )
