"""`python -m emodemo evaluate`: 7-class scoring (calm counted as neutral), the collapse figure,
per-gender scores, a words-only checkpoint on a text dataset, TESS."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_models import fixed_model

from emodemo.core.labels import CANONICAL7, RAVDESS8
from emodemo.data import layouts, load
from emodemo.data.record import Sample
from emodemo.serving.evaluation import classes_note, score, scores_with_collapse, scoring_labels

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emodemo", "evaluate", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_collapse_is_the_share_of_the_most_frequent_answer():
    space = ["neutral", "happy", "sad"]
    report = scores_with_collapse(["neutral", "happy", "sad", "sad"], ["sad", "sad", "sad", "happy"], space)
    assert report["collapse"] == 0.75 and report["most_frequent_answer"] == "sad"
    assert report["UA"] == pytest.approx(1 / 6)


def test_eight_ravdess_classes_are_scored_as_seven_with_calm_as_neutral():
    assert scoring_labels(list(RAVDESS8)) == ["neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
    assert classes_note(list(RAVDESS8), scoring_labels(list(RAVDESS8))) == "7 (calm counted as neutral)"
    assert scoring_labels(["positive", "negative"]) == ["positive", "negative"]  # no canonical place: kept


def test_scores_per_gender_and_calm_answers_count_as_neutral(tmp_path):
    """RAVDESS actors: odd = male. A model answering "calm" for the men's neutral clips is right."""
    samples = load("ravdess", layouts.make_ravdess(tmp_path, actors=(1, 2), seconds=0.05))
    answer = {"male": "calm", "female": "angry"}
    model = fixed_model("fake", list(RAVDESS8), lambda s: answer[s.meta["gender"]])
    report = score(model, samples, "ravdess")
    assert report["classes"] == "7 (calm counted as neutral)" and len(report["confusion_matrix"]) == 7
    men, women = report["by_gender"]["male"], report["by_gender"]["female"]
    assert men["collapse"] == women["collapse"] == 1.0 and men["most_frequent_answer"] == "neutral"
    assert men["per_class"]["neutral"]["recall"] == 1.0 and women["per_class"]["angry"]["recall"] == 1.0
    assert men["n"] + women["n"] == report["n"] == len(samples)
    assert report["collapse"] == 0.5


def test_a_words_only_checkpoint_reads_no_audio(tmp_path):
    """A words-only variant of a voice + words recipe is scored on text samples (MELD has no audio)."""
    lines = [
        Sample(id=str(i), dataset="meld", label=label, text=f"line {i}")
        for i, label in enumerate(["neutral", "happy", "angry"])
    ]
    model = fixed_model("words", ["neutral", "happy", "angry"], lambda s: "neutral", modalities=("audio", "text"))
    model.recipe.reads = lambda meta: ("text",)
    report = score(model, lines, "meld")
    assert report["n_samples"] == 3 and report["text"] == "the dataset's" and "by_gender" not in report
    voice = fixed_model("voice", ["neutral"], lambda s: "neutral", modalities=("audio", "text"))
    with pytest.raises(ValueError, match="needs audio"):
        score(voice, lines, "meld")


def test_a_words_only_checkpoint_reads_what_whisper_heard_in_a_clip(tmp_path, monkeypatch):
    """As in the app: a words model on clips reads their transcript, not the corpus's own text."""
    from dataclasses import replace

    from emodemo.serving import evaluation

    clips = load("tess", layouts.make_tess(tmp_path, words=("book",), seconds=0.05))
    monkeypatch.setattr(evaluation, "with_transcripts", lambda samples: [replace(s, text="heard") for s in samples])
    model = fixed_model(
        "words", list(CANONICAL7), lambda s: "happy" if s.text == "heard" else "sad", modalities=("audio", "text")
    )
    model.recipe.reads = lambda meta: ("text",)
    report = score(model, clips, "tess", transcribe=True)
    assert report["text"] == "Whisper transcripts" and report["most_frequent_answer"] == "happy"
    assert model.model.samples[0].audio is None  # and loads no audio


@pytest.mark.parametrize(
    "pairing, reads",
    [
        ("mixed (each clip twice: with a GoEmotions line, and with its own words)", "Whisper transcripts"),
        ("real (own words, Whisper transcript), and the clips with no words", "Whisper transcripts"),
        ("real (IEMOCAP gold transcriptions)", "the dataset's"),
    ],
)
def test_evaluate_reads_a_clips_words_as_the_app_does_unless_the_model_learnt_gold_ones(
    tmp_path, monkeypatch, pairing, reads
):
    """``evaluate MODEL`` (transcribe left to the checkpoint): a voice + words model trained on RAVDESS
    pairs reads Whisper's words of each clip, as in the app, not the corpus's text; one trained on a
    corpus's gold transcriptions reads that corpus's text, its protocol's."""
    from dataclasses import replace

    from emodemo.serving import evaluation

    clips = load("tess", layouts.make_tess(tmp_path, words=("book",), seconds=0.05))
    monkeypatch.setattr(evaluation, "with_transcripts", lambda samples: [replace(s, text="heard") for s in samples])
    model = fixed_model(
        "pair",
        list(CANONICAL7),
        lambda s: "happy" if s.text == "heard" else "sad",
        modalities=("audio", "text"),
        meta={"data_card": {"pairing": pairing}},
    )
    report = score(model, clips, "tess")
    assert report["text"] == reads
    assert report["most_frequent_answer"] == ("happy" if reads == "Whisper transcripts" else "sad")


def test_cli_scores_the_served_words_expert_on_meld_text(tmp_path):
    out = _run(
        "nmt_attention/words_goemotions",
        "--dataset",
        "meld",
        "--root",
        str(layouts.make_meld(tmp_path)),
        "--split",
        "dev",
        "--json",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert report["text"] == "the dataset's" and report["n_samples"] > 0 and 0 < report["collapse"] <= 1


def test_cli_scores_a_voice_model_on_a_tess_half(tmp_path):
    root = layouts.make_tess(tmp_path, words=("book", "yes"), seconds=0.3)
    out = _run("speech_probe", "--dataset", "tess", "--root", str(root), "--split", "choose", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert report["n_samples"] == 14 and report["speakers"] == ["OAF", "YAF"]  # "book": 2 speakers x 7
    assert set(report["by_gender"]) == {"female"} and report["classes"].startswith("7")
    text = _run("speech_probe", "--dataset", "tess", "--root", str(root), "--split", "choose")
    assert "collapse" in text.stdout and "female: UA" in text.stdout


def test_cli_scores_the_apps_fused_answer(tmp_path):
    """`evaluate fused`: the served voice and words experts fused by the served rule, as the app does
    (tests/test_pipeline.py checks it clip by clip against the app)."""
    root = layouts.make_tess(tmp_path, words=("book", "yes"), seconds=0.6)  # the app refuses clips under 0.5 s
    out = _run("fused", "--dataset", "tess", "--root", str(root), "--split", "choose", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert report["model"] == "fused (speech_probe + words_minilm)" and report["n_samples"] == 14
    assert report["n_refused"] == 0 and report["n_skipped_labels"] == 0
    assert report["classes"].startswith("7") and 0 <= report["answered"] <= 1 and 0 <= report["WA"] <= 1
    left_out = report["n_words_left_out"]
    text = _run("fused", "--dataset", "tess", "--root", str(root), "--split", "choose")
    assert "collapse" in text.stdout and f"words left out (none heard, or guessed): {left_out} of 14" in text.stdout


def test_two_clips_under_one_id_are_refused_before_their_words_are_paired(ravdess_root):
    """Transcripts are keyed by sample id: a clip and its perturbed copy under the same id would get
    one clip's words and audio for both, so pairing refuses them."""
    from dataclasses import replace

    from emodemo.serving.evaluation import with_transcripts

    clip = next(s for s in load("ravdess", ravdess_root, actors=[1]))
    copy = replace(clip, audio=Path("elsewhere") / clip.audio.name)
    with pytest.raises(ValueError, match="share the id"):
        with_transcripts([clip, copy])


@pytest.mark.skipif(
    __import__("shutil").which("espeak-ng") is None, reason="espeak-ng is not installed (make test installs it)"
)
def test_scored_clips_read_no_words_where_whisper_guessed_them(ravdess_root, tmp_path):
    """As in the app (emodemo.speech.asr.Transcript.as_read): a German clip's English guess is read as no
    words by every model the harness scores, and training pairs the same way; English words are read."""
    from emodemo.serving.evaluation import with_transcripts
    from emodemo.speech import transcribe_samples, words_read

    german = tmp_path / "de.wav"
    line = "Ich habe heute den ganzen Tag auf dich gewartet, und du bist nicht gekommen."
    subprocess.run(["espeak-ng", "-v", "de", line, "-w", str(german)], check=True, timeout=60)
    clips = [Sample(id="de", dataset="espeak", label="neutral", audio=german)]
    clips.append(next(s for s in load("ravdess", ravdess_root, actors=[1])))
    heard = transcribe_samples(clips, progress=False)
    assert heard["de"].guessed() and heard["de"].text.strip()  # Whisper wrote a guess
    paired = {s.id: s for s in with_transcripts(clips)}
    assert (paired["de"].text, paired["de"].meta["words"]) == ("", [])
    english = clips[1].id
    assert paired[english].text == heard[english].text and paired[english].meta["words"]
    assert words_read(clips)["de"].text == "" and words_read(clips)[english] == heard[english]
