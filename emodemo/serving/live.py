"""A live microphone: the voice models answer a rolling window while the user speaks.

The browser sends the microphone's sound in chunks (Gradio's streaming audio, one every
:data:`EVERY_SECONDS`); :func:`listen` adds each chunk to the last :data:`WINDOW_SECONDS` of sound
and, once a second has passed since the last answer, asks the models that hear the voice alone
(no transcript: Whisper on a 3 s window would cost more than the second it has) about that window.
A window in which the voice-activity detector finds no speech gets no answer (a point marked
silent). Each answer is a point of the live track: the fused answer of the voice expert, its confidence,
"unsure" under the expert's line, and how long the answer took after its window closed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from emodemo.inputs.audio import SAMPLE_RATE, is_silent, resample
from emodemo.inputs.segmentation import SegmentOptions, speech_ranges

WINDOW_SECONDS = 3.0  # what each answer hears
EVERY_SECONDS = 1.0  # how often it answers
MIN_SECONDS = 1.0  # no answer before this much sound
MIN_SPEECH = 0.3  # seconds of speech the detector must find in the window for an answer


@dataclass
class LiveState:
    """What a listening session keeps between chunks."""

    window: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))  # [<= WINDOW s] 16 kHz
    heard: float = 0.0  # seconds of sound received
    answered_at: float = 0.0  # ``heard`` when the last answer was given
    points: list = field(default_factory=list)  # one dict per answer (module doc)


def as_mono(rate: int, samples: np.ndarray) -> np.ndarray:
    """A browser chunk (int16 or float, ``[n]`` or ``[n, channels]``) as mono float32 at 16 kHz."""
    samples = np.asarray(samples)
    wave = (
        samples.astype(np.float32) / 32768.0 if np.issubdtype(samples.dtype, np.integer) else samples.astype(np.float32)
    )
    if wave.ndim == 2:
        wave = wave.mean(axis=1)
    return resample(wave, int(rate), SAMPLE_RATE)


def has_speech(window: np.ndarray) -> bool:
    """Whether the voice-activity detector finds at least :data:`MIN_SPEECH` s of speech in
    ``window``: room noise alone, made loud by the input normalisation, would get a confident answer."""
    if is_silent(window):
        return False
    options = SegmentOptions(min_speech=0.1)
    return sum(end - start for start, end in speech_ranges(window, options)) >= MIN_SPEECH * SAMPLE_RATE


def listen(pipeline, state: LiveState | None, rate: int, samples: np.ndarray) -> tuple[LiveState, dict | None]:
    """Add one chunk; returns the state and the new point of the track (None when it is not yet time)."""
    state = state or LiveState()
    chunk = as_mono(rate, samples)
    state.window = np.concatenate([state.window, chunk])[-int(WINDOW_SECONDS * SAMPLE_RATE) :]
    state.heard += len(chunk) / SAMPLE_RATE
    if state.heard < MIN_SECONDS or state.heard - state.answered_at < EVERY_SECONDS - 1e-6:
        return state, None
    started = time.perf_counter()
    state.answered_at = state.heard
    point = {"time": round(state.heard, 3), "silent": not has_speech(state.window)}
    if not point["silent"]:
        analysis = pipeline.answer(state.window)  # the models that hear the voice alone
        fused = pipeline.fused(pipeline.modalities_alone(analysis), {"audio": 1.0})
        voice = pipeline.experts.get("audio")
        expert = analysis.predictions.get(voice.name) if voice is not None else None
        top = max(fused, key=fused.get)
        point.update(
            emotion=top,
            confidence=round(fused[top], 4),
            fused={k: round(v, 4) for k, v in fused.items()},
            unsure=bool(expert is not None and expert.unsure),
        )
    point["latency_s"] = round(time.perf_counter() - started, 4)
    state.points.append(point)
    return state, point
