"""The words gate: words the words expert hears no emotion in reach a model that learnt no words as none."""

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import shared_dataset

from emodemo.data.record import Sample
from emodemo.serving import words_gate
from emodemo.serving.evaluation import predicted, through_words_gate
from emodemo.serving.pipeline import CHECKPOINTS, Pipeline, load_models
from emodemo.serving.words_gate import EXPERT, gated, read_by, with_words
from emodemo.training.checkpoint import WORDS_GATE_NOTE, model_card

NEUTRAL_LINES = ("Say the word book.", "The meeting was moved to Tuesday afternoon.")
ANGRY_LINE = "Get out of my house right now, I hate you and I never want to see you again!"


def meta(name: str) -> dict:
    return json.loads((CHECKPOINTS / name / "config.json").read_text())


WORDS_MODELS = ("mesm", "nmt_attention", "ssl_mha", "ssl_mha/cross", "coattention")  # served: voice and words


def test_only_the_models_that_learnt_to_read_no_words_read_through_the_gate():
    through = {name for name in WORDS_MODELS if gated(meta(name))}
    assert through == {"mesm", "nmt_attention", "ssl_mha", "coattention"}  # trained with no_words=1; not Cross-MHA
    assert not gated(meta(EXPERT)) and not gated({})


def test_the_card_of_a_gated_model_says_it_reads_words_through_the_gate():
    """A reader of the committed card learns what the app gives the model; a model never gated is not told so."""
    for name in WORDS_MODELS:
        card = (CHECKPOINTS / name / "MODEL_CARD.md").read_text()
        assert (WORDS_GATE_NOTE in card) == gated(meta(name)), name
        assert model_card(meta(name)) == card, f"{name}: its committed card is not the one its config makes"


def test_words_with_no_emotion_are_taken_away_and_emotional_words_kept():
    """The real words expert decides (a behaviour of words_minilm: flat carrier lines are neutral to it,
    an angry outburst is not)."""
    lines = [*NEUTRAL_LINES, ANGRY_LINE, ""]
    samples = [
        Sample(id=f"clip{k}", dataset="test", label="neutral", text=line, meta={"words": [("x", 0, 1)]})
        for k, line in enumerate(lines)
    ]
    mesm = load_models(["mesm"])[0]
    read = through_words_gate(mesm, samples)
    assert [s.text for s in read] == ["", "", ANGRY_LINE, ""]
    assert [s.id for s in read] == [s.id for s in samples]  # each answer stays its clip's
    assert read[0].meta["words"] == [] and read[2] is samples[2] and read[3] is samples[3]
    assert through_words_gate(load_models(["ssl_mha/cross"])[0], samples) is samples  # never met no words
    assert read_by(samples, {}) == samples and with_words(samples) == [0, 1, 2]


@pytest.fixture(scope="module")
def tess_neutral_words_clip():
    """A TESS clip, sad, whose words ("Say the word ...") carry no emotion."""
    return sorted((shared_dataset("tess") / "YAF_sad").iterdir())[0]


def test_a_score_of_a_gated_model_is_of_what_it_reads_in_the_app(ravdess_clip):
    mesm = load_models(["mesm"])[0]
    pairs = [
        Sample(id=f"clip{k}", dataset="ravdess", label="angry", audio=ravdess_clip, text=line, meta={"words": []})
        for k, line in enumerate((NEUTRAL_LINES[1], ANGRY_LINE))
    ]
    served, _ = predicted(mesm, pairs)  # [2, C]
    no_words, _ = predicted(mesm, [replace(pairs[0], text="")], gate=False)
    as_given, _ = predicted(mesm, pairs, gate=False)
    np.testing.assert_allclose(served[0], no_words[0], atol=1e-6)  # neutral words: read as none
    np.testing.assert_allclose(served[1], as_given[1], atol=1e-6)  # emotional words: read as given
    assert not np.allclose(as_given[0], no_words[0], atol=1e-3)  # the gate changes what mesm answers


def test_the_app_gates_neutral_words_for_mesm_and_says_so(tess_neutral_words_clip):
    pipeline = Pipeline(models=["mesm", "ssl_mha/cross"])  # mesm brings the words expert it listens to
    assert [m.name for m in pipeline.models] == ["mesm", "ssl_mha/cross", EXPERT]
    result = pipeline.analyse(tess_neutral_words_clip)
    assert "say the word" in result.transcript.text.lower()
    assert result.predictions[EXPERT].top == "neutral"
    assert result.predictions["mesm"].words_gated and not result.predictions["ssl_mha/cross"].words_gated
    assert [n for n in result.notes if "read no words" in n] == [words_gate.note(["mesm"])]
    assert "mesm" in pipeline.explain(result)  # what it looked at is drawn from what it read: no words
    unheard = pipeline.answer(result.wave, replace(result.transcript, text="", words=[]))
    assert result.predictions["mesm"].ranking == unheard.predictions["mesm"].ranking
    emotional = pipeline.answer(result.wave, replace(result.transcript, text=ANGRY_LINE))
    assert not emotional.predictions["mesm"].words_gated and not any("read no words" in n for n in emotional.notes)


def test_a_model_whose_words_the_gate_took_says_so_where_its_attention_map_would_be(tess_neutral_words_clip):
    """nmt_attention's figure is its words' attention over the sound: with no words it has none to draw, and
    the page says why instead of leaving a blank plot."""
    pipeline = Pipeline(models=["nmt_attention"])
    result = pipeline.analyse(tess_neutral_words_clip)
    assert result.predictions["nmt_attention"].words_gated
    figure = pipeline.explain(result)["nmt_attention"]
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert texts and "read no words" in texts[0] and not figure.axes[0].images  # a message, not a heat map
    emotional = pipeline.answer(result.wave, replace(result.transcript, text=ANGRY_LINE))
    assert not emotional.predictions["nmt_attention"].words_gated
