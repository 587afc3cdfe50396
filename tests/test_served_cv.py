"""A served run's cross-validation as the app serves it: its fold models on their own test actors, the
words read as the app reads them (guessed words as none, the words gate)."""

import json

import numpy as np
import pytest
from conftest import shared_dataset

from emodemo.protocols import pairing
from emodemo.recipes.common import paired_parts
from emodemo.reports import comparison
from emodemo.serving import cross_corpus, evaluation, load_models
from emodemo.serving.pipeline import CHECKPOINTS
from emodemo.serving.served_cv import (
    AS_SERVED,
    READINGS,
    FoldAnswers,
    fold_parts,
    pooled_calibration,
    readings,
    run_pairing,
    scored_as_served,
    with_seed,
)
from emodemo.training.calibration import expected_calibration_error, softmax

RESCORED = ("mesm", "nmt_attention", "ssl_mha", "ssl_mha/cross", "coattention")  # served voice + words models with fold
# models (committed; these tests read the saved as_served.json)
GATED = ("coattention", "mesm", "nmt_attention", "ssl_mha")  # of those, the ones reading words through the words gate
PAIRS = ("ssl_mha", "ssl_mha/cross", "nmt_attention")  # of those, the ones served as two runs' models averaged
# (emodemo.serving.pairs): no run scored them
MEANS = PAIRS + ("mesm", "coattention")  # served by `python -m emodemo pair`: fold pairs, or one run's fold models


def meta(name: str) -> dict:
    return json.loads((CHECKPOINTS / name / "config.json").read_text())


def saved(name: str) -> dict:
    return json.loads((CHECKPOINTS / name / "cv" / AS_SERVED).read_text())


def test_each_model_is_scored_on_the_pairings_its_run_scored():
    assert readings(meta("mesm")) == ["constructed", "real", "none"]  # mixed pairs, and no words
    assert readings(meta("nmt_attention")) == ["constructed", "real", "none"]  # mixed pairs, and no words
    assert readings(meta("ssl_mha/cross")) == ["constructed", "real"]  # mixed pairs
    for name in RESCORED:  # made from the card's pairing: the pairings its scored cross-validation holds
        assert readings(meta(name)) == [r for r in READINGS if r in meta(name)["metrics"]["by_pairing"]], name


def test_the_served_in_corpus_numbers_are_the_rescored_ones():
    """The comparison, the README's headline and the harness read a gated model's or a pair's in-corpus numbers
    from its fold models scored as served, not from a training run; a model the gate never touches keeps its
    run's."""
    for name in RESCORED:
        rows = cross_corpus.in_corpus(name, meta(name))
        source = f"{name}/cv/{AS_SERVED}" if name in GATED + PAIRS else None
        assert rows and all(r["served_protocol"] for r in rows), name
        assert all((r["source"] == source) if source else not r["source"].endswith(AS_SERVED) for r in rows), name
        served = [e for e in comparison.ENTRIES if e.checkpoint == name]
        assert all(bool(e.trained) == (name in GATED + PAIRS) for e in served), name
        assert comparison.read(served[0])["training"] is not None  # its training's epochs and time, from its run


def test_the_run_behind_each_checkpoint_is_paired_as_its_card_says():
    assert run_pairing(meta("mesm")) == {"pairing": "mixed", "text_source": "goemotions", "seed": 0, "no_words": True}
    assert run_pairing(meta("nmt_attention"))["pairing"] == "mixed" and run_pairing(meta("nmt_attention"))["no_words"]
    assert not run_pairing(meta("ssl_mha/cross"))["no_words"]
    with pytest.raises(ValueError, match="RAVDESS"):
        run_pairing(meta("words_minilm"))


def test_the_parts_are_the_ones_its_training_made():
    """The test pairs of every fold, for a mixed no-words run, are paired_parts' own, in order."""
    root, goemotions = shared_dataset("ravdess_speech"), shared_dataset("goemotions")
    folds, parts = fold_parts(meta("mesm"), root, goemotions)
    made, trained_folds, _, _ = paired_parts(
        "mesm", "ravdess", root, "mixed", "goemotions", goemotions, 0, no_words=True
    )
    assert [f.name for f in folds] == [f.name for f in trained_folds]
    for fold in folds:
        validation, test = parts[fold.name]
        assert [(s.id, s.text) for s in test] == [(s.id, s.text) for s in made(fold)[2]]
        assert {s.meta["pairing"] for s in validation} == {"real"} and {s.speaker for s in validation} == set(fold.val)


def training_run(name: str) -> dict:
    """The results of the training run behind a served checkpoint's comparison rows."""
    entry = next(e for e in comparison.ENTRIES if e.checkpoint == name)
    return json.loads((CHECKPOINTS / (entry.trained or entry.source)).read_text())


def test_rescored_where_no_rule_changes_the_words_every_fold_scores_as_in_training():
    """Same fold models, same test clips: each pairing's folds hold as many clips as the run's, and where the
    words play no part (no words) or no rule changes them (a model not gated, whose transcripts differ only
    where Whisper guessed: 7 of 1,440) every fold scores as in training, up to one clip of 240 (the run scored
    its pairings in shared batches, and ``mesm`` pads a batch's clips to its longest: float sums in another
    order can flip a near tie). A pair's folds are the two runs' fold models averaged (emodemo.serving.pairs), which
    no run scored: their clip counts are its lower run's."""
    for name in RESCORED:
        run, rescored = training_run(name), saved(name)["by_pairing"]
        assert set(rescored) == set(run["by_pairing"]), name
        for reading, trained in run["by_pairing"].items():
            assert [f["n"] for f in rescored[reading]["folds"]] == [f["n"] for f in trained["folds"]], (name, reading)
        untouched = [] if name in PAIRS else list(rescored) if name not in GATED else ["none"]
        for reading in untouched:
            right = lambda folds: [round(f["WA"] * f["n"]) for f in folds]  # clips right, per fold
            moved = [
                a - b for a, b in zip(right(rescored[reading]["folds"]), right(run["by_pairing"][reading]["folds"]))
            ]
            assert all(abs(m) <= 1 for m in moved), (name, reading, moved)
    assert all(saved(n)["words_gate"]["real"] > 0 for n in GATED) and saved("ssl_mha/cross")["words_gate"] is None


def test_a_gated_models_own_words_are_scored_through_the_gate_and_its_no_words_without():
    """Real fold model (fold 0's), real clips (its 4 test actors), real words expert."""
    root, goemotions = shared_dataset("ravdess_speech"), shared_dataset("goemotions")
    result = scored_as_served("nmt_attention", root, goemotions, only=["fold0"])
    model = load_models([str(cross_corpus.fold_checkpoints("nmt_attention")["fold0"])])[0]
    folds, parts = fold_parts(meta("nmt_attention"), root, goemotions)
    own = [s for s in parts["fold0"][1] if s.meta["pairing"] == "real"]
    for reading, pairs in (("real", own), ("none", [pairing.without_words(s) for s in own])):
        probs, targets = evaluation.predicted(model, pairs)  # as every score of a served checkpoint: gated
        report = result["by_pairing"][reading]["folds"][0]
        assert report["n"] == len(own) == 240 and report["fold"] == "fold0"
        assert report["WA"] == pytest.approx(float((probs.argmax(axis=1) == targets).mean()))
    assert 0 < result["words_gate"]["real"] <= len(own) and result["words_gate"]["none"] == 0
    assert result["fold_models"] == ["folds/fold0"]  # no path of this machine in the saved file


def test_reproducing_a_served_run_scores_it_again_as_served():
    """``reproduce --served`` remakes the as-served file of the checkpoint it remakes (configs/reproduce/)."""
    from emodemo.recipes import reproduce

    for name in RESCORED:
        config = reproduce.load(name.split("/")[0])
        out = lambda run: run.args.get("out") if run.call else run.out
        served = [r for r in config.runs if r.served and out(r) == f"{{checkpoints}}/{name}"]
        assert len(served) == 1, name
        if served[0].call == "pair":  # the pair's own step calibrates its fold pairs and scores them as served
            assert name in MEANS
            runs = {r.name: r for r in reproduce.selected(config, served=True)}
            assert set(served[0].needs) <= set(runs), name  # --served trains both runs it joins
            assert all("calibrate_folds" in {s.call for s in runs[n].after} for n in served[0].needs), name
            assert served[0].results_path.startswith("{checkpoints}"), name  # committed: a fresh clone skips it
            # and the runs it needs, their models kept under runs/: `--served` on a fresh clone must not ask for them
            assert all(runs[n].results_path.startswith("{checkpoints}") for n in served[0].needs), name
            continue
        steps = [s for s in served[0].after if s.call == "cv_as_served"]
        assert [s.args["checkpoint"] for s in steps] == [f"{{checkpoints}}/{name}"], name
        assert steps[0].args["calibrate_folds"] is True, name  # its fold models calibrated as it is, first


def test_calibration_is_pooled_over_the_test_folds_each_at_its_own_fold_models_temperature():
    """Each fold's answers are tempered by that fold's own temperature before they are pooled; raw, the
    over-confident answers score a large ECE. A fold model never calibrated leaves nothing to report."""
    rng = np.random.default_rng(0)

    def answers(n: int, sure: float) -> np.ndarray:  # [n, 7]: class 0 at ``sure``, the rest shared
        probs = np.full((n, 7), (1 - sure) / 6)
        probs[:, 0] = sure
        return probs

    folds = [
        FoldAnswers(
            answers(200, 0.95), rng.choice([0, 1], size=200), 4.0, 1.0, 0.99
        ),  # half right; a line none reaches
        FoldAnswers(answers(100, 0.6), rng.choice([0, 1], size=100, p=[0.8, 0.2]), 0.5, 2.0, None),  # 80 % right
    ]
    pooled = pooled_calibration(folds)
    truth = np.r_[folds[0][1], folds[1][1]]
    at = lambda k: np.vstack([softmax(np.log(f[0]), f[k]) for f in folds])  # each fold at its own temperature
    assert pooled["temperatures"] == [4.0, 0.5] and pooled["temperatures_clean_fit"] == [1.0, 2.0]
    assert pooled["ece_raw"] == pytest.approx(expected_calibration_error(np.vstack([f[0] for f in folds]), truth))
    assert pooled["ece_calibrated"] == pytest.approx(expected_calibration_error(at(2), truth))
    assert pooled["ece_clean_fit"] == pytest.approx(expected_calibration_error(at(3), truth))
    unsure = pooled["unsure"]  # each fold's own line: the first answers nothing, the second everything
    assert unsure["lines"] == [0.99, None] and unsure["answered"] == pytest.approx(100 / 300)
    assert unsure["accuracy_answered"] == pytest.approx(float(np.mean(folds[1][1] == 0)))
    swapped = pooled_calibration([folds[0]._replace(temperature=0.5), folds[1]._replace(temperature=4.0)])
    assert swapped["ece_calibrated"] != pytest.approx(pooled["ece_calibrated"])
    assert sum(pooled["reliability_raw"]["count"]) == 300
    assert pooled_calibration([folds[0]._replace(temperature=None), folds[1]]) is None


def test_fold_models_kept_outside_the_checkpoint_are_scored_and_saved_without_a_machine_path(tmp_path):
    """Fold models too large to commit (co-attention's, under runs/) are scored from their own folder
    (``cv-as-served --fold-models DIR``), with the same answers as where the checkpoint keeps them."""
    import shutil

    from emodemo.serving.served_cv import fold_label

    root, goemotions = shared_dataset("ravdess_speech"), shared_dataset("goemotions")
    shutil.copytree(cross_corpus.fold_checkpoints("nmt_attention")["fold0"], tmp_path / "fold0")
    outside = scored_as_served("nmt_attention", root, goemotions, only=["fold0"], fold_models=tmp_path)
    for reading, scores in saved("nmt_attention")["by_pairing"].items():  # scored where the checkpoint keeps it
        fold = outside["by_pairing"][reading]["folds"][0]
        assert {k: fold[k] for k in ("n", "WA", "UA")} == pytest.approx(
            {k: scores["folds"][0][k] for k in ("n", "WA", "UA")}
        ), reading
    assert outside["fold_models"] == ["fold0"]
    repo = CHECKPOINTS.parent
    assert fold_label(repo / "runs" / "x" / "folds" / "fold1", CHECKPOINTS / "coattention") == "runs/x/folds/fold1"
    with pytest.raises(FileNotFoundError, match="under"):
        scored_as_served("nmt_attention", root, goemotions, only=["fold1"], fold_models=tmp_path)


def test_a_fold_trained_with_its_own_seed_is_scored_on_the_lines_its_run_drew():
    """Co-attention's folds each ran in a process seeded with the fold's index, and the seed draws the
    constructed half's GoEmotions lines: each fold's test part is the one its own seed made."""
    root, goemotions = shared_dataset("ravdess_speech"), shared_dataset("goemotions")
    folds, drawn = fold_parts(with_seed(meta("coattention"), 1), root, goemotions)
    made, *_ = paired_parts("coattention", "ravdess", root, "mixed", "goemotions", goemotions, 1)
    _, first = fold_parts(meta("coattention"), root, goemotions)  # the served checkpoint's own seed, 0
    lines = lambda pairs: [(s.id, s.text) for s in pairs if s.meta["pairing"] == "constructed"]
    fold = next(f for f in folds if f.name == "fold1")
    assert lines(drawn["fold1"][1]) == lines(made(fold)[2])
    assert lines(drawn["fold1"][1]) != lines(first["fold1"][1])
