"""Where people speak in a long recording: voice-activity detection, merged and split to 1-10 s.

The detector is Silero VAD v6, the ONNX model that faster-whisper ships (``faster_whisper.vad``:
MIT licence, no download, about 15 ms per 4 s of audio on one core here). Its speech ranges are
then shaped for the models, which were trained on 1.5-5 s utterances:

- ranges longer than ``max_seconds`` are split by the detector itself, at its last silence of at
  least 100 ms (or hard at ``max_seconds`` when there is none);
- ranges shorter than ``min_seconds`` join the nearer neighbour when the gap is at most
  ``join_gap`` and the joined range stays within ``max_seconds``; a short range alone is kept
  (a "yes" between pauses is speech too).

:class:`StreamingSegmenter` does this on a recording fed a block at a time: a range is given out
once the audio after it can no longer change it, and only the audio not yet given out is kept, so
memory stays bounded by a block plus one range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emodemo.inputs.audio import SAMPLE_RATE


@dataclass(frozen=True)
class SegmentOptions:
    """How speech is found and shaped (seconds unless named otherwise)."""

    threshold: float = 0.5  # Silero's speech probability above which a frame is speech
    min_silence: float = 0.5  # a pause shorter than this does not end a range
    min_speech: float = 0.25  # shorter blips are dropped by the detector
    pad: float = 0.03  # each range widened by this on both sides
    min_seconds: float = 1.0  # shorter ranges join a neighbour when they can ...
    join_gap: float = 1.0  # ... across at most this much silence
    max_seconds: float = 10.0  # longer ranges are split
    context: float = 0.5  # audio kept around a span for the models (not past a neighbour's midpoint)

    def vad_options(self):
        from faster_whisper.vad import VadOptions

        return VadOptions(
            threshold=self.threshold,
            min_speech_duration_ms=int(self.min_speech * 1000),
            max_speech_duration_s=self.max_seconds,
            min_silence_duration_ms=int(self.min_silence * 1000),
            speech_pad_ms=int(self.pad * 1000),
        )


@dataclass(frozen=True)
class Span:
    """A stretch of speech: ``start`` and ``end`` in seconds from the recording's start, and the
    samples the models hear: the speech with up to ``SegmentOptions.context`` seconds around it, as
    the clips they were trained on had silence around the speech (their input normalisation cuts
    it the same way for both)."""

    start: float
    end: float
    wave: np.ndarray  # [samples] at 16 kHz, from ``wave_start``
    wave_start: float = 0.0  # seconds from the recording's start


def speech_ranges(wave: np.ndarray, options: SegmentOptions = SegmentOptions()) -> list[tuple[int, int]]:
    """``[(start, end)]`` sample indices of the speech in a 16 kHz mono ``wave``, shaped as the
    module doc says."""
    from faster_whisper.vad import get_speech_timestamps

    if wave.size == 0:
        return []
    found = get_speech_timestamps(
        np.ascontiguousarray(wave, dtype=np.float32), options.vad_options(), sampling_rate=SAMPLE_RATE
    )
    return join_short([(int(r["start"]), int(r["end"])) for r in found], options)


def join_short(ranges: list[tuple[int, int]], options: SegmentOptions) -> list[tuple[int, int]]:
    """``ranges`` (sorted sample indices) with each range under ``min_seconds`` joined to its nearer
    neighbour, when the gap is within ``join_gap`` and the result within ``max_seconds``."""
    shortest, gap_limit, longest = (
        int(s * SAMPLE_RATE) for s in (options.min_seconds, options.join_gap, options.max_seconds)
    )
    ranges = list(ranges)
    i = 0
    while i < len(ranges):
        start, end = ranges[i]
        if end - start >= shortest:
            i += 1
            continue
        candidates = []  # (gap, neighbour index)
        if i > 0 and start - ranges[i - 1][1] <= gap_limit and end - ranges[i - 1][0] <= longest:
            candidates.append((start - ranges[i - 1][1], i - 1))
        if i + 1 < len(ranges) and ranges[i + 1][0] - end <= gap_limit and ranges[i + 1][1] - start <= longest:
            candidates.append((ranges[i + 1][0] - end, i + 1))
        if not candidates:
            i += 1
            continue
        _, j = min(candidates)
        first, last = sorted((i, j))
        ranges[first : last + 1] = [(ranges[first][0], ranges[last][1])]
        i = first  # the joined range may still be short
    return ranges


class StreamingSegmenter:
    """Speech spans of a recording fed in blocks: :meth:`feed` each block (1-D, 16 kHz, in order),
    then :meth:`finish`; each returns the spans that are final so far, in order."""

    def __init__(self, options: SegmentOptions = SegmentOptions()):
        self.options = options
        self.buffer = np.zeros(0, dtype=np.float32)  # audio not yet given out
        self.offset = 0  # its first sample's index in the recording
        self.context = int(options.context * SAMPLE_RATE)
        self.lead_in = max(int(0.5 * SAMPLE_RATE), self.context)  # kept before a range still open
        # audio after a range that can still change it: a pause that may end, a neighbour it may join
        self.settle = int((max(options.min_silence, options.join_gap) + options.max_seconds + 1.0) * SAMPLE_RATE)

    def feed(self, block: np.ndarray) -> list[Span]:
        self.buffer = np.concatenate([self.buffer, np.asarray(block, dtype=np.float32).ravel()])
        if len(self.buffer) < 2 * self.settle:
            return []
        return self._give_out(final=False)

    def finish(self) -> list[Span]:
        return self._give_out(final=True)

    def _give_out(self, final: bool) -> list[Span]:
        ranges = speech_ranges(self.buffer, self.options)
        limit = len(self.buffer) if final else len(self.buffer) - self.settle
        done = [r for r in ranges if r[1] <= limit]
        spans = []
        for i, (s, e) in enumerate(done):
            before = s - self.context if i == 0 else max(s - self.context, (done[i - 1][1] + s) // 2)
            after = ranges[i + 1][0] if i + 1 < len(ranges) else len(self.buffer)
            left, right = max(0, before), min(e + self.context, (e + after) // 2 if i + 1 < len(ranges) else after)
            spans.append(
                Span(
                    (self.offset + s) / SAMPLE_RATE,
                    (self.offset + e) / SAMPLE_RATE,
                    self.buffer[left:right].copy(),
                    (self.offset + left) / SAMPLE_RATE,
                )
            )
        pending = [r for r in ranges if r[1] > limit]
        if final:
            keep_from = len(self.buffer)
        else:  # from just before the first range still open (the detector needs a little lead-in)
            keep_from = max(done[-1][1] if done else 0, min(pending[0][0] if pending else limit, limit) - self.lead_in)
        self.buffer, self.offset = self.buffer[keep_from:], self.offset + keep_from
        return spans
