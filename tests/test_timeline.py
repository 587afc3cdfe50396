"""Emotion over time: long recordings read in blocks, speech found by the detector, every segment
answered, a collection run that resumes. On real RAVDESS clips joined with pauses."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from emodemo.core.labels import to_canonical
from emodemo.inputs.audio import SAMPLE_RATE, AudioError, load_audio
from emodemo.inputs.long_audio import read_span, stream_chunks
from emodemo.inputs.segmentation import SegmentOptions, StreamingSegmenter, join_short, speech_ranges
from emodemo.serving.timeline_eval import joined_recording, score_timeline

# four takes of actor 01: neutral, happy, angry (strong), sad; statements 1 and 2
TAKES = ("03-01-01-01-01-01-01", "03-01-03-01-02-01-01", "03-01-05-02-01-01-01", "03-01-04-01-02-02-01")
PAUSES = (0.0, 0.5, 2.0, 0.0)


@pytest.fixture(scope="module")
def joined(ravdess_root, tmp_path_factory):
    """A real recording of the four takes with pauses; its wav path and the truth."""
    waves = [load_audio(ravdess_root / "Actor_01" / f"{take}.flac") for take in TAKES]
    labels = [
        to_canonical({"01": "neutral", "03": "happy", "05": "angry", "04": "sad"}[t.split("-")[2]]) for t in TAKES
    ]
    wave, placed = joined_recording(waves, labels, PAUSES)
    path = tmp_path_factory.mktemp("timeline") / "joined.wav"
    sf.write(path, wave, SAMPLE_RATE, subtype="PCM_16")
    return path, placed


@pytest.fixture(scope="module")
def probe_pipeline():
    from emodemo.serving.pipeline import Pipeline

    return Pipeline(["speech_probe"], transcribe=False)


def test_blocks_join_into_the_whole_recording_and_stay_small(joined):
    path, _ = joined
    whole = load_audio(path)
    blocks = list(stream_chunks(path, chunk_seconds=4.0))
    assert all(b.shape[1] == 1 and len(b) <= 4 * SAMPLE_RATE for b in blocks)
    assert np.array_equal(np.concatenate(blocks)[:, 0], whole)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_blocks_through_ffmpeg_match_a_whole_decode_and_keep_stereo_sides_apart(joined, tmp_path):
    path, _ = joined
    mp3 = tmp_path / "joined.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), str(mp3)], check=True)
    blocks = list(stream_chunks(mp3, chunk_seconds=3.0))
    assert all(len(b) <= 3 * SAMPLE_RATE for b in blocks)
    whole = load_audio(mp3)
    assert np.allclose(np.concatenate(blocks)[:, 0], whole, atol=1e-6)
    span = read_span(mp3, 1.0, 2.0)  # a segment, read without decoding what is before
    assert abs(len(span) - SAMPLE_RATE) <= 160 and np.corrcoef(span[:15000], whole[16000:31000])[0, 1] > 0.95
    # a call: the voice on the left, silence on the right
    wave = load_audio(path)
    call = tmp_path / "call.m4a"
    sf.write(tmp_path / "call.wav", np.stack([wave, np.zeros_like(wave)], axis=1), SAMPLE_RATE)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(tmp_path / "call.wav"), str(call)], check=True)
    sides = np.concatenate(list(stream_chunks(call, chunk_seconds=5.0, channels="each")))
    assert sides.shape[1] == 2
    assert np.abs(sides[:, 0]).max() > 0.05 and np.abs(sides[:, 1]).max() < 1e-3


def test_unreadable_recordings_raise_a_message_naming_the_file_only(tmp_path):
    bad = tmp_path / "notes.mp3"
    bad.write_text("not audio")
    with pytest.raises(AudioError, match="notes.mp3") as error:
        list(stream_chunks(bad))
    assert str(tmp_path) not in str(error.value)
    with pytest.raises(AudioError, match="not found"):
        list(stream_chunks(tmp_path / "missing.wav"))


def test_the_detector_finds_each_utterance_near_its_speech(joined):
    path, placed = joined
    ranges = np.array(speech_ranges(load_audio(path))) / SAMPLE_RATE  # [4, 2]
    assert len(ranges) == len(placed)
    errors = np.abs(ranges - [(c.speech_start, c.speech_end) for c in placed])  # [4, 2] seconds
    assert np.median(errors) < 0.1 and errors.max() < 0.4  # the angry take's soft "Kids" is heard 0.37 s late


def test_streaming_gives_the_spans_of_the_whole_recording(joined):
    path, _ = joined
    wave = load_audio(path)
    whole = np.array(speech_ranges(wave)) / SAMPLE_RATE
    options = SegmentOptions(max_seconds=4.0)  # a short settle time: several hand-outs
    segmenter, spans = StreamingSegmenter(options), []
    for start in range(0, len(wave), 3 * SAMPLE_RATE):
        spans += segmenter.feed(wave[start : start + 3 * SAMPLE_RATE])
    spans += segmenter.finish()
    assert (
        np.abs(np.array([(s.start, s.end) for s in spans]) - np.array(speech_ranges(wave, options)) / SAMPLE_RATE).max()
        < 0.1
    )
    assert len(whole) == len(spans)
    for span in spans:  # the speech with up to half a second around it, cut from the recording
        assert span.wave_start <= span.start and span.start - span.wave_start <= options.context + 1e-6
        first = int(round(span.wave_start * SAMPLE_RATE))
        assert np.array_equal(span.wave, wave[first : first + len(span.wave)])
        assert span.wave_start + len(span.wave) / SAMPLE_RATE >= span.end


def test_short_ranges_join_their_nearer_neighbour_within_the_limits():
    second = SAMPLE_RATE
    options = SegmentOptions(min_seconds=1.0, join_gap=1.0, max_seconds=10.0)
    # a 0.4 s blip 0.3 s after a 2 s range and 0.8 s before the next: it joins the first
    ranges = [(0, 2 * second), (int(2.3 * second), int(2.7 * second)), (int(3.5 * second), 6 * second)]
    assert join_short(ranges, options) == [(0, int(2.7 * second)), (int(3.5 * second), 6 * second)]
    # alone (gaps over join_gap): kept as it is
    alone = [(0, 2 * second), (5 * second, int(5.4 * second)), (9 * second, 11 * second)]
    assert join_short(alone, options) == alone
    # joining would pass max_seconds: kept apart
    long = [(0, int(9.8 * second)), (10 * second, int(10.5 * second))]
    assert join_short(long, options) == long


def test_each_segment_is_answered_and_scored_against_the_clip_it_overlaps(joined, probe_pipeline):
    from emodemo.serving.timeline import analyse_recording

    path, placed = joined
    records = list(analyse_recording(probe_pipeline, path, chunk_seconds=5.0))
    assert [r["segment"] for r in records] == list(range(len(placed)))
    assert all(a["end"] <= b["start"] for a, b in zip(records, records[1:]))
    for r in records:
        assert r["words"] is None  # no transcript asked for
        assert sum(r["fused"].values()) == pytest.approx(1, abs=1e-3)
        assert r["emotion"] == max(r["fused"], key=r["fused"].get)
        assert set(r["models"]) == {"speech_probe"}
        assert r["unsure"] == r["models"]["speech_probe"]["unsure"]  # no words: the voice expert's line
    scored = score_timeline(
        [(r["start"], r["end"]) for r in records],
        [to_canonical(r["models"]["speech_probe"]["emotion"]) for r in records],
        placed,
    )
    assert scored["scored"] == len(placed)
    assert max(scored["boundary_errors"]) < 0.4
    assert scored["right"] >= 2  # the served probe on training actors' clips: most are right


def test_words_go_to_the_segment_they_were_said_in(joined):
    from emodemo.serving.pipeline import Pipeline
    from emodemo.serving.timeline import analyse_recording

    path, _ = joined
    records = list(analyse_recording(Pipeline(["speech_probe", "words_minilm"]), path))
    said = ["kids are talking by the door", "dogs are sitting by the door"]
    assert [r["words"].lower().rstrip(".!?") for r in records] == [said[int(t.split("-")[4]) - 1] for t in TAKES]
    assert all("words_minilm" in r["models"] for r in records)


def test_a_stereo_call_is_analysed_side_by_side(joined, tmp_path, probe_pipeline):
    from emodemo.serving.timeline import analyse_recording

    path, placed = joined
    wave = load_audio(path)
    call = tmp_path / "call.wav"
    sf.write(call, np.stack([wave, np.zeros_like(wave)], axis=1), SAMPLE_RATE)
    records = list(analyse_recording(probe_pipeline, call, channels="each"))
    assert {r["channel"] for r in records} == {0}  # the silent side has no speech
    assert len(records) == len(placed)


def test_the_smoothed_track_follows_the_segments_and_is_empty_far_from_speech():
    from emodemo.core.labels import CANONICAL7
    from emodemo.serving.timeline import smoothed_track

    one_hot = {label: dict.fromkeys(CANONICAL7, 0.0) | {label: 1.0} for label in CANONICAL7}
    records = [
        {"start": 0.0, "end": 2.0, "fused": one_hot["angry"]},
        {"start": 10.0, "end": 12.0, "fused": one_hot["sad"]},
    ]
    times, track = smoothed_track(records, step=0.5, sigma=1.0)
    assert track.shape == (len(times), 7)
    angry, sad = CANONICAL7.index("angry"), CANONICAL7.index("sad")
    assert track[times == 1.0, angry] == pytest.approx(1.0)
    assert track[times == 11.0, sad] == pytest.approx(1.0)
    assert np.isnan(track[times == 6.0]).all()
    assert np.allclose(np.nansum(track, axis=1)[~np.isnan(track[:, 0])], 1.0)


def test_a_collection_run_notes_bad_files_and_resumes_where_it_stopped(joined, tmp_path, probe_pipeline):
    from emodemo.serving.timeline_files import timeline_to_jsonl, write_csv

    path, placed = joined
    folder = tmp_path / "calls"
    folder.mkdir()
    shutil.copy(path, folder / "a.wav")
    shutil.copy(path, folder / "b.wav")
    (folder / "broken.mp3").write_bytes(b"\x00" * 100)
    out = tmp_path / "segments.jsonl"
    # an earlier run stopped in the middle of b.wav: a segment line, then a line cut short
    out.write_text(json.dumps({"file": "b.wav", "segment": 0, "start": 1.0}) + "\n" + '{"file": "b.w')
    summary = timeline_to_jsonl(folder, out, probe_pipeline, progress=False)
    assert summary == {"done": 2, "failed": 1, "skipped": 0, "segments": 2 * len(placed)}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["segment"] for r in lines if r["file"] == "b.wav" and "segment" in r] == list(range(len(placed)))
    assert any(r["file"] == "broken.mp3" and "error" in r and str(tmp_path) not in r["error"] for r in lines)
    again = timeline_to_jsonl(folder, out, probe_pipeline, progress=False)
    assert again == {"done": 0, "failed": 0, "skipped": 3, "segments": 0}
    assert out.read_text().count("\n") == len(lines)
    table = tmp_path / "segments.csv"
    assert write_csv(out, table) == 2 * len(placed)
    header = table.read_text().splitlines()[0].split(",")
    assert header[:7] == ["file", "channel", "segment", "start", "end", "words", "emotion"] and "speech_probe" in header


def test_the_command_line_writes_segments_and_a_table(joined, tmp_path):
    from emodemo.cli import main

    path, placed = joined
    out, table = tmp_path / "out.jsonl", tmp_path / "out.csv"
    assert (
        main(
            [
                "timeline",
                str(path),
                "--out",
                str(out),
                "--csv",
                str(table),
                "--models",
                "speech_probe",
                "--no-transcript",
                "--no-progress",
            ]
        )
        == 0
    )
    assert sum('"segment"' in line for line in out.read_text().splitlines()) == len(placed)
    assert len(table.read_text().splitlines()) == len(placed) + 1
    assert main(["timeline", str(path), "--out", str(tmp_path / "no" / "out.jsonl")]) == 2


def test_the_apps_limit_per_recording_is_an_hour_here_lower_on_a_space_and_a_setting(monkeypatch):
    from emodemo.serving.timeline import ON_SPACE_SECONDS, recording_limit

    monkeypatch.delenv("EMODEMO_TIMELINE_MAX_SECONDS", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert recording_limit() == 3600
    monkeypatch.setenv("SPACE_ID", "someone/emodemo")  # what a Hugging Face Space sets
    assert recording_limit() == ON_SPACE_SECONDS < 3600
    monkeypatch.setenv("EMODEMO_TIMELINE_MAX_SECONDS", "7200")
    assert recording_limit() == 7200


def test_a_segment_with_words_is_unsure_by_the_fusions_own_line():
    """Where the learned fusion's line holds (voice and words at the learned weights), it decides
    whether a segment is unsure, whatever the voice expert alone says; elsewhere the voice's line."""
    from types import SimpleNamespace

    from emodemo.core.labels import CANONICAL7
    from emodemo.inputs.segmentation import Span
    from emodemo.serving.timeline import segment_record
    from emodemo.speech.asr import Transcript, Word

    fused = {label: (0.4 if label == "angry" else 0.1) for label in CANONICAL7}
    voice = SimpleNamespace(name="voice")
    sure_voice = SimpleNamespace(top="angry", ranking=[("angry", 0.9)], unsure=False)
    heard = Transcript("so what", [Word("so", 0.1, 0.3, 0.95), Word("what", 0.3, 0.6, 0.9)], "en", "", 0.1, 1.0, "")
    analysis = SimpleNamespace(predictions={"voice": sure_voice}, transcript=heard)
    for line, expected in ((True, True), (False, False), (None, False)):
        pipeline = SimpleNamespace(
            experts={"audio": voice, "text": SimpleNamespace(name="words")},
            modalities_alone=lambda analysis: {"audio": fused, "text": fused},
            fused=lambda alone, weights: fused,
            fused_unsure=lambda alone, weights, answer, line=line: line,
        )
        record = segment_record(pipeline, analysis, Span(0.0, 1.0, np.zeros(16_000)), "clip.wav", None, 0)
        assert record["unsure"] is expected and record["emotion"] == "angry" and record["words_left_out"] == ""
