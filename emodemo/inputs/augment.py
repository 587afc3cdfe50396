"""Training copies of a clip as other microphones, rooms, lines and voices would give it, and the
fixed perturbations of the robustness test set. Built from maintained libraries: audiomentations
(gain, noise at a random SNR, pitch, tempo, band limits, mp3 coding) and pyroomacoustics (room
reverberation, through audiomentations' ``RoomSimulator``).

A copy is a pure function of the clip's samples, its id and the copy number (:func:`augmented`
seeds the libraries' random draws from them), so the encoder features of every copy can be computed
once and cached (:data:`SETTINGS` goes into the cache key).

Babble is kept out of training on purpose: the robustness set's babble condition (:func:`babble`,
other speakers' clips summed) then measures a noise the models never trained on.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Callable, Sequence

import numpy as np

from emodemo.inputs.audio import SAMPLE_RATE

SETTINGS = {
    "version": 1,
    "gain_db": [-12, 12],
    "noise_snr_db": [5, 30],
    "pitch_semitones": [-2, 2],
    "tempo": [0.85, 1.15],
    "telephone": [300, 3400],
    "mp3_kbps": [16, 64],
    "reverb_rt60_s": [0.15, 0.8],
}


# every step below, additive noise alone, a pitch shift alone, or a pitch shift and a new tempo together
CHAINS = ("all", "noise", "pitch", "pitch_tempo")
# what a chain other than "all" adds to the cache key of its copies (beside SETTINGS)
CHAIN_SETTINGS = {
    "noise": {},
    "pitch": {"pitch_copy_semitones": [-4, 4]},
    "pitch_tempo": {"pitch_copy_semitones": [-4, 4], "tempo_copy_rate": [0.75, 1.3]},
}


@functools.lru_cache(maxsize=len(CHAINS))
def training_chain(chain: str = "all"):
    """The random chain a training copy goes through (each step with its own probability); the
    ``"noise"`` chain adds white or coloured noise at a random SNR to every copy, and nothing else; the
    ``"pitch"`` chain shifts every copy's pitch by -4 to +4 semitones (its formants move with it), and nothing
    else: a voice pitched higher or lower than the training actors' (TESS's older speaker) then tells no emotion;
    ``"pitch_tempo"`` also plays every copy 0.75 to 1.3 times as fast (its length changes: a model that keeps word
    timings stretches them with it), for TESS's slow takes."""
    import audiomentations as A

    if chain not in CHAINS:
        raise ValueError(f"an augmentation chain is one of {CHAINS}, not {chain!r}")
    if chain in ("pitch", "pitch_tempo"):
        low, high = CHAIN_SETTINGS[chain]["pitch_copy_semitones"]
        shift = A.PitchShift(min_semitones=low, max_semitones=high, p=1.0)
        if chain == "pitch":
            return shift
        slowest, fastest = CHAIN_SETTINGS[chain]["tempo_copy_rate"]
        stretch = A.TimeStretch(min_rate=slowest, max_rate=fastest, leave_length_unchanged=False, p=1.0)
        return A.Compose([shift, stretch])
    always = chain == "noise"  # the full chain's noise step: chosen half the time, then applied half the time
    low, high = SETTINGS["noise_snr_db"]
    noise = A.OneOf(
        [
            A.AddGaussianSNR(min_snr_db=low, max_snr_db=high, p=1.0 if always else 0.5),
            A.AddColorNoise(min_snr_db=low, max_snr_db=high, p=1.0 if always else 0.5),
        ],
        p=1.0 if always else 0.5,
    )
    if always:
        return noise

    return A.Compose(
        [
            A.Gain(min_gain_db=SETTINGS["gain_db"][0], max_gain_db=SETTINGS["gain_db"][1], p=0.5),
            A.RoomSimulator(
                min_target_rt60=SETTINGS["reverb_rt60_s"][0],
                max_target_rt60=SETTINGS["reverb_rt60_s"][1],
                calculation_mode="rt60",
                use_ray_tracing=False,
                max_order=3,
                leave_length_unchanged=True,
                p=0.3,
            ),
            noise,
            A.PitchShift(
                min_semitones=SETTINGS["pitch_semitones"][0], max_semitones=SETTINGS["pitch_semitones"][1], p=0.4
            ),
            A.TimeStretch(
                min_rate=SETTINGS["tempo"][0], max_rate=SETTINGS["tempo"][1], leave_length_unchanged=False, p=0.4
            ),
            A.OneOf(
                [
                    telephone_band(),
                    A.Mp3Compression(
                        min_bitrate=SETTINGS["mp3_kbps"][0],
                        max_bitrate=SETTINGS["mp3_kbps"][1],
                        backend="fast-mp3-augment",
                    ),
                ],
                p=0.3,
            ),
        ]
    )


def telephone_band():
    """A telephone line's band (300-3400 Hz): a high-pass then a low-pass Butterworth filter."""
    import audiomentations as A

    low, high = SETTINGS["telephone"]
    return A.Compose(
        [
            A.HighPassFilter(min_cutoff_freq=low, max_cutoff_freq=low, min_rolloff=24, max_rolloff=24, p=1.0),
            A.LowPassFilter(min_cutoff_freq=high, max_cutoff_freq=high, min_rolloff=24, max_rolloff=24, p=1.0),
        ]
    )


def seed_of(clip_id: str, copy: int) -> int:
    """A stable 32-bit seed for copy ``copy`` of clip ``clip_id`` (the same in every process)."""
    return int.from_bytes(hashlib.sha256(f"{clip_id}#{copy}".encode()).digest()[:4], "little")


def augmented(wave: np.ndarray, clip_id: str, copy: int, sr: int = SAMPLE_RATE, chain: str = "all") -> np.ndarray:
    """Training copy number ``copy`` (1, 2, ...) of a clip through ``chain`` (:func:`training_chain`):
    ``[S]`` -> ``[S']`` float32 in [-1, 1]."""
    seed = seed_of(clip_id, copy)
    random.seed(seed)
    np.random.seed(seed)  # audiomentations draws from the global generators
    out = training_chain(chain)(samples=np.asarray(wave, dtype=np.float32), sample_rate=sr)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


# --- the robustness test set: fixed perturbations of unseen speakers' clips -----------------------


def fixed_draw(transform) -> Callable[[np.ndarray], np.ndarray]:
    """``transform`` with its random draws fixed (the same perturbation for every clip, every run)."""

    def apply(wave: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
        random.seed(0)
        np.random.seed(0)
        return np.clip(transform(samples=np.asarray(wave, dtype=np.float32), sample_rate=sr), -1.0, 1.0)

    return apply


def robustness_conditions(babble_clips: Sequence[np.ndarray]) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """``{condition: wave -> perturbed wave}``: level -20 / +20 dB (clipped at full scale, as a
    recorder would), white noise at 10 dB SNR, babble at 5 dB SNR (``babble_clips`` summed, see
    :func:`babble`), and a telephone line's band."""
    import audiomentations as A

    noise = babble(babble_clips)
    return {
        "clean": lambda wave: np.asarray(wave, dtype=np.float32),
        "level -20 dB": fixed_draw(A.Gain(min_gain_db=-20, max_gain_db=-20, p=1.0)),
        "level +20 dB": fixed_draw(A.Gain(min_gain_db=20, max_gain_db=20, p=1.0)),
        "white noise 10 dB": fixed_draw(A.AddGaussianSNR(min_snr_db=10, max_snr_db=10, p=1.0)),
        "babble 5 dB": lambda wave: mix_at_snr(wave, noise, 5.0),
        "telephone band": fixed_draw(telephone_band()),
    }


def babble(clips: Sequence[np.ndarray], voices: int = 6) -> np.ndarray:
    """Babble noise: ``voices`` clips, each scaled to the same RMS, summed ``[S_max]`` (float32)."""
    chosen = list(clips)[:voices]
    if not chosen:
        raise ValueError("babble needs at least one clip of other speakers")
    out = np.zeros(max(len(c) for c in chosen), dtype=np.float64)
    for clip in chosen:
        c = np.asarray(clip, dtype=np.float64)
        out[: len(c)] += c / max(np.sqrt(np.mean(c**2)), 1e-9)
    return out.astype(np.float32)


def mix_at_snr(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``wave`` plus ``noise`` (looped or cut to its length) scaled to ``snr_db`` dB below it."""
    signal = np.asarray(wave, dtype=np.float64)
    bed = np.resize(np.asarray(noise, dtype=np.float64), signal.shape)
    gain = np.sqrt(np.mean(signal**2) / max(np.mean(bed**2), 1e-12) / 10.0 ** (snr_db / 10.0))
    return np.clip(signal + gain * bed, -1.0, 1.0).astype(np.float32)
