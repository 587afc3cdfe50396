"""Talk 003's short-term / mid-term features behave as their definitions say on signals we understand."""

from __future__ import annotations

import numpy as np
import pytest

from emodemo.inputs import handcrafted as hc
from emodemo.inputs.audio import load_audio

SR = 16_000


def sine(hz: float, seconds: float = 2.0, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * hz * np.arange(round(seconds * SR)) / SR)


def white_noise(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, round(seconds * SR))


def frame_means(wave: np.ndarray, **options) -> dict[str, float]:
    features, names = hc.short_term_features(wave, SR, **options)
    return dict(zip(names, features.mean(axis=0)))


# ---------------------------------------------------------------------------------- shapes and names


def test_short_term_shape_and_names():
    wave = white_noise(seconds=1.0)
    features, names = hc.short_term_features(wave, SR)
    assert features.shape == (1 + (len(wave) - 800) // 400, 34)
    assert names == list(hc.SHORT_TERM_NAMES)
    assert names[8] == "mfcc_1" and names[21] == "chroma_1" and names[-1] == "chroma_std"


def test_frame_size_and_step_are_configurable():
    features, _ = hc.short_term_features(white_noise(seconds=1.0), SR, window=0.025, step=0.010)
    assert len(features) == 1 + (SR - 400) // 160


def test_deltas_are_frame_to_frame_differences():
    features, names = hc.short_term_features(white_noise(), SR, deltas=True)
    assert features.shape[1] == 68 and names[34] == "delta_zcr"
    np.testing.assert_allclose(features[0, 34:], 0.0)
    np.testing.assert_allclose(features[1:, 34:], np.diff(features[:, :34], axis=0))


def test_clip_vector_names_and_size():
    vector, names = hc.clip_features(white_noise(), SR)
    assert vector.shape == (68,) and len(names) == 68
    assert names[:2] == ["zcr_mean", "energy_mean"] and names[34] == "zcr_std"
    assert "mfcc_3_std" in names
    vector, names = hc.clip_features(white_noise(), SR, deltas=True)
    assert vector.shape == (136,) and "delta_mfcc_3_std" in names


def test_mid_term_windows_and_clip_average():
    wave = np.concatenate([sine(440, seconds=2.0), np.zeros(2 * SR)])  # 2 s of tone, then 2 s of silence
    mid, names = hc.mid_term_features(wave, SR)
    n_frames = 1 + (len(wave) - 800) // 400
    assert mid.shape == (-(-n_frames // 20), 68)  # a window every 0.5 s = 20 frames
    energy = mid[:, names.index("energy_mean")]
    assert energy[0] > 0.1 and energy[-1] < 1e-12
    np.testing.assert_allclose(hc.clip_features(wave, SR)[0], mid.mean(axis=0))


def test_std_features_measure_change_over_time():
    steady = sine(300, seconds=3.0)
    wobbly = steady * (0.55 + 0.45 * np.sin(2 * np.pi * 3 * np.arange(len(steady)) / SR))
    steady_vector, names = hc.clip_features(steady, SR)
    wobbly_vector, _ = hc.clip_features(wobbly, SR)
    for name in ("energy_std", "mfcc_1_std"):
        assert wobbly_vector[names.index(name)] > 10 * steady_vector[names.index(name)] + 1e-6


# ---------------------------------------------------------------------------------- meanings


@pytest.mark.parametrize("hz", [440.0, 1000.0, 3000.0])
def test_tone_centroid_sits_at_its_frequency(hz):
    means = frame_means(sine(hz))
    assert means["spectral_centroid"] * SR / 2 == pytest.approx(hz, rel=0.03)
    assert means["spectral_rolloff"] * SR / 2 == pytest.approx(hz, abs=50)


@pytest.mark.parametrize("hz, pitch_class", [(440.0, "A"), (261.63, "C"), (392.0, "G"), (659.26, "E")])
def test_tone_chroma_peaks_at_its_pitch_class(hz, pitch_class):
    means = frame_means(sine(hz))
    chroma = [means[f"chroma_{i}"] for i in range(1, 13)]
    assert hc.CHROMA_PITCH_CLASSES[int(np.argmax(chroma))] == pitch_class
    assert means["chroma_std"] > frame_means(white_noise())["chroma_std"]


def test_white_noise_has_high_spectral_entropy_and_zcr():
    noise, tone = frame_means(white_noise()), frame_means(sine(440))
    assert noise["spectral_entropy"] > 0.95 * np.log2(10)  # nearly evenly spread over 10 bands
    assert tone["spectral_entropy"] < 0.5
    assert noise["zcr"] == pytest.approx(0.5, abs=0.05)
    assert tone["zcr"] == pytest.approx(2 * 440 / SR, rel=0.1)


def test_steady_sound_has_maximal_energy_entropy_and_no_flux():
    means = frame_means(white_noise())
    assert means["energy_entropy"] > 0.98 * np.log2(10)
    assert frame_means(sine(500))["spectral_flux"] < 1e-6 < means["spectral_flux"]


def test_louder_copy_has_higher_energy_unless_peak_normalised():
    wave = white_noise()
    quiet, names = hc.clip_features(wave, SR)
    loud, _ = hc.clip_features(2 * wave, SR)
    energy = names.index("energy_mean")
    assert loud[energy] == pytest.approx(4 * quiet[energy])
    np.testing.assert_allclose(
        hc.clip_features(wave, SR, peak_normalize=True)[0],
        hc.clip_features(2 * wave, SR, peak_normalize=True)[0],
        rtol=1e-9,
        atol=1e-12,
    )


# ---------------------------------------------------------------------------------- edge cases


def test_silence_gives_finite_zeros_without_numpy_warnings():
    with np.errstate(all="raise"):
        vector, names = hc.clip_features(np.zeros(SR), SR, deltas=True)
    assert np.isfinite(vector).all()
    assert vector[names.index("energy_mean")] == 0.0
    assert vector[names.index("spectral_centroid_mean")] == 0.0


def test_clip_shorter_than_one_frame():
    features, _ = hc.short_term_features(sine(440, seconds=0.02), SR)
    assert features.shape == (1, 34) and np.isfinite(features).all()


@pytest.mark.parametrize("bad", [np.zeros(0), np.zeros((2, 1000))])
def test_rejects_non_mono_or_empty(bad):
    with pytest.raises(ValueError, match="mono"):
        hc.clip_features(bad, SR)


def test_real_clip(ravdess_clip):
    vector, names = hc.clip_features(load_audio(ravdess_clip), SR)
    assert vector.shape == (68,) and np.isfinite(vector).all()
    assert vector[names.index("energy_mean")] > 0
