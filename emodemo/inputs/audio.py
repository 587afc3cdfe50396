"""Audio in: any common media file -> 16 kHz mono float32, and the spectral features models eat.

Decoding takes two roads. WAV, FLAC and Ogg files are read in-process by ``soundfile``
(libsndfile) and resampled with a polyphase filter; everything else (mp3, m4a/aac, opus in
webm, the audio track of mp4/mov/mkv videos ...) goes through an ``ffmpeg`` subprocess, which is
also the fallback when libsndfile cannot read a file. Every failure a user can cause surfaces as
one exception type, :class:`AudioError`, whose message says what went wrong with which file.

Features are computed in torch so they run on whatever device the wave lives on:

* :func:`log_mel` reproduces ``whisper.log_mel_spectrogram`` (25 ms Hann window, 10 ms hop,
  Slaney mel filters, log10, an 8-decade dynamic range, scaled to about [-1, 1]) so its output
  can be fed to a Whisper encoder;
* :func:`mfcc` is the textbook recipe: power spectrogram -> mel filters -> decibels -> DCT-II.

The mel filterbank and the DCT matrix are built here from their definitions
(:func:`mel_filterbank`, :func:`dct_matrix`) rather than loaded from a library's asset file, and
:mod:`emodemo.inputs.handcrafted` reuses them for its 50 ms frames.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile
import torch
import torch.nn.functional as F
from scipy.signal import resample_poly

SAMPLE_RATE = 16_000
MAX_SECONDS = 30.0  # Whisper's window: every model hears at most a clip's first 30 s (the app says so)
# Containers libsndfile reads in-process; anything else is decoded by ffmpeg.
SOUNDFILE_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga"})
# Upper bound on one ffmpeg / ffprobe call (a normal 30 s clip decodes in well under a second), so a
# crafted or broken file cannot hold the app's queue.
SUBPROCESS_TIMEOUT_S = 20.0
# The only way ffmpeg and ffprobe open a user's file: the local-file protocol alone and the demuxers
# of the containers we accept (no playlists, concat lists or image sequences that name other files).
DEMUXERS = "wav,w64,flac,ogg,mp3,aac,mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,aiff,caf,amr,asf,flv,mpegts"
FFMPEG_HINT = "install ffmpeg: apt-get install ffmpeg (macOS: brew install ffmpeg; conda: conda install ffmpeg)"

# Whisper's front end: 25 ms windows every 10 ms at 16 kHz, 30 s chunks.
WHISPER_N_FFT = 400
WHISPER_HOP = 160
WHISPER_CHUNK_SAMPLES = 30 * SAMPLE_RATE


class AudioError(ValueError):
    """A media file could not be turned into a waveform; the message names the file and the reason."""


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def load_audio(path: str | os.PathLike, sr: int = SAMPLE_RATE, max_seconds: float | None = None) -> np.ndarray:
    """Decode ``path`` to a mono float32 waveform at ``sr`` Hz with samples in [-1, 1].

    Channels are averaged. ``max_seconds`` keeps only the beginning of long files (compare
    :func:`probe_duration` with it to know whether a file was cut). Raises :class:`AudioError`
    for a missing, empty, corrupt or audio-less file, or when ffmpeg is needed but not installed;
    its message names the file by its name alone, never by its folder on this machine.
    """
    if max_seconds is not None and max_seconds <= 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    file = _existing_media_file(path)
    wave = None
    if file.suffix.lower() in SOUNDFILE_SUFFIXES:
        wave = _read_with_soundfile(file, sr, max_seconds)
    if wave is None:
        wave = _decode_with_ffmpeg(file, sr, max_seconds)
    if max_seconds is not None:  # resamplers and codec frames can overshoot by a few samples
        wave = wave[: round(max_seconds * sr)]
    if wave.size == 0:
        raise AudioError(f"{file.name} is empty: it decodes to 0 audio samples")
    if not np.isfinite(wave).all():
        raise AudioError(f"{file.name} holds invalid samples (NaN or infinity): the file is damaged")
    return np.clip(wave, -1.0, 1.0)


def probe_duration(path: str | os.PathLike) -> float:
    """Length of the audio in ``path`` in seconds, read from the header without decoding."""
    info, report = _header(path, "stream=duration:format=duration")
    if info is not None:
        return float(info.duration)
    # Some containers (webm, some mkv) only know the duration of the whole file.
    for value in (report["streams"][0].get("duration"), report.get("format", {}).get("duration")):
        if value not in (None, "N/A"):
            return float(value)
    raise AudioError(f"could not read the duration of {Path(path).name}")


def channel_count(path: str | os.PathLike) -> int:
    """How many channels the first audio stream of ``path`` has (from its header)."""
    info, report = _header(path, "stream=channels")
    return int(info.channels) if info is not None else int(report["streams"][0].get("channels") or 1)


def _header(path: str | os.PathLike, entries: str):
    """``(soundfile info, None)`` when libsndfile reads the file, else ``(None, ffprobe's JSON report
    of the first audio stream's ``entries``)``; an AudioError when there is no audio track."""
    file = _existing_media_file(path)
    if file.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            return soundfile.info(str(file)), None
        except (soundfile.LibsndfileError, RuntimeError):
            pass  # ffprobe below gets its chance
    report = json.loads(
        _run_tool(
            [
                "ffprobe",
                "-v",
                "error",
                *ffmpeg_input(file),
                "-select_streams",
                "a:0",
                "-show_entries",
                entries,
                "-of",
                "json",
            ],
            file,
        )
    )
    if not report.get("streams"):
        raise AudioError(f"{file.name} has no audio track")
    return None, report


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased, linear phase) of a 1-D float waveform."""
    if orig_sr == target_sr:
        return wave.astype(np.float32, copy=False)
    ratio = math.gcd(int(orig_sr), int(target_sr))
    return resample_poly(wave, target_sr // ratio, orig_sr // ratio).astype(np.float32)


def duration(wave: np.ndarray | torch.Tensor, sr: int = SAMPLE_RATE) -> float:
    """Length of a waveform (last axis = time) in seconds."""
    return wave.shape[-1] / sr


SILENCE_DBFS = -60.0  # loudest 25 ms frame below this: nothing but a muted microphone's hiss


def frame_rms(samples: np.ndarray, frame: int = 400) -> np.ndarray:
    """RMS of each ``frame``-sample frame (the last one zero-padded): ``[S]`` -> ``[ceil(S / frame)]``."""
    frames = np.pad(samples, (0, -samples.size % frame)).reshape(-1, frame)  # [n_frames, frame]
    return np.sqrt((frames**2).mean(axis=1))


def loudest_frame_dbfs(wave: np.ndarray | torch.Tensor, frame: int = 400) -> float:
    """Level of the loudest ``frame``-sample frame (RMS, dB full scale; 400 = 25 ms at 16 kHz); -inf for zeros."""
    samples = np.asarray(wave, dtype=np.float64).ravel()
    if samples.size == 0:
        return -math.inf
    loudest = float(frame_rms(samples, frame).max())
    return 20.0 * math.log10(loudest) if loudest > 0 else -math.inf


def is_silent(wave: np.ndarray | torch.Tensor, threshold_db: float = SILENCE_DBFS) -> bool:
    """True when even the loudest 25 ms of ``wave`` stays below ``threshold_db`` dB full scale.

    The loudest frame, not the whole clip's level: a quiet speaker after a long pause is still
    speech (the softest RAVDESS takes peak near -38 dBFS while their clip-wide RMS is near -55).
    """
    return loudest_frame_dbfs(wave) < threshold_db


def voiced_bounds(
    wave: np.ndarray | torch.Tensor,
    below_peak_db: float = 45.0,
    above_floor_db: float = 15.0,
    margin_s: float = 0.1,
    sr: int = SAMPLE_RATE,
    frame: int = 400,
) -> tuple[int, int]:
    """``(start, end)`` samples from the first to the last 25 ms frame within ``below_peak_db`` dB of
    the loudest frame and ``above_floor_db`` over the noise floor (the 10th percentile of frame
    levels; this decides for quiet takes), widened by ``margin_s`` on each side: the clip without
    its leading and trailing silence. The whole clip when it is silent, empty, or never quiet.
    """
    samples = np.asarray(wave, dtype=np.float64).ravel()
    if samples.size == 0 or is_silent(samples):
        return 0, samples.size
    level = frame_rms(samples, frame)  # [n_frames]
    floor = np.percentile(level, 10)  # the room's noise
    threshold = max(level.max() * 10.0 ** (-below_peak_db / 20.0), floor * 10.0 ** (above_floor_db / 20.0))
    if threshold > level.max():  # no quiet part: nothing to cut
        return 0, samples.size
    loud = np.flatnonzero(level >= threshold)
    margin = int(round(margin_s * sr))
    return max(0, loud[0] * frame - margin), min(samples.size, (loud[-1] + 1) * frame + margin)


def _existing_media_file(path: str | os.PathLike) -> Path:
    file = Path(path)
    if not file.exists():
        raise AudioError(f"audio file not found: {file.name}")
    if not file.is_file():
        raise AudioError(f"{file.name} is not a file")
    if file.stat().st_size == 0:
        raise AudioError(f"{file.name} is empty (0 bytes)")
    return file


def _read_with_soundfile(file: Path, sr: int, max_seconds: float | None) -> np.ndarray | None:
    """The fast in-process road; None when libsndfile cannot read the file (ffmpeg then tries)."""
    try:
        with soundfile.SoundFile(str(file)) as handle:
            frames = -1 if max_seconds is None else int(round(max_seconds * handle.samplerate))
            data = handle.read(frames, dtype="float32", always_2d=True)  # [samples, channels]
            file_sr = handle.samplerate
    except (soundfile.LibsndfileError, RuntimeError):
        return None
    return resample(data.mean(axis=1), file_sr, sr)


def _decode_with_ffmpeg(file: Path, sr: int, max_seconds: float | None) -> np.ndarray:
    return np.frombuffer(_run_tool(decode_command(file, sr, seconds=max_seconds), file), dtype=np.float32).copy()


def decode_command(
    file: Path, sr: int = SAMPLE_RATE, channels: int = 1, start: float | None = None, seconds: float | None = None
) -> list[str]:
    """ffmpeg's command decoding the first audio stream of ``file`` (opened as :func:`ffmpeg_input`
    says) to raw float32 samples at ``sr`` on stdout, ``channels`` interleaved (1: mixed), from
    ``start`` for at most ``seconds`` (None: from the start / to the end)."""
    command = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        *(["-ss", f"{start:.6f}"] if start is not None else []),
        *ffmpeg_input(file),
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
    ]
    if seconds is not None:
        command += ["-t", f"{seconds:.6f}"]
    return command + ["-ac", str(channels), "-ar", str(sr), "-f", "f32le", "-acodec", "pcm_f32le", "-"]


def ffmpeg_input(file: Path) -> list[str]:
    """The fixed arguments with which ffmpeg and ffprobe open a user's file: as a local file only
    (``file:`` + its absolute path, so no name is read as an option or a protocol), with the
    demuxers in ``DEMUXERS`` only."""
    return ["-protocol_whitelist", "file", "-format_whitelist", DEMUXERS, "-i", f"file:{file.resolve()}"]


def _run_tool(command: list[str], file: Path) -> bytes:
    """Run ffmpeg or ffprobe on ``file`` (at most ``SUBPROCESS_TIMEOUT_S``); turn every failure into
    an AudioError a user can act on, naming the file by its name alone."""
    tool = command[0]
    if shutil.which(tool) is None:
        raise AudioError(f"cannot read {file.name}: {tool} is not installed; {FFMPEG_HINT}")
    try:
        done = subprocess.run(command, capture_output=True, timeout=SUBPROCESS_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as error:
        raise AudioError(f"{tool} took more than {SUBPROCESS_TIMEOUT_S:g} s on {file.name}; gave up") from error
    if done.returncode != 0:
        raise tool_failure(done.stderr, done.returncode, file)
    return done.stdout


def tool_failure(stderr: bytes, returncode: int, file: Path) -> AudioError:
    """The error a user reads when ffmpeg or ffprobe failed on ``file`` (its name alone in it)."""
    message = stderr.decode(errors="replace").strip()
    if "matches no streams" in message:
        return AudioError(f"{file.name} has no audio track")
    if "not on whitelist" in message:
        return AudioError(
            f"{file.name} is not in a format the app reads (sound: wav, flac, ogg, mp3, m4a, "
            "webm; video: mp4, mov, mkv, webm, avi)"
        )
    last_line = message.splitlines()[-1] if message else f"exit status {returncode}"
    return AudioError(
        f"could not decode {file.name}: it is not a sound or video file the app reads, or it is "
        f"damaged ({without_folders(last_line, file)})"
    )


def without_folders(message: str, file: Path) -> str:
    """``message`` with every spelling of ``file``'s path (as given, absolute, ``file:``) cut to its name."""
    for spelling in sorted({f"file:{file.resolve()}", str(file.resolve()), str(file)}, key=len, reverse=True):
        message = message.replace(spelling, file.name)
    return message


# --------------------------------------------------------------------------------------------
# Building blocks: mel filterbank and DCT
# --------------------------------------------------------------------------------------------

# Slaney's mel scale (Auditory Toolbox, librosa's default): linear up to 1 kHz, 3 mels per 200 Hz,
# logarithmic above with 27 steps per factor 6.4.
_LINEAR_HZ_PER_MEL = 200.0 / 3.0
_LOG_START_HZ = 1000.0
_LOG_START_MEL = _LOG_START_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel value of each frequency."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _LINEAR_HZ_PER_MEL
    logarithmic = _LOG_START_MEL + np.log(np.maximum(hz, _LOG_START_HZ) / _LOG_START_HZ) / _LOG_STEP
    return np.where(hz >= _LOG_START_HZ, logarithmic, linear)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _LINEAR_HZ_PER_MEL
    logarithmic = _LOG_START_HZ * np.exp(_LOG_STEP * (np.maximum(mel, _LOG_START_MEL) - _LOG_START_MEL))
    return np.where(mel >= _LOG_START_MEL, logarithmic, linear)


@functools.lru_cache(maxsize=32)
def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular Slaney mel filters, shape [n_mels, n_fft // 2 + 1], area-normalised.

    ``n_mels + 2`` edge frequencies are spaced evenly on the mel scale between ``fmin`` and
    ``fmax`` (default Nyquist); filter ``m`` rises from edge ``m`` to a peak at edge ``m + 1`` and
    falls to zero at edge ``m + 2``, then is scaled by ``2 / (bandwidth in Hz)`` so every filter
    has the same area. Equals ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)`` (and so
    the matrices shipped with openai-whisper). Cached and read-only.
    """
    fmax = sr / 2.0 if fmax is None else fmax
    bin_hz = np.fft.rfftfreq(n_fft, d=1.0 / sr)  # [F]
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))  # [M + 2]
    widths = np.diff(edges_hz)  # [M + 1]
    distance = edges_hz[:, None] - bin_hz[None, :]  # [M + 2, F]
    rising = -distance[:-2] / widths[:-1, None]  # [M, F]
    falling = distance[2:] / widths[1:, None]  # [M, F]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    filters = filters.astype(np.float32)
    filters.setflags(write=False)
    return filters


@functools.lru_cache(maxsize=32)
def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II as a matrix [n_out, n_in]: ``dct_matrix(k, n) @ x`` equals
    ``scipy.fft.dct(x, type=2, norm="ortho")[:k]``. Cached and read-only."""
    n = np.arange(n_in)
    k = np.arange(n_out)[:, None]
    matrix = np.sqrt(2.0 / n_in) * np.cos(np.pi / n_in * (n + 0.5) * k)
    matrix[0] /= np.sqrt(2.0)
    matrix = matrix.astype(np.float32)
    matrix.setflags(write=False)
    return matrix


def _like(array: np.ndarray, audio: torch.Tensor) -> torch.Tensor:
    """A constant matrix as a tensor on the device and in the dtype of ``audio``."""
    return torch.tensor(array, device=audio.device, dtype=audio.dtype)


# --------------------------------------------------------------------------------------------
# Spectral features in torch
# --------------------------------------------------------------------------------------------


def log_mel(wave: np.ndarray | torch.Tensor, n_mels: int = 80, pad_to_30s: bool = False) -> torch.Tensor:
    """Whisper's log-mel spectrogram of a 16 kHz waveform: [..., S] -> [..., n_mels, S // 160].

    Same numbers as ``whisper.log_mel_spectrogram`` (``n_mels`` 80 for tiny...large-v2, 128 for
    large-v3): power of a centred 400-point Hann STFT every 160 samples (the last frame dropped),
    Slaney mel filters, log10 floored at 1e-10, values below (max - 8) raised to it, then
    ``(x + 4) / 4``. The maximum is taken per waveform, so a batch gives the same rows as one by
    one. ``pad_to_30s`` first zero-pads (or cuts) the wave to 30 s, giving the 3000 frames a
    Whisper encoder expects.
    """
    audio = _waveform_tensor(wave)  # [..., S]
    if pad_to_30s:
        audio = F.pad(audio, (0, max(0, WHISPER_CHUNK_SAMPLES - audio.shape[-1])))[..., :WHISPER_CHUNK_SAMPLES]
    power = _power_spectrogram(audio, WHISPER_N_FFT, WHISPER_HOP)[..., :-1]  # [..., 201, T]
    filters = _like(mel_filterbank(SAMPLE_RATE, WHISPER_N_FFT, n_mels), audio)
    log_spec = (filters @ power).clamp(min=1e-10).log10()  # [..., n_mels, T]
    floor = log_spec.amax(dim=(-2, -1), keepdim=True) - 8.0
    return (torch.maximum(log_spec, floor) + 4.0) / 4.0


def mfcc(
    wave: np.ndarray | torch.Tensor,
    sr: int = SAMPLE_RATE,
    n_mfcc: int = 13,
    n_mels: int = 40,
    n_fft: int = 400,
    hop_length: int = 160,
) -> torch.Tensor:
    """Mel-frequency cepstral coefficients: [..., S] -> [..., n_mfcc, 1 + S // hop_length].

    Power of a centred Hann STFT (default 25 ms windows every 10 ms at 16 kHz) -> ``n_mels``
    Slaney mel filters -> decibels ``10 log10(max(energy, 1e-10))`` -> orthonormal DCT-II, of
    which the first ``n_mfcc`` coefficients are kept (coefficient 0 tracks loudness, the next
    ones the spectral envelope, i.e. the vocal tract shape).
    """
    if n_mfcc > n_mels:
        raise ValueError(f"n_mfcc ({n_mfcc}) cannot exceed n_mels ({n_mels})")
    audio = _waveform_tensor(wave)  # [..., S]
    power = _power_spectrogram(audio, n_fft, hop_length)  # [..., F, T]
    filters = _like(mel_filterbank(sr, n_fft, n_mels), audio)  # [n_mels, F]
    mel_db = 10.0 * (filters @ power).clamp(min=1e-10).log10()  # [..., n_mels, T]
    return _like(dct_matrix(n_mfcc, n_mels), audio) @ mel_db  # [..., n_mfcc, T]


def _waveform_tensor(wave: np.ndarray | torch.Tensor) -> torch.Tensor:
    audio = wave if torch.is_tensor(wave) else torch.from_numpy(np.asarray(wave, dtype=np.float32))
    if audio.ndim == 0 or audio.shape[-1] == 0:
        raise ValueError("expected a non-empty waveform with time on the last axis")
    return audio.float() if not audio.is_floating_point() else audio


def _power_spectrogram(audio: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """|STFT|^2 of a centred (reflect-padded) Hann STFT: [..., S] -> [..., n_fft // 2 + 1, 1 + S // hop]."""
    if audio.shape[-1] <= n_fft // 2:  # reflect padding needs more samples than half a window
        audio = F.pad(audio, (0, n_fft // 2 + 1 - audio.shape[-1]))
    batch_shape = audio.shape[:-1]
    flat = audio.reshape(-1, audio.shape[-1])  # [B, S]
    window = torch.hann_window(n_fft, device=audio.device, dtype=audio.dtype)
    spec = torch.stft(flat, n_fft, hop_length, window=window, return_complex=True)  # [B, F, T]
    return (spec.abs() ** 2).reshape(*batch_shape, *spec.shape[-2:])
