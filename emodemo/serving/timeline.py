"""Emotion over time: a long recording cut into speech segments, every served model asked about each.

``analyse_recording(pipeline, path)`` reads the file a block at a time
(:mod:`emodemo.inputs.long_audio`), finds the speech (:mod:`emodemo.inputs.segmentation`), transcribes the
segments a window of up to 28 s of recording at a time (each word goes to the segment nearest
its middle), and yields one record per segment:

    {"file", "channel", "segment", "start", "end", "words",
     "emotion", "confidence", "unsure", "fused": {emotion: p}, "words_left_out",
     "models": {model: {"emotion", "confidence", "unsure", "probabilities": {label: p}}}}

``emotion`` / ``fused`` is the app's fused answer (the learned stacker, or the mean) with equal
weights; as in the app it leaves the words out of a segment where Whisper heard none or was guessing
them (``words_left_out`` says why, "" when the words are read). A segment is marked unsure when its
fused answer is under the learned fusion's own "unsure" line (a segment whose words are read: voice and
words fused as that line was chosen), else when the voice expert (the model the fusion reads for the
voice) is under its line; both chosen on validation speakers.

:func:`smoothed_track` turns the records into a track on a regular time grid (a Gaussian
average of nearby segments; no value far from any speech).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from emodemo.core.labels import CANONICAL7
from emodemo.inputs.audio import SAMPLE_RATE
from emodemo.inputs.long_audio import CHUNK_SECONDS, stream_chunks
from emodemo.inputs.segmentation import SegmentOptions, Span, StreamingSegmenter
from emodemo.serving.pipeline import words_left_out

WINDOW_SECONDS = 28.0  # segments transcribed together: under Whisper's 30 s window
ON_SPACE_SECONDS = 600.0  # a Hugging Face Space's shared hardware: 10 minutes per recording unless set


def recording_limit() -> float:
    """The app's limit per recording, in seconds: ``EMODEMO_TIMELINE_MAX_SECONDS`` when set, else an
    hour here and :data:`ON_SPACE_SECONDS` on a Hugging Face Space (which sets ``SPACE_ID``)."""
    default = ON_SPACE_SECONDS if os.environ.get("SPACE_ID") else 3600.0
    return float(os.environ.get("EMODEMO_TIMELINE_MAX_SECONDS", default))


def analyse_recording(
    pipeline,
    path: str | Path,
    channels: str = "mix",
    options: SegmentOptions = SegmentOptions(),
    max_seconds: float | None = None,
    chunk_seconds: float = CHUNK_SECONDS,
    on_progress: Callable[[float], None] | None = None,
    name: str | None = None,
) -> Iterator[dict]:
    """One record per speech segment of the recording at ``path`` (module doc), in time order per
    channel. ``channels``: "mix" (one track) or "each" (a stereo call: one track per side).
    ``on_progress(seconds)`` is called after each block with the seconds read so far. ``name``:
    what the records call the file (default: its name)."""
    shown = name or Path(path).name
    segmenters: list[StreamingSegmenter] = []
    numbers: list[Iterator[int]] = []  # each channel's segment numbers
    read = 0
    for block in stream_chunks(path, chunk_seconds, channels, max_seconds):  # [n, C]
        if not segmenters:
            segmenters = [StreamingSegmenter(options) for _ in range(block.shape[1])]
            numbers = [itertools.count() for _ in segmenters]
        for c, segmenter in enumerate(segmenters):
            yield from _records(
                pipeline, segmenter.feed(block[:, c]), shown, c if channels == "each" else None, numbers[c]
            )
        read += len(block)
        if on_progress is not None:
            on_progress(read / SAMPLE_RATE)
    for c, segmenter in enumerate(segmenters):
        yield from _records(pipeline, segmenter.finish(), shown, c if channels == "each" else None, numbers[c])


def _records(pipeline, spans: Sequence[Span], name: str, channel: int | None, numbers: Iterator[int]) -> Iterator[dict]:
    for window in transcription_windows(spans):
        for span, transcript in zip(window, _transcripts(pipeline, window)):
            yield segment_record(pipeline, pipeline.answer(span.wave, transcript), span, name, channel, next(numbers))


def transcription_windows(spans: Sequence[Span], seconds: float = WINDOW_SECONDS) -> list[list[Span]]:
    """``spans`` in consecutive groups that lie within ``seconds`` of recording (a span longer than
    that is a group alone)."""
    windows: list[list[Span]] = []
    for span in spans:
        if windows and span.wave_start + len(span.wave) / SAMPLE_RATE - windows[-1][0].wave_start <= seconds:
            windows[-1].append(span)
        else:
            windows.append([span])
    return windows


def _transcripts(pipeline, window: Sequence[Span]) -> list:
    """Each span's :class:`emodemo.speech.asr.Transcript` (word times from the start of its wave), from one
    Whisper run over the window's stretch of the recording (what lies between the spans' waves is
    silence to the detector, and is given as silence); None for every span when the pipeline does
    not transcribe."""
    if not pipeline.transcribe:
        return [None] * len(window)
    from emodemo.speech.asr import Transcript, Word, transcribe

    origin = window[0].wave_start
    starts = np.array([span.wave_start - origin for span in window])  # [spans] seconds
    lengths = np.array([len(span.wave) / SAMPLE_RATE for span in window])  # [spans]
    stretch = np.zeros(int(round((starts + lengths).max() * SAMPLE_RATE)) + 1, dtype=np.float32)  # [samples]
    for start, span in zip(starts, window):
        first = int(round(start * SAMPLE_RATE))
        stretch[first : first + len(span.wave)] = span.wave[: len(stretch) - first]
    heard = transcribe(stretch, model=pipeline.asr_model, backend=pipeline.asr_backend)
    speech = np.array([[span.start - origin, span.end - origin] for span in window])  # [spans, 2]
    words: list[list] = [[] for _ in window]
    for word, i in zip(heard.words, _word_spans(heard.words, speech)):
        words[i].append(
            Word(word.text, max(0.0, word.start - starts[i]), min(lengths[i], word.end - starts[i]), word.probability)
        )
    share = heard.seconds / max(heard.duration, 1e-9)
    return [
        Transcript(
            " ".join(w.text for w in ws),
            ws,
            heard.language,
            heard.backend,
            share * length,
            length,
            heard.model,
            no_speech=not ws,
        )
        for length, ws in zip(lengths, words)
    ]


def _word_spans(words: Sequence, speech: np.ndarray) -> list[int]:
    """The span each word was said in: the one whose speech ``[spans, 2]`` is nearest the word's
    middle. Whisper gives some words no length, placed at the next speech onset (a sentence's last
    word, "door.", or the first word after a pause): such a word goes with the word before it, or
    with the word after it when the word before ends a sentence."""

    def nearest(word) -> int:
        middle = (word.start + word.end) / 2
        return int(np.argmin(np.maximum(0.0, np.maximum(speech[:, 0] - middle, middle - speech[:, 1]))))

    timed = [nearest(w) if w.end - w.start >= 0.02 else None for w in words]
    spans = []
    for k, word in enumerate(words):
        if timed[k] is not None:
            spans.append(timed[k])
            continue
        after = next((t for t in timed[k + 1 :] if t is not None), None)
        sentence_ended = k == 0 or words[k - 1].text.rstrip().endswith((".", "!", "?"))
        if spans and not (sentence_ended and after is not None):
            spans.append(spans[-1])
        else:
            spans.append(after if after is not None else nearest(word))
    return spans


def segment_record(pipeline, analysis, span: Span, name: str, channel: int | None, index: int) -> dict:
    """The JSON-ready record of one analysed segment (module doc)."""
    experts = pipeline.experts
    alone, weights = pipeline.modalities_alone(analysis), dict.fromkeys(experts, 1.0)
    fused = pipeline.fused(alone, weights)
    top = max(fused, key=fused.get)
    voice = experts.get("audio")
    voice_answer = analysis.predictions.get(voice.name) if voice is not None else None
    unsure = pipeline.fused_unsure(alone, weights, fused)  # the fusion's own line, where it holds
    if unsure is None:
        unsure = bool(voice_answer is not None and voice_answer.unsure)
    return {
        "file": name,
        "channel": channel,
        "segment": index,
        "start": round(span.start, 3),
        "end": round(span.end, 3),
        "words": analysis.transcript.text if analysis.transcript is not None else None,
        "emotion": top,
        "confidence": round(fused[top], 4),
        "unsure": bool(unsure),
        "fused": {label: round(p, 4) for label, p in fused.items()},
        "words_left_out": words_left_out(analysis.transcript),
        "models": {
            m: {
                "emotion": p.top,
                "confidence": round(p.ranking[0][1], 4),
                "unsure": p.unsure,
                "probabilities": {label: round(q, 4) for label, q in p.ranking},
            }
            for m, p in analysis.predictions.items()
        },
    }


def smoothed_track(
    records: Iterable[dict], step: float = 0.25, sigma: float = 1.0, key: str = "fused"
) -> tuple[np.ndarray, np.ndarray]:
    """``(times [T], probabilities [T, 7])`` of the canonical emotions on a grid every ``step`` s:
    at each time, the mean of the segments' ``key`` probabilities weighted by
    ``exp(-d^2 / 2 sigma^2)``, ``d`` the distance to the segment (0 inside it); NaN where no
    segment is within ``2 sigma``."""
    records = [r for r in records if "start" in r]
    if not records:
        return np.zeros(0), np.zeros((0, len(CANONICAL7)))
    starts = np.array([r["start"] for r in records])  # [S]
    ends = np.array([r["end"] for r in records])  # [S]
    probs = np.array([[r[key][label] for label in CANONICAL7] for r in records])  # [S, 7]
    times = np.arange(0.0, ends.max() + step, step)  # [T]
    distance = np.maximum(0.0, np.maximum(starts[None] - times[:, None], times[:, None] - ends[None]))  # [T, S]
    weights = np.exp(-0.5 * (distance / sigma) ** 2) * (distance <= 2 * sigma)  # [T, S]
    total = weights.sum(axis=1, keepdims=True)  # [T, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        track = np.where(total > 0, weights @ probs / total, np.nan)  # [T, 7]
    return times, track
