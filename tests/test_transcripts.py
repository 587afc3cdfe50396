"""Transcripts are computed once per clip and settings, read back equal, and redone when a clip changes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from emodemo import data
from emodemo.data import layouts
from emodemo.data.ravdess import SENTENCES
from emodemo.speech import asr, transcripts
from emodemo.speech.transcripts import TranscriptCache, transcribe_samples
from emodemo.speech.wer import word_error_rate


class FakeWhisper:
    """Stands in for asr.transcribe: counts calls and 'hears' the file name."""

    def __init__(self):
        self.calls: list[tuple[Path, dict]] = []

    def __call__(self, path, model="tiny.en", backend=None, **settings) -> asr.Transcript:
        self.calls.append((Path(path), settings))
        words = [asr.Word(Path(path).stem, 0.1, 0.62, 0.93), asr.Word("door.", 0.62, 0.7 + 1 / 3, 0.5)]
        return asr.Transcript(f"{Path(path).stem} door.", words, "en", backend, 0.123456789, 0.5, model)


@pytest.fixture
def fake_whisper(monkeypatch) -> FakeWhisper:
    fake = FakeWhisper()
    monkeypatch.setattr(asr, "transcribe", fake)
    return fake


@pytest.fixture
def on_cpu(monkeypatch):
    """A machine without a GPU for either engine, as here."""
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 0)
    monkeypatch.setattr(asr.torch.cuda, "is_available", lambda: False)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = layouts.make_ravdess(tmp_path_factory.mktemp("ravdess"), actors=(1,), fmt="flac")
    return data.load("ravdess", root)[:6]


def test_transcript_round_trips_through_json_exactly():
    original = asr.Transcript(
        "Kids are talking by the door.",
        [asr.Word("Kids", 0.78, 1.3, 0.7676096558570862), asr.Word("door.", 2.32, 2.58, 1 / 3)],
        "en",
        "faster-whisper",
        0.481919471999845,
        3.43675,
        "tiny.en",
    )
    silent = asr.Transcript("", [], "en", "openai-whisper", 0.0, 2.0, "tiny.en", no_speech=True)
    for transcript in (original, silent):
        assert (
            transcripts.transcript_from_json(json.loads(json.dumps(transcripts.transcript_to_json(transcript))))
            == transcript
        )


def test_second_call_reads_the_cache_without_transcribing(clips, fake_whisper, tmp_path):
    first = transcribe_samples(clips, root=tmp_path, progress=False)
    assert len(fake_whisper.calls) == len(clips) and set(first) == {s.id for s in clips}
    second = transcribe_samples(clips, root=tmp_path, progress=False)
    assert len(fake_whisper.calls) == len(clips)  # nothing transcribed the second time
    assert second == first  # equal Transcripts, words and floats included
    assert first[clips[0].id].text == f"{clips[0].audio.stem} door."


def test_entries_are_small_json_files_under_model_and_backend(clips, fake_whisper, tmp_path, monkeypatch):
    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path))
    transcribe_samples(clips[:1], progress=False)  # default root: <cache>/transcripts
    entry = TranscriptCache().entry_path(clips[0].audio)
    assert entry.is_relative_to(tmp_path / "transcripts" / f"tiny.en-{asr.DEFAULT_BACKEND}")
    record = json.loads(entry.read_text(encoding="utf-8"))
    assert record["source"] == str(clips[0].audio.resolve()) and record["settings"]["beam_size"] == 1
    assert [w["text"] for w in record["words"]] == [clips[0].audio.stem, "door."]


def test_a_changed_file_is_transcribed_again(clips, fake_whisper, tmp_path):
    changed = tmp_path / "clip.flac"
    changed.write_bytes(clips[0].audio.read_bytes())
    sample = data.Sample(id="x", dataset="ravdess", label="sad", audio=changed)
    transcribe_samples([sample], root=tmp_path / "cache", progress=False)
    transcribe_samples([sample], root=tmp_path / "cache", progress=False)
    assert len(fake_whisper.calls) == 1
    changed.write_bytes(clips[1].audio.read_bytes())  # another recording under the same name
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    transcribe_samples([sample], root=tmp_path / "cache", progress=False)
    assert len(fake_whisper.calls) == 2


def test_model_backend_and_decoding_settings_each_get_their_own_entries(clips, fake_whisper, tmp_path):
    one = clips[:1]
    transcribe_samples(one, root=tmp_path, progress=False)
    transcribe_samples(one, root=tmp_path, progress=False, beam_size=5)
    transcribe_samples(one, root=tmp_path, progress=False, backend="openai-whisper")
    transcribe_samples(one, root=tmp_path, progress=False, model="base", language="de")
    assert [settings for _, settings in fake_whisper.calls] == [
        {"language": None, "beam_size": 1},
        {"language": None, "beam_size": 5},
        {"language": None, "beam_size": 1},
        {"language": "de", "beam_size": 1},
    ]
    transcribe_samples(one, root=tmp_path, progress=False, beam_size=5)
    assert len(fake_whisper.calls) == 4


def test_int8_transcripts_get_their_own_entries_and_float32s_stay(clips, fake_whisper, tmp_path, monkeypatch, on_cpu):
    """On a CPU faster-whisper computes in int8 unless $EMODEMO_WHISPER_COMPUTE says float32, and int8 transcripts are
    filed in a folder of their own, so the float32 transcripts the served words models were trained on are never read
    as int8 ones, nor the reverse; the float32 folder is the one it always was (no cache is thrown away); any other
    value is refused by name."""
    monkeypatch.delenv(asr.COMPUTE_ENV, raising=False)
    default = TranscriptCache(root=tmp_path)
    assert default.settings == {
        "language": None,
        "beam_size": 1,
        "format": transcripts.FORMAT_VERSION,
        "compute_type": "int8",
    }
    transcribe_samples(clips[:1], root=tmp_path, progress=False)
    assert asr.described() == "Whisper tiny.en, faster-whisper in int8"  # what a result's protocol names
    monkeypatch.setenv(asr.COMPUTE_ENV, "float32")
    assert asr.described() == "Whisper tiny.en, faster-whisper in float32"
    float32 = TranscriptCache(root=tmp_path)
    assert float32.folder != default.folder
    assert float32.settings == {"language": None, "beam_size": 1, "format": transcripts.FORMAT_VERSION}
    transcribe_samples(clips[:1], root=tmp_path, progress=False)
    assert len(fake_whisper.calls) == 2  # not read from the int8 entry
    assert "compute_type" not in TranscriptCache(backend="openai-whisper", root=tmp_path).settings  # it has no int8
    monkeypatch.setenv(asr.COMPUTE_ENV, "int4")
    with pytest.raises(ValueError, match="EMODEMO_WHISPER_COMPUTE='int4'"):
        TranscriptCache(root=tmp_path)


def test_the_transcriber_is_loaded_in_the_asked_arithmetic_and_openai_whisper_in_its_own(monkeypatch, on_cpu):
    """faster-whisper is loaded (once per arithmetic) in int8, or in what $EMODEMO_WHISPER_COMPUTE asks; openai-whisper,
    which has no int8, is loaded as always whatever it says."""
    loads = []
    monkeypatch.setattr(asr, "_load", lambda *args: loads.append(args))
    monkeypatch.delenv(asr.COMPUTE_ENV, raising=False)
    asr.load_model()
    asr.load_model("openai-whisper")
    monkeypatch.setenv(asr.COMPUTE_ENV, "float32")
    asr.load_model()
    assert loads == [
        ("faster-whisper", "tiny.en", "int8"),
        ("openai-whisper", "tiny.en", "float32"),
        ("faster-whisper", "tiny.en", "float32"),
    ]


def test_on_a_gpu_int8_is_not_asked_of_the_transcriber_nor_filed_apart(monkeypatch, tmp_path):
    """On a GPU faster-whisper computes in float16 whatever $EMODEMO_WHISPER_COMPUTE says, so its transcripts are not
    filed as int8 ones."""
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    monkeypatch.setenv(asr.COMPUTE_ENV, "int8")
    assert asr.compute_type("faster-whisper") == "float16"
    assert "compute_type" not in TranscriptCache(root=tmp_path).settings


def test_an_unreadable_entry_is_transcribed_again(clips, fake_whisper, tmp_path, caplog):
    transcribe_samples(clips[:1], root=tmp_path, progress=False)
    TranscriptCache(root=tmp_path).entry_path(clips[0].audio).write_text("{ not json")
    again = transcribe_samples(clips[:1], root=tmp_path, progress=False)
    assert len(fake_whisper.calls) == 2 and "unreadable transcript" in caplog.text
    assert TranscriptCache(root=tmp_path).get(clips[0].audio) == again[clips[0].id]


def test_samples_without_audio_or_unknown_backends_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no audio"):
        transcribe_samples([data.Sample(id="t1", dataset="meld", label="happy", text="hi")], root=tmp_path)
    with pytest.raises(ValueError, match="unknown ASR backend"):
        TranscriptCache(backend="whisper.cpp", root=tmp_path)


@pytest.mark.slow
def test_real_whisper_transcripts_round_trip_through_the_cache(ravdess_root, tmp_path, monkeypatch):
    clips = data.load("ravdess", ravdess_root, actors=[1])[:2]
    first = transcribe_samples(clips, root=tmp_path, progress=False)
    monkeypatch.setattr(asr, "transcribe", lambda *a, **k: pytest.fail("transcribed a cached clip"))
    assert transcribe_samples(clips, root=tmp_path, progress=False) == first
    references = [SENTENCES[f"{s.meta['statement']:02d}"] for s in clips]
    assert word_error_rate(references, [first[s.id].text for s in clips]) <= 1 / 6


@pytest.mark.slow
@pytest.mark.skipif(asr.compute_type("faster-whisper") == "float16", reason="a GPU transcribes in float16")
def test_real_int8_transcripts_of_ravdess_clips_read_its_sentences(ravdess_root, tmp_path, monkeypatch):
    """faster-whisper with int8 weights hears RAVDESS's sentences about as well as float32 (bench/int8_transcripts.py:
    word error rate 0.0358 against 0.0347 on 1,200 clips, 30 written in other words)."""
    monkeypatch.delenv(asr.COMPUTE_ENV, raising=False)
    assert asr.load_model().engine.model.compute_type.startswith("int8")
    clips = data.load("ravdess", ravdess_root, actors=[1])[:2]
    heard = transcribe_samples(clips, root=tmp_path, progress=False)
    references = [SENTENCES[f"{s.meta['statement']:02d}"] for s in clips]
    assert word_error_rate(references, [heard[s.id].text for s in clips]) <= 1 / 6
    assert all(heard[s.id].words for s in clips)
