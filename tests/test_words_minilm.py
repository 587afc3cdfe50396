"""The words expert: MiniLM's top layers fine-tuned with a pooling head, its recipe, its checkpoint."""

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from emodemo.models.words_minilm import WordsMiniLM
from emodemo.recipes.words_minilm import LengthBuckets, Lines
from tests.conftest import REPO, shared_dataset


def test_the_model_maps_padded_word_pieces_to_logits_and_attends_to_real_pieces_only():
    torch.manual_seed(0)
    mask = torch.arange(6)[None, :] < torch.tensor([6, 2, 4])[:, None]  # [3, 6]
    for top_layers in (0, 2):
        out = WordsMiniLM(n_classes=7, top_layers=top_layers).eval()(torch.randn(3, 6, 384), mask)
        assert out["logits"].shape == (3, 7) and out["attention"].shape == (3, 6)
        assert torch.allclose(out["attention"].sum(-1), torch.ones(3)) and out["attention"][~mask].abs().max() == 0
    with pytest.raises(ValueError, match="top_layers"):
        WordsMiniLM(n_classes=7, top_layers=7)


def test_top_layers_started_from_minilm_give_minilms_own_last_layer():
    from emodemo.inputs.text import encode_tokens, load_minilm

    encoded = encode_tokens(["Oh my God, you did what?", "okay."], all_layers=True)
    model = WordsMiniLM(n_classes=7, top_layers=2).eval()
    model.load_top_layers(load_minilm()[1].encoder.layer)
    with torch.no_grad():
        top = model.encode(encoded.layers[:, 4], encoded.mask) * encoded.mask[..., None]
    assert torch.allclose(top, encoded.states, atol=1e-4)


def test_length_buckets_hold_every_line_once_in_batches_of_similar_length():
    lines = Lines([torch.zeros(n, 4) for n in [5, 1, 9, 3, 3, 7, 2]], [0, 1, 2, 3, 4, 5, 6])
    buckets = LengthBuckets(lines, batch_size=3, seed=0)
    assert sorted(i for b in buckets.batches for i in b) == list(range(7)) and len(buckets) == 3
    batch = LengthBuckets.collate([buckets[0]])
    assert batch["text"].shape[0] == batch["label"].shape[0] == len(buckets.batches[0])
    assert batch["text_mask"].sum(1).tolist() == [len(lines.fields["text"][i]) for i in buckets.batches[0]]


def test_a_quick_run_trains_on_meld_chooses_on_held_out_dialogues_and_dev_is_scored_once(tmp_path):
    from emodemo.recipes.words_minilm import score_once

    out, results = tmp_path / "ckpt", tmp_path / "results.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "train",
            "words_minilm",
            "--dataset",
            "meld",
            "--root",
            str(shared_dataset("meld_text")),
            "--quick",
            "--out",
            str(out),
            "--option",
            "top_layers=1",
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = json.loads(results.read_text())
    assert metrics["sizes"] == {"meld_train": 200, "goemotions_train": 0, "validation": 200}
    assert metrics["validation"]["n"] == 200 and metrics["settings"]["top_layers"] == 1 and "test" not in metrics
    config = json.loads((out / "config.json").read_text())
    assert config["input_spec"] == {"top_layers": 1} and "MELD: GPL-3.0" in config["data_card"]["licence"]
    assert score_once(out, shared_dataset("meld_text"), quick=True)["test"]["n"] == 200
    assert "MELD dev (200 utterances)" in (out / "MODEL_CARD.md").read_text()
    with pytest.raises(ValueError, match="once"):
        score_once(out, shared_dataset("meld_text"), quick=True)
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "train",
            "words_minilm",
            "--dataset",
            "ravdess",
            "--root",
            str(tmp_path),
            "--quick",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert refused.returncode != 0 and "MELD" in refused.stderr and "Traceback" not in refused.stderr


def test_the_committed_checkpoint_is_small_and_reads_emotion_in_a_transcript():
    from emodemo.serving.pipeline import CHECKPOINTS, load_models

    (loaded,) = load_models(["words_minilm"])
    assert (CHECKPOINTS / "words_minilm" / "model.safetensors").stat().st_size < 20e6
    answers = {}
    for line in ("I'm so happy for you, this is wonderful!", "I hate you, get out of my apartment!", ""):
        inputs = loaded.recipe.clip_inputs(None, SimpleNamespace(text=line), loaded.meta["input_spec"])
        with torch.inference_mode():
            probs = loaded.model(**inputs)["logits"].softmax(-1)[0]
        answers[line] = loaded.labels[int(probs.argmax())]
    assert answers["I'm so happy for you, this is wonderful!"] == "happy"
    assert answers["I hate you, get out of my apartment!"] == "angry"


def test_a_words_model_scored_on_spoken_dialogue_outranks_one_scored_on_reddit_comments():
    from emodemo.reports.headline import expert_score

    report = lambda wa, wf1: {"WA": wa, "WF1": wf1, "confusion_matrix": [[1]]}
    reddit = {"data_card": {"dataset": "goemotions"}, "metrics": {"test": report(0.62, 0.63)}}
    spoken = {"data_card": {"dataset": "meld"}, "metrics": {"test": report(0.55, 0.50)}}
    better = {"data_card": {"dataset": "meld"}, "metrics": {"test": report(0.50, 0.52)}}
    assert expert_score(reddit, ("text",)) < expert_score(spoken, ("text",)) < expert_score(better, ("text",))
    assert expert_score(spoken, ("audio",)) == (0, 0.55)  # voice and face: headline WA


def test_a_served_transcript_gets_the_states_the_model_trained_on(tmp_path, monkeypatch):
    from emodemo.data.record import Sample
    from emodemo.recipes import words_minilm

    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path))
    lines = ["Oh my God, you did what?", "okay.", "We were on a break!"]
    spec = {"top_layers": 1}
    trained = words_minilm.make_dataset(
        [Sample(id=str(i), dataset="x", label="happy", text=t) for i, t in enumerate(lines)], ["happy"], spec
    )
    for i, line in enumerate(lines):
        served = words_minilm.clip_inputs(None, SimpleNamespace(text=line), spec)
        assert torch.allclose(served["text"][0], trained[i]["text"].float(), atol=2e-3)
