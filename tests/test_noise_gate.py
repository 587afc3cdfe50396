"""The noise gate for noisy clips: the frozen-states models hear a noisy clip denoised in training
and in the app alike, and a trained checkpoint gets the setting afterwards only when none of its
training clips would have been gated."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import shared_dataset

from emodemo.data import load
from emodemo.inputs.audio import load_audio
from emodemo.recipes import frozen_states
from emodemo.training.checkpoint import read_checkpoint_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_and_noisy(ravdess_clip, tmp_path):
    clean = next(s for s in load("ravdess", ravdess_clip.parents[1], actors=[1]) if s.audio == ravdess_clip)
    wave = load_audio(ravdess_clip).astype(np.float64)
    noise = np.random.default_rng(0).normal(size=wave.shape) * np.sqrt(np.mean(wave**2) / 10)  # 10 dB SNR
    sf.write(tmp_path / "noisy.wav", (wave + noise).astype(np.float32), 16000)
    return clean, dataclasses.replace(clean, id="noisy", audio=tmp_path / "noisy.wav")


def test_frozen_speech_states_of_a_noisy_clip_are_denoised_in_training_and_serving_alike(
    clean_and_noisy, tmp_path, monkeypatch
):
    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path / "cache"))
    frozen_states.forget_clips()
    clean, noisy = clean_and_noisy
    trained = frozen_states.speech_of_samples([clean, noisy], top_layers=0, normalised=True, denoise_below_db=30.0)
    for sample, states in zip((clean, noisy), trained):
        wave = load_audio(sample.audio)
        served = frozen_states.one_clip_states(wave, top_layers=0, normalised=True, denoise_below_db=30.0)
        assert served.shape == states.shape and torch.allclose(served.float(), states.float(), atol=2e-2)
    plain = frozen_states.speech_of_samples([clean, noisy], top_layers=0, normalised=True)
    assert torch.equal(plain[0], trained[0])  # the clean take is not gated
    differs = plain[1].shape != trained[1].shape or not torch.allclose(plain[1].float(), trained[1].float(), atol=0.1)
    assert differs  # the noisy one is


def _subset(root: Path, tmp_path: Path, actors: tuple[str, ...]) -> Path:
    subset = tmp_path / "ravdess"
    subset.mkdir()
    for actor in actors:
        (subset / actor).symlink_to(root / actor, target_is_directory=True)
    return subset


def test_a_checkpoint_gets_the_gate_only_when_no_training_clip_would_be_gated(tmp_path, monkeypatch):
    """``python -m emodemo gate``: Self-MHA's fold model, checked on two of its training actors, is
    gated below 30 dB (none of their takes estimates under it) and its card says so; at 70 dB some
    take would be gated, so it is refused; a recipe without the setting is refused too."""
    from emodemo.serving.noise_gate import set_noise_gate

    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path / "cache"))
    checkpoint = tmp_path / "fold0"
    shutil.copytree(REPO / "checkpoints" / "ssl_mha" / "folds" / "fold0", checkpoint)
    config = read_checkpoint_config(checkpoint)
    root = _subset(shared_dataset("ravdess_speech"), tmp_path, tuple(config["data_card"]["train_speakers"][:2]))
    with pytest.raises(ValueError, match="already hears its inputs gated"):  # the committed one is gated
        set_noise_gate(checkpoint, 30.0, root)
    for key in ("denoise_below_db", "steady_floor_below_db"):  # as it was trained, before `gate`
        config["input_spec"].pop(key)
    config["data_card"]["inputs"] = config["data_card"]["inputs"].split("; a clip under")[0]
    (checkpoint / "config.json").write_text(json.dumps(config, indent=2))
    with pytest.raises(ValueError, match="train it again"):
        set_noise_gate(checkpoint, 70.0, root)
    run = subprocess.run(
        [sys.executable, "-m", "emodemo", "gate", str(checkpoint), "--below", "30", "--root", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "EMODEMO_CACHE": str(tmp_path / "cache")},
    )
    assert run.returncode == 0 and "120 training clips checked" in run.stdout, run.stderr
    config = read_checkpoint_config(checkpoint)
    assert config["input_spec"]["denoise_below_db"] == 30.0
    assert "under 30 dB estimated SNR" in config["data_card"]["inputs"]
    assert "under 30 dB estimated SNR" in (checkpoint / "MODEL_CARD.md").read_text()
    assert "steady_floor_below_db" not in config["input_spec"]
    with pytest.raises(ValueError, match="already hears its inputs gated"):  # another threshold: train again
        set_noise_gate(checkpoint, 25.0, root, steady_below_db=5.0)
    done = set_noise_gate(checkpoint, 30.0, root, steady_below_db=5.0)  # the steady-floor test narrows the gate
    config = read_checkpoint_config(checkpoint)
    assert done["steady_below_db"] == 5.0 and config["input_spec"]["steady_floor_below_db"] == 5.0
    assert config["input_spec"]["denoise_below_db"] == 30.0 and "within 5 dB" in config["data_card"]["inputs"]
    with pytest.raises(ValueError, match="already hears its inputs gated"):
        set_noise_gate(checkpoint, 30.0, root, steady_below_db=4.0)
    with pytest.raises(ValueError, match="no denoise_below_db"):
        set_noise_gate(REPO / "checkpoints" / "handcrafted_ensemble", 30.0, root)
