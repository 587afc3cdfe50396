"""Input normalisation and augmentation: what a clip looks like after each, on real clips."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_dataset

from emodemo.inputs import augment
from emodemo.inputs.audio import load_audio, voiced_bounds
from emodemo.inputs.normalise import PEAK_LIMIT, TARGET_LUFS, loudness, normalise


@pytest.fixture(scope="module")
def clips():
    ravdess = load_audio(shared_dataset("ravdess_speech") / "Actor_01" / "03-01-05-02-01-01-01.flac")
    tess = load_audio(shared_dataset("tess") / "YAF_sad" / "YAF_book_sad.flac")
    return ravdess, tess


def test_two_corpora_come_out_at_one_level_without_their_silence(clips):
    for wave in clips:
        out = normalise(wave)
        start, end = voiced_bounds(wave)
        assert len(out) == end - start < len(wave)
        assert loudness(out) == pytest.approx(TARGET_LUFS, abs=0.5) or np.abs(out).max() == pytest.approx(PEAK_LIMIT)
    for gain_db in (-20, 20):  # the level a microphone adds is gone (clipping aside)
        scaled = np.clip(clips[1] * 10 ** (gain_db / 20), -1, 1)
        assert loudness(normalise(scaled)) == pytest.approx(loudness(normalise(clips[1])), abs=1.0)


def test_dc_offset_and_silence():
    t = np.arange(16000) / 16000
    wave = (0.1 * np.sin(2 * np.pi * 200 * t) + 0.3).astype(np.float32)
    assert abs(float(normalise(wave).mean())) < 1e-3
    silent = np.zeros(16000, np.float32)
    assert np.array_equal(normalise(silent), silent)
    assert normalise(np.zeros(0, np.float32)).size == 0


def test_training_copies_are_reproducible_and_differ(clips):
    wave = clips[0]
    first, again, other = (
        augment.augmented(wave, "a", 1),
        augment.augmented(wave, "a", 1),
        augment.augmented(wave, "a", 2),
    )
    assert np.array_equal(first, again) and not (len(first) == len(other) and np.allclose(first, other))
    assert np.abs(first).max() <= 1.0


def test_noise_only_copies_keep_the_clip_and_add_noise_at_a_training_snr(clips):
    """The "noise" chain: same length, the clip under noise at 5-30 dB SNR, reproducible per copy."""
    wave = clips[0]
    for copy in (1, 2, 3):
        noisy = augment.augmented(wave, "a", copy, chain="noise")
        assert len(noisy) == len(wave) and np.array_equal(noisy, augment.augmented(wave, "a", copy, chain="noise"))
        added = (noisy - wave).astype(np.float64)
        snr = 10 * np.log10(np.mean(wave.astype(np.float64) ** 2) / np.mean(added**2))
        assert 4.5 < snr < 30.5
    with pytest.raises(ValueError, match="chain"):
        augment.augmented(wave, "a", 1, chain="reverb")


def test_robustness_conditions(clips):
    wave = clips[0]
    conditions = augment.robustness_conditions([clips[1]])
    assert set(conditions) == {
        "clean",
        "level -20 dB",
        "level +20 dB",
        "white noise 10 dB",
        "babble 5 dB",
        "telephone band",
    }
    assert loudness(conditions["level -20 dB"](wave)) == pytest.approx(loudness(wave) - 20, abs=0.1)
    noisy = conditions["white noise 10 dB"](wave)
    snr = 10 * np.log10(np.mean(wave.astype(np.float64) ** 2) / np.mean((noisy - wave).astype(np.float64) ** 2))
    assert snr == pytest.approx(10, abs=0.5)
    babble = conditions["babble 5 dB"](wave)
    snr = 10 * np.log10(np.mean(wave.astype(np.float64) ** 2) / np.mean((babble - wave).astype(np.float64) ** 2))
    assert snr == pytest.approx(5, abs=0.5)
    spectrum = np.abs(np.fft.rfft(conditions["telephone band"](wave)))
    freqs = np.fft.rfftfreq(len(wave), 1 / 16000)
    assert spectrum[freqs > 5000].mean() < 0.05 * spectrum[(freqs > 500) & (freqs < 3000)].mean()
    assert all(len(f(wave)) == len(wave) for f in conditions.values())


def test_describe_measures_level_silence_and_tilt(clips):
    from emodemo.inputs.normalise import describe

    ravdess, tess = (describe(w) for w in clips)
    assert ravdess["leading_silence_s"] > 0.3 > tess["leading_silence_s"]  # RAVDESS opens with silence
    t = np.arange(16000) / 16000
    tone = np.concatenate([np.zeros(8000), 0.1 * np.sin(2 * np.pi * 440 * t)]).astype(np.float32)
    described = describe(tone)
    assert described["leading_silence_s"] == pytest.approx(0.4, abs=0.05)
    assert described["rms_dbfs"] == pytest.approx(20 * np.log10(0.1 / np.sqrt(2) * np.sqrt(2 / 3)), abs=0.2)
    white = np.random.default_rng(0).normal(0, 0.1, 32000)
    brown = np.cumsum(white) / 100
    assert abs(describe(white)["tilt_db_per_octave"]) < 1.0 < -describe(brown)["tilt_db_per_octave"] / 5


def test_the_noise_gate_takes_white_noise_out_of_a_real_clip_and_leaves_silence_alone(clips):
    from emodemo.inputs.normalise import denoise

    wave = clips[0].astype(np.float64)
    noise = np.random.default_rng(0).normal(size=wave.shape) * np.sqrt(np.mean(wave**2) / 10)  # 10 dB SNR
    gated = denoise((wave + noise).astype(np.float32))
    start, _ = voiced_bounds(clips[0])
    lead = slice(0, start)  # the clip's leading silence: noise alone before the gate
    assert len(gated) == len(wave) and gated.dtype == np.float32
    assert np.mean(gated[lead].astype(np.float64) ** 2) < 0.1 * np.mean(noise[lead] ** 2)  # > 10 dB less noise
    silent = np.zeros(16000, np.float32)
    assert np.array_equal(denoise(silent), silent) and denoise(np.zeros(100, np.float32)).size == 100


def _with_white_noise(wave: np.ndarray, snr_db: float) -> np.ndarray:
    wave = wave.astype(np.float64)
    noise = np.random.default_rng(0).normal(size=wave.shape) * np.sqrt(np.mean(wave**2) / 10 ** (snr_db / 10))
    return (wave + noise).astype(np.float32)


def test_the_snr_estimate_tells_a_noisy_clip_from_two_clean_corpora(clips):
    """Studio takes of both corpora stand far above their quietest frames; the same take in white
    noise at 10 dB SNR does not, and the estimate falls as the noise rises."""
    from emodemo.inputs.normalise import estimated_snr_db

    ravdess, tess = clips
    assert estimated_snr_db(ravdess) > 40 and estimated_snr_db(tess) > 25
    noisy = [estimated_snr_db(_with_white_noise(ravdess, snr)) for snr in (20, 10, 0)]
    assert noisy == sorted(noisy, reverse=True) and noisy[1] < 22
    assert estimated_snr_db(np.zeros(16000, np.float32)) == np.inf and estimated_snr_db(np.ones(10)) == np.inf
    short = _with_white_noise(ravdess[:16000], 10)  # a second of speech in noise: a sample more is no quieter
    assert abs(estimated_snr_db(short) - estimated_snr_db(np.append(short, short[-1:]))) < 1


def test_quiet_speech_cut_tight_is_not_taken_for_noise_but_steady_noise_is(clips):
    """A quiet TESS take cut tight to its word estimates under 30 dB (its quietest frames are word
    edges, not pauses), but those frames' levels lie far apart; white noise fills a RAVDESS take's
    pauses at one level. So the steady-floor test gates the noisy take and not the quiet one."""
    from emodemo.inputs.normalise import estimated_snr_db, floor_spread_db, gated, sounds_noisy

    quiet = load_audio(shared_dataset("tess") / "OAF_neutral" / "OAF_hit_neutral.flac")
    noisy = _with_white_noise(clips[0], 10)
    assert estimated_snr_db(quiet) < 30 and floor_spread_db(quiet) > 5 > 1 > floor_spread_db(noisy)
    assert sounds_noisy(quiet, 30) and not sounds_noisy(quiet, 30, 5) and sounds_noisy(noisy, 30, 5)
    assert not sounds_noisy(clips[0], 30, 5)  # clean studio speech: no gate, whatever its floor
    steady = {"denoise_below_db": 30.0, "steady_floor_below_db": 5.0}
    assert gated(noisy, steady) and not gated(quiet, steady) and gated(quiet, {"denoise_below_db": 30.0})
    assert floor_spread_db(np.zeros(16000, np.float32)) == np.inf and floor_spread_db(np.ones(10)) == np.inf


def test_the_gate_denoises_only_what_the_settings_ask_for(clips):
    from emodemo.inputs.normalise import denoise, denoised_if, gated

    clean = clips[0]
    noisy = _with_white_noise(clean, 10)
    when_noisy = {"denoise_below_db": 25.0}
    assert gated(noisy, when_noisy) and not gated(clean, when_noisy)
    assert gated(clean, {"denoise": True}) and not gated(noisy, {}) and not gated(noisy, None)
    assert np.array_equal(denoised_if(noisy, when_noisy), denoise(noisy))
    assert denoised_if(clean, when_noisy) is clean


def test_the_gate_runs_once_for_the_models_of_one_analysis(clips, monkeypatch):
    """Every model that gates a noisy clip gets the same samples, and noisereduce runs once."""
    import noisereduce

    from emodemo.inputs.normalise import denoise, forget_denoised

    forget_denoised()
    calls = []
    real = noisereduce.reduce_noise
    monkeypatch.setattr(noisereduce, "reduce_noise", lambda **kw: calls.append(1) or real(**kw))
    noisy = _with_white_noise(clips[0], 10)
    first, second = denoise(noisy), denoise(noisy)
    assert len(calls) == 1 and np.array_equal(first, second) and first is not second
    forget_denoised()
    denoise(noisy)
    assert len(calls) == 2
