"""How good a timeline is, on recordings whose truth is known: real clips joined with pauses.

:func:`joined_recording` puts labelled clips one after another with pauses of chosen lengths
(whole clips keep their own silences; ``trim`` cuts each to its speech first, so a pause of 0 makes
two utterances touch). The truth kept for each clip is where it lies in the recording and where
its speech starts and ends, found by an energy detector (:func:`emodemo.inputs.audio.voiced_bounds`,
35 dB under the clip's loudest frame): a different detector from the one under test, which never
sees these edges.

:func:`score_timeline` compares a timeline's segments with that truth: each segment takes the
emotion of the clip it overlaps most; boundary error is the distance from each true speech start
(end) to the nearest segment start (end).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emodemo.inputs.audio import SAMPLE_RATE, voiced_bounds

REFERENCE_DB = 35.0  # the truth's speech: frames within this many dB of the clip's loudest


@dataclass(frozen=True)
class PlacedClip:
    """A clip inside a joined recording (seconds from the recording's start)."""

    label: str
    start: float  # where the clip's samples begin
    end: float  # where they end
    speech_start: float  # where its speech begins (energy detector)
    speech_end: float


def joined_recording(
    waves: Sequence[np.ndarray], labels: Sequence[str], pauses: Sequence[float], trim: bool = False
) -> tuple[np.ndarray, list[PlacedClip]]:
    """``(wave [samples], clips)``: the 16 kHz ``waves`` in order, ``pauses[i]`` seconds of silence
    after clip i; with ``trim`` each clip is first cut to its speech (plus 0.1 s each side)."""
    if not (len(waves) == len(labels) == len(pauses)):
        raise ValueError("give one label and one pause per clip")
    parts, placed, at = [], [], 0
    for wave, label, pause in zip(waves, labels, pauses):
        if trim:
            start, end = voiced_bounds(wave, below_peak_db=REFERENCE_DB, margin_s=0.1)
            wave = wave[start:end]
        speech = voiced_bounds(wave, below_peak_db=REFERENCE_DB, margin_s=0.0)
        placed.append(
            PlacedClip(
                label,
                at / SAMPLE_RATE,
                (at + len(wave)) / SAMPLE_RATE,
                (at + speech[0]) / SAMPLE_RATE,
                (at + speech[1]) / SAMPLE_RATE,
            )
        )
        gap = np.zeros(int(round(pause * SAMPLE_RATE)), dtype=np.float32)
        parts += [wave.astype(np.float32), gap]
        at += len(wave) + len(gap)
    return np.concatenate(parts), placed


def truth_of(segment: tuple[float, float], clips: Sequence[PlacedClip]) -> str | None:
    """The label of the clip that overlaps ``(start, end)`` most (None when none does)."""
    overlaps = [min(segment[1], c.end) - max(segment[0], c.start) for c in clips]
    best = int(np.argmax(overlaps))
    return clips[best].label if overlaps[best] > 0 else None


def boundary_errors(segments: Sequence[tuple[float, float]], clips: Sequence[PlacedClip]) -> np.ndarray:
    """``[2 * clips]`` seconds from each true speech start to the nearest segment start, then from
    each true speech end to the nearest segment end (inf when there is no segment)."""
    if not segments:
        return np.full(2 * len(clips), np.inf)
    starts = np.array([s for s, _ in segments])
    ends = np.array([e for _, e in segments])
    return np.concatenate(
        [
            np.abs(starts[None] - np.array([c.speech_start for c in clips])[:, None]).min(axis=1),
            np.abs(ends[None] - np.array([c.speech_end for c in clips])[:, None]).min(axis=1),
        ]
    )


def score_timeline(
    segments: Sequence[tuple[float, float]], answers: Sequence[str], clips: Sequence[PlacedClip]
) -> dict:
    """Segment accuracy (each segment against the clip it overlaps most), boundary errors and the
    segment count per clip, for one recording."""
    truths = [truth_of(s, clips) for s in segments]
    right = [a == t for a, t in zip(answers, truths) if t is not None]
    errors = boundary_errors(segments, clips)
    return {
        "segments": len(segments),
        "clips": len(clips),
        "right": int(sum(right)),
        "scored": len(right),
        "boundary_errors": errors.tolist(),
    }
