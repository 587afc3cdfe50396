"""The served speech probe: an ensemble of its calibrated fold models, on normalised input."""

from __future__ import annotations

import torch

from emodemo.models import SpeechProbe, SpeechProbeEnsemble
from emodemo.serving.pipeline import CHECKPOINTS, load_models
from emodemo.training.checkpoint import read_checkpoint_config


def test_the_ensemble_answers_the_mean_of_its_calibrated_members():
    torch.manual_seed(0)
    ensemble = SpeechProbeEnsemble(7, n_layers=3, dim=8, temperatures=(0.5, 2.0)).eval()
    stats = torch.randn(4, 3, 16)
    expected = (
        torch.softmax(ensemble.members[0](stats) / 0.5, -1) + torch.softmax(ensemble.members[1](stats) / 2.0, -1)
    ) / 2
    assert torch.allclose(torch.softmax(ensemble(stats), -1), expected, atol=1e-6)
    assert isinstance(ensemble.members[0], SpeechProbe)


def test_a_probe_of_some_layers_reads_those_alone():
    import pytest

    from emodemo.recipes.common import parse_layers

    torch.manual_seed(0)
    probe = SpeechProbe(7, n_layers=7, dim=8, layers=parse_layers("0-3")).eval()
    assert probe.mix.weights.shape == (4,)
    stats = torch.randn(2, 7, 16)
    changed_above = stats.clone()
    changed_above[:, 4:] = torch.randn(2, 3, 16)
    changed_below = stats.clone()
    changed_below[:, 2] = torch.randn(2, 16)
    assert torch.equal(probe(stats), probe(changed_above))  # layers 4-6 are not read
    assert not torch.allclose(probe(stats), probe(changed_below))
    ensemble = SpeechProbeEnsemble(7, n_layers=7, dim=8, temperatures=(1.0, 1.0), layers=(0, 1))
    assert all(m.layers == [0, 1] for m in ensemble.members)
    assert parse_layers("all") is None and parse_layers("1,3") == (1, 3)
    pair = SpeechProbeEnsemble(7, n_layers=7, dim=8, temperatures=(1.0, 1.0), member_layers=([0, 1, 2, 3], None))
    assert [m.layers for m in pair.members] == [[0, 1, 2, 3], None]  # the lower half beside every layer
    assert not torch.allclose(pair.eval()(stats), pair(changed_above))  # its second probe reads layers 4-6
    with pytest.raises(ValueError, match="2 members' layers for 3 temperatures"):
        SpeechProbeEnsemble(7, n_layers=7, dim=8, temperatures=(1.0, 1.0, 1.0), member_layers=([0], None))
    with pytest.raises(ValueError, match="give the members' layers once"):
        SpeechProbeEnsemble(7, n_layers=7, dim=8, temperatures=(1.0, 1.0), layers=(0, 1), member_layers=([0], None))
    with pytest.raises(ValueError, match="among the encoder's 7"):
        SpeechProbe(7, n_layers=7, dim=8, layers=(0, 7))
    with pytest.raises(ValueError, match="a range like 0-3"):
        parse_layers("lower")


def test_the_served_probe_is_its_folds_averaged_and_knows_when_it_is_unsure():
    """Five fold models, each a pair of probes on normalised input (noisy clips gated) calibrated on the fold's
    validation actors: one reads the lower half of Whisper base (layers 0-3), which holds on new voices, the
    other every layer, which knows RAVDESS's better; the ten averaged, the encoder run to its last layer."""
    config = read_checkpoint_config(CHECKPOINTS / "speech_probe")
    assert config["model_name"] == "speech_probe_ensemble"
    assert config["input_spec"] == {
        "encoder": "base",
        "normalise": True,
        "denoise_below_db": 30.0,  # noisy clips heard through the noise gate (bench/noise_gate.py)
        "steady_floor_below_db": 5.0,  # ... when their noise floor is steady (bench/noise_gate.py --floor-only)
    }
    folds = sorted((CHECKPOINTS / "speech_probe" / "folds").glob("fold*/config.json"))
    members = [read_checkpoint_config(f.parent) for f in folds]
    assert len(folds) == 5 and all(
        m["model_name"] == "speech_probe_ensemble" and m["model_kwargs"]["member_layers"] == [[0, 1, 2, 3], None]
        for m in members
    )
    assert config["model_kwargs"]["temperatures"] == [t for m in members for t in m["model_kwargs"]["temperatures"]]
    assert all(m["calibration"]["temperature"] == 1.0 for m in members)  # each member carries its own
    unsure = config["calibration"]["unsure"]
    assert unsure["accuracy_answered"] >= 0.80 and 0 < unsure["threshold"] < 1 and unsure["answered"] > 0.3
    loaded = load_models(["speech_probe"])[0]
    member = load_models([str(folds[0].parent)])[0]
    for k in (0, 1):
        assert torch.equal(loaded.model.members[k].head[1].weight, member.model.members[k].head[1].weight)
    assert [m.layers for m in loaded.model.members[:2]] == [[0, 1, 2, 3], None]
    from emodemo.serving.cross_corpus import _same_run

    assert all(_same_run(config, m) for m in members)  # the harness finds them as its fold models
    lower_half_alone = dict(members[0], model_kwargs=dict(members[0]["model_kwargs"], member_layers=[[0, 1, 2, 3]]))
    assert not _same_run(config, lower_half_alone)
    metrics = config["metrics"]  # the pair's cross-validation, and each member's own beside it
    assert metrics["cross_validation"]["WA"]["mean"] > metrics["first_member_cross_validation"]["WA"]["mean"]


def test_a_pair_per_fold_trains_two_probes_each_fold(tmp_path, ravdess_root):
    """Pairs in quick mode (one fold, two epochs): a clean and an augmented probe, or (as served) a probe of
    the lower half and one of every layer; scored as a pair, the members' own cross-validation kept; an
    option missing its partners is refused clearly."""
    import subprocess
    import sys

    repo = CHECKPOINTS.parent
    run = lambda *options: subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "train",
            "speech_probe",
            "--root",
            str(ravdess_root),
            "--cv",
            "--quick",
            "--out",
            str(tmp_path / "probe"),
            *[a for o in options for a in ("--option", o)],
        ],
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=900,
    )
    refused = run("augment_pair=1")
    assert refused.returncode == 2 and "augment=K and ensemble=1" in refused.stderr
    done = run("classes=7", "normalise=1", "augment=1", "ensemble=1", "augment_pair=1")
    assert done.returncode == 0, done.stderr
    config = read_checkpoint_config(tmp_path / "probe")
    metrics = config["metrics"]
    assert len(config["model_kwargs"]["temperatures"]) == 2 and len(metrics["folds"]) == 1
    assert {"clean_member_cross_validation", "augmented_member_cross_validation"} <= set(metrics)
    fold = read_checkpoint_config(tmp_path / "probe" / "folds" / "fold0")
    assert fold["metrics"]["test"]["WA"] == metrics["folds"][0]["WA"] and fold["calibration"]["temperature"] == 1.0
    refused = run("classes=7", "layers=0-3", "pair_layers=all")  # a pair of each fold is an ensemble's member
    assert refused.returncode == 2 and "give ensemble=1" in refused.stderr
    twins = run("classes=7", "layers=0-3", "pair_layers=0-3", "ensemble=1")
    assert twins.returncode == 2 and "twins" in twins.stderr
    done = run("classes=7", "normalise=1", "encoder_name=base", "layers=0-3", "pair_layers=all", "ensemble=1")
    assert done.returncode == 0, done.stderr
    config = read_checkpoint_config(tmp_path / "probe")
    assert config["model_kwargs"]["member_layers"] == [[0, 1, 2, 3], None] and "layers" not in config["input_spec"]
    assert {"first_member_cross_validation", "second_member_cross_validation"} <= set(config["metrics"])
