"""The cross-corpus harness: which fold models score the robustness set, which committed rows are
the in-corpus numbers, the perturbed clips, the pooled scores, and the table docs/results.md and
the app show (from bench/results/generalisation.json)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_models import fixed_model

from emodemo.core.labels import CANONICAL7
from emodemo.data import layouts, load
from emodemo.data.splits import Fold
from emodemo.inputs.audio import load_audio
from emodemo.serving import cross_corpus
from emodemo.training.checkpoint import read_checkpoint_config

REPO = Path(__file__).resolve().parents[1]
SAVED = REPO / "bench" / "results" / "generalisation.json"


def test_served_models_are_every_voice_and_words_checkpoint_but_no_face_model():
    served = cross_corpus.served_models()
    assert "fer_cnn" not in served and {"speech_probe", "nmt_attention/words_goemotions", "ssl_mha/cross"} <= set(
        served
    )


def test_fold_models_are_the_served_runs_own_and_nothing_else():
    """nmt_attention keeps fold 0 of three alignments, trained on raw input: none is the served
    (normalised) run's, which are under folds/. The served speech_probe averages its 5 fold models:
    they are its fold models. handcrafted_ensemble's differ from the served one in their SVMs' sizes."""

    def kept(name):
        return {f"fold{k}": cross_corpus.CHECKPOINTS / f"{name}/folds/fold{k}" for k in range(5)}

    assert (cross_corpus.CHECKPOINTS / "nmt_attention/fold0/forced").is_dir()
    assert cross_corpus.fold_checkpoints("nmt_attention") == kept("nmt_attention")
    assert cross_corpus.fold_checkpoints("nmt_attention/words_goemotions") == {}
    for name in ("ssl_mha", "ssl_mha/cross", "speech_probe", "mesm", "handcrafted_ensemble", "coattention"):
        assert cross_corpus.fold_checkpoints(name) == kept(name), name


def test_a_fold_model_with_other_settings_inside_a_fitted_argument_is_another_runs():
    """handcrafted_ensemble's fits set its SVMs' sizes and kernel widths, but not how many features
    they read or how many trees the forest has: a fold model that differs there is another run's."""
    served = _meta("handcrafted_ensemble")
    fold = read_checkpoint_config(cross_corpus.CHECKPOINTS / "handcrafted_ensemble/folds/fold0")
    assert fold["model_kwargs"]["audio"]["n_support"] != served["model_kwargs"]["audio"]["n_support"]
    assert cross_corpus._same_run(served, fold)
    for argument, key in (("forest", "n_trees"), ("audio", "n_features")):
        other = json.loads(json.dumps(fold))
        other["model_kwargs"][argument][key] += 1
        assert not cross_corpus._same_run(served, other), (argument, key)


def test_fold_models_kept_outside_the_checkpoints_are_found_where_they_are_given(tmp_path):
    """``--fold-models MODEL=DIR``: fold models too large to commit, found under DIR, and only those
    of the served run (another run's folder gives none)."""
    import shutil

    shutil.copytree(cross_corpus.CHECKPOINTS / "ssl_mha/folds", tmp_path / "self")
    found = cross_corpus.fold_checkpoints("ssl_mha", folder=tmp_path / "self")
    assert found == {f"fold{k}": tmp_path / "self" / f"fold{k}" for k in range(5)}
    assert cross_corpus.fold_checkpoints("ssl_mha/cross", folder=tmp_path / "self") == {}
    assert cross_corpus.robustness_folds(["ssl_mha/cross"], fold_folders={"ssl_mha/cross": tmp_path / "self"}) == []


def _meta(name):
    return read_checkpoint_config(cross_corpus.CHECKPOINTS / name)


def test_in_corpus_rows_are_the_served_protocol_and_the_other_pairing_marked():
    for name in ("mesm", "coattention", "ssl_mha", "ssl_mha/cross", "nmt_attention"):  # mixed pairs: both halves
        rows = cross_corpus.in_corpus(name, _meta(name))
        no_words = {"ravdess_no_words"} if name != "ssl_mha/cross" else set()  # trained with none on half its clips
        assert {r["benchmark"] for r in rows} == {"ravdess_mixed_real", "ravdess_mixed_constructed"} | no_words, name
        assert all(r["served_protocol"] and r["folds"] == 5 for r in rows), name


def test_a_checkpoint_without_a_committed_row_gets_its_card_counted_on_seven_classes():
    """An 8-class card (calm apart, as the probe served before issue 20) is counted on 7 classes."""
    from emodemo.core.labels import RAVDESS8

    cm = np.random.default_rng(0).integers(0, 9, (8, 8)) + np.diag(np.full(8, 30))  # [true, answered]
    meta = {
        "metrics": {
            "cross_validation": {
                "labels": list(RAVDESS8),
                "confusion_matrix": cm.tolist(),
                "n_reports": 5,
                "WA": {"mean": 0.6, "std": 0.1},
            }
        },
        "data_card": {"dataset": "ravdess"},
    }
    row = cross_corpus.card_cross_validation("an_8_class_probe", meta)
    merged_correct = np.trace(cm) + cm[0, 1] + cm[1, 0]  # calm <-> neutral answers become right
    assert row["WA"]["mean"] == pytest.approx(merged_correct / cm.sum()) and row["UA"]["std"] is None
    assert cross_corpus.in_corpus("an_8_class_probe", meta) == [row]  # no committed row names it


@pytest.fixture(scope="module")
def fold_and_clips(tmp_path_factory):
    root = layouts.make_ravdess(tmp_path_factory.mktemp("ravdess"), actors=(1, 2, 3, 4), seconds=0.6)
    samples = [s for s in load("ravdess", root) if s.meta["statement"] == 1 and s.meta["repetition"] == 1]
    fold = Fold("fold0", train=(), val=(), test=("Actor_01", "Actor_02", "Actor_03"))
    return fold, samples, cross_corpus.robustness_set(samples, fold, tmp_path_factory.mktemp("robust"))


def test_the_robustness_set_perturbs_each_test_clip_once_per_condition(fold_and_clips):
    fold, samples, sets = fold_and_clips
    test = [s for s in samples if s.speaker in fold.test]
    assert list(sets) == ["clean", *cross_corpus.CONDITION_COLUMNS]
    assert all([s.id for s in clips] == [s.id for s in test] for clips in sets.values())
    assert sets["clean"] == test  # the files as they are
    quiet, original = (load_audio(c.audio) for c in (sets["level -20 dB"][0], test[0]))
    assert np.sqrt(np.mean(quiet**2)) == pytest.approx(0.1 * np.sqrt(np.mean(original**2)), rel=0.02)
    assert sets["babble 5 dB"][0].audio.suffix == ".flac" and sets["babble 5 dB"][0].label == test[0].label


def test_robustness_is_pooled_over_fold_models_or_marked_when_there_are_none(fold_and_clips):
    fold, samples, sets = fold_and_clips
    labels = list(CANONICAL7)
    right = lambda s: s.label if s.label in labels else "neutral"  # noqa: E731  calm is neutral
    on_text = fixed_model("words", labels, right, meta={"data_card": {"dataset": "goemotions"}})
    scored = cross_corpus.robustness("words", on_text, {fold.name: sets})
    assert scored["folds"] == ["fold0"] and scored["conditions"]["telephone band"]["UA"] == 1.0
    men = [s for s in samples if s.speaker in ("Actor_01", "Actor_03")]  # odd actors
    assert scored["conditions"]["clean"]["by_gender"]["male"]["n"] == len(men) == 30
    on_ravdess = fixed_model(
        "nmt_attention/words_goemotions", labels, right, meta={"data_card": {"dataset": "ravdess"}}
    )  # no fold models committed
    assert cross_corpus.robustness("nmt_attention/words_goemotions", on_ravdess, {fold.name: sets}) == {
        "status": cross_corpus.NO_FOLD_MODELS
    }
    assert cross_corpus.robustness("words", on_text, {}) == {"status": cross_corpus.NOT_RUN}


def test_clips_the_app_refuses_are_left_out_for_every_model_and_counted(fold_and_clips, tmp_path):
    """A take made silent by the -20 dB level change: the app answers "the clip is silent", so the
    harness scores no model on it and says how many there were."""
    import dataclasses

    import soundfile

    from emodemo.serving.pipeline import refusal

    fold, _, sets = fold_and_clips
    silent = tmp_path / "silent.flac"
    soundfile.write(silent, np.zeros(16000, dtype=np.float32), 16000, format="FLAC")
    quiet = sets["level -20 dB"]
    with_silent = {**sets, "level -20 dB": [*quiet, dataclasses.replace(quiet[0], id="silent", audio=silent)]}
    assert refusal(load_audio(silent)).startswith("The clip is silent")  # what the app tells the user
    labels = list(CANONICAL7)
    wrong = fixed_model("words", labels, lambda s: "happy", meta={"data_card": {"dataset": "goemotions"}})
    conditions = cross_corpus.robustness("words", wrong, {fold.name: with_silent})["conditions"]
    assert conditions["level -20 dB"]["n_refused"] == 1 and conditions["clean"]["n_refused"] == 0
    scored = {c: np.sum(conditions[c]["confusion_matrix"]) for c in ("level -20 dB", "clean")}
    assert scored == {"level -20 dB": len(quiet), "clean": len(quiet)}


def _report(ua, collapse, answer="neutral", genders=False):
    report = {"UA": ua, "collapse": collapse, "most_frequent_answer": answer}
    if genders:
        report["by_gender"] = {"male": {"UA": ua}, "female": {"UA": ua / 2}}
    return report


def _result():
    robust = {
        "folds": ["fold0"],
        "conditions": {c: _report(0.5, 0.3, genders=True) for c in ("clean", *cross_corpus.CONDITION_COLUMNS)},
    }
    row = {"benchmark": "ravdess_real", "UA": {"mean": 0.371, "std": 0.018}, "served_protocol": True}
    models = [
        {
            "model": "a",
            "reads": ["audio", "text"],
            "in_corpus": [row, {**row, "benchmark": "ravdess_constructed", "served_protocol": False}],
            "tess_choose": _report(0.25, 0.9, "angry"),
            "tess_report": _report(0.123, 0.456),
            "robustness": robust,
        },
        {
            "model": "b",
            "reads": ["audio"],
            "in_corpus": [row],
            "tess_choose": _report(0.3, 0.4),
            "tess_report": {"status": cross_corpus.NOT_RUN},
            "robustness": {"status": cross_corpus.NO_FOLD_MODELS},
        },
    ]
    return {"protocol": cross_corpus.PROTOCOL, "robustness_folds": ["fold0"], "models": models}


def test_the_table_shows_the_choose_half_and_the_report_half_only_when_asked():
    table = cross_corpus.markdown_table(_result())
    assert (
        "| `a` | audio + text | real pairs 37.1 ± 1.8 · constructed pairs 37.1 ± 1.8 † | 25.0 | 90.0 (angry) |" in table
    )
    assert "| 50.0 (30.0) | 50.0 / 25.0 |" in table and "no fold models" in table
    assert "12.3" not in table and "45.6" not in table and "report half is saved apart" in table
    both = cross_corpus.markdown_table(_result(), report_half=True)
    assert "TESS report: UA" in both and "| 12.3 | 45.6 (neutral) |" in both and "| not run |  |" in both


def test_scoring_some_models_again_keeps_the_others_saved_scores():
    saved, new = _result(), _result()
    new["models"] = [{**new["models"][1], "tess_choose": _report(0.9, 0.2)}]
    result = cross_corpus.merged(saved, new, ["a", "b"])
    assert [m["model"] for m in result["models"]] == ["a", "b"] and result["robustness_folds"] == ["fold0"]
    assert result["models"][1]["tess_choose"]["UA"] == 0.9 and result["models"][0] == saved["models"][0]
    assert [m["model"] for m in cross_corpus.merged(saved, new, ["b"])["models"]] == ["b"]  # "a" no longer served


def test_scores_read_from_other_transcripts_are_not_kept_beside_new_ones():
    """A partial rerun whose transcripts differ (int8 against float32) may not keep a words model's saved scores: it
    is refused, before scoring (``stale_words_models``) and when merging; a voice-only model's scores may stay."""
    saved, new = _result(), _result()
    saved["protocol"] = {**saved["protocol"], "transcripts": "Whisper tiny.en, faster-whisper in float32"}
    new["protocol"] = {**new["protocol"], "transcripts": "Whisper tiny.en, faster-whisper in int8"}
    new["models"] = [new["models"][1]]  # "b" (voice alone) scored again; "a" reads words and would be kept
    assert cross_corpus.stale_words_models(saved, ["b"], ["a", "b"], new["protocol"]["transcripts"]) == ["a"]
    with pytest.raises(ValueError, match="score a again too"):
        cross_corpus.merged(saved, new, ["a", "b"])
    new["models"] = [new["models"][0], _result()["models"][0]]  # both scored again: nothing kept is stale
    assert [m["model"] for m in cross_corpus.merged(saved, new, ["a", "b"])["models"]] == ["a", "b"]
    assert cross_corpus.stale_words_models(saved, [], ["a", "b"], saved["protocol"]["transcripts"]) == []
    table = cross_corpus.markdown_table(new)
    assert table.endswith("Transcripts: Whisper tiny.en, faster-whisper in int8.")


def test_a_model_scored_again_without_its_robustness_set_keeps_its_saved_row_only_when_asked():
    saved, new = _result(), _result()
    new["models"] = [{**new["models"][0], "tess_choose": _report(0.9, 0.2), "robustness": {"status": "not run"}}]
    assert saved["models"][0]["robustness"].get("status") != "not run"
    dropped = cross_corpus.merged(saved, new, ["a", "b"])["models"][0]
    kept = cross_corpus.merged(saved, new, ["a", "b"], keep_robustness=True)["models"][0]
    assert dropped["robustness"] == {"status": "not run"} and dropped["tess_choose"]["UA"] == 0.9
    assert kept["robustness"] == saved["models"][0]["robustness"] and kept["tess_choose"]["UA"] == 0.9


def test_the_results_page_and_the_app_show_the_saved_generalisation_of_every_served_model(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    import generalisation

    saved = json.loads(SAVED.read_text())
    assert [m["model"] for m in saved["models"]] == cross_corpus.served_models(), "re-run `make generalisation`"
    page = tmp_path / "results.md"
    page.write_text(f"intro\n{generalisation.BLOCK_START}\nSTALE\n{generalisation.BLOCK_END}\nrest\n")
    generalisation.render_results(saved, page)
    table = cross_corpus.markdown_table(saved)
    assert page.read_text() == f"intro\n{generalisation.BLOCK_START}\n{table}\n{generalisation.BLOCK_END}\nrest\n"
    assert table in (REPO / "docs" / "results.md").read_text(), (
        "docs/results.md's generalisation table is stale: run `python bench/generalisation.py --render-only`"
    )
    sys.path.insert(0, str(REPO))
    from app import generalisation_markdown

    assert generalisation_markdown() == table
    assert "make generalisation" in generalisation_markdown(tmp_path / "missing.json")


def test_new_voice_warnings_name_the_models_that_hear_the_voice_and_collapse_or_trail():
    def row(model, reads, collapse, answer, ua=None, benchmark="ravdess_voice", served=True):
        in_corpus = [] if ua is None else [{"benchmark": benchmark, "UA": {"mean": ua}, "served_protocol": served}]
        tess = {"collapse": collapse, "most_frequent_answer": answer}
        return {"model": model, "reads": reads, "tess_choose": tess, "in_corpus": in_corpus}

    result = {
        "models": [
            row("voice", ["audio"], 0.51, "disgust", 0.70),
            row("voice_and_words", ["audio", "text"], 0.36, "neutral", 0.64, "ravdess_mixed_real"),  # 6 under
            row("fine", ["audio"], 0.35, "sad", 0.66),  # at the collapse line, 4 points under: neither
            row("trails", ["audio", "text"], 0.2, "sad", 0.45, "ravdess_real"),
            # the bar is the best voice-only model's: a voice + words model above it does not raise it
            row("best_with_words", ["audio", "text"], 0.2, "sad", 0.80, "ravdess_mixed_real"),
            # a run trained on another pairing than the served one is not what the app serves
            row("other_pairing", ["audio", "text"], 0.2, "sad", 0.30, "ravdess_real", served=False),
            row("words", ["text"], 0.94, "neutral", 0.2, "meld"),  # TESS's words carry nothing: "neutral" is right
            {"model": "unscored", "reads": ["audio"], "tess_choose": None},
        ]
    }
    assert cross_corpus.new_voice_warnings(result) == {
        "voice": "on new voices: 'disgust' for 51% of clips",
        "voice_and_words": "on new voices: 'neutral' for 36% of clips; on unseen RAVDESS actors with their own "
        "words: 64% UA (the best voice model: 70%)",
        "trails": "on unseen RAVDESS actors with their own words: 45% UA (the best voice model: 70%)",
    }


def test_a_model_that_misreads_a_sentence_no_actor_said_or_no_words_is_named_with_both_readings():
    """bench/guessed_words.py part 5: a voice + words model losing more than 5 points of WA when the words
    are a neutral sentence of the user's, or none (Whisper only guessed them), instead of RAVDESS's own is named;
    one within 5, or unscored, is not."""

    def row(model, own, unsaid, none=None):
        readings = {cross_corpus.OWN_WORDS: {"WA": own}}
        readings.update({cross_corpus.UNSAID_SENTENCE: {"WA": unsaid}} if unsaid else {})
        readings.update({cross_corpus.GUESS_AS_NONE: {"WA": none}} if none else {})
        return {"model": model, **readings}

    result = {
        "models that read the voice and words": [
            row("misreads", 0.462, 0.333),
            row("holds", 0.702, 0.675, 0.70),  # 2.7 points: within the line
            row("older result", 0.5, None),  # saved before the reading existed
            row("needs words", 0.693, 0.645, 0.546),  # a neutral line within the line, no words 14.7 points under
            row("both", 0.5, 0.3, 0.2),
            {"model": "no fold models", "note": "not every fold's"},
        ]
    }
    assert cross_corpus.unsaid_sentence_warnings(result) == {
        "misreads": "reading a sentence of yours: 33% WA on unseen actors (46% with RAVDESS's own sentences)",
        "needs words": "with words Whisper only guessed (another language): 55% WA on unseen actors (69% with "
        "RAVDESS's own sentences)",
        "both": "reading a sentence of yours: 30% WA on unseen actors (50% with RAVDESS's own sentences); with words "
        "Whisper only guessed (another language): 20% WA on unseen actors (50% with RAVDESS's own sentences)",
    }
    assert cross_corpus.unsaid_sentence_warnings({}) == {}
