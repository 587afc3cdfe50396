"""The served speech probe: an ensemble of its calibrated fold models, on normalised input."""
from __future__ import annotations

import torch

from emodemo.checkpoint import read_checkpoint_config
from emodemo.models import SpeechProbe, SpeechProbeEnsemble
from emodemo.pipeline import CHECKPOINTS, load_models


def test_the_ensemble_answers_the_mean_of_its_calibrated_members():
    torch.manual_seed(0)
    ensemble = SpeechProbeEnsemble(7, n_layers=3, dim=8, temperatures=(0.5, 2.0)).eval()
    stats = torch.randn(4, 3, 16)
    expected = (torch.softmax(ensemble.members[0](stats) / 0.5, -1) + torch.softmax(ensemble.members[1](stats) / 2.0, -1)) / 2
    assert torch.allclose(torch.softmax(ensemble(stats), -1), expected, atol=1e-6)
    assert isinstance(ensemble.members[0], SpeechProbe)


def test_the_served_probe_is_its_folds_averaged_and_knows_when_it_is_unsure():
    config = read_checkpoint_config(CHECKPOINTS / "speech_probe")
    assert config["model_name"] == "speech_probe_ensemble" and config["input_spec"]["normalise"] is True
    folds = sorted((CHECKPOINTS / "speech_probe" / "folds").glob("fold*/config.json"))
    temperatures = [read_checkpoint_config(f.parent)["calibration"]["temperature"] for f in folds]
    assert len(folds) == 5 and config["model_kwargs"]["temperatures"] == temperatures
    unsure = config["calibration"]["unsure"]
    assert unsure["accuracy_answered"] >= 0.80 and 0 < unsure["threshold"] < 1 and unsure["answered"] > 0.3
    loaded = load_models(["speech_probe"])[0]
    member = load_models([str(folds[0].parent)])[0]
    assert torch.equal(loaded.model.members[0].head[1].weight, member.model.head[1].weight)
