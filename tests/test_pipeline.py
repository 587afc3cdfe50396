"""The clip -> answer path the app and the CLI share: real Whisper, real checkpoints, bad input."""

import json
import subprocess
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import shared_dataset, voice_models

from emodemo.inputs.audio import SAMPLE_RATE
from emodemo.serving.pipeline import CHECKPOINTS, ClipError, Pipeline, discover

REPO = CHECKPOINTS.parent


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline()


@pytest.fixture(scope="module")
def bare_pipeline(tmp_path_factory):
    """No checkpoints and no transcriber: what a fresh clone sees before training anything."""
    return Pipeline(checkpoints=tmp_path_factory.mktemp("no_checkpoints"), transcribe=False)


def test_every_committed_checkpoint_is_discovered_nested_variants_under_their_own_names(tmp_path):
    found = discover()
    assert {"speech_probe", "ssl_mha", "ssl_mha/cross"} <= set(found)
    assert not [name for name in found if "fold" in name]  # cross-validation fold models
    (tmp_path / "outer" / "inner").mkdir(parents=True)
    (tmp_path / "outer" / "config.json").write_text("{}")  # not one of ours: skipped
    (tmp_path / "outer" / "inner" / "config.json").write_text(
        (CHECKPOINTS / "speech_probe" / "config.json").read_text()
    )
    assert discover(tmp_path) == ["outer/inner"]


def test_real_clip_gets_transcript_and_a_ranked_prediction_from_every_model(pipeline, ravdess_clip):
    result = pipeline.analyse(ravdess_clip)
    assert "door" in result.transcript.text.lower()  # "Kids are talking by the door"
    assert result.transcript.words and all(w.end >= w.start for w in result.transcript.words)
    assert set(result.predictions) == set(voice_models())
    for p in result.predictions.values():
        probs = [prob for _, prob in p.ranking]
        assert probs == sorted(probs, reverse=True) and abs(sum(probs) - 1) < 1e-4
    assert {"decode", "transcribe", "speech_probe"} <= set(result.timings)
    assert 3.0 < result.duration < 5.0


def test_stages_give_the_voice_only_answers_before_the_transcript(pipeline, ravdess_clip):
    hearing = {m.name for m in pipeline.voice_models if set(pipeline.reads(m)) == {"audio"}}
    seen = [(set(stage.predictions), stage.transcript) for stage in pipeline.stages(ravdess_clip)]
    assert len(seen) == 2 and hearing and seen[0] == (hearing, None)
    assert seen[1][0] == set(voice_models()) and "door" in seen[1][1].text.lower()


def test_whisper_writes_while_the_voice_models_answer_and_its_failure_reaches_the_caller(ravdess_clip, monkeypatch):
    from emodemo.inputs.audio import load_audio
    from emodemo.recipes import speech_probe
    from emodemo.speech import asr

    started, released = threading.Event(), threading.Event()

    def held_transcriber(wave, **kwargs):  # returns only once the test lets it
        started.set()
        assert released.wait(30), "the voice-only answers waited for the transcript"
        return asr.Transcript("kids are talking", [], "en", "held", 0.0, 3.0, "held")

    def hearing_after_whisper_began(wave, transcript=None, spec=None, answer=speech_probe.clip_inputs):
        assert started.wait(5), "the voice model answered before Whisper began"
        return answer(wave, transcript, spec)

    class WritersNoted(dict):  # which threads write the analysis's timings
        writers: set = set()

        def __setitem__(self, key, value):
            self.writers.add(threading.current_thread())
            super().__setitem__(key, value)

    monkeypatch.setattr(asr, "transcribe", held_transcriber)
    monkeypatch.setattr(speech_probe, "clip_inputs", hearing_after_whisper_began)
    try:
        timings = WritersNoted()
        stages = Pipeline(["speech_probe"]).wave_stages(load_audio(ravdess_clip), timings)
        first = next(stages)
        assert first.transcript is None and set(first.predictions) == {"speech_probe"}
        released.set()
        second = next(stages)
        assert second.transcript.text == "kids are talking" and "transcribe" in second.timings
        assert timings.writers == {threading.current_thread()}  # none under a reader of the analysis so far

        released.clear()
        left = Pipeline(["speech_probe"]).stages(ravdess_clip)
        next(left)
        begun = time.perf_counter()
        left.close()  # a user who leaves after the voice answers: nobody waits for Whisper
        assert time.perf_counter() - begun < 5
    finally:
        released.set()

    def broken_transcriber(wave, **kwargs):
        raise RuntimeError("the transcriber broke")

    monkeypatch.setattr(asr, "transcribe", broken_transcriber)
    with pytest.raises(RuntimeError, match="the transcriber broke"):
        Pipeline(["speech_probe"]).analyse(ravdess_clip)


def test_without_models_the_answer_says_so(bare_pipeline, ravdess_clip):
    result = bare_pipeline.analyse(ravdess_clip)
    assert result.predictions == {}
    assert any("No trained model" in n for n in result.notes)


@pytest.mark.parametrize(
    "wave, message",
    [
        (np.zeros(0, np.float32), "empty"),
        (np.zeros(SAMPLE_RATE * 3, np.float32), "silent"),
        (0.1 * np.ones(SAMPLE_RATE // 10, np.float32), "too short"),
    ],
)
def test_unusable_audio_gets_a_message(bare_pipeline, wave, message):
    with pytest.raises(ClipError, match=message):
        bare_pipeline.analyse_wave(wave)


def test_unreadable_file_gets_a_message(bare_pipeline, tmp_path):
    bad = tmp_path / "notes.mp3"
    bad.write_text("this is not audio")
    with pytest.raises(ClipError, match="could not decode"):
        bare_pipeline.analyse(bad)


def test_a_noisy_clip_is_heard_through_the_noise_gate_and_the_user_told(ravdess_clip):
    """The served probe gates a clip that sounds noisy (white noise at 10 dB SNR) and not a studio
    take, nor a quiet take cut tight to its word (under 30 dB estimated SNR, but no steady floor);
    the answer says when it did."""
    from emodemo.inputs.audio import load_audio

    pipe = Pipeline(["speech_probe"], transcribe=False)
    clean = load_audio(ravdess_clip).astype(np.float64)
    noisy = clean + np.random.default_rng(0).normal(size=clean.shape) * np.sqrt(np.mean(clean**2) / 10)
    said = [n for n in pipe.analyse_wave(noisy.astype(np.float32)).notes if "gated out" in n]
    assert len(said) == 1 and "speech_probe" in said[0] and "sounds noisy" in said[0]
    assert not any("gated out" in n for n in pipe.analyse_wave(clean.astype(np.float32)).notes)
    quiet = load_audio(shared_dataset("tess") / "OAF_neutral" / "OAF_hit_neutral.flac")  # cut tight, no pauses
    assert not any("gated out" in n for n in pipe.analyse_wave(quiet).notes)  # its floor is speech, not noise


def test_long_clip_is_cut_and_the_user_told(tmp_path, ravdess_clip):
    pipe = Pipeline(checkpoints=tmp_path, transcribe=False, max_seconds=2.0)
    result = pipe.analyse(ravdess_clip)
    assert result.duration == pytest.approx(2.0)
    assert any("first 2 s" in n for n in result.notes)


def test_cli_evaluate_prints_metrics_json(tmp_path, ravdess_root):
    """`python -m emodemo evaluate` on a RAVDESS-layout folder (one real actor, linked)."""
    (tmp_path / "Actor_01").symlink_to(ravdess_root / "Actor_01", target_is_directory=True)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "evaluate",
            "speech_probe",
            "--dataset",
            "ravdess",
            "--root",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["n_samples"] == 60 and report["speakers"] == ["Actor_01"]
    assert report["seen_speakers"] == ["Actor_01"]  # the served models trained on actors 01-20
    assert report["UA"] > 0.4 and len(report["confusion_matrix"]) == 7  # chance is 1/7
    assert report["classes"].startswith("7") and set(report["by_gender"]) == {"male"}  # 7 classes, calm as neutral
    unseen = subprocess.run(
        [sys.executable, "-m", "emodemo", "evaluate", "speech_probe", "--root", str(tmp_path), "--split", "unseen"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert unseen.returncode == 2 and "nothing unseen" in unseen.stderr


@pytest.mark.parametrize(
    "spec",
    [
        None,
        {"normalise": True},
        {"normalise": True, "encoder": "base", "layers": [0, 1, 2, 3]},
        {"normalise": True, "encoder": "base", "layers": [0, 1, 2, 3], "denoise": True},
    ],
    ids=["raw", "normalised", "base-lower-half", "noise-gated"],
)
def test_serving_features_equal_training_features(ravdess_clip, spec, tmp_path, monkeypatch):
    """The app's path (decode -> clip_inputs) must feed the model what training fed it, through the
    feature cache (filled by the first call, read back by the second), whatever the input settings.
    A probe of the lower layers is served those alone (the encoder stops at the deepest), and they
    equal the cached statistics' first layers."""
    from emodemo.data import load
    from emodemo.inputs.audio import load_audio
    from emodemo.recipes import speech_probe

    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path))
    sample = next(s for s in load("ravdess", ravdess_clip.parents[1], actors=[1]) if s.audio == ravdess_clip)
    served = speech_probe.clip_inputs(load_audio(ravdess_clip), spec=spec)["stats"][0]
    computed = speech_probe.stats_of_samples([sample], spec, progress=False)[0]
    cached = speech_probe.stats_of_samples([sample], spec, progress=False)[0]
    assert speech_probe.feature_cache(speech_probe.input_spec(spec)).get(ravdess_clip) is not None
    computed = computed[: len(served)]
    assert len(served) == (4 if spec and "layers" in spec else len(cached))
    assert torch.allclose(served, computed, atol=1e-4) and torch.equal(computed, cached[: len(served)])


def _trained_as_served(samples: list, spec: dict) -> torch.Tensor:
    """The probe's features of ``samples`` as training reads them ``[N, L, 2D]``, checked equal to what
    the app computes from each clip's audio."""
    from emodemo.inputs.audio import load_audio
    from emodemo.recipes import speech_probe

    trained = speech_probe.stats_of_samples(samples, spec, progress=False)  # [N, L, 2D]
    for sample, heard in zip(samples, trained):
        served = speech_probe.clip_inputs(load_audio(sample.audio), spec=spec)["stats"][0]
        assert torch.allclose(served, heard, atol=1e-4)
    return trained


def test_a_noisy_clip_is_heard_denoised_in_training_and_serving_alike(ravdess_clip, tmp_path, monkeypatch):
    """With ``denoise_below_db`` the gate picks clips by their estimated SNR: a take in white noise is
    denoised, through the cache of denoised features, both when training reads it and when the app
    hears it; the clean take is not, and its features come from the plain cache."""
    import dataclasses

    from emodemo.data import load
    from emodemo.inputs.audio import load_audio
    from emodemo.recipes import speech_probe

    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path / "cache"))
    clean = next(s for s in load("ravdess", ravdess_clip.parents[1], actors=[1]) if s.audio == ravdess_clip)
    wave = load_audio(ravdess_clip).astype(np.float64)
    noise = np.random.default_rng(0).normal(size=wave.shape) * np.sqrt(np.mean(wave**2) / 10)  # 10 dB SNR
    sf.write(tmp_path / "noisy.wav", (wave + noise).astype(np.float32), 16000)
    noisy = dataclasses.replace(clean, id="noisy", audio=tmp_path / "noisy.wav")
    spec = speech_probe.input_spec({"normalise": True, "denoise_below_db": 25.0})
    trained = _trained_as_served([clean, noisy], spec)
    denoised, plain = speech_probe.feature_cache({**spec, "denoise": True}), speech_probe.feature_cache(spec)
    assert denoised.get(noisy.audio) is not None and plain.get(noisy.audio) is None
    assert plain.get(clean.audio) is not None and denoised.get(clean.audio) is None
    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path / "fresh"))  # computed again, not read back
    always = speech_probe.stats_of_samples([noisy], {**spec, "denoise": True}, progress=False)[0]
    assert torch.allclose(always, trained[1], atol=1e-4)
    # with the steady-floor test, a quiet take cut tight (under 30 dB, no steady floor) is heard plain
    quiet = next(s for s in load("tess", shared_dataset("tess")) if s.audio.name == "OAF_hit_neutral.flac")
    steady = speech_probe.input_spec({"normalise": True, "denoise_below_db": 30.0, "steady_floor_below_db": 5.0})
    _trained_as_served([quiet, noisy], steady)
    denoised, plain = speech_probe.feature_cache({**steady, "denoise": True}), speech_probe.feature_cache(steady)
    assert plain.get(quiet.audio) is not None and denoised.get(quiet.audio) is None
    assert denoised.get(noisy.audio) is not None


def test_the_feature_cache_key_holds_every_input_setting():
    from emodemo.recipes import speech_probe as recipe

    folders = {
        recipe.feature_cache(recipe.input_spec(spec), copy, chain).folder
        for spec, copy, chain in [
            (None, 0, "all"),
            ({"normalise": True}, 0, "all"),
            ({"normalise": True}, 1, "all"),
            ({"normalise": True}, 2, "all"),
            ({"normalise": True}, 1, "noise"),
            ({"normalise": True, "encoder": "base"}, 0, "all"),
            ({"normalise": True, "encoder": "base", "denoise": True}, 0, "all"),
        ]
    }
    assert len(folders) == 7


def test_evaluating_on_data_without_audio_says_so(tmp_path):
    from emodemo.data import layouts

    root = layouts.make_meld(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "emodemo", "evaluate", "speech_probe", "--dataset", "meld", "--root", str(root)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "needs audio" in out.stderr


def test_cli_reports_a_missing_dataset_without_a_traceback(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "emodemo", "check", "ravdess", "--root", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "does not exist" in out.stderr


def test_batch_prediction_writes_one_json_line_per_clip(tmp_path, ravdess_root):
    clips = sorted((ravdess_root / "Actor_02").glob("*.flac"))[:2]
    for c in clips:
        (tmp_path / c.name).symlink_to(c)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt ")
    out_file = tmp_path / "out.jsonl"
    out = subprocess.run(
        [sys.executable, "-m", "emodemo", "predict", str(tmp_path), "--out", str(out_file), "--workers", "2"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(lines) == 3
    by_name = {l["path"].rsplit("/", 1)[-1]: l for l in lines}
    assert "error" in by_name["broken.wav"]
    for c in clips:
        rec = by_name[c.name]
        assert "door" in rec["transcript"].lower()
        assert rec["predictions"]["speech_probe"]["top"] in rec["predictions"]["speech_probe"]["probs"]


def test_manifest_lists_relative_paths(tmp_path, ravdess_clip):
    from emodemo.serving.batch import list_inputs

    (tmp_path / "a.flac").symlink_to(ravdess_clip)
    (tmp_path / "list.csv").write_text("path,label\na.flac,angry\n")
    assert list_inputs(tmp_path / "list.csv") == [tmp_path / "a.flac"]
    sf.write(tmp_path / "b.wav", np.zeros(160, np.float32), SAMPLE_RATE)
    assert [p.name for p in list_inputs(tmp_path)] == ["a.flac", "b.wav"]


def test_cli_refuses_an_unknown_recipe_setting(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "train",
            "speech_probe",
            "--root",
            str(tmp_path),
            "--option",
            "alignment=local",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "has no setting ['alignment']" in out.stderr


@pytest.mark.parametrize("states", [False, True], ids=["raw wave", "Whisper base layers 0-3"])
def test_attention_models_hand_their_attention_to_the_app(tmp_path, ravdess_clip, states):
    """A fusion nmt_attention checkpoint: its prediction carries each word's weights over the audio, which the
    app draws over the stretch of sound the model heard, whether it hears the wave or a frozen encoder's states."""
    from emodemo.inputs.audio import load_audio
    from emodemo.models.nmt_attention import FRAME_RATE
    from emodemo.recipes import frozen_states
    from emodemo.recipes import nmt_attention as recipe
    from emodemo.training.checkpoint import save_checkpoint

    vocab = [recipe.PAD, recipe.UNK, "kids", "are", "talking", "by", "the", "door"]
    heard = {"speech_encoder": "whisper-base", "speech_layers": [0, 1, 2, 3], "normalise": True} if states else {}
    kwargs = recipe.model_kwargs(vocab, "fusion", "forced", "concat", 10, 7, heard.get("speech_layers"), "whisper-base")
    spec = {"vocab": vocab, **heard}
    save_checkpoint(
        tmp_path / "nmt_attention",
        recipe.build_model(kwargs, vocab),
        model_name="nmt_attention",
        model_kwargs=kwargs,
        labels=list(recipe.LABELS),
        data_card={"dataset": "none (untrained)", "licence": "none"},
        metrics={},
        input_spec=spec,
    )
    result = Pipeline(checkpoints=tmp_path).analyse(ravdess_clip)
    prediction = result.predictions["nmt_attention"]
    attention = prediction.extras["attention"]  # [words, audio states]
    assert attention.shape[0] == len(result.transcript.words) == 6 and attention.shape[1] > 50
    assert np.allclose(attention.sum(axis=1), 1.0, atol=1e-4)
    assert prediction.modalities == ("audio", "text") and len(prediction.ranking) == len(recipe.LABELS)
    wave = load_audio(ravdess_clip)
    figure = recipe.explain(prediction.extras, wave, result.transcript, spec, [])
    heard_seconds = figure.axes[0].lines[0].get_xdata().max()  # the waveform drawn above the attention
    assert abs(heard_seconds - attention.shape[1] / FRAME_RATE) < 0.05  # the stretch of sound the frames are
    if states:  # the encoder's states, read once per analysis: the other Whisper base models' too
        assert attention.shape[1] == frozen_states.one_clip_states(wave, *frozen_states.mixed_speech(spec)).shape[1]


def test_evaluating_a_words_model_on_audio_only_data_hears_the_words(tmp_path, ravdess_root):
    """RAVDESS has no text: `evaluate nmt_attention` transcribes the clips (real pairs) and scores
    calm as neutral, the 7-class model's label for it."""
    (tmp_path / "Actor_01").symlink_to(ravdess_root / "Actor_01", target_is_directory=True)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "evaluate",
            "nmt_attention",
            "--dataset",
            "ravdess",
            "--root",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert report["n_samples"] == 60 and report["n_relabelled"] == 8 and report["n_skipped_labels"] == 0  # 8 calm
    assert report["text"] == "Whisper transcripts" and len(report["confusion_matrix"]) == 7


def test_every_served_checkpoint_has_a_headline_evaluation_with_a_confusion_matrix():
    from emodemo.reports.headline import headline_markdown, headline_report
    from emodemo.training.checkpoint import read_checkpoint_config

    for name in discover():
        meta = read_checkpoint_config(CHECKPOINTS / name)
        title, report = headline_report(meta)
        assert len(report["confusion_matrix"]) == len(report["labels"]) == len(meta["labels"]), name
        text = headline_markdown(name, meta)
        assert text.startswith(f"**{name}**") and "WA 0." in text and "licence" in text, name
        # the ensemble's headline is its face + voice fusion; the app's voice clips get its audio SVM
        assert ("A voice clip alone" in text) == (name == "handcrafted_ensemble"), name
    with pytest.raises(ValueError, match="no confusion matrix"):
        headline_report({"model_name": "x", "metrics": {"pairing": "real"}})


def test_attention_models_explain_what_they_looked_at_in_a_real_clip(pipeline, ravdess_clip, tmp_path):
    from matplotlib.figure import Figure

    result = pipeline.analyse(ravdess_clip)
    figures = pipeline.explain(result)
    attention_models = {
        name
        for name, p in result.predictions.items()
        if {"attention", "text_to_speech", "self_attention", "audio_attention", "speech_attention"} & set(p.extras)
    }
    assert attention_models and set(figures) == attention_models
    for name, figure in figures.items():
        assert isinstance(figure, Figure) and name in figure.axes[0].get_title() + (
            figure._suptitle.get_text() if figure._suptitle else ""
        )
        figure.savefig(tmp_path / f"{name.replace('/', '_')}.png")


# --- video: a real FER face over a real RAVDESS voice ----------------------------------------------


def test_a_video_gets_the_voice_models_and_the_face_models_with_its_face_track(pipeline, face_videos):
    result = pipeline.analyse(face_videos["face_voice"])
    faces = {m.name for m in pipeline.face_models}
    assert faces and set(result.predictions) == set(voice_models()) | faces
    for name in faces:
        prediction = result.predictions[name]
        assert prediction.top == "happy" and prediction.modalities == ("face",)
        assert prediction.unsure_below is not None  # calibrated: it can say it is unsure
        assert len(prediction.extras["timestamps"]) >= 10 and prediction.extras["crops"].shape[1:] == (48, 48)
    assert "door" in result.transcript.text.lower()
    assert faces <= set(pipeline.explain(result))


def test_a_video_without_sound_gets_the_face_models_alone_and_says_so(pipeline, face_videos):
    result = pipeline.analyse(face_videos["face_silent"])
    assert set(result.predictions) == {m.name for m in pipeline.face_models}
    assert result.transcript is None and any("no sound track" in note for note in result.notes)
    assert set(pipeline.explain(result)) == set(result.predictions)


def test_a_video_without_a_face_says_so_and_without_sound_too_is_refused(pipeline, face_videos):
    result = pipeline.analyse(face_videos["grey_voice"])
    assert set(result.predictions) == set(voice_models())
    assert any("no face found" in note for note in result.notes)
    with pytest.raises(ClipError, match="no face found"):
        pipeline.analyse(face_videos["grey_silent"])


def same_answer(one, other) -> bool:
    """Whether two predictions give every class the same probability (to float noise: a GPU may sum
    in another order)."""
    ours, theirs = dict(one.ranking), dict(other.ranking)
    return ours.keys() == theirs.keys() and all(abs(ours[k] - theirs[k]) < 1e-5 for k in ours)


@pytest.mark.skipif(
    __import__("shutil").which("espeak-ng") is None, reason="espeak-ng is not installed (make test installs it)"
)
def test_speech_in_another_language_gets_a_note_and_english_does_not(pipeline, tmp_path, ravdess_clip):
    import subprocess

    lines = {
        "de": "Guten Morgen, ich bin heute sehr glücklich, weil die Sonne scheint und wir zusammen in den Park gehen.",
        "es": "Buenos días, hoy estoy muy contento porque hace sol y vamos juntos al parque.",
        "en": "Good morning, I am very happy today because the sun is shining and we are going to the park together.",
    }
    unsure, fused_words, read_none = {}, {}, {}
    reading = [m.name for m in pipeline.voice_models if "text" in pipeline.reads(m)]
    for language, line in lines.items():
        clip = tmp_path / f"{language}.wav"
        subprocess.run(["espeak-ng", "-v", language, line, "-w", str(clip)], check=True, timeout=60)
        result = pipeline.analyse(clip)
        unsure[language] = any("unsure of most words" in note for note in result.notes)
        assert result.predictions  # the models still answer
        assert pipeline.experts["text"].name in result.predictions  # the words expert too, in its own box
        fused_words[language] = "text" in pipeline.modalities_alone(result)
        # every model that reads words answers as it answers no words, when the words are a guess
        no_words = pipeline.answer(result.wave, replace(result.transcript, text="", words=[]))
        read_none[language] = {m: same_answer(result.predictions[m], no_words.predictions[m]) for m in reading}
        if language != "en":  # the figures are those of no words: no word attention over a guess
            assert set(pipeline.explain(result)) == set(pipeline.explain(no_words))
    assert unsure == {"de": True, "es": True, "en": False}
    assert fused_words == {"de": False, "es": False, "en": True}  # a guess's words stay out of the fusion
    assert all(read_none["de"].values()) and all(read_none["es"].values())
    assert not any(read_none["en"].values())  # English words are read: every words model answers them
    assert not any("unsure" in note for note in pipeline.analyse(ravdess_clip).notes)


@pytest.mark.parametrize(
    "text, confidences, why",
    [
        ("Kids are talking by the door.", [0.99, 0.95, 0.9, 0.97, 0.98, 0.99], ""),
        ("I'm going to be doing this for you.", [0.11, 0.16, 0.92, 0.06, 0.04, 0.29], "Whisper was guessing them"),
        ("Yes no", [0.6, 0.6], ""),  # at the line: read
        ("Yes no", [0.59, 0.59], "Whisper was guessing them"),
        ("", [], "no words were recognised"),
        ("   ", [], "no words were recognised"),
        ("Words without timings", [], ""),  # no word confidences: nothing says Whisper guessed
    ],
)
def test_the_fused_answer_leaves_out_words_whisper_did_not_hear_or_guessed(text, confidences, why):
    from emodemo.serving import words_left_out
    from emodemo.speech.asr import Transcript, Word

    words = [Word(f"w{i}", i * 0.3, i * 0.3 + 0.2, p) for i, p in enumerate(confidences)]
    transcript = Transcript(text, words, "en", "faster-whisper", 0.1, 2.0, "tiny.en", no_speech=not text.strip())
    assert words_left_out(transcript) == why
    assert transcript.guessed() == (why == "Whisper was guessing them")
    read = transcript.as_read()  # what every model reads: no words for a guess, the rest as heard
    assert (read.text, read.words) == (("", []) if transcript.guessed() else (text, words))
    assert words_left_out(None) == ""  # not transcribed yet: nothing to say


def test_the_fused_answer_scored_on_a_dataset_is_the_one_the_app_shows(pipeline, tmp_path):
    """`evaluate fused` (emodemo.serving.fused_eval) makes each clip's fused answer as the app does,
    clip by clip: TESS clips of every emotion, and one whose words Whisper only guesses (German)."""
    import shutil

    from emodemo import data
    from emodemo.data.record import Sample
    from emodemo.serving import fused_answers

    tess = shared_dataset("tess")
    for folder in sorted(tess.iterdir())[:7]:  # one speaker's 7 emotions, one word each
        (tmp_path / folder.name).mkdir()
        shutil.copy(sorted(folder.glob("*.flac"))[0], tmp_path / folder.name)
    samples = data.load("tess", tmp_path)
    german = CHECKPOINTS.parent / "examples" / "german.wav"
    sf.write(tmp_path / "blip.wav", np.zeros(4_000, np.float32), SAMPLE_RATE)  # 0.25 s: the app refuses it
    samples.insert(3, Sample(id="blip", dataset="tess", label="sad", speaker="OAF", audio=tmp_path / "blip.wav"))
    samples.append(Sample(id="german", dataset="tess", label="neutral", speaker="espeak", audio=german))
    voice = pipeline.experts["audio"]
    result = fused_answers(voice, pipeline.experts["text"], pipeline.stacker, samples, "tess")
    assert result["refused"] == 1 and [s.id for s in result["samples"]] == [s.id for s in samples if s.id != "blip"]
    assert result["left_out"][-1] == "Whisper was guessing them" and not any(result["left_out"][:-1])
    for sample, fused, alone, answered in zip(result["samples"], result["fused"], result["alone"], result["answered"]):
        analysis = pipeline.analyse(sample.audio)
        shown = pipeline.modalities_alone(analysis)
        assert set(shown) == set(alone)
        app = pipeline.fused(shown, {})
        assert max(abs(app[label] - fused[label]) for label in app) < 1e-4, sample.id
        unsure = pipeline.fused_unsure(shown, {}, app)  # the fusion's line, or the voice expert's own
        unsure = analysis.predictions[voice.name].unsure if unsure is None else unsure
        assert answered is (not unsure), sample.id


def test_each_modality_has_its_best_single_modality_expert_and_a_clip_hears_them(pipeline, ravdess_clip):
    experts = {modality: m.name for modality, m in pipeline.experts.items()}
    assert experts["audio"] == "speech_probe" and experts["face"] == "fer_cnn"  # 66.8 % WA beats the audio SVM
    assert experts["text"] == "words_minilm"  # scored on spoken dialogue (MELD), not only on Reddit comments
    assert all(pipeline.reads(m) == (modality,) for modality, m in pipeline.experts.items())
    alone = pipeline.modalities_alone(pipeline.analyse(ravdess_clip))
    assert "face" not in alone and "audio" in alone  # a voice clip has no face
    assert all(abs(sum(p.values()) - 1) < 1e-6 for p in alone.values())


def test_a_sound_only_webm_as_browsers_record_it_is_analysed_as_sound(pipeline, tmp_path, ravdess_clip):
    import shutil
    import subprocess

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    webm = tmp_path / "recording.webm"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(ravdess_clip), "-c:a", "libopus", str(webm)],
        check=True,
        timeout=120,
    )
    result = pipeline.analyse(webm)
    assert set(result.predictions) == set(voice_models()) and not any("face" in note for note in result.notes)
    assert "door" in result.transcript.text.lower()


def test_cli_refuses_a_class_count_the_probe_cannot_train(tmp_path):
    def train(classes: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "emodemo",
                "train",
                "speech_probe",
                "--root",
                str(tmp_path),
                "--option",
                f"classes={classes}",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )

    out = train("seven")  # not a number: refused as --option converts it to train()'s int
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "speech_probe's setting classes is int, got 'seven'" in out.stderr
    out = train("9")  # a number the recipe cannot train
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "classes is 8 (calm apart) or 7 (calm counted as neutral)" in out.stderr


def test_calibrated_answers_say_when_they_are_unsure_and_fusion_uses_the_stacker(tmp_path):
    """A checkpoint's temperature and "unsure" line reach its predictions; a stacker saved beside the
    checkpoints fuses the experts, a stacker for experts that are not served is ignored."""
    import shutil

    from emodemo.core.labels import CANONICAL7
    from emodemo.serving.fusion import Stacker
    from emodemo.serving.pipeline import Prediction, temperature, unsure_line

    meta = {"calibration": {"temperature": 2.0, "unsure": {"threshold": 0.4}}}
    assert temperature(meta) == 2.0 and temperature({}) == 1.0 and unsure_line({}) is None
    assert Prediction("m", [("angry", 0.35), ("sad", 0.3)], ("audio",), unsure_below=unsure_line(meta)).unsure
    assert not Prediction("m", [("angry", 0.45), ("sad", 0.3)], ("audio",), unsure_below=0.4).unsure
    assert not Prediction("m", [("angry", 0.2)], ("audio",)).unsure

    shutil.copytree(
        CHECKPOINTS / "speech_probe", tmp_path / "speech_probe", ignore=shutil.ignore_patterns("folds", "cv")
    )
    pipeline = Pipeline(checkpoints=tmp_path, transcribe=False)
    alone = {"audio": dict(zip(CANONICAL7, [0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1]))}
    assert pipeline.stacker is None and pipeline.fused(alone, {"audio": 1}) == pytest.approx(alone["audio"])
    Stacker(["audio"], 2 * np.eye(7), np.zeros(7)).save(tmp_path / "fusion" / "stacker.json")
    sharper = Pipeline(checkpoints=tmp_path, transcribe=False).fused(alone, {"audio": 1})
    assert max(sharper, key=sharper.get) == "angry" and sharper["angry"] > 0.4
    Stacker(["audio", "text"], np.zeros((7, 14)), np.zeros(7)).save(tmp_path / "fusion" / "stacker.json")
    assert Pipeline(checkpoints=tmp_path, transcribe=False).stacker is None  # no words expert served here
