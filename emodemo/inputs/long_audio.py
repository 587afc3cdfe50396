"""Long recordings read a chunk at a time: an hour of audio is never held whole in memory.

:func:`stream_chunks` yields ``[samples, channels]`` float32 blocks at 16 kHz, in order, each at
most ``chunk_seconds`` long. WAV, FLAC and OGG are read in-process (libsndfile seeks; each block
is resampled on its own); anything else goes through one ``ffmpeg`` process opened with the same
fixed arguments as a clip (:func:`emodemo.inputs.audio.ffmpeg_input`), read from its pipe a block at a
time, each block under the same time limit as a whole clip's decode
(:data:`emodemo.inputs.audio.SUBPROCESS_TIMEOUT_S`), so a crafted file cannot hold a worker.

``channels="mix"`` averages the channels (what a clip gets); ``"each"`` keeps them apart (the two
sides of a stereo call).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile

from emodemo.inputs.audio import (
    FFMPEG_HINT,
    SAMPLE_RATE,
    SOUNDFILE_SUFFIXES,
    SUBPROCESS_TIMEOUT_S,
    AudioError,
    _existing_media_file,
    _run_tool,
    channel_count,
    decode_command,
    resample,
    tool_failure,
)

CHUNK_SECONDS = 60.0  # what is decoded at a time (about 4 MB of mono float32 at 16 kHz)
CHANNEL_MODES = ("mix", "each")


def stream_chunks(
    path: str | os.PathLike,
    chunk_seconds: float = CHUNK_SECONDS,
    channels: str = "mix",
    max_seconds: float | None = None,
) -> Iterator[np.ndarray]:
    """Blocks ``[samples, C]`` (C = 1 for ``"mix"``, the file's channel count for ``"each"``) of
    16 kHz float32 audio, in order, covering at most the first ``max_seconds``. Raises
    :class:`AudioError` (naming the file by its name alone) for a file that cannot be read."""
    if channels not in CHANNEL_MODES:
        raise ValueError(f"channels must be one of {CHANNEL_MODES}, not {channels!r}")
    if chunk_seconds <= 0:
        raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")
    file = _existing_media_file(path)
    blocks = (
        _soundfile_blocks(file, chunk_seconds, channels, max_seconds)
        if file.suffix.lower() in SOUNDFILE_SUFFIXES
        else None
    )
    if blocks is None:
        blocks = _ffmpeg_blocks(file, chunk_seconds, channels, max_seconds)
    yield from blocks


def _soundfile_blocks(file: Path, chunk_seconds: float, channels: str, max_seconds: float | None):
    try:
        handle = soundfile.SoundFile(str(file))
    except (soundfile.LibsndfileError, RuntimeError):
        return None  # ffmpeg gets its chance

    def blocks() -> Iterator[np.ndarray]:
        with handle:
            sr, left = handle.samplerate, None if max_seconds is None else int(round(max_seconds * handle.samplerate))
            size = int(round(chunk_seconds * sr))
            while left is None or left > 0:
                try:
                    data = handle.read(size if left is None else min(size, left), dtype="float32", always_2d=True)
                except (soundfile.LibsndfileError, RuntimeError) as error:
                    raise AudioError(f"could not decode {file.name}: it is damaged ({error})") from None
                if len(data) == 0:
                    return
                left = None if left is None else left - len(data)
                data = data.mean(axis=1, keepdims=True) if channels == "mix" else data  # [n, C]
                yield np.stack([resample(data[:, c], sr, SAMPLE_RATE) for c in range(data.shape[1])], axis=1)

    return blocks()


def _ffmpeg_blocks(file: Path, chunk_seconds: float, channels: str, max_seconds: float | None) -> Iterator[np.ndarray]:
    if shutil.which("ffmpeg") is None:
        raise AudioError(f"cannot read {file.name}: ffmpeg is not installed; {FFMPEG_HINT}")
    n_channels = 1 if channels == "mix" else channel_count(file)
    command = decode_command(file, channels=n_channels, seconds=max_seconds)
    block_bytes = int(round(chunk_seconds * SAMPLE_RATE)) * n_channels * 4
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL)
        try:
            while True:
                data = _read_block(process, block_bytes, file)
                if data:
                    usable = len(data) - len(data) % (4 * n_channels)
                    yield np.frombuffer(data[:usable], dtype=np.float32).reshape(-1, n_channels).copy()
                if len(data) < block_bytes:
                    break
            if process.wait(timeout=SUBPROCESS_TIMEOUT_S) != 0:
                errors.seek(0)
                raise tool_failure(errors.read(), process.returncode, file)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _read_block(process: subprocess.Popen, size: int, file: Path) -> bytes:
    """Up to ``size`` bytes of ffmpeg's output (fewer at its end), within the time limit of one decode."""
    deadline, parts, got = time.monotonic() + SUBPROCESS_TIMEOUT_S, [], 0
    fd = process.stdout.fileno()
    while got < size:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            process.kill()
            raise AudioError(f"ffmpeg took more than {SUBPROCESS_TIMEOUT_S:g} s on a block of {file.name}; gave up")
        part = os.read(fd, min(size - got, 1 << 20))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def read_span(path: str | os.PathLike, start: float, end: float, channel: int | None = None) -> np.ndarray:
    """The 16 kHz samples ``[n]`` of ``path`` from ``start`` to ``end`` seconds (the channels mixed,
    or only ``channel``), read without decoding what comes before (a segment of a long recording)."""
    if not 0 <= start < end:
        raise ValueError(f"need 0 <= start < end, got {start}, {end}")
    file = _existing_media_file(path)
    if file.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            with soundfile.SoundFile(str(file)) as handle:
                handle.seek(min(int(start * handle.samplerate), handle.frames))
                data = handle.read(int(round((end - start) * handle.samplerate)), dtype="float32", always_2d=True)
                sr = handle.samplerate
            picked = data.mean(axis=1) if channel is None else data[:, channel]
            return resample(picked, sr, SAMPLE_RATE)
        except (soundfile.LibsndfileError, RuntimeError):
            pass
    n_channels = 1 if channel is None else channel_count(file)
    command = decode_command(file, channels=n_channels, start=start, seconds=end - start)
    data = np.frombuffer(_run_tool(command, file), dtype=np.float32).reshape(-1, n_channels)
    return data[:, 0 if channel is None else channel].copy()
