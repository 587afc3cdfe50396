"""Hand-crafted speech features of talk 003: short-term frames -> mid-term statistics -> one clip vector.

The recipe is pyAudioAnalysis' ``ShortTermFeatures`` / ``MidTermFeatures``, re-derived here in
vectorised numpy:

1. **Short term.** The wave is cut into 50 ms frames every 25 ms. Each frame gives 34 numbers:

   ==================  ==================================================================
   ``zcr``             fraction of neighbouring samples whose sign differs (noisiness)
   ``energy``          mean squared sample (loudness)
   ``energy_entropy``  entropy (bits) of how the energy is shared by 10 equal sub-frames;
                       low for an abrupt onset, high for a steady sound
   ``spectral_*``      on the amplitude spectrum of the Hamming-windowed frame:
                       ``centroid`` (centre of mass) and ``spread`` (standard deviation),
                       both as fractions of the Nyquist frequency; ``entropy`` (bits) of the
                       power shared by 10 equal bands (high for noise, low for a tone);
                       ``flux``, the squared change of the L1-normalised spectrum since the
                       previous frame; ``rolloff``, the frequency (fraction of Nyquist) below
                       which 90% of the power lies
   ``mfcc_1..13``      DCT-II of log10 energies in 40 Slaney mel bands (``mfcc_1`` is the
                       overall level, the others the spectral envelope)
   ``chroma_1..12``    share of the power in each pitch class, A, A#, B, C ... G#
                       (:data:`CHROMA_PITCH_CLASSES`); each semitone's power is the mean over
                       the FFT bins that round to it
   ``chroma_std``      standard deviation of the 12 chroma values (how tonal the frame is)
   ==================  ==================================================================

   With ``deltas=True`` the frame-to-frame differences follow (``delta_zcr`` ...; 0 for the
   first frame), doubling the width.
2. **Mid term.** 1 s windows every 0.5 s summarise each short-term feature by its mean and
   standard deviation: ``zcr_mean`` ... ``chroma_std_mean`` then ``zcr_std`` ... ``chroma_std_std``.
   A window spans the frames that fit inside 1 s (39 frames), and the last windows may be shorter.
3. **Clip.** The mid-term vectors are averaged: one 68-number vector per clip (136 with deltas),
   the input of the talk's SVM. Its most discriminative feature was ``mfcc_3_std``.

Departures from pyAudioAnalysis, all deliberate: spectra use a Hamming window (pyAudioAnalysis
uses none, whose leakage smears a tone over the whole spectrum) and the true frequency of each FFT
bin; the MFCC filterbank is the Slaney mel one shared with :mod:`emodemo.inputs.audio`; chroma sums every
bin of a pitch class; and the wave is only peak-normalised when ``peak_normalize=True``, which
pyAudioAnalysis always does, so by default a louder voice has a higher ``energy``.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from emodemo.inputs.audio import SAMPLE_RATE, dct_matrix, mel_filterbank

N_MFCC = 13
N_MEL_BANDS = 40
N_SUB_BLOCKS = 10  # sub-frames for energy entropy, sub-bands for spectral entropy
ROLLOFF_SHARE = 0.90
CHROMA_PITCH_CLASSES: tuple[str, ...] = ("A", "A#", "B", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#")
_A0_HZ = 27.5  # chroma_1 is the pitch class of this A
_LOG_FLOOR = 1e-10  # log10 floor for mel energies (a silent frame stays finite)

SHORT_TERM_NAMES: tuple[str, ...] = (
    "zcr",
    "energy",
    "energy_entropy",
    "spectral_centroid",
    "spectral_spread",
    "spectral_entropy",
    "spectral_flux",
    "spectral_rolloff",
    *(f"mfcc_{i}" for i in range(1, N_MFCC + 1)),
    *(f"chroma_{i}" for i in range(1, len(CHROMA_PITCH_CLASSES) + 1)),
    "chroma_std",
)


def short_term_features(
    wave: np.ndarray,
    sr: int = SAMPLE_RATE,
    window: float = 0.050,
    step: float = 0.025,
    deltas: bool = False,
    peak_normalize: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Per-frame features: ``(features [n_frames, 34] (68 with deltas), names)``.

    ``window`` and ``step`` are in seconds. A wave shorter than one window is zero-padded to one
    frame. The DC offset is always removed; ``peak_normalize`` also scales the peak to 1.
    """
    frames = _frames(_prepared(wave, peak_normalize), round(window * sr), round(step * sr))  # [N, W]
    spectrum = np.abs(np.fft.rfft(frames * np.hamming(frames.shape[1]), axis=1))  # [N, F]
    spectrum /= frames.shape[1] / 2  # a full-scale bin-centred sine -> ~0.5
    power = spectrum**2
    bin_hz = np.fft.rfftfreq(frames.shape[1], d=1.0 / sr)  # [F]
    nyquist = sr / 2.0

    centroid, spread = _centroid_spread(spectrum, bin_hz)
    columns = [
        _zero_crossing_rate(frames),
        np.mean(frames**2, axis=1),
        _block_entropy(frames**2),
        centroid / nyquist,
        spread / nyquist,
        _block_entropy(power),
        _spectral_flux(spectrum),
        _rolloff(power, bin_hz) / nyquist,
    ]
    mel_filters = mel_filterbank(sr, frames.shape[1], N_MEL_BANDS)  # [40, F]
    log_mel = np.log10(spectrum @ mel_filters.T + _LOG_FLOOR)  # [N, 40]
    mfccs = log_mel @ dct_matrix(N_MFCC, N_MEL_BANDS).T  # [N, 13]
    chroma = _safe_divide(power @ _chroma_matrix(sr, frames.shape[1]), power.sum(axis=1, keepdims=True))  # [N, 12]

    features = np.column_stack([*columns, mfccs, chroma, chroma.std(axis=1)])  # [N, 34]
    names = list(SHORT_TERM_NAMES)
    if deltas:
        features = np.hstack([features, np.diff(features, axis=0, prepend=features[:1])])
        names += [f"delta_{name}" for name in SHORT_TERM_NAMES]
    return features, names


def mid_term_features(
    wave: np.ndarray,
    sr: int = SAMPLE_RATE,
    mid_window: float = 1.0,
    mid_step: float = 0.5,
    short_window: float = 0.050,
    short_step: float = 0.025,
    deltas: bool = False,
    peak_normalize: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Mean and standard deviation of every short-term feature over sliding mid-term windows.

    Returns ``(features [n_windows, 68] (136 with deltas), names)`` with the means first
    (``<feature>_mean``) then the standard deviations (``<feature>_std``). Windows start every
    ``mid_step`` seconds and cover the short-term frames that fit in ``mid_window`` seconds.
    """
    short, short_names = short_term_features(wave, sr, short_window, short_step, deltas, peak_normalize)
    frames_per_window = max(1, round((mid_window - (short_window - short_step)) / short_step))
    frames_per_step = max(1, round(mid_step / short_step))
    starts = np.arange(0, len(short), frames_per_step)
    # Pad with NaN so every window has the same length; nanmean / nanstd then ignore the padding.
    padded = np.full((starts[-1] + frames_per_window, short.shape[1]), np.nan)
    padded[: len(short)] = short
    windows = sliding_window_view(padded, frames_per_window, axis=0)[starts]  # [n_windows, D, frames]
    features = np.hstack([np.nanmean(windows, axis=2), np.nanstd(windows, axis=2)])  # [n_windows, 2D]
    names = [f"{name}_mean" for name in short_names] + [f"{name}_std" for name in short_names]
    return features, names


def clip_features(wave: np.ndarray, sr: int = SAMPLE_RATE, **options) -> tuple[np.ndarray, list[str]]:
    """One fixed-size vector per clip, the average of its mid-term vectors: ``([68] or [136], names)``.

    ``options`` are those of :func:`mid_term_features` (window sizes, ``deltas``, ``peak_normalize``).
    """
    mid, names = mid_term_features(wave, sr, **options)
    return mid.mean(axis=0), names


# --------------------------------------------------------------------------------------------


def _prepared(wave: np.ndarray, peak_normalize: bool) -> np.ndarray:
    signal = np.asarray(wave, dtype=np.float64)
    if signal.ndim != 1 or signal.size == 0:
        raise ValueError(f"expected a non-empty mono waveform (1-D), got shape {signal.shape}")
    signal = signal - signal.mean()
    peak = np.abs(signal).max()
    return signal / peak if peak_normalize and peak > 0 else signal


def _frames(signal: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Overlapping frames as a read-only view: [S] -> [1 + (S - length) // hop, length]."""
    if length < N_SUB_BLOCKS or hop < 1:
        raise ValueError(f"short-term window ({length} samples) and step ({hop}) are too small")
    if signal.size < length:
        signal = np.pad(signal, (0, length - signal.size))
    return sliding_window_view(signal, length)[::hop]


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, with 0 where the denominator is 0 (silent frames)."""
    return np.divide(
        numerator, denominator, out=np.zeros(np.broadcast(numerator, denominator).shape), where=denominator > 0
    )


def _zero_crossing_rate(frames: np.ndarray) -> np.ndarray:
    """Share of neighbouring sample pairs that change sign (a sample at exactly 0 counts half)."""
    return np.abs(np.diff(np.sign(frames), axis=1)).sum(axis=1) / 2.0 / (frames.shape[1] - 1)


def _block_entropy(energies: np.ndarray) -> np.ndarray:
    """Entropy in bits of how each row's total is shared by N_SUB_BLOCKS equal consecutive blocks."""
    block = energies.shape[1] // N_SUB_BLOCKS
    blocks = energies[:, : block * N_SUB_BLOCKS].reshape(len(energies), N_SUB_BLOCKS, block).sum(axis=2)
    shares = _safe_divide(blocks, blocks.sum(axis=1, keepdims=True))  # [N, 10]
    return -np.sum(shares * np.log2(shares, out=np.zeros_like(shares), where=shares > 0), axis=1)


def _centroid_spread(spectrum: np.ndarray, bin_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass of the amplitude spectrum and its standard deviation around it, in Hz."""
    total = spectrum.sum(axis=1)
    centroid = _safe_divide(spectrum @ bin_hz, total)
    variance = _safe_divide(np.sum(spectrum * (bin_hz[None, :] - centroid[:, None]) ** 2, axis=1), total)
    return centroid, np.sqrt(variance)


def _spectral_flux(spectrum: np.ndarray) -> np.ndarray:
    """Squared distance between consecutive L1-normalised spectra; 0 for the first frame."""
    shape = _safe_divide(spectrum, spectrum.sum(axis=1, keepdims=True))
    return np.concatenate([[0.0], np.sum(np.diff(shape, axis=0) ** 2, axis=1)])


def _rolloff(power: np.ndarray, bin_hz: np.ndarray) -> np.ndarray:
    """Lowest bin frequency below which ROLLOFF_SHARE of the frame's power lies (0 for silence)."""
    reached = np.cumsum(power, axis=1) >= ROLLOFF_SHARE * power.sum(axis=1, keepdims=True)
    return bin_hz[np.argmax(reached, axis=1)]


@functools.lru_cache(maxsize=16)
def _chroma_matrix(sr: int, n_fft: int) -> np.ndarray:
    """[F, 12] weights folding a power spectrum into pitch classes (column 0 = A).

    Each bin above 0 Hz belongs to its nearest equal-tempered semitone; a semitone's power is the
    mean over its bins, so the many high bins of one semitone do not outweigh the few low ones.
    """
    bin_hz = np.fft.rfftfreq(n_fft, d=1.0 / sr)[1:]
    semitone = np.round(12.0 * np.log2(bin_hz / _A0_HZ)).astype(int)
    _, index, counts = np.unique(semitone, return_inverse=True, return_counts=True)
    matrix = np.zeros((len(bin_hz) + 1, len(CHROMA_PITCH_CLASSES)))
    matrix[np.arange(1, len(bin_hz) + 1), semitone % 12] = 1.0 / counts[index]
    matrix.setflags(write=False)
    return matrix
