"""The app end to end through gradio_client: a real clip in, transcript and prediction out."""

import socket
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import voice_models

gradio_client = pytest.importorskip("gradio_client")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


UPLOAD_MB = 5  # the upload limit these tests serve with (every clip they send is smaller)


@pytest.fixture(scope="module")
def client():
    import app

    port = _free_port()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app, "MAX_UPLOAD_MB", UPLOAD_MB)
        options = {**app.launch_options(), "server_port": port}
    app.demo.queue().launch(**options, prevent_thread_lock=True, quiet=True)
    try:
        yield gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        app.demo.close()


def test_real_speech_clip_returns_transcript_and_prediction(client, ravdess_clip):
    transcript, words, details, *outputs = client.predict(
        gradio_client.handle_file(str(ravdess_clip)), None, api_name="/analyse"
    )
    import app

    labels, plots = outputs[: len(app.ANSWERING)], outputs[len(app.ANSWERING) :]
    voices = [label for m, label in zip(app.ANSWERING, labels) if m in app.pipeline.voice_models]
    assert "door" in transcript.lower()
    assert len(voices) == len(voice_models()) >= 1  # one answer per trained voice/words model
    assert all(
        not (label or {}).get("label") for m, label in zip(app.ANSWERING, labels) if m in app.pipeline.face_models
    )
    assert all(plot is None for plot in plots[: len(app.EXPLAINED)])  # the figures are their own event
    plots = client.predict(api_name="/explain")  # this session's analysis, drawn
    drawn = [plot for m, plot in zip(app.EXPLAINED, plots) if m in app.pipeline.voice_models]
    assert drawn and all(plot is not None for plot in drawn)  # every attention model drew its map
    fused, trust, bars = outputs[-3:]
    assert (
        fused["label"] in {"neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"} and bars is not None
    )
    line = app.pipeline.stacker.unsure_below  # the served fusion's "unsure" line, said beside its answer
    shown = {c["label"]: c["confidence"] for c in fused["confidences"]}
    alone = {m: p for m, p in app.pipeline.modalities_alone(app.pipeline.analyse(ravdess_clip)).items()}
    unsure = app.pipeline.fused_unsure(alone, dict.fromkeys(alone, 1.0), app.pipeline.fused(alone, {}))
    assert f"{line:.1%} line" in trust and fused["label"] in trust and unsure is not None
    assert ("is unsure" in trust) == unsure == (shown[fused["label"]] < line)
    labels = voices
    for label in labels:
        assert label["label"] in {"neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"}
    assert "transcribe" in details and "Device" in details
    assert len(words["data"]) >= 4


def test_silent_clip_returns_a_message_not_a_trace(client, tmp_path):
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros(16000 * 2, np.float32), 16000)
    with pytest.raises(Exception, match="silent"):
        client.predict(gradio_client.handle_file(str(silent)), None, api_name="/analyse")


def test_a_video_gets_its_transcript_the_voice_answers_and_the_face_models_answer(client, face_videos):
    import app

    transcript, words, details, *outputs = client.predict(
        None, gradio_client.handle_file(str(face_videos["face_voice"])), api_name="/analyse"
    )
    labels = dict(zip([m.name for m in app.ANSWERING], outputs[: len(app.ANSWERING)]))
    assert "door" in transcript.lower()
    assert all(labels[m.name]["label"] == "happy" for m in app.pipeline.face_models)
    assert all(labels[name]["label"] for name in voice_models())
    plots = dict(zip([m.name for m in app.EXPLAINED], client.predict(api_name="/explain")))
    assert all(plots[m.name] is not None for m in app.pipeline.face_models)  # the face track is drawn


def test_a_faceless_silent_video_returns_a_message(client, face_videos):
    with pytest.raises(Exception, match="no face found"):
        client.predict(None, gradio_client.handle_file(str(face_videos["grey_silent"])), api_name="/analyse")


def test_a_zip_of_labelled_clips_gets_every_voice_models_metrics(client, tmp_path, ravdess_root):
    import zipfile

    archive = tmp_path / "clips.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for take in sorted((ravdess_root / "Actor_02").glob("03-01-0[3-5]-01-01-01-02.*")):
            handle.write(take, take.name)
    summary, *plots = client.predict(gradio_client.handle_file(str(archive)), api_name="/evaluate")
    for name in voice_models():
        assert f"| {name} | 3 |" in summary
    assert sum(plot is not None for plot in plots) == len(voice_models())
    with pytest.raises(Exception, match="not a readable zip"):
        (tmp_path / "bad.zip").write_bytes(b"nope")
        client.predict(gradio_client.handle_file(str(tmp_path / "bad.zip")), api_name="/evaluate")


def test_the_example_clips_are_real_speech_the_app_answers(client):
    import app

    examples = sorted(app.EXAMPLES.glob("*.wav"))
    assert {p.stem for p in examples} >= {"happy_words", "german"}
    transcript, words, details, *outputs = client.predict(
        gradio_client.handle_file(str(app.EXAMPLES / "happy_words.wav")), None, api_name="/analyse"
    )
    assert "happy" in transcript.lower() and "job" in transcript.lower()
    transcript, words, details, *outputs = client.predict(
        gradio_client.handle_file(str(app.EXAMPLES / "german.wav")), None, api_name="/analyse"
    )
    assert "unsure of most words" in details and "leaves the words out" in details
    labels = dict(zip([m.name for m in app.ANSWERING], outputs[: len(app.ANSWERING)]))
    fused, trust, bars = outputs[-3:]
    voice = app.pipeline.experts["audio"].name
    assert labels["words_minilm"]["label"]  # the words expert still answers, in its own box
    assert fused["label"] == labels[voice]["label"] and "(Whisper was guessing them)" in trust
    assert "reads the voice alone" in trust


def test_on_a_zerogpu_space_the_work_runs_under_spaces_gpu(client, monkeypatch):
    import sys
    import types

    import app

    decorated = []
    fake = types.ModuleType("spaces")
    fake.GPU = lambda fn: decorated.append(fn) or fn
    monkeypatch.setitem(sys.modules, "spaces", fake)
    assert app.on_gpu(app.analyse) is app.analyse and decorated == [app.analyse]
    monkeypatch.setitem(sys.modules, "spaces", None)  # not installed: unchanged
    assert app.on_gpu(len) is len


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.wav", b"", "empty"),
        ("garbage.mp3", b"this is not audio at all " * 40, "could not|not a|decode|invalid|corrupt"),
    ],
)
def test_unreadable_and_empty_files_return_a_message(client, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(Exception, match=f"(?i){message}") as caught:
        client.predict(gradio_client.handle_file(str(path)), None, api_name="/analyse")
    assert name in str(caught.value) and "/" not in str(caught.value)  # the user's name, no server folder


def test_a_long_clip_is_cut_and_a_clip_without_speech_says_so(client, tmp_path, ravdess_clip):
    wave, sr = sf.read(str(ravdess_clip), dtype="float32")
    long = tmp_path / "long.wav"
    sf.write(long, np.tile(wave, int(np.ceil(40 * sr / len(wave))))[: 40 * sr], sr)  # 40 s of speech
    transcript, words, details, *_ = client.predict(gradio_client.handle_file(str(long)), None, api_name="/analyse")
    assert "longer than 30 s" in details and "clip length analysed: 30.0 s" in details
    hum = tmp_path / "hum.wav"
    t = np.arange(3 * 16000) / 16000
    sf.write(hum, (0.2 * np.sin(2 * np.pi * 120 * t)).astype(np.float32), 16000)  # a steady hum, no words
    transcript, words, details, *_ = client.predict(gradio_client.handle_file(str(hum)), None, api_name="/analyse")
    assert transcript == "" and "No speech was recognised" in details


def test_concurrent_users_are_queued_see_their_place_and_are_all_answered(client, ravdess_clip):
    import time

    jobs = [client.submit(gradio_client.handle_file(str(ravdess_clip)), None, api_name="/analyse") for _ in range(3)]
    places = set()
    while not all(job.done() for job in jobs):
        places |= {job.status().rank for job in jobs} - {None}
        time.sleep(0.05)
    assert all("door" in job.result(timeout=300)[0].lower() for job in jobs)
    assert max(places) >= 1  # a queued user was told their place


def test_an_upload_over_the_limit_is_refused_and_uploads_are_deleted(client, tmp_path):
    import app

    big = tmp_path / "big.wav"
    sf.write(big, np.random.default_rng(0).uniform(-0.5, 0.5, 16000 * 90).astype(np.float32), 16000, subtype="FLOAT")
    assert big.stat().st_size > UPLOAD_MB * 2**20
    with pytest.raises(Exception, match="(?i)too large|exceeds|maximum|413"):
        client.predict(gradio_client.handle_file(str(big)), None, api_name="/analyse")
    assert app.launch_options()["max_file_size"] == "200mb" and app.demo.delete_cache == (3600, 3600)


def test_answers_stream_voice_first_then_transcript_and_words_then_figures(client, ravdess_clip):
    import app

    job = client.submit(gradio_client.handle_file(str(ravdess_clip)), None, api_name="/analyse")
    job.result(timeout=300)
    stages = job.outputs()
    answers = slice(3, 3 + len(app.ANSWERING))
    views = slice(answers.stop, answers.stop + len(app.EXPLAINED))
    first, last = stages[0], stages[-1]
    hearing = {m.name for m in app.pipeline.voice_models if set(app.pipeline.reads(m)) == {"audio"}}
    assert (
        len(stages) == 2 and first[0] == "" and {m.name for m, a in zip(app.ANSWERING, first[answers]) if a} == hearing
    )
    assert "door" in last[0].lower() and all(view is None for view in first[views] + last[views])
    figures = client.submit(api_name="/explain")  # the page's second event, in the same queue
    figures.result(timeout=300)
    pages = figures.outputs()
    drawn = [view for m, view in zip(app.EXPLAINED, pages[-1]) if m in app.pipeline.voice_models]
    assert drawn and all(view is not None for view in drawn)
    assert len(pages) == len([v for v in pages[-1] if v is not None])  # one more page per figure drawn
    assert all(v is None for v in client.predict(api_name="/explain"))  # drawn once: the analysis was let go


def test_an_unsure_answer_is_said_in_the_details():
    import app
    from emodemo.serving.pipeline import Analysis, Prediction

    result = Analysis(
        1.0,
        None,
        {
            "speech_probe": Prediction("speech_probe", [("angry", 0.41), ("sad", 0.3)], ("audio",), unsure_below=0.53),
            "other": Prediction("other", [("sad", 0.9)], ("audio",), unsure_below=0.5),
        },
        {},
        "cpu",
    )
    notes = app.unsure_notes(result)
    assert len(notes) == 1 and "speech_probe is unsure" in notes[0] and "angry, 41%" in notes[0] and "53%" in notes[0]


def test_a_model_that_fails_on_new_voices_carries_the_warning_on_its_answer():
    """⚠ on the answer of a model that collapses on TESS, trails the voice expert on unseen actors, or
    falls on unseen actors when the words are a sentence none of them said, or none (Whisper only guessed)."""
    import json

    import app
    from emodemo.serving.cross_corpus import (
        BEHIND_LINE,
        COLLAPSE_LINE,
        GUESS_AS_NONE,
        OWN_WORDS,
        SERVED_RAVDESS,
        UNSAID_SENTENCE,
    )

    saved = {row["model"]: row for row in json.loads(app.SAVED_GENERALISATION.read_text())["models"]}
    served_ua = {  # cross-validated RAVDESS UA given what the app gives: the clip (and its own words)
        name: next(r["UA"]["mean"] for r in row["in_corpus"] if r["benchmark"] in SERVED_RAVDESS)
        for name, row in saved.items()
        if "audio" in row["reads"]
    }
    best_voice = max(ua for name, ua in served_ua.items() if saved[name]["reads"] == ["audio"])
    assert best_voice == served_ua["speech_probe"]
    part5 = json.loads(app.SAVED_GUESSED_WORDS.read_text())["models that read the voice and words"]
    read_by = {row["model"]: row for row in part5 if OWN_WORDS in row}
    for m in app.ANSWERING:
        tess = saved.get(m.name, {}).get("tess_choose") or {}
        collapses = "audio" in saved.get(m.name, {}).get("reads", []) and tess.get("collapse", 0) > COLLAPSE_LINE
        trails = m.name in served_ua and served_ua[m.name] < best_voice - BEHIND_LINE
        read = read_by.get(m.name, {})
        lost = [
            r
            for r in (UNSAID_SENTENCE, GUESS_AS_NONE)
            if r in read and read[r]["WA"] < read[OWN_WORDS]["WA"] - BEHIND_LINE
        ]
        assert ("⚠" in app.model_title(m)) == (collapses or trails or bool(lost)), m.name
        for reading in lost:
            assert f"{read[reading]['WA']:.0%} WA on unseen actors" in app.model_title(m)
        if collapses:
            assert f"{tess['collapse']:.0%}" in app.model_title(m) and tess["most_frequent_answer"] in app.model_title(
                m
            )
        if trails:
            assert f"{served_ua[m.name]:.0%} UA (the best voice model: {best_voice:.0%})" in app.model_title(m)
    trailing = {m.name for m in app.ANSWERING if "unseen RAVDESS" in app.model_title(m)}
    assert "handcrafted_ensemble" in trailing and not {"ssl_mha", "nmt_attention", "mesm"} & trailing
    misreading = {m.name for m in app.ANSWERING if "a sentence of yours" in app.model_title(m)}
    assert not {"nmt_attention", "ssl_mha/cross"} & misreading  # the first through the words gate
    assert "mesm" in misreading  # through the gate too, 6 points under its own words (guessed_words.json)
    guessing = {m.name for m in app.ANSWERING if "Whisper only guessed" in app.model_title(m)}
    assert not {"mesm", "nmt_attention", "ssl_mha", "coattention"} & guessing  # trained with no words on some clips
    nothing = Path("/nonexistent.json")
    assert app.saved_warnings(nothing, nothing) == {}  # nothing saved: no warning, no failure


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory, ravdess_root):
    """Three real takes of actor 01 (neutral, angry, sad) joined with pauses: a short "long" recording."""
    from emodemo.inputs.audio import load_audio
    from emodemo.serving.timeline_eval import joined_recording

    takes = ("03-01-01-01-01-01-01", "03-01-05-02-01-01-01", "03-01-04-01-02-02-01")
    wave, _ = joined_recording(
        [load_audio(ravdess_root / "Actor_01" / f"{t}.flac") for t in takes],
        ["neutral", "angry", "sad"],
        [0.5, 1.0, 0.0],
    )
    path = tmp_path_factory.mktemp("long") / "interview.wav"
    sf.write(path, wave, 16000, subtype="PCM_16")
    return path


def test_a_long_recording_gets_its_timeline_table_and_downloads(client, long_recording):
    import csv

    mixed, right, table, transcript, files = client.predict(
        gradio_client.handle_file(str(long_recording)), "mixed (one voice track)", api_name="/timeline"
    )
    assert mixed is not None and right is None  # one track: one plot
    rows = table["data"]
    assert (
        len(rows) == 3
        and [r[3] in {"neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"} for r in rows]
        == [True] * 3
    )
    assert all(a[2] <= b[1] for a, b in zip(rows, rows[1:]))  # in time order
    assert "door" in transcript.lower()
    table_file = next(f for f in files if str(f).endswith(".csv"))
    with open(table_file, newline="") as f:
        assert len(list(csv.DictReader(f))) == 3


def test_a_selected_segment_plays_and_shows_what_the_models_looked_at(long_recording):
    import gradio as gr

    import app

    *_, state = app.build_timeline(str(long_recording), "mixed (one voice track)", progress=lambda *a, **k: None)
    second = state["records"][1]
    (rate, wave), summary, *views = app.open_segment(state, gr.SelectData(None, {"index": [1, 2], "value": ""}))
    assert rate == 16000 and len(wave) / rate == pytest.approx(second["end"] - second["start"], abs=0.05)
    assert "door" in summary.lower() and "speech_probe" in summary
    assert any(view is not None for view in views)
    with pytest.raises(gr.Error, match="Build a timeline first"):
        app.open_segment(None, gr.SelectData(None, {"index": [0, 0], "value": ""}))


def test_a_recording_without_speech_or_not_audio_gets_a_message(client, tmp_path):
    quiet = tmp_path / "room.wav"
    sf.write(quiet, np.random.default_rng(0).normal(0, 1e-4, 16000 * 20).astype(np.float32), 16000)
    with pytest.raises(gradio_client.exceptions.AppError, match="No speech was found"):
        client.predict(gradio_client.handle_file(str(quiet)), "mixed (one voice track)", api_name="/timeline")
    notes = tmp_path / "notes.mp3"
    notes.write_text("minutes of the meeting")
    with pytest.raises(gradio_client.exceptions.AppError, match="notes.mp3") as error:
        client.predict(gradio_client.handle_file(str(notes)), "mixed (one voice track)", api_name="/timeline")
    assert "/tmp" not in str(error.value) and "Traceback" not in str(error.value)


def test_the_fused_note_says_why_the_words_take_no_part(ravdess_clip):
    import app

    stages = app.pipeline.stages(ravdess_clip)  # one analysis, growing: the voice-only answers first
    first = next(stages)
    assert first.transcript is None
    assert app.words_missing(first, app.pipeline.modalities_alone(first)) == "they are still being transcribed"
    voice = app.pipeline.modalities_alone(first)["audio"]
    *_, last = stages  # then the transcript and the words
    assert app.words_missing(last, app.pipeline.modalities_alone(last)) == ""  # RAVDESS's words are read
    alone = {"audio": voice, "face": voice}  # a video whose words Whisper guessed
    note = app.fused_note(alone, {}, app.pipeline.fused(alone, {}), "Whisper was guessing them")
    assert "(Whisper was guessing them)" in note and "reads the voice and the face alone" in note
    assert "does not apply" in note and app.pipeline.experts["audio"].name in note
