"""Pitch-shifted (and pitch-and-tempo) training copies for the models that read frozen speech states: what a copy
sounds like, where its states are cached, that only training pairs get one, and which recipes ask for which."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emodemo.data import load
from emodemo.inputs import augment
from emodemo.inputs.audio import SAMPLE_RATE, load_audio
from emodemo.inputs.normalise import normalised_if
from emodemo.recipes import frozen_states
from emodemo.recipes.training_copies import COPY, clip_waves, copy_key, copy_of, with_copies


def dominant_hz(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / SAMPLE_RATE)[spectrum.argmax()])


def test_pitch_copies_move_a_tone_by_at_most_4_semitones_and_keep_its_length():
    tone = (0.3 * np.sin(2 * np.pi * 220.0 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    ratios = []
    for copy in (1, 2, 3, 4):
        shifted = augment.augmented(tone, "clip", copy, chain="pitch")
        assert len(shifted) == len(tone)
        assert np.array_equal(shifted, augment.augmented(tone, "clip", copy, chain="pitch"))  # the same every time
        ratios.append(dominant_hz(shifted) / 220.0)
    semitones = 12 * np.log2(ratios)
    assert np.all(np.abs(semitones) <= 4.2)  # within the chain's range (one FFT bin of slack)
    assert np.ptp(semitones) > 0.5  # copies are shifted by different amounts


def test_pitch_tempo_copies_shift_a_tone_and_play_it_0_75_to_1_3_times_as_fast():
    tone = (0.3 * np.sin(2 * np.pi * 220.0 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    rates, semitones = [], []
    for copy in (1, 2, 3, 4, 5, 6):
        made = augment.augmented(tone, "clip", copy, chain="pitch_tempo")
        assert np.array_equal(made, augment.augmented(tone, "clip", copy, chain="pitch_tempo"))  # the same every time
        rates.append(len(tone) / len(made))
        semitones.append(12 * np.log2(dominant_hz(made) / 220.0))
    assert all(0.74 <= r <= 1.31 for r in rates) and np.ptp(rates) > 0.1  # lengths change, by different rates
    assert np.all(np.abs(semitones) <= 4.2) and np.ptp(semitones) > 0.5
    assert copy_key(1, "pitch_tempo")["augment"]["tempo_copy_rate"] == [0.75, 1.3]  # its own cache entries


def test_copy_keys_name_the_chain_and_keep_the_keys_of_caches_already_filled():
    assert copy_key(0, "pitch") == {}  # the clip itself
    assert copy_key(2, "all") == {"augment": {**augment.SETTINGS, "copy": 2}}
    assert copy_key(1, "noise") == {"augment": {**augment.SETTINGS, "copy": 1, "chain": "noise"}}
    assert copy_key(1, "pitch") == {
        "augment": {**augment.SETTINGS, "copy": 1, "chain": "pitch", "pitch_copy_semitones": [-4, 4]}
    }
    with pytest.raises(ValueError, match="augmentation chain"):
        augment.training_chain("echo")


def test_frozen_states_of_a_pitch_copy_are_the_copy_s_own_through_the_cache(ravdess_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path / "cache"))
    clip = next(s for s in load("ravdess", ravdess_clip.parents[1], actors=[1]) if s.audio == ravdess_clip)
    both = with_copies([clip], 1, "pitch")
    assert [copy_of(s) for s in both] == [(0, "all"), (1, "pitch")] and both[1].id == f"{clip.id}+aug1"
    states = frozen_states.speech_of_samples(both, top_layers=0, normalised=True, progress=False)
    copy_wave = augment.augmented(load_audio(clip.audio), clip.id, 1, chain="pitch")
    assert np.array_equal(clip_waves(both[1:], 1, "pitch")[0], copy_wave)
    expected = frozen_states.speech_states([normalised_if(copy_wave, True)], top_layers=0)[0]
    assert torch.equal(states[1], expected)
    assert states[0].shape != states[1].shape or not torch.allclose(states[0].float(), states[1].float(), atol=0.1)
    again = frozen_states.speech_of_samples(both[::-1], top_layers=0, normalised=True, progress=False)
    assert torch.equal(again[0], states[1]) and torch.equal(again[1], states[0])  # read back, each under its key


def test_only_training_pairs_get_a_pitch_copy(ravdess_root, monkeypatch):
    """``paired_parts(copies_chain="pitch")`` on 3 real actors' clips (one fold, words faked): every training
    pair is there once more as its pitch copy, validation and test pairs are not."""
    from types import SimpleNamespace

    from emodemo.data.splits import Fold
    from emodemo.recipes import common

    clips = [s for s in load("ravdess", ravdess_root, actors=[1, 2, 3]) if s.meta["statement"] == 1]
    heard = SimpleNamespace(text="Kids are talking by the door", words=[], no_speech=0.0, model="fixture")
    monkeypatch.setattr("emodemo.speech.transcripts.words_read", lambda chosen: {s.id: heard for s in chosen})
    fold = Fold("fold", train=("Actor_01",), val=("Actor_02",), test=("Actor_03",))
    monkeypatch.setattr("emodemo.training.experiment.standard_protocol", lambda dataset, chosen: ([fold], fold))
    monkeypatch.setattr("emodemo.data.load", lambda *args, **kwargs: clips)
    parts, _, _, name = common.paired_parts(
        "nmt_attention", "ravdess", ravdess_root, "real", "goemotions", None, 0, copies_chain="pitch"
    )
    train, val, test = parts(fold)
    originals = [s for s in train if not s.meta.get(COPY)]
    assert len(train) == 2 * len(originals) == 2 * sum(s.speaker == "Actor_01" for s in clips) > 0
    assert all(copy_of(s) == (1, "pitch") for s in train[len(originals) :])
    assert [s.text for s in train[len(originals) :]] == [s.text for s in originals]  # the words are kept
    assert val and test and not any(s.meta.get(COPY) for s in val + test) and "pitch copy" in name


def test_nmt_attention_asks_for_copies_of_frozen_states_only(tmp_path, monkeypatch):
    """``nmt_attention`` reads pitch (or pitch-and-tempo) copies through its frozen speech states
    (``speech_layers``); its raw-waveform audio branch would train without them, so it refuses."""
    from emodemo.recipes import nmt_attention

    for flag, chain in (("pitch_copies", "pitch"), ("pitch_tempo_copies", "pitch_tempo")):
        assert chains_asked(nmt_attention, monkeypatch, tmp_path, flag=flag, speech_layers="0-3") == [chain, None]
        with pytest.raises(ValueError, match="add speech_layers"):
            nmt_attention.train("ravdess", tmp_path, tmp_path / "out", quick=True, **{flag: True})
        with pytest.raises(ValueError, match=f"{flag} changes the clips' sound: it has no meaning with mode=text"):
            nmt_attention.train("ravdess", tmp_path, tmp_path / "out", quick=True, mode="text", **{flag: True})


def chains_asked(module, monkeypatch, tmp_path, flag: str = "pitch_copies", **options) -> list:
    """The copies chain ``module.train`` asks :func:`paired_parts` for, with ``flag`` on and off (``options``: the
    rest of the run's options); training stops there."""
    asked = []

    def parts(*args, copies_chain=None, **kwargs):
        asked.append(copies_chain)
        raise RuntimeError("stop here")

    monkeypatch.setattr(module, "paired_parts", parts)
    for on in (True, False):
        with pytest.raises(RuntimeError, match="stop here"):
            module.train("ravdess", tmp_path, tmp_path / "out", quick=True, **{flag: on}, **options)
    return asked


@pytest.mark.parametrize(
    "recipe, text_only",
    [("coattention", {"mode": "text"}), ("ssl_mha", {"fusion": "text"})],
)
def test_attention_recipes_pass_pitch_copies_on_and_refuse_them_without_sound(recipe, text_only, tmp_path, monkeypatch):
    """``--option pitch_copies=1`` (or ``pitch_tempo_copies=1``) of co-attention and Self-/Cross-MHA asks
    :func:`paired_parts` for that chain (none without it), one chain at a time; a words-only model has no sound to
    shift and says so."""
    import importlib

    module = importlib.import_module(f"emodemo.recipes.{recipe}")
    assert chains_asked(module, monkeypatch, tmp_path) == ["pitch", None]
    assert chains_asked(module, monkeypatch, tmp_path, flag="pitch_tempo_copies") == ["pitch_tempo", None]
    with pytest.raises(ValueError, match="pitch_copies and pitch_tempo_copies each add one copy"):
        module.train("ravdess", tmp_path, tmp_path / "out", quick=True, pitch_copies=True, pitch_tempo_copies=True)
    for flag in ("pitch_copies", "pitch_tempo_copies"):
        with pytest.raises(ValueError, match=f"{flag} changes the clips' sound"):
            module.train("ravdess", tmp_path, tmp_path / "out", quick=True, **{flag: True}, **text_only)


def test_mesm_passes_pitch_copies_on_only_where_frozen_states_read_them(tmp_path, monkeypatch):
    """MESM's frozen-states audio (``speech_layers``) reads the pitch (or pitch-and-tempo) copies through the states
    cache; its log-mel path and its voice-alone mode would silently train without them, so both refuse."""
    from emodemo.recipes import mesm

    assert chains_asked(mesm, monkeypatch, tmp_path, speech_layers="0-3") == ["pitch", None]
    assert chains_asked(mesm, monkeypatch, tmp_path, flag="pitch_tempo_copies", speech_layers="0-3") == [
        "pitch_tempo",
        None,
    ]
    for flag in ("pitch_copies", "pitch_tempo_copies"):
        for refused in ({}, {"speech_layers": "0-3", "modalities": "A"}):
            with pytest.raises(ValueError, match=f"{flag} are made of .*add speech_layers, with modalities TA"):
                mesm.train("ravdess", tmp_path, tmp_path / "out", quick=True, **{flag: True}, **refused)
