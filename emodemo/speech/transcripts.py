"""Whisper transcripts of dataset clips, computed once and kept on disk.

Transcribing RAVDESS takes about half a second per clip on a 2-core CPU, and every text or fusion
model needs the same words, so each clip is transcribed once per (Whisper model, engine,
decoding settings) and read back afterwards:

>>> from emodemo import data, transcripts
>>> clips = data.load("ravdess", "../shared/datasets/ravdess_speech")          # doctest: +SKIP
>>> by_id = transcripts.transcribe_samples(clips)                              # doctest: +SKIP
>>> by_id[clips[0].id].text, by_id[clips[0].id].word_rows()[:2]                 # doctest: +SKIP
('Kids are talking by the door.', [['Kids', 0.0, 0.9], ['are', 0.9, 1.12]])

Where: ``<cache>/transcripts/<model>-<backend>/<settings digest>/<file key>.json``, with
``<cache>`` = :func:`emodemo.core.files.cache_dir`. The file key is the one
:meth:`emodemo.core.cache.FeatureCache.key` computes (the clip's resolved path, size and modification
time), so editing or replacing a clip transcribes it again. Each entry is a small JSON file
holding every field of :class:`emodemo.speech.asr.Transcript` (text, words with start / end /
probability, language, engine, model, duration, seconds, no_speech) plus the clip's path and the
decoding settings; it reads back as a Transcript equal to the one written. Entries are written
atomically (:func:`emodemo.core.files.write_atomically`), so several processes may fill the cache at
once; an unreadable entry is logged and transcribed again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from emodemo.core.cache import FeatureCache
from emodemo.core.files import cache_dir, write_atomically
from emodemo.core.progress import bar
from emodemo.data.record import Sample
from emodemo.speech import asr

log = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when the JSON layout or the transcription code changes what is stored


def cache_root() -> Path:
    """``transcripts/`` in emodemo's cache folder (``$EMODEMO_CACHE`` or ``~/.cache/emodemo``)."""
    return cache_dir() / "transcripts"


class TranscriptCache:
    """Transcripts of files for one Whisper ``model``, ``backend`` and decoding settings.

    ``backend=None`` means :data:`emodemo.speech.asr.DEFAULT_BACKEND`; ``language`` and ``beam_size``
    are passed to :func:`emodemo.speech.asr.transcribe` and select the cache folder, as do the model
    and the engine (their transcripts may differ), and faster-whisper's int8 arithmetic on a CPU
    (:data:`emodemo.speech.asr.COMPUTE_ENV`, read when the cache is made and at each transcription: set it
    before either).
    """

    def __init__(
        self,
        model: str = "tiny.en",
        backend: str | None = None,
        *,
        language: str | None = None,
        beam_size: int = 1,
        root: str | Path | None = None,
    ) -> None:
        self.model = model
        self.backend = asr.resolve_backend(backend)
        self.settings = {"language": language, "beam_size": beam_size, "format": FORMAT_VERSION}
        if asr.compute_type(self.backend) == "int8":  # int8 apart; float32's (and a GPU's) folder as it always was
            self.settings["compute_type"] = "int8"
        # FeatureCache gives the folder layout (<model>-<backend>/<settings digest>) and the file key
        self._files = FeatureCache(
            f"{model}-{self.backend}", self.settings, root=Path(root) if root is not None else cache_root()
        )

    @property
    def folder(self) -> Path:
        return self._files.folder

    def entry_path(self, path: str | Path) -> Path:
        """Where the transcript of ``path`` is (or would be) stored."""
        return self.folder / f"{self._files.key(path)}.json"

    def get(self, path: str | Path) -> asr.Transcript | None:
        """The stored transcript of ``path``, or None when there is none (or it is unreadable)."""
        entry = self.entry_path(path)
        if not entry.is_file():
            return None
        try:
            return transcript_from_json(json.loads(entry.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("ignoring unreadable transcript %s (%s); the clip will be transcribed again", entry, error)
            return None

    def put(self, path: str | Path, transcript: asr.Transcript) -> asr.Transcript:
        """Store the transcript of ``path``; returns it."""
        record = {"source": str(Path(path).resolve()), "settings": self.settings, **transcript_to_json(transcript)}
        text = json.dumps(record, ensure_ascii=False)
        write_atomically(self.entry_path(path), lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))
        return transcript

    def get_or_transcribe(self, path: str | Path) -> asr.Transcript:
        """The stored transcript of ``path``, transcribing (and storing) it on a miss."""
        cached = self.get(path)
        if cached is not None:
            return cached
        transcript = asr.transcribe(
            path,
            model=self.model,
            backend=self.backend,
            language=self.settings["language"],
            beam_size=self.settings["beam_size"],
        )
        return self.put(path, transcript)


def transcribe_samples(
    samples: Iterable[Sample],
    model: str = "tiny.en",
    backend: str | None = None,
    progress: bool = True,
    *,
    language: str | None = None,
    beam_size: int = 1,
    root: str | Path | None = None,
) -> dict[str, asr.Transcript]:
    """``{sample.id: Transcript}`` for samples with audio, from the cache or transcribed now.

    Only clips missing from the cache are transcribed (a progress bar counts them when
    ``progress``); the rest are read from disk in milliseconds. Every sample needs ``audio``.
    """
    samples = list(samples)
    without_audio = [s.id for s in samples if s.audio is None]
    if without_audio:
        raise ValueError(f"{len(without_audio)} sample(s) have no audio to transcribe, e.g. {without_audio[:3]}")
    cache = TranscriptCache(model, backend, language=language, beam_size=beam_size, root=root)
    found = {s.id: cache.get(s.audio) for s in samples}
    missing = [s for s in samples if found[s.id] is None]
    if missing:
        log.info(
            "transcribing %d of %d clips with Whisper %s (%s); cache: %s",
            len(missing),
            len(samples),
            model,
            cache.backend,
            cache.folder,
        )
    for sample in bar(missing, show=progress and bool(missing), desc=f"Whisper {model}", unit="clip"):
        found[sample.id] = cache.get_or_transcribe(sample.audio)
    return found


def words_read(samples: Iterable[Sample], progress: bool = True) -> dict[str, asr.Transcript]:
    """:func:`transcribe_samples` (tiny.en, as the app) as the models read the transcripts: no words
    where Whisper was guessing them (:meth:`emodemo.speech.asr.Transcript.as_read`), in training
    and evaluation alike."""
    return {key: t.as_read() for key, t in transcribe_samples(samples, progress=progress).items()}


def transcript_to_json(transcript: asr.Transcript) -> dict:
    """Every field of a Transcript as JSON data (words as objects with text / start / end / probability)."""
    return asdict(transcript)


def transcript_from_json(record: dict) -> asr.Transcript:
    """The Transcript that :func:`transcript_to_json` wrote (extra keys such as ``source`` are ignored)."""
    words = [asr.Word(w["text"], float(w["start"]), float(w["end"]), float(w["probability"])) for w in record["words"]]
    return asr.Transcript(
        text=record["text"],
        words=words,
        language=record["language"],
        backend=record["backend"],
        seconds=float(record["seconds"]),
        duration=float(record["duration"]),
        model=record["model"],
        no_speech=bool(record["no_speech"]),
    )
