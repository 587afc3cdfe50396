"""What differs between corpora and says nothing about emotion, removed before a model hears a clip.

Corpora differ in ways a model trained on one of them mistakes for emotion (measured in notebook
07): TESS's median clip is about 17 dB louder than RAVDESS's, RAVDESS clips open with about a
second of silence, microphones add a DC offset. A voice model that learnt "loud means angry" on
RAVDESS answers "angry" to most of TESS. So every clip, in training and in the app alike, goes
through :func:`normalise`:

1. the DC offset is removed (the mean sample);
2. the voiced region is kept (:func:`emodemo.inputs.audio.voiced_bounds`: from the first to the last
   25 ms frame near the loudest one, with 0.1 s of margin), so leading silence is not a feature;
3. the integrated loudness (ITU-R BS.1770-4, K-weighted, gated; :mod:`pyloudnorm`) is set to
   :data:`TARGET_LUFS`, then the peak is limited to :data:`PEAK_LIMIT` so nothing clips.

:data:`SETTINGS` names all of it; feature caches put it in their key, so changing a step can never
serve features computed the old way.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import torch

from emodemo.inputs.audio import SAMPLE_RATE, frame_rms, is_silent, voiced_bounds

TARGET_LUFS = -23.0  # EBU R 128's programme level
PEAK_LIMIT = 0.99  # sample peak after the gain (a loud, quiet-on-average clip is scaled down instead)
MIN_GATED_SECONDS = 0.4  # BS.1770 measures 400 ms blocks; shorter clips are levelled by their RMS
SETTINGS = {
    "version": 1,
    "dc": True,
    "trim": "voiced_bounds(45 dB below peak, 15 dB above floor, 0.1 s)",
    "loudness_lufs": TARGET_LUFS,
    "peak_limit": PEAK_LIMIT,
}


@functools.lru_cache(maxsize=4)
def _meter(sr: int):
    import pyloudnorm

    return pyloudnorm.Meter(sr)  # BS.1770-4: K-weighting, 400 ms blocks, absolute and relative gates


def loudness(wave: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """Integrated loudness of ``wave`` in LUFS; clips under 0.4 s use the K-weighting-free RMS level
    (dBFS - 0.691, the BS.1770 offset) since they hold no full measuring block; -inf for zeros."""
    samples = np.asarray(wave, dtype=np.float64)
    if samples.size >= MIN_GATED_SECONDS * sr:
        value = float(_meter(sr).integrated_loudness(samples))
        if math.isfinite(value):
            return value
    rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
    return 20.0 * math.log10(rms) - 0.691 if rms > 0 else -math.inf


def normalise(wave: np.ndarray, sr: int = SAMPLE_RATE, trim: bool = True) -> np.ndarray:
    """``[S]`` float waveform -> ``[S']`` (S' <= S) float32: DC removed, cut to its voiced region,
    at :data:`TARGET_LUFS` with peaks under :data:`PEAK_LIMIT`. A silent clip comes back as it was
    (minus DC): there is no level to set. ``trim=False`` is for a caller that cut the voiced region
    itself (with the same :func:`~emodemo.inputs.audio.voiced_bounds`) because it moves word timings with it."""
    samples = np.asarray(wave, dtype=np.float64).ravel()
    if samples.size == 0:
        return samples.astype(np.float32)
    samples = samples - samples.mean()
    if is_silent(samples):
        return samples.astype(np.float32)
    if trim:
        start, end = voiced_bounds(samples, sr=sr)  # the cut voiced_start() reports
        samples = samples[start:end]
    level = loudness(samples, sr)
    if math.isfinite(level):
        samples = samples * 10.0 ** ((TARGET_LUFS - level) / 20.0)
    peak = float(np.abs(samples).max())
    if peak > PEAK_LIMIT:
        samples = samples * (PEAK_LIMIT / peak)
    return samples.astype(np.float32)


def voiced_start(wave: np.ndarray, sr: int = SAMPLE_RATE) -> int:
    """The first sample of ``wave`` that :func:`normalise` keeps (0 for an empty or silent clip: not cut)."""
    samples = np.asarray(wave, dtype=np.float64).ravel()
    if samples.size == 0:
        return 0
    samples = samples - samples.mean()
    return 0 if is_silent(samples) else voiced_bounds(samples, sr=sr)[0]


DENOISE = {"method": "noisereduce spectral gating, stationary noise", "version": 1}
MIN_DENOISE_SAMPLES = 2048  # a spectral gate needs a few of its 1024-sample frames


def denoise(wave: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``[S]`` -> ``[S]`` float32 with stationary noise (a hiss, a hum, a fan) gated out of each
    frequency band by :mod:`noisereduce` (the band's threshold: its mean plus 1.5 standard
    deviations over the clip). A silent or very short clip comes back as it was. The last
    :data:`DENOISED_REMEMBERED` results are remembered by the clip's samples, so the models of one
    analysis that gate the same noisy clip pay for the gate once."""
    samples = np.asarray(wave, dtype=np.float32).ravel()
    if samples.size < MIN_DENOISE_SAMPLES or is_silent(samples):
        return samples
    key = hashlib.blake2b(samples.tobytes() + str(sr).encode(), digest_size=16).digest()
    with _DENOISED_LOCK:
        known = _DENOISED.get(key)
    if known is not None:
        return known.copy()
    import noisereduce

    out = noisereduce.reduce_noise(y=samples, sr=sr, stationary=True).astype(np.float32)
    with _DENOISED_LOCK:
        _DENOISED[key] = out
        while len(_DENOISED) > DENOISED_REMEMBERED:
            _DENOISED.popitem(last=False)
    return out.copy()


DENOISED_REMEMBERED = 4
_DENOISED: OrderedDict[bytes, np.ndarray] = OrderedDict()  # digest of (samples, rate) -> gated samples
_DENOISED_LOCK = threading.Lock()


def forget_denoised() -> None:
    """Drop the remembered results of :func:`denoise` (a bench timing one clip pays as for a new one)."""
    with _DENOISED_LOCK:
        _DENOISED.clear()


# what estimated_snr_db measures (the key of its cached estimates)
SNR_ESTIMATE = {"frame": 400, "percentiles": (95, 1), "whole_frames": True, "version": 2}
# what floor_spread_db measures (the key of its cached values)
FLOOR_SPREAD = {"frame": 400, "percentiles": (10, 1), "whole_frames": True, "version": 1}


def _frame_levels_db(wave: np.ndarray, frame: int) -> np.ndarray | None:
    """``[S]`` -> ``[n_frames]`` levels in dB of its whole 25 ms frames (RMS, DC removed; a last,
    partial frame is left out, since zero padding would read as a quiet frame), floored 120 dB under
    the loudest; None for a clip shorter than a frame or all zeros."""
    samples = np.asarray(wave, dtype=np.float64).ravel()
    if samples.size < frame:
        return None
    whole = samples[: samples.size // frame * frame]
    level = frame_rms(whole - whole.mean(), frame)  # [n_frames]
    if level.max() <= 0:
        return None
    return 20.0 * np.log10(np.maximum(level, level.max() * 1e-6))


def estimated_snr_db(wave: np.ndarray, frame: int = 400) -> float:
    """How far the loudest 25 ms frames of ``[S]`` stand above its quietest, in dB: the 95th minus
    the 1st percentile of frame levels (RMS, DC removed), a rough signal-to-noise ratio that needs no
    model. Studio speech lies far apart (RAVDESS 45-80 dB, TESS, cut tight, 28-55); white noise at
    10 dB SNR fills the pauses (17-20). Whole frames only. ``inf`` for a clip shorter than a frame or
    all zeros."""
    db = _frame_levels_db(wave, frame)
    return math.inf if db is None else float(np.percentile(db, 95) - np.percentile(db, 1))


def floor_spread_db(wave: np.ndarray, frame: int = 400) -> float:
    """How evenly quiet the quietest 25 ms frames of ``[S]`` are, in dB: the 10th minus the 1st
    percentile of frame levels. Steady background noise fills the pauses at one level (white, pink
    and brown noise at 5-20 dB SNR on validation actors: 0.3-4.0 dB, 5th to 95th percentile); speech cut
    tight to its words has almost no pauses, so its quietest frames are word edges at many levels
    (validation takes cut tight: 5.0-12.0 dB; TESS's quiet takes up to 16), which
    :func:`estimated_snr_db` alone takes for a noise floor. Whole frames only. ``inf`` for a clip
    shorter than a frame or all zeros (no floor at all)."""
    db = _frame_levels_db(wave, frame)
    return math.inf if db is None else float(np.percentile(db, 10) - np.percentile(db, 1))


def sounds_noisy(wave: np.ndarray, below_db: float, steady_below_db: float | None = None) -> bool:
    """Whether ``wave`` sounds noisy: :func:`estimated_snr_db` under ``below_db`` and, with
    ``steady_below_db``, a steady noise floor (:func:`floor_spread_db` under it)."""
    if estimated_snr_db(wave) >= float(below_db):
        return False
    return steady_below_db is None or floor_spread_db(wave) < float(steady_below_db)


def gated(wave: np.ndarray, spec: dict | None) -> bool:
    """Whether a model with input settings ``spec`` hears ``wave`` through :func:`denoise`: always
    with ``denoise``, or, with ``denoise_below_db``, when it sounds noisy (:func:`sounds_noisy`,
    with the steady-floor test of ``steady_floor_below_db`` when set): the gate takes the noise out;
    a clean clip is left as it is, since gating reshapes clean speech too."""
    spec = spec or {}
    below = spec.get("denoise_below_db")
    if spec.get("denoise"):
        return True
    return below is not None and sounds_noisy(wave, below, spec.get("steady_floor_below_db"))


def noisy_files(
    paths: Sequence,
    below_db: float,
    waves_of: Callable[[list], list[np.ndarray]],
    key: dict | None = None,
    steady_below_db: float | None = None,
) -> list[bool]:
    """Whether each file's clip sounds noisy (:func:`sounds_noisy`). The estimates are kept in
    feature caches (``key``: what else the clips depend on, a training copy's settings), so a cached
    feature's file is not decoded again just to be sorted; ``waves_of(paths)`` decodes them."""
    from emodemo.core.cache import FeatureCache

    def cached(chosen: list, name: str, measure: dict, of: Callable[[np.ndarray], float]) -> list[float]:
        values = FeatureCache(name, {"sr": SAMPLE_RATE, "estimate": measure, **(key or {})}).get_many(
            chosen,
            lambda chunk: [torch.tensor(of(w), dtype=torch.float64) for w in waves_of(chunk)],
            batch=64,
            progress=False,
        )
        return [float(v) for v in values]

    paths = list(paths)
    noisy = [v < float(below_db) for v in cached(paths, "snr-estimate-v1", SNR_ESTIMATE, estimated_snr_db)]
    if steady_below_db is None or not any(noisy):
        return noisy
    candidates = [i for i, n in enumerate(noisy) if n]  # the steady-floor test only where the SNR one passed
    spread = cached([paths[i] for i in candidates], "floor-spread-v1", FLOOR_SPREAD, floor_spread_db)
    for i, value in zip(candidates, spread):
        noisy[i] = value < float(steady_below_db)
    return noisy


def denoised_if(wave: np.ndarray, spec: dict | None) -> np.ndarray:
    """``wave`` through :func:`denoise` when the input settings ``spec`` ask for it (:func:`gated`;
    before :func:`normalised_if`, in training and serving alike), else as it is."""
    return denoise(wave) if gated(wave, spec) else wave


def asked(spec: dict | None) -> bool:
    """Whether a checkpoint's ``input_spec`` asks for normalised input (checkpoints saved before the
    setting existed have none: raw)."""
    return bool((spec or {}).get("normalise", False))


def normalised_if(wave: np.ndarray, on: bool) -> np.ndarray:
    """``wave`` as a model whose input setting ``normalise`` is ``on`` hears it: through
    :func:`normalise`, or as it is. Every recipe with the setting goes through this, in training and serving alike."""
    return normalise(wave) if on else wave


def cache_key(on: bool) -> dict:
    """What a feature cache's key adds for that input setting: :data:`SETTINGS`, or nothing (the
    keys of caches filled before the setting existed stay as they were)."""
    return {"normalise": SETTINGS} if on else {}


def describe(wave: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, float]:
    """What differs between corpora, measured on one clip ``[S]``: ``loudness_lufs``, ``rms_dbfs``,
    ``dc`` (mean sample), ``leading_silence_s`` (before the voiced region), ``voiced_s`` and
    ``tilt_db_per_octave`` (the slope of the long-term spectrum from 100 Hz to 7 kHz, in dB per
    octave: more negative is darker)."""
    samples = np.asarray(wave, dtype=np.float64).ravel()
    start, end = voiced_bounds(samples, sr=sr)
    rms = float(np.sqrt(np.mean(samples**2)))
    spectrum = np.abs(np.fft.rfft(samples[start:end] * np.hanning(end - start))) ** 2  # [F]
    freqs = np.fft.rfftfreq(end - start, 1.0 / sr)
    band = (freqs >= 100) & (freqs <= 7000)
    slope = np.polyfit(np.log2(freqs[band]), 10 * np.log10(spectrum[band] + 1e-20), 1)[0]
    return {
        "loudness_lufs": loudness(samples, sr),
        "rms_dbfs": 20 * math.log10(rms) if rms > 0 else -math.inf,
        "dc": float(samples.mean()),
        "leading_silence_s": start / sr,
        "voiced_s": (end - start) / sr,
        "tilt_db_per_octave": float(slope),
    }
