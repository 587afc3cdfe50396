"""A served run's cross-validation as the app serves it: its fold models on their own test actors, the
words read as the app reads them (guessed words as none, the words gate)."""

import json

import pytest
from conftest import shared_dataset

from emodemo import data
from emodemo.data.splits import apply
from emodemo.protocols import pairing
from emodemo.reports import comparison
from emodemo.serving import cross_corpus, evaluation, load_models
from emodemo.serving.pipeline import CHECKPOINTS
from emodemo.serving.served_cv import AS_SERVED, readings, scored_as_served
from emodemo.speech.transcripts import words_read
from emodemo.training.experiment import standard_protocol

RESCORED = ("mesm", "nmt_attention", "ssl_mha", "ssl_mha/cross")  # served voice + words models with fold models


def meta(name: str) -> dict:
    return json.loads((CHECKPOINTS / name / "config.json").read_text())


def saved(name: str) -> dict:
    return json.loads((CHECKPOINTS / name / "cv" / AS_SERVED).read_text())


def test_each_model_is_scored_on_the_pairings_its_run_scored():
    assert readings(meta("mesm")) == ["constructed", "real", "none"]  # mixed pairs, and no words
    assert readings(meta("nmt_attention")) == ["real", "none"]  # real pairs, and no words
    assert readings(meta("ssl_mha/cross")) == ["constructed", "real"]  # mixed pairs


def test_the_served_in_corpus_numbers_are_the_rescored_ones():
    """The comparison, the README's headline and the harness read a served voice + words model's in-corpus
    numbers from its fold models scored as served, not from its training run."""
    for name in RESCORED:
        rows = cross_corpus.in_corpus(name, meta(name))
        assert rows and all(r["source"] == f"{name}/cv/{AS_SERVED}" and r["served_protocol"] for r in rows), name
        served = [e for e in comparison.ENTRIES if e.checkpoint == name]
        assert all(e.trained and (CHECKPOINTS / e.trained).is_file() for e in served), name
        assert comparison.read(served[0])["training"] is not None  # its training's epochs and time, from its run


def test_the_rescored_test_parts_are_the_ones_the_training_run_scored():
    """Same fold models, same test clips: each pairing's folds hold as many clips as the run's, and where the
    words play no part (no words) or no rule touches them (GoEmotions lines, ungated) every fold scores as in
    training, up to one clip of 240 (the run scored its pairings in shared batches, and ``mesm`` pads a batch's
    clips to its longest: float sums in another order can flip a near tie)."""
    for name in RESCORED:
        run = json.loads(
            (CHECKPOINTS / next(e.trained for e in comparison.ENTRIES if e.checkpoint == name)).read_text()
        )
        rescored = saved(name)["by_pairing"]
        assert set(rescored) == set(run["by_pairing"]), name
        for reading, trained in run["by_pairing"].items():
            assert [f["n"] for f in rescored[reading]["folds"]] == [f["n"] for f in trained["folds"]], (name, reading)
        untouched = ["none"] if "none" in rescored else []
        untouched += ["constructed"] if saved(name)["words_gate"] is None and "constructed" in rescored else []
        for reading in untouched:
            right = lambda folds: [round(f["WA"] * f["n"]) for f in folds]  # clips right, per fold
            moved = [
                a - b for a, b in zip(right(rescored[reading]["folds"]), right(run["by_pairing"][reading]["folds"]))
            ]
            assert all(abs(m) <= 1 for m in moved), (name, reading, moved)
    assert all(saved(n)["words_gate"]["real"] > 0 for n in ("mesm", "nmt_attention", "ssl_mha"))  # the gate acted


def test_a_gated_models_own_words_are_scored_through_the_gate_and_its_no_words_without():
    """Real fold model, real clips (fold 0's test actors, first statement and take), real words expert."""
    clips = [  # every actor's first take of the first statement: 15 per actor
        s
        for s in data.load("ravdess", shared_dataset("ravdess_speech"), calm_as_neutral=True)
        if s.meta["statement"] == 1 and s.meta["repetition"] == 1
    ]
    fold = standard_protocol("ravdess", clips)[0][0]
    result = scored_as_served("nmt_attention", clips, folds=[fold])
    model = load_models([str(cross_corpus.fold_checkpoints("nmt_attention")[fold.name])])[0]
    own = apply(pairing.real_pairs(clips, words_read(clips)), fold)[2]  # its 4 test actors' clips
    for reading, pairs in (("real", own), ("none", [pairing.without_words(s) for s in own])):
        probs, targets = evaluation.predicted(model, pairs)  # as every score of a served checkpoint: gated
        report = result["by_pairing"][reading]["folds"][0]
        assert report["n"] == len(own) == 60 and report["fold"] == fold.name
        assert report["WA"] == pytest.approx(float((probs.argmax(axis=1) == targets).mean()))
    assert 0 < result["words_gate"]["real"] <= len(own) and result["words_gate"]["none"] == 0


def test_reproducing_a_served_run_scores_it_again_as_served():
    """``reproduce --served`` remakes the as-served file of the checkpoint it remakes (configs/reproduce/)."""
    from emodemo.recipes import reproduce

    for name in RESCORED:
        config = reproduce.load(name.split("/")[0])
        served = [r for r in config.runs if r.served and r.out == f"{{checkpoints}}/{name}"]
        assert len(served) == 1, name
        steps = [s for s in served[0].after if s.call == "cv_as_served"]
        assert [s.args["checkpoint"] for s in steps] == [f"{{checkpoints}}/{name}"], name
        assert steps[0].args["calibrate_folds"] is True, name  # its fold models calibrated as it is, first


def test_calibration_is_pooled_over_the_test_folds_each_at_its_own_fold_models_temperature():
    """Over-confident answers (95 % sure, half right) score a large ECE raw; each fold's own temperature
    brings them towards their accuracy, and so does the clean fit beside it. A fold model never calibrated
    leaves nothing to report."""
    import numpy as np

    from emodemo.serving.served_cv import pooled_calibration
    from emodemo.training.calibration import expected_calibration_error

    rng = np.random.default_rng(0)
    sure = np.full((200, 7), 0.05 / 6)
    sure[:, 0] = 0.95  # [N, C]: always class 0, 95 % sure
    folds = [(sure, rng.choice([0, 1], size=200), t, 1.0) for t in (4.0, 6.0)]  # half right; clean fit: none
    pooled = pooled_calibration(folds)
    assert pooled["temperatures"] == [4.0, 6.0] and pooled["temperatures_clean_fit"] == [1.0, 1.0]
    truth = np.r_[folds[0][1], folds[1][1]]
    assert pooled["ece_raw"] == pytest.approx(expected_calibration_error(np.vstack([sure, sure]), truth))
    assert pooled["ece_clean_fit"] == pytest.approx(pooled["ece_raw"])  # temperature 1 changes nothing
    assert pooled["ece_raw"] > 0.4 and pooled["ece_calibrated"] < pooled["ece_raw"] / 2
    assert sum(pooled["reliability_raw"]["count"]) == 400
    assert pooled_calibration([(sure, folds[0][1], None, 1.0), folds[1]]) is None
