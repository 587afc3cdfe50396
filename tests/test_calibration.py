"""Temperature scaling, ECE and the unsure threshold on numbers whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from emodemo.training import calibration


def overconfident(n=4000, c=5, seed=0):
    """Logits of a model right ~60 % of the time that says ~95 %: true probabilities then sharpened x4."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 1, (n, c))
    targets = rng.integers(c, size=n)
    base[np.arange(n), targets] += 1.2
    sampled = np.array([rng.choice(c, p=p) for p in calibration.softmax(base)])  # labels drawn from the model's own law
    return 4.0 * base, sampled


def test_temperature_recovers_the_sharpening_and_cuts_ece():
    logits, targets = overconfident()
    t = calibration.fit_temperature(logits, targets)
    assert t == pytest.approx(4.0, rel=0.15)
    before = calibration.expected_calibration_error(calibration.softmax(logits), targets)
    after = calibration.expected_calibration_error(calibration.softmax(logits, t), targets)
    assert before > 0.2 and after < 0.03
    assert (calibration.softmax(logits, t).argmax(1) == logits.argmax(1)).all()  # accuracy unchanged


def test_ece_of_a_perfect_and_a_wrong_model():
    probs = np.eye(3)[[0, 1, 2, 0]]
    assert calibration.expected_calibration_error(probs, np.array([0, 1, 2, 0])) == 0.0
    assert calibration.expected_calibration_error(probs, np.array([1, 2, 0, 1])) == 1.0
    bins = calibration.reliability(probs, np.array([0, 1, 2, 0]))
    assert bins["count"].sum() == 4 and bins["count"][-1] == 4 and len(bins["edges"]) == 16


def test_ece_uncertainty_tells_sampling_noise_from_miscalibration_on_350_clips():
    """On 350 clips a calibrated model's binned ECE is not 0: the band a calibrated model shows at the
    same confidences says how much is noise. A calibrated model's ECE lies inside that band and inside
    its own interval; an over-confident model's whole interval lies above the band."""
    logits, targets = overconfident(n=350, seed=1)
    t = calibration.fit_temperature(logits, targets)
    sharp = calibration.ece_uncertainty(calibration.softmax(logits), targets)
    calibrated = calibration.ece_uncertainty(calibration.softmax(logits, t), targets)
    ece = calibration.expected_calibration_error(calibration.softmax(logits, t), targets)
    assert 0.02 < calibrated["if_calibrated"] < 0.12  # binning 350 clips leaves this much
    assert calibrated["calibrated_low"] < calibrated["if_calibrated"] < calibrated["calibrated_high"]
    assert calibrated["calibrated_low"] <= ece <= calibrated["calibrated_high"]
    assert calibrated["low"] <= ece <= calibrated["high"]
    assert sharp["low"] > sharp["calibrated_high"]
    assert calibration.ece_uncertainty(calibration.softmax(logits, t), targets) == calibrated  # seeded


def test_an_ece_under_every_resamples_still_gets_an_interval_of_some_width():
    """Every clip at confidence 0.5, exactly half of them right: the ECE is 0 and nearly every resample's is more, where
    the bias-corrected interval collapses to one point; the plain percentile interval is given instead."""
    probs = np.tile([0.5, 0.3, 0.2], (200, 1))
    targets = np.r_[np.zeros(100, dtype=int), np.ones(100, dtype=int)]
    assert calibration.expected_calibration_error(probs, targets) == 0.0
    spread = calibration.ece_uncertainty(probs, targets, n_resamples=200)
    assert 0.0 <= spread["low"] and spread["low"] + 0.01 < spread["high"] < 0.2


def test_unsure_threshold_reaches_its_accuracy_on_whole_ties():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.7, 0.3], [0.6, 0.4], [0.55, 0.45]])
    targets = np.array([0, 0, 0, 1, 1, 1])  # right, right, right, wrong, wrong, wrong
    chosen = calibration.unsure_threshold(probs, targets, target=0.75)
    assert chosen == {"threshold": 0.7, "answered": pytest.approx(4 / 6), "accuracy_answered": 0.75}
    assert calibration.unsure_threshold(probs, targets, target=0.99)["threshold"] == 0.8
    assert calibration.unsure_threshold(probs, 1 - targets, target=0.99)["answered"] == 0.0


def test_changed_clips_temper_the_temperature_and_leave_the_unsure_line_on_the_clean_ones():
    """A model calibrated on its clean clips but over-confident on changed ones (sharpened x2): fitted
    on both, the temperature rises and the changed clips' ECE falls; the clean ECE before and the
    "unsure" line are still those of the clean clips (at the new temperature)."""
    logits, targets = overconfident(seed=0)
    clean = calibration.softmax(logits, 4.0)  # calibrated on its own clips
    shifted_logits, shifted_targets = overconfident(seed=1)
    shifted = calibration.softmax(shifted_logits, 2.0)  # twice too sharp on what is new
    alone = calibration.calibrated_on(clean, targets, ["a"])
    both = calibration.calibrated_on(clean, targets, ["a"], (shifted, shifted_targets, "changed"))
    changed_alone = calibration.fit_temperature(np.log(shifted), shifted_targets)
    assert alone["temperature"] == pytest.approx(1.0, abs=0.15)
    assert 1.2 < both["temperature"] < changed_alone - 0.2  # between the clean clips' and the changed ones' own
    assert both["ece_perturbed_after"] < both["ece_perturbed_before"] and both["perturbed"] == "changed"
    assert both["ece_before"] == alone["ece_before"] and "perturbed" not in alone
    at_t = calibration.softmax(np.log(clean), both["temperature"])
    assert both["unsure"] == calibration.unsure_threshold(at_t, targets)
    assert both["ece_after"] == calibration.expected_calibration_error(at_t, targets)
    five = (np.tile(shifted, (5, 1)), np.tile(shifted_targets, 5), "five conditions")  # outnumber the clean 5 to 1
    as_they_come = calibration.calibrated_on(clean, targets, ["a"], five)["temperature"]
    halves = calibration.calibrated_on(clean, targets, ["a"], five, clean_half=True)
    assert halves["temperature"] == pytest.approx(both["temperature"], rel=1e-3)  # as if as many as the clean
    assert alone["temperature"] < halves["temperature"] < as_they_come and halves["clean_share"] == 0.5
    with pytest.raises(ValueError, match="perturbed"):
        calibration.calibrated_on(clean, targets, ["a"], clean_half=True)


def test_weights_set_each_answers_share_of_the_fit():
    """Two sets of answers, one calibrated at T = 4 and one at T = 2: weighted 1 : 0 the fit finds the first set's
    temperature; weighted so that each set counts as much as the other, one between, whatever their sizes."""
    sharp, targets = overconfident(n=400, seed=0)  # calibrated at T = 4
    flat, flat_targets = overconfident(n=100, seed=1)
    z, y = np.concatenate([sharp, flat / 2]), np.concatenate([targets, flat_targets])  # the second at T = 2
    first_only = calibration.fit_temperature(z, y, weights=np.r_[np.ones(400), np.zeros(100)])
    assert first_only == pytest.approx(calibration.fit_temperature(sharp, targets), rel=1e-4)
    halves = calibration.fit_temperature(z, y, weights=np.r_[np.full(400, 1 / 400), np.full(100, 1 / 100)])
    as_they_come = calibration.fit_temperature(z, y)
    assert 2.0 < halves < as_they_come < 4.6  # the small set pulls harder when it counts as much
    with pytest.raises(ValueError, match="weights"):
        calibration.fit_temperature(z, y, weights=np.zeros(500))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="logits"):
        calibration.fit_temperature(np.zeros(3), np.zeros(3))


def test_calibrate_writes_a_checkpoints_temperature_fitted_on_its_validation_speakers(tmp_path, ravdess_root):
    """`python -m emodemo calibrate` on a copy of one of the served MESM's fold models: fitted on its validation
    actors' clips with their own Whisper words (as the app reads them), written into config and card, and
    then used by the app; a folder without those actors gets a message, not a trace."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from emodemo.serving.pipeline import temperature
    from emodemo.training.checkpoint import read_checkpoint_config

    repo = Path(__file__).resolve().parents[1]
    folder = shutil.copytree(repo / "checkpoints" / "mesm" / "folds" / "fold0", tmp_path / "mesm")
    speakers = read_checkpoint_config(folder)["data_card"]["validation_speakers"]
    root = tmp_path / "ravdess"
    root.mkdir()
    for actor in speakers:
        (root / actor).symlink_to(ravdess_root / actor, target_is_directory=True)
    run = lambda r: subprocess.run(
        [sys.executable, "-m", "emodemo", "calibrate", str(folder), "--root", str(r)],
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=600,
    )
    done = run(root)
    assert done.returncode == 0, done.stderr
    meta = read_checkpoint_config(folder)
    cal = meta["calibration"]
    assert cal["fitted_on"] == speakers and cal["pairs"].startswith("real")
    assert 0 < cal["temperature"] != 1.0 and temperature(meta) == cal["temperature"]
    assert 0 < cal["unsure"]["answered"] <= 1 and 0 <= cal["ece_after"] <= 1
    assert f"temperature {cal['temperature']:.3f}" in done.stdout
    assert "## Calibration" in (folder / "MODEL_CARD.md").read_text()
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    (elsewhere / "Actor_01").symlink_to(ravdess_root / "Actor_01", target_is_directory=True)
    refused = run(elsewhere)
    assert refused.returncode == 2 and "none of" in refused.stderr and "Traceback" not in refused.stderr


def test_calibrate_fits_a_words_model_on_its_benchmarks_validation_part(tmp_path):
    """A words model trained on MELD is calibrated on MELD's validation part (held-out train
    dialogues), its lines as they are: no speakers, no transcripts."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from conftest import shared_dataset

    from emodemo.training.checkpoint import read_checkpoint_config

    repo = Path(__file__).resolve().parents[1]
    folder = shutil.copytree(repo / "checkpoints" / "words_minilm", tmp_path / "words")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "calibrate",
            str(folder),
            "--dataset",
            "meld",
            "--root",
            str(shared_dataset("meld_text")),
        ],
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    cal = read_checkpoint_config(folder)["calibration"]
    assert cal["fitted_on"] == ["the validation part of meld"] and cal["pairs"] == "the lines"
    assert cal["unsure"]["accuracy_answered"] >= 0.8 and 0 < cal["temperature"]


def test_calibrate_with_changed_clips_fits_on_the_validation_actors_heard_through_the_robustness_conditions(
    tmp_path, ravdess_root
):
    """`calibrate --perturbed` on a copy of a hand-crafted fold model: its 2 validation actors' clips
    and the same clips at -20 / +20 dB, in white noise, in the other actor's babble and on a telephone
    line (clips the app refuses left out), read from files written once; the card says so."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from emodemo.training.checkpoint import read_checkpoint_config

    repo = Path(__file__).resolve().parents[1]
    folder = shutil.copytree(repo / "checkpoints" / "handcrafted_ensemble" / "folds" / "fold0", tmp_path / "fold0")
    speakers = read_checkpoint_config(folder)["data_card"]["validation_speakers"]
    root = tmp_path / "ravdess"
    root.mkdir()
    for actor in speakers:
        (root / actor).symlink_to(ravdess_root / actor, target_is_directory=True)
    cache = tmp_path / "cache"
    done = subprocess.run(
        [sys.executable, "-m", "emodemo", "calibrate", str(folder), "--root", str(root), "--perturbed"],
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=900,
        env={**os.environ, "EMODEMO_CACHE": str(cache)},
    )
    assert done.returncode == 0, done.stderr
    cal = read_checkpoint_config(folder)["calibration"]
    conditions = ("level -20 dB", "level +20 dB", "white noise 10 dB", "babble 5 dB", "telephone band")
    assert all(c in cal["perturbed"] for c in conditions) and cal["fitted_on"] == speakers
    n = int(cal["perturbed"].split("; ")[1].split(" ")[0])
    assert 5 * 120 - 40 < n <= 5 * 120  # 120 clips a condition, a few quiet takes refused at -20 dB
    assert 0 <= cal["ece_perturbed_after"] <= 1 and 0 < cal["temperature"]
    assert len(list(cache.glob("robustness/*/validation-*/*/*.flac"))) == 5 * 120
    assert "on the changed clips" in (folder / "MODEL_CARD.md").read_text()


def test_the_changed_clips_are_read_one_condition_at_a_time_each_from_its_own_files(
    tmp_path, ravdess_root, monkeypatch
):
    """perturbed_answers hands the model each condition's copies apart (they keep their clean takes'
    ids, under which transcripts are paired), each copy from its own condition's file: 5 conditions,
    none of them clean."""
    from types import SimpleNamespace

    import emodemo.serving.evaluation as evaluation
    import emodemo.training.engine as engine
    from emodemo.data import load
    from emodemo.serving import cross_corpus

    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path / "cache"))
    samples = [s for actor in (16, 19) for s in load("ravdess", ravdess_root, actors=[actor])[:3]]
    read = []
    monkeypatch.setattr(
        evaluation, "readable", lambda loaded, part, dataset, transcribe: (read.append(part) or part, 0, 0, True)
    )
    monkeypatch.setattr(
        engine, "predict", lambda model, part: (np.full((len(part), 7), 1 / 7), np.zeros(len(part), int))
    )
    recipe = SimpleNamespace(make_dataset=lambda part, labels, spec: part)
    loaded = SimpleNamespace(model=None, labels=list(range(7)), meta={}, recipe=recipe)
    probs, targets, about = cross_corpus.perturbed_answers(loaded, samples, "ravdess")
    folders = [{s.audio.parent.name for s in part} for part in read]
    assert len(read) == 5 and all(len(f) == 1 for f in folders) and len(set.union(*folders)) == 5
    n = sum(len(part) for part in read)
    assert all(len({s.id for s in part}) == len(part) for part in read) and probs.shape == (n, 7) and n > 25
    assert all(s.audio.parent.parent.name == "validation-Actor_16-Actor_19" for part in read for s in part)
    assert "clean" not in about and f"{n} clips" in about
