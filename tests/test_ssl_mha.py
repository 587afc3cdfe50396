"""Talk 002's models: layer mixing, Self-MHA over the joined sequence, Cross-MHA, pooling, ablations."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emodemo.models.layers import masked_stride_pool
from emodemo.models.ssl_mha import SslMhaNet

REPO = Path(__file__).resolve().parents[1]


def _batch(b=3, t=24, n=7, layers=5, dim=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    speech_mask = torch.arange(t)[None, :] < torch.tensor([t, t - 5, 6][:b])[:, None]
    text_mask = torch.arange(n)[None, :] < torch.tensor([n, 3, 2][:b])[:, None]
    return {
        "speech": torch.randn(b, layers, t, dim, generator=g) * speech_mask[:, None, :, None],
        "speech_mask": speech_mask,
        "text": torch.randn(b, 1, n, dim, generator=g) * text_mask[:, None, :, None],
        "text_mask": text_mask,
    }


def _model(**kwargs):
    torch.manual_seed(0)
    return SslMhaNet(n_classes=4, speech_dim=16, speech_layers=5, text_dim=16, dim=8, heads=2, **kwargs).eval()


def test_stride_pooling_averages_real_frames_only():
    x = torch.arange(10, dtype=torch.float32).view(1, 5, 2)  # frames (0,1) (2,3) (4,5) (6,7) (8,9)
    mask = torch.tensor([[True, True, True, False, False]])
    pooled, kept = masked_stride_pool(x, mask, 2)
    assert kept.tolist() == [[True, True, False]]
    assert pooled[0, :2].tolist() == [[1.0, 2.0], [4.0, 5.0]]  # the 2nd pair keeps only frame 3
    same, same_mask = masked_stride_pool(x, mask, 1)
    assert torch.equal(same, x) and torch.equal(same_mask, mask)


def test_self_attention_spans_both_modalities_and_cross_attention_only_the_other():
    batch = _batch()
    self_out = _model(fusion="self")(**batch)
    t = (24 + 1) // 2  # speech frames after stride 2
    assert self_out["logits"].shape == (3, 4) and self_out["self_attention"].shape == (3, t + 7, t + 7)
    rows = self_out["self_attention"].sum(-1)
    assert torch.allclose(rows, torch.ones_like(rows), atol=1e-5)  # each query's weights are a distribution
    assert (self_out["self_attention"][1, :, t + 3 :] == 0).all()  # padded words get no attention
    assert (self_out["self_attention"][1, :, 10:t] == 0).all()  # nor padded frames (19 real -> 10 positions)
    assert (self_out["self_attention"][1, :, :10] > 0).all()
    assert self_out["self_attention"][0, :t, t:].sum() > 0  # speech frames attend to words
    cross_out = _model(fusion="cross")(**batch)
    assert cross_out["speech_to_text"].shape == (3, t, 7) and cross_out["text_to_speech"].shape == (3, 7, t)
    assert (cross_out["speech_to_text"][2, :, 2:] == 0).all() and (cross_out["text_to_speech"][2, :, 3:] == 0).all()
    assert torch.allclose(self_out["layer_weights"][0].sum(), torch.tensor(1.0))


@pytest.mark.parametrize("fusion", ["self", "cross"])
def test_a_clip_answers_the_same_whatever_its_batch_mates_and_padding(fusion):
    model, batch = _model(fusion=fusion), _batch()
    alone = {
        "speech": batch["speech"][2:3, :, :6],
        "speech_mask": batch["speech_mask"][2:3, :6],
        "text": batch["text"][2:3, :, :2],
        "text_mask": batch["text_mask"][2:3, :2],
    }
    assert torch.allclose(model(**batch)["logits"][2], model(**alone)["logits"][0], atol=1e-5)


@pytest.mark.parametrize("fusion", ["self", "cross"])
def test_both_modalities_move_the_fused_answer(fusion):
    model, batch = _model(fusion=fusion), _batch()
    out = model(**batch)["logits"]
    for key in ("speech", "text"):
        moved = dict(batch, **{key: batch[key] + torch.randn_like(batch[key]) * batch[f"{key}_mask"][:, None, :, None]})
        assert not torch.allclose(model(**moved)["logits"], out), key


def test_the_cls_ablation_reads_the_cls_vector_alone():
    model, batch = _model(fusion="self", text_feature="cls"), _batch()
    out = model(**batch)
    assert out["self_attention"].shape[-1] == 12 + 1  # speech frames + [CLS]
    other_words = dict(batch, text=batch["text"].clone())
    other_words["text"][:, :, 1:] += 1.0  # every word piece but [CLS]
    assert torch.allclose(model(**other_words)["logits"], out["logits"])
    other_cls = dict(batch, text=batch["text"].clone())
    other_cls["text"][:, :, 0] += 1.0
    assert not torch.allclose(model(**other_cls)["logits"], out["logits"])


def test_statistical_pooling_feeds_mean_and_std_and_nosp_the_mean_alone():
    stat, mean = _model(fusion="cross"), _model(fusion="cross", pooling="mean")
    assert stat.classifier[1].in_features == 4 * 8 and mean.classifier[1].in_features == 2 * 8
    assert _model(fusion="self").classifier[1].in_features == 2 * 8
    # the mean alone cannot tell a steady sequence from one that swings around the same mean
    mean_pool = mean.pool(torch.tensor([[[1.0], [1.0]], [[0.0], [2.0]]]), torch.ones(2, 2, dtype=torch.bool))
    assert torch.equal(mean_pool[0], mean_pool[1])
    stat_pool = stat.pool(torch.tensor([[[1.0], [1.0]], [[0.0], [2.0]]]), torch.ones(2, 2, dtype=torch.bool))
    assert not torch.equal(stat_pool[0], stat_pool[1])


@pytest.mark.parametrize("fusion, dropped", [("speech", "text"), ("text", "speech")])
def test_unimodal_models_read_only_their_modality(fusion, dropped):
    model, batch = _model(fusion=fusion), _batch()
    out = model(**{k: v for k, v in batch.items() if not k.startswith(dropped)})
    assert out["logits"].shape == (3, 4) and "self_attention" in out


def test_unknown_variants_and_clips_without_speech_are_refused_clearly():
    with pytest.raises(ValueError, match="fusion"):
        _model(fusion="late")
    with pytest.raises(ValueError, match="pooling"):
        _model(pooling="max")
    batch = _batch()
    batch["speech_mask"][2] = False
    with pytest.raises(ValueError, match="at least one speech frame"):
        _model(fusion="cross")(**batch)


def test_the_layer_weights_learn():
    model, batch = _model(fusion="speech"), _batch()
    model.train()
    optimiser = torch.optim.SGD(model.parameters(), lr=1.0)
    before = model.layer_mix.weights.detach().clone()
    torch.nn.functional.cross_entropy(model(**batch)["logits"], torch.tensor([0, 1, 2])).backward()
    optimiser.step()
    assert not torch.allclose(model.layer_mix.weights, before)


@pytest.mark.parametrize(
    "encoder, layers, normalise, shape",
    [
        ("whisper-tiny.en", None, False, (5, 384)),  # embedding + 4 blocks
        ("whisper-tiny.en", [0, 1, 2], True, (3, 384)),
        ("whisper-base", [0, 1, 2, 3], True, (4, 512)),  # base's lower half, the encoder run to block 3
    ],
)
def test_serving_inputs_equal_training_inputs(ravdess_clip, encoder, layers, normalise, shape):
    """A user's clip reaches the model as in training (through the feature cache): the Whisper
    layers it mixes, MiniLM's last, [CLS] first; a range of lower layers is the full encoder's."""
    from emodemo.data.record import Sample
    from emodemo.inputs.audio import load_audio
    from emodemo.inputs.normalise import normalised_if
    from emodemo.models import build
    from emodemo.recipes import frozen_states
    from emodemo.recipes import ssl_mha as recipe
    from emodemo.speech.asr import Transcript

    text = "Kids are talking by the door."
    spec = {"fusion": "self", "speech_encoder": encoder, "text_encoder": recipe.MINILM, "normalise": normalise}
    spec.update({"layers": layers} if layers else {})
    trained = recipe.make_dataset(
        [Sample("clip", "ravdess", "angry", audio=ravdess_clip, text=text)], recipe.LABELS, spec
    )
    trained = trained.collate([trained[0]])
    transcript = Transcript(text, [], "en", "x", 0.1, 4.0, "tiny.en")
    wave = load_audio(ravdess_clip)
    served = recipe.clip_inputs(wave, transcript, spec)
    assert (served["speech"].shape[1], served["speech"].shape[-1]) == shape and served["text"].shape[1] == 1
    for key in ("speech", "text"):
        assert served[key].shape == trained[key].shape
        assert torch.allclose(served[key], trained[key], rtol=1e-2, atol=1e-2), key
    if layers:
        whole = frozen_states.speech_states([normalised_if(wave, normalise)], encoder, 6)[0].float()  # every layer
        assert torch.allclose(served["speech"][0], whole[layers[0] : layers[-1] + 1], rtol=1e-2, atol=1e-2)
    assert recipe.clip_tokens(transcript, spec)[:2] == ("[CLS]", "kids")
    kwargs = recipe.model_kwargs("self", "stat", "tokens", 7, encoder, recipe.MINILM, layers)
    assert (kwargs["speech_dim"], kwargs["speech_layers"], kwargs["text_dim"]) == (shape[1], shape[0], 384)
    out = build(recipe.NAME, **kwargs).eval()(**served)
    assert out["self_attention"].shape[-1] == (served["speech"].shape[2] + 1) // 2 + len(
        recipe.clip_tokens(transcript, spec)
    )


def test_chance_row_scores_uniform_guesses_on_each_folds_test_speakers():
    from emodemo.data.record import Sample
    from emodemo.data.splits import Fold
    from emodemo.training.experiment import chance_baseline

    labels = ["a", "b", "c", "d"]
    samples = [Sample(f"s{spk}_{i}", "x", labels[i % 4], speaker=f"s{spk}") for spk in range(4) for i in range(400)]
    folds = [Fold("fold0", ("s0", "s1"), ("s2",), ("s3",)), Fold("fold1", ("s2", "s3"), ("s1",), ("s0",))]
    result = chance_baseline(samples, folds, labels, seed=0)
    assert [f["test"] for f in result["folds"]] == [("s3",), ("s0",)]
    assert all(int(np.sum(f["confusion_matrix"])) == 400 for f in result["folds"])
    assert 0.2 < result["summary"]["WA"]["mean"] < 0.3  # 1 / 4 classes
    assert result == chance_baseline(samples, folds, labels, seed=0)  # reproducible


def test_the_cli_trains_every_variant_on_iemocap_with_its_chance_row(tmp_path):
    """The talk's data path (IEMOCAP fixture tree: gold transcripts, 4 classes, sessions as folds),
    through the CLI: cross-validation with the chance row, the final checkpoint, its evaluation,
    and the card of a final model that reports an earlier cross-validation of its variant."""
    from emodemo.data import layouts

    root = layouts.make_iemocap(tmp_path / "data", sessions=(1, 2, 3))

    def train(*options, out="ckpt", results="cv.json", cv=True):
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "emodemo",
                "train",
                "ssl_mha",
                "--dataset",
                "iemocap",
                "--root",
                str(root),
                *(["--cv"] if cv else []),
                "--quick",
                "--out",
                str(tmp_path / out),
                "--results",
                str(tmp_path / results),
                *sum((["--option", o] for o in options), []),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=600,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        return json.loads((tmp_path / results).read_text())

    cv = train("fusion=cross", "pooling=mean", "text_feature=cls", f"fold_models={tmp_path / 'ckpt' / 'folds'}")
    assert cv["variant"] == {"fusion": "cross", "pooling": "mean", "text_feature": "cls"}
    assert cv["folds"][0]["labels"] == cv["chance"]["folds"][0]["labels"] == ["neutral", "happy", "sad", "angry"]
    assert cv["chance"]["folds"][0]["test"] == cv["folds"][0]["test"]
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["weights_dtype"] == "float16" and config["train_config"]["scheduler"] == "plateau"
    # calibrated on its validation speakers' real pairs (IEMOCAP's gold words), as the app reads a clip
    assert config["calibration"]["fitted_on"] == config["data_card"]["validation_speakers"]
    assert config["calibration"]["pairs"].startswith("real") and config["calibration"]["temperature"] > 0
    # each fold's model is kept beside the final one (the robustness set's scorer of that fold's test
    # speakers), with the inputs and constructor of the final model: the harness takes it for the same run's
    fold = cv["folds"][0]
    fold_config = json.loads((tmp_path / "ckpt" / "folds" / fold["fold"] / "config.json").read_text())
    assert fold_config["data_card"]["test_speakers"] == fold["test"] and fold_config["weights_dtype"] == "float16"
    assert fold_config["input_spec"] == config["input_spec"] and fold_config["model_kwargs"] == config["model_kwargs"]
    assert fold_config["data_card"]["pairing"] == config["data_card"]["pairing"]
    evaluated = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "evaluate",
            str(tmp_path / "ckpt"),
            "--dataset",
            "iemocap",
            "--root",
            str(root),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads(evaluated.stdout)["n_samples"] == 30

    final = train(
        "fusion=cross",
        "pooling=mean",
        "text_feature=cls",
        f"cv_from={tmp_path / 'cv.json'}",
        out="final",
        results="final.json",
        cv=False,
    )
    assert final["cross_validation"] == cv["cross_validation"] and final["chance"] == cv["chance"]
    card = (tmp_path / "final" / "MODEL_CARD.md").read_text()
    assert "cross_validation" in card

    from emodemo.recipes import ssl_mha as recipe

    with pytest.raises(ValueError, match="holds .*'cross'.* not this model's .*'self'"):  # another variant's results
        recipe.train(
            "iemocap", root, tmp_path / "wrong", cv=False, quick=True, fusion="self", cv_from=tmp_path / "cv.json"
        )
    with pytest.raises(ValueError, match="without --cv"):
        recipe.train("iemocap", root, tmp_path / "wrong", cv=True, quick=True, cv_from=tmp_path / "cv.json")
    assert not (tmp_path / "wrong").exists()


def test_a_hub_speech_encoders_every_layer_feeds_the_layer_mix(tiny_hub_encoders, monkeypatch):
    """Online users swap in wav2vec2 / BERT by id (the talk's kind of features): the layer mix then
    spans that encoder's layers, whatever their number and width (a saved folder here, no network)."""
    from emodemo.models import build
    from emodemo.recipes import ssl_mha as recipe
    from emodemo.speech.asr import Transcript

    speech_dir, text_dir = (str(p) for p in tiny_hub_encoders)
    spec = {"fusion": "cross", "speech_encoder": speech_dir, "text_encoder": text_dir}
    kwargs = recipe.model_kwargs("cross", "stat", "tokens", 7, speech_dir, text_dir)
    assert (kwargs["speech_dim"], kwargs["speech_layers"], kwargs["text_dim"]) == (32, 3, 32)
    wave = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    batch = recipe.clip_inputs(wave, Transcript("so happy", [], "en", "x", 0, 1, "tiny.en"), spec)
    assert batch["speech"].shape[1] == 3 and batch["text"].shape[1] == 1
    out = build(recipe.NAME, **kwargs).eval()(**batch)
    assert out["logits"].shape == (1, 7) and out["layer_weights"].shape == (1, 3)
    monkeypatch.setattr(recipe, "ALL_LAYERS", 1)  # an encoder deeper than ALL_LAYERS keeps every layer
    assert recipe.clip_inputs(wave, None, spec)["speech"].shape[1] == 3


def test_the_whisper_encoder_runs_once_per_clip_for_every_model_that_reads_it(ravdess_clip, monkeypatch):
    """Co-attention, Self- and Cross-MHA each ask for a user's clip's states: the encoder runs once."""
    from emodemo.inputs.audio import load_audio
    from emodemo.recipes import coattention, frozen_states
    from emodemo.recipes import ssl_mha as recipe

    wave = load_audio(ravdess_clip)
    calls = []
    encode = frozen_states.speech_states
    monkeypatch.setattr(frozen_states, "speech_states", lambda *a, **k: calls.append(1) or encode(*a, **k))
    monkeypatch.setattr(frozen_states, "_CLIP_MEMO", type(frozen_states._CLIP_MEMO)())
    spec = {"speech_encoder": recipe.WHISPER, "text_encoder": recipe.MINILM}
    inputs = [recipe.clip_inputs(wave, None, dict(spec, fusion=f)) for f in ("self", "cross")]
    co_spec = {"mode": "fusion", "top_layers": 1, "speech_encoder": recipe.WHISPER, "text_encoder": recipe.MINILM}
    inputs.append(coattention.clip_inputs(wave, None, co_spec))
    assert len(calls) == 1
    assert torch.equal(inputs[0]["speech"], inputs[1]["speech"])  # every layer: [1, 5, T, 384]
    assert torch.equal(inputs[2]["speech"][0], inputs[0]["speech"][0, -2:])  # co-attention's top two layers
    assert torch.equal(inputs[0]["speech"][0], encode([wave], recipe.WHISPER, 6)[0])
    other = wave.copy()
    other[:1000] *= 0.5
    recipe.clip_inputs(other, None, dict(spec, fusion="self"))
    assert len(calls) == 2  # another clip: encoded anew
    frozen_states.forget_clips()  # what the benches do before each timed call
    recipe.clip_inputs(other, None, dict(spec, fusion="self"))
    assert len(calls) == 3


def test_a_reader_of_the_lower_blocks_slices_the_deepest_run(ravdess_clip, monkeypatch):
    """Co-attention and ``nmt_attention`` read Whisper's lower blocks, Self- and Cross-MHA all of them: once the
    deeper reader has asked, each clip is encoded once, and the lower blocks' states are the very tensors that
    a run of those blocks alone gives (what each reader got before the runs were shared)."""
    from emodemo.inputs.audio import load_audio
    from emodemo.recipes import frozen_states

    wave = load_audio(ravdess_clip)
    calls = []
    encode = frozen_states.speech_states
    monkeypatch.setattr(frozen_states, "speech_states", lambda *a, **k: calls.append(a[2]) or encode(*a, **k))
    monkeypatch.setattr(frozen_states, "_CLIP_MEMO", type(frozen_states._CLIP_MEMO)())
    monkeypatch.setattr(frozen_states, "_DEPTH_ASKED", {})
    lower = frozen_states.one_clip_states(wave, top_layers=2, deepest=2)  # blocks 0-2 alone: [3, T, 384]
    whole = frozen_states.one_clip_states(wave, top_layers=4)  # every layer: [5, T, 384]
    assert calls == [2, 4]  # the first clip: the deeper reader was not known yet
    frozen_states.forget_clips()  # a new user's clip
    sliced = frozen_states.one_clip_states(wave, top_layers=2, deepest=2)
    assert torch.equal(frozen_states.one_clip_states(wave, top_layers=4), whole)
    assert calls == [2, 4, 4]  # encoded once, as deep as the deeper reader asks
    assert torch.equal(sliced, lower) and torch.equal(sliced, whole[:3]) and sliced.shape == (3, whole.shape[1], 384)


def test_minilm_reads_a_users_transcript_once_whatever_layers_each_model_wants(monkeypatch):
    from emodemo.recipes import coattention, frozen_states, mesm
    from emodemo.speech.asr import Transcript

    calls = []
    encode = frozen_states.line_states
    monkeypatch.setattr(frozen_states, "line_states", lambda *a, **k: calls.append(a[2]) or encode(*a, **k))
    frozen_states.forget_clips()
    text = "I cannot believe you did this to me."
    transcript = Transcript(text, [], "en", "x", 0.1, 2.0, "tiny.en")
    top1 = frozen_states.one_line_states(frozen_states.words_of(transcript), frozen_states.MINILM, 1)[0]
    top0 = frozen_states.one_line_states(frozen_states.words_of(transcript), frozen_states.MINILM, 0)[0]
    mesm_text = mesm.clip_inputs(None, transcript, {"modalities": "T"})["text"]
    assert len(calls) == 1 and coattention.ALL_LAYERS == frozen_states.ALL_LAYERS
    assert (
        top1.shape[0] == 2 and torch.equal(top1[-1], top0[0]) and torch.equal(mesm_text[0], top0[0].to(mesm_text.dtype))
    )
    assert torch.equal(top0, encode((frozen_states.words_of(transcript),), frozen_states.MINILM, 0)[0][0])
    frozen_states.forget_clips()
    frozen_states.one_line_states(frozen_states.words_of(transcript), frozen_states.MINILM, 0)
    assert len(calls) == 2


def test_the_clip_memo_keeps_only_the_last_clips(ravdess_clip, monkeypatch):
    from emodemo.inputs.audio import load_audio
    from emodemo.recipes import frozen_states

    monkeypatch.setattr(frozen_states, "CLIPS_REMEMBERED", 2)
    monkeypatch.setattr(frozen_states, "_CLIP_MEMO", type(frozen_states._CLIP_MEMO)())
    wave = load_audio(ravdess_clip)
    waves = [wave * gain for gain in (1.0, 0.9, 0.8)]
    for w in waves:
        frozen_states.one_clip_states(w)
    assert len(frozen_states._CLIP_MEMO) == 2
    calls = []
    encode = frozen_states.speech_states
    monkeypatch.setattr(frozen_states, "speech_states", lambda *a, **k: calls.append(1) or encode(*a, **k))
    frozen_states.one_clip_states(waves[2])  # remembered
    frozen_states.one_clip_states(waves[0])  # the oldest was dropped: encoded again
    assert len(calls) == 1


def test_the_mixed_layers_are_a_contiguous_range():
    from emodemo.recipes.common import contiguous_layers

    assert contiguous_layers("0-3", "ssl_mha") == [0, 1, 2, 3] and contiguous_layers("all", "ssl_mha") is None
    with pytest.raises(ValueError, match="contiguous"):
        contiguous_layers("0,2", "ssl_mha")


def test_a_pair_answers_its_members_calibrated_mean_each_reading_its_own_layers():
    """The served pair: a model of layers 0-3 beside one of every layer, fed every layer's states once; each
    member answers as it does alone on its own layers, at its own temperature, and the pair their mean."""
    from emodemo.models.ssl_mha import SslMhaEnsemble

    batch = _batch(layers=7)
    lower = dict(n_classes=4, speech_dim=16, speech_layers=4, text_dim=16, dim=8, heads=2, pooling="mean")
    every = dict(lower, speech_layers=7)
    torch.manual_seed(0)
    pair = SslMhaEnsemble([lower, every], temperatures=(2.0, 0.5), member_layers=[(0, 3), None]).eval()
    with torch.no_grad():
        out = pair(**batch)
        alone = [
            pair.members[0](**dict(batch, speech=batch["speech"][:, :4])),
            pair.members[1](**batch),
        ]
    expected = (torch.softmax(alone[0]["logits"] / 2.0, -1) + torch.softmax(alone[1]["logits"] / 0.5, -1)) / 2
    assert torch.allclose(out["logits"].exp(), expected, atol=1e-6)
    assert torch.allclose(out["self_attention"], (alone[0]["self_attention"] + alone[1]["self_attention"]) / 2)
    weights = out["layer_weights"][0]  # [7]: the lower member's mix on layers 0-3 only
    assert torch.allclose(weights[:4], (alone[0]["layer_weights"][0] + alone[1]["layer_weights"][0, :4]) / 2)
    assert torch.allclose(weights[4:], alone[1]["layer_weights"][0, 4:] / 2)
    assert float(weights.sum()) == pytest.approx(1.0)


def test_a_member_reading_middle_layers_gets_its_own_and_its_mix_lands_on_them():
    from emodemo.models.ssl_mha import SslMhaEnsemble

    batch = _batch(layers=7)
    middle = dict(n_classes=4, speech_dim=16, speech_layers=4, text_dim=16, dim=8, heads=2)
    torch.manual_seed(0)
    pair = SslMhaEnsemble([middle, dict(middle, speech_layers=7)], (1.0, 1.0), [(2, 5), None]).eval()
    with torch.no_grad():
        out = pair(**batch)
        alone = pair.members[0](**dict(batch, speech=batch["speech"][:, 2:6]))
        every = pair.members[1](**batch)
    mean = (torch.softmax(alone["logits"], -1) + torch.softmax(every["logits"], -1)) / 2
    assert torch.allclose(out["logits"].exp(), mean, atol=1e-6)
    weights = out["layer_weights"][0]  # [7]: the middle member's mix on layers 2-5
    assert torch.allclose(weights[2:6], (alone["layer_weights"][0] + every["layer_weights"][0, 2:6]) / 2)
    assert torch.allclose(weights[[0, 1, 6]], every["layer_weights"][0, [0, 1, 6]] / 2)


def test_a_pair_of_members_unlike_but_in_layers_or_miscounted_is_refused():
    from emodemo.models.ssl_mha import SslMhaEnsemble

    kwargs = dict(n_classes=4, speech_dim=16, speech_layers=5, text_dim=16, dim=8, heads=2)
    for other in (dict(kwargs, fusion="cross"), dict(kwargs, text_feature="cls"), dict(kwargs, speech_stride=1)):
        with pytest.raises(ValueError, match="differ in more than the layers"):
            SslMhaEnsemble([kwargs, other], (1.0, 1.0), [None, None])
    with pytest.raises(ValueError, match="2 members, 1 temperatures"):
        SslMhaEnsemble([kwargs, kwargs], (1.0,), [None, None])
    with pytest.raises(ValueError, match="mixing 5 layers is said to read"):
        SslMhaEnsemble([kwargs, kwargs], (1.0, 1.0), [(0, 3), None])
    pair = SslMhaEnsemble([dict(kwargs, speech_layers=4), kwargs], (1.0, 1.0), [(4, 7), None])
    with pytest.raises(ValueError, match="reads layer 7, and the speech states hold 5 layers"):
        pair(**_batch(layers=5))
