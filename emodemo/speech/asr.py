"""Transcription with word timestamps, by Whisper, in either of its two engines.

* ``faster-whisper``: CTranslate2 runtime (C++), the packaged ``tiny.en`` loads as is;
* ``openai-whisper``: the reference PyTorch implementation, fed a checkpoint converted from the
  same weights (:mod:`emodemo.weights.whisper_convert`), so both engines run the same network.

``backend=None`` picks :data:`DEFAULT_BACKEND`, faster-whisper: on 40 RAVDESS clips with tiny.en
on this project's 2-core CPU (``bench/asr.py``, ``bench/results/asr.json``) both engines wrote
identical transcripts (WER 0.062) while faster-whisper used 0.76 CPU s per clip against 1.38
(real-time factor 0.21 against 0.39).

Decoding is deterministic and the same in both engines: temperature 0 with no fallback to
sampling, each engine's default no-speech and log-probability thresholds, and greedy search
(``beam_size=1``) unless asked otherwise. Greedy rather than faster-whisper's default beam of 5:
on the same clips a beam of 5 fixes 2 of 240 words (WER 0.054) for about 20-30 % more CPU time
(``bench/results/asr_beam5.json``).

Languages: English-only models (names ending in ``.en``, like the packaged ``tiny.en``) cannot
detect a language; they always write English, so speech in another language comes out as a
wrong English-sounding guess. Multilingual models (``base``) detect the language when
``language=None`` and report it in :attr:`Transcript.language`.

Silence: a clip whose loudest 25 ms frame stays below :data:`emodemo.inputs.audio.SILENCE_DBFS` is not decoded at all
(quiet but real RAVDESS speech peaks near -38 dBFS; a muted microphone sits far lower), and one
where Whisper decides nobody speaks gives ``text == ""``; both set :attr:`Transcript.no_speech`.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from emodemo.inputs.audio import SAMPLE_RATE, SILENCE_DBFS, load_audio, loudest_frame_dbfs
from emodemo.weights.assets import Asset, whisper_checkpoint, whisper_ct2

BACKENDS = ("faster-whisper", "openai-whisper")
DEFAULT_BACKEND = "faster-whisper"
# faster-whisper's arithmetic on a CPU: int8 (CTranslate2's int8 weights: 0.1-0.3 s less for the app's 5 s clip, every
# served number measured on its transcripts; docs/results.md) unless this variable says float32, what the served words
# models were trained with (set it to reproduce those training runs exactly)
COMPUTE_ENV = "EMODEMO_WHISPER_COMPUTE"
CPU_COMPUTE_TYPES = ("float32", "int8")
# Below this median word confidence Whisper tiny.en was mostly guessing: 0.6 % of RAVDESS's acted
# English clips fall under it, synthetic German and Spanish speech do (0.42, 0.22).
UNSURE_WORDS = 0.6


@dataclass(frozen=True)
class Word:
    """One transcribed word with its time span in the clip (seconds) and Whisper's confidence."""

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Transcript:
    """What was said in a clip.

    ``seconds`` is the time transcription took (model loading excluded); ``duration`` the clip's
    length, so ``seconds / duration`` is the real-time factor. ``no_speech`` is True when
    nothing was transcribed (silence, or speech Whisper judged absent).
    """

    text: str
    words: list[Word]
    language: str
    backend: str
    seconds: float
    duration: float
    model: str
    no_speech: bool = field(default=False)

    def word_confidence(self) -> float:
        """Whisper's median confidence over the words (1.0 with no words): under about 0.6 it was
        mostly guessing, as it does on speech in a language it does not know."""
        return float(np.median([w.probability for w in self.words])) if self.words else 1.0

    def guessed(self) -> bool:
        """Whether Whisper was mostly guessing the words (median word confidence under
        :data:`UNSURE_WORDS`), as on speech in another language; False when it heard no words."""
        return bool(self.text.strip()) and self.word_confidence() < UNSURE_WORDS

    def as_read(self) -> Transcript:
        """The words the models read: none when Whisper was guessing them (:meth:`guessed`), as when
        it heard none. A guess is no evidence of what was said, and the models that read words answer
        another language's guessed English worse than no words (``bench/guessed_words.py``). The copy
        keeps ``no_speech`` False: Whisper did hear speech, it could not read it."""
        return self.without_words() if self.guessed() else self

    def without_words(self) -> Transcript:
        """The same transcript with no words, as a model reads a clip whose words it is not given (a guess,
        or words the words gate keeps from it: :mod:`emodemo.serving.words_gate`)."""
        return replace(self, text="", words=[])

    def word_rows(self) -> list[list]:
        """``[[word, start, end], ...]`` rounded to 10 ms, for tables and JSON."""
        return [[w.text.strip(), round(w.start, 2), round(w.end, 2)] for w in self.words]


@dataclass(frozen=True)
class LoadedWhisper:
    """A Whisper model ready to transcribe, and where its weights came from (``asset.source``)."""

    backend: str
    name: str
    asset: Asset
    engine: Any  # faster_whisper.WhisperModel or whisper.model.Whisper


def resolve_backend(backend: str | None) -> str:
    """``backend`` checked against :data:`BACKENDS`; None gives :data:`DEFAULT_BACKEND`."""
    chosen = DEFAULT_BACKEND if backend is None else backend
    if chosen not in BACKENDS:
        raise ValueError(f"unknown ASR backend {backend!r}; choose one of {BACKENDS}")
    return chosen


def cpu_compute_type() -> str:
    """faster-whisper's arithmetic on a CPU (:data:`COMPUTE_ENV`; int8 unless it says float32)."""
    chosen = os.environ.get(COMPUTE_ENV) or "int8"
    if chosen not in CPU_COMPUTE_TYPES:
        raise ValueError(f"{COMPUTE_ENV}={chosen!r}: choose one of {CPU_COMPUTE_TYPES}")
    return chosen


def compute_type(backend: str | None = None) -> str:
    """The arithmetic ``backend``'s transcriber runs in on this machine: float16 on a GPU; on a CPU, faster-whisper's
    :func:`cpu_compute_type` and openai-whisper's float32."""
    backend = resolve_backend(backend)
    if backend == "faster-whisper":
        import ctranslate2

        return "float16" if ctranslate2.get_cuda_device_count() > 0 else cpu_compute_type()
    return "float16" if torch.cuda.is_available() else "float32"


def described(model: str = "tiny.en", backend: str | None = None) -> str:
    """Which transcripts ``backend`` gives on this machine, for a result's protocol: e.g. "Whisper tiny.en,
    faster-whisper in int8"."""
    backend = resolve_backend(backend)
    return f"Whisper {model}, {backend} in {compute_type(backend)}"


def load_model(backend: str | None = None, model: str = "tiny.en") -> LoadedWhisper:
    """Load (once per process) Whisper ``model`` for ``backend``; on a GPU when there is one (else faster-whisper
    computes in :func:`cpu_compute_type`)."""
    backend = resolve_backend(backend)
    return _load(backend, model, compute_type(backend))


@functools.cache
def _load(backend: str, model: str, compute: str = "float32") -> LoadedWhisper:
    if backend == "faster-whisper":
        import ctranslate2
        from faster_whisper import WhisperModel

        asset = whisper_ct2(model)
        on_gpu = ctranslate2.get_cuda_device_count() > 0
        engine = WhisperModel(
            str(asset.path),
            device="cuda" if on_gpu else "cpu",
            compute_type=compute,  # load_model's compute_type(): float16 on a GPU
            cpu_threads=_cpu_threads(),
        )
    else:
        from emodemo.weights.whisper_convert import load_openai_whisper

        asset = whisper_checkpoint(model)
        engine = load_openai_whisper(asset.path, name=model, device="cuda" if torch.cuda.is_available() else "cpu")
    return LoadedWhisper(backend, model, asset, engine)


def encoder_model(model: str = "tiny.en"):
    """An openai-whisper ``model`` to read its encoder (frozen speech states): the transcriber's own
    when the default backend is openai-whisper (shared), else loaded once without its decoder, which
    faster-whisper's transcriber never reads (tiny.en: 115 MB of the app's memory)."""
    if DEFAULT_BACKEND == "openai-whisper":
        return load_model("openai-whisper", model).engine
    return _encoder_only(model)


@functools.cache
def _encoder_only(model: str):
    whisper_model = _load.__wrapped__("openai-whisper", model).engine  # loaded as the transcriber would be, not kept
    del whisper_model.decoder
    return whisper_model


def transcribe(
    path_or_wave, model: str = "tiny.en", backend: str | None = None, *, language: str | None = None, beam_size: int = 1
) -> Transcript:
    """Transcribe a media file or a 16 kHz mono waveform, with word timestamps.

    ``path_or_wave``: a path to any file :func:`emodemo.inputs.audio.load_audio` decodes, or a 1-D float
    array / tensor of samples at 16 kHz. ``language``: an ISO code such as ``"en"``; None means
    English for ``.en`` models and automatic detection for multilingual ones. ``beam_size``: 1 is
    greedy decoding; larger values run beam search.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    wave = _as_wave(path_or_wave)
    language = _check_language(model, language)
    duration = len(wave) / SAMPLE_RATE
    loaded = load_model(backend, model)
    if loudest_frame_dbfs(wave) < SILENCE_DBFS:
        return Transcript("", [], language or "", loaded.backend, 0.0, duration, model, no_speech=True)
    start = time.perf_counter()
    if loaded.backend == "faster-whisper":
        text, words, detected = _run_faster_whisper(loaded.engine, wave, language, beam_size)
    else:
        text, words, detected = _run_openai_whisper(loaded.engine, wave, language, beam_size)
    seconds = time.perf_counter() - start
    return Transcript(text, words, detected, loaded.backend, seconds, duration, model, no_speech=not text)


def _run_faster_whisper(engine, wave: np.ndarray, language: str | None, beam_size: int) -> tuple[str, list[Word], str]:
    segments, info = engine.transcribe(
        wave, language=language, beam_size=beam_size, temperature=0.0, word_timestamps=True
    )
    segments = list(segments)  # decoding happens lazily, while iterating
    words = [
        Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
        for segment in segments
        for w in segment.words or []
    ]
    return "".join(segment.text for segment in segments).strip(), words, info.language


def _run_openai_whisper(engine, wave: np.ndarray, language: str | None, beam_size: int) -> tuple[str, list[Word], str]:
    # openai-whisper decodes greedily when beam_size is None (1 would run a one-beam search)
    result = engine.transcribe(
        wave,
        language=language,
        beam_size=None if beam_size == 1 else beam_size,
        temperature=0.0,
        word_timestamps=True,
        fp16=torch.cuda.is_available(),
        verbose=None,
    )
    words = [
        Word(w["word"].strip(), float(w["start"]), float(w["end"]), float(w["probability"]))
        for segment in result["segments"]
        for w in segment.get("words", [])
    ]
    return result["text"].strip(), words, result["language"]


def _cpu_threads() -> int:
    """CTranslate2's threads: the cores this process may run on (a container's CPU set, not the
    host's core count), or fewer when ``OMP_NUM_THREADS`` says so (as for torch; Ray sets it to each
    actor's CPUs, so two actors on two cores do not each take both)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    asked = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(cores, int(asked))) if asked.isdigit() else cores


def _as_wave(path_or_wave) -> np.ndarray:
    """A 1-D float32 waveform at 16 kHz from a path or an array, or a clear error."""
    if isinstance(path_or_wave, (str, os.PathLike)):
        return load_audio(path_or_wave, sr=SAMPLE_RATE)
    wave = path_or_wave.detach().cpu().numpy() if torch.is_tensor(path_or_wave) else np.asarray(path_or_wave)
    if wave.ndim != 1 or wave.size == 0 or not np.issubdtype(wave.dtype, np.floating):
        raise ValueError(
            f"expected a path or a non-empty 1-D float waveform at {SAMPLE_RATE} Hz, "
            f"got an array of shape {wave.shape} and dtype {wave.dtype}"
        )
    return wave.astype(np.float32, copy=False)


def _check_language(model: str, language: str | None) -> str | None:
    if model.endswith(".en"):
        if language not in (None, "en"):
            raise ValueError(
                f"Whisper {model} is English-only and cannot transcribe {language!r}; "
                "use a multilingual model such as model='base'"
            )
        return "en"
    return language
