"""What the bench scripts share: a median timer, real RAVDESS clips with their transcripts, 4 s cuts."""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from emodemo import data
from emodemo.audio import SAMPLE_RATE, load_audio
from emodemo.transcripts import transcribe_samples


def median_ms(fn, repeats: int, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def real_clips(root: Path, n: int) -> list[tuple[np.ndarray, object]]:
    """``n`` RAVDESS clips (actor 01's first takes) with their cached Whisper transcripts."""
    clips = sorted(data.load("ravdess", root, calm_as_neutral=True), key=lambda s: s.id)[:n]
    transcripts = transcribe_samples(clips)
    return [(load_audio(s.audio), transcripts[s.id]) for s in clips]


def exactly(wave: np.ndarray, seconds: float) -> np.ndarray:
    """The wave cut or zero-padded to ``seconds``."""
    n = int(seconds * SAMPLE_RATE)
    return np.pad(wave[:n], (0, max(0, n - wave.size)))
