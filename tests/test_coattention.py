"""Talk 001's co-attention model: eq. 3's steps, the fusion, staged unfreezing on the real encoders."""

import pytest
import torch

from emodemo.models.coattention import CoAttentionNet, GuidedAttention
from emodemo.models.layers import utterance_normalised


def _batch(b=3, t=20, n=7, layers=1, dim=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    speech_mask = torch.arange(t)[None, :] < torch.tensor([t, t - 5, 4][:b])[:, None]
    text_mask = torch.arange(n)[None, :] < torch.tensor([n, 3, 2][:b])[:, None]
    return {
        "speech": torch.randn(b, layers, t, dim, generator=g) * speech_mask[:, None, :, None],
        "speech_mask": speech_mask,
        "text": torch.randn(b, layers, n, dim, generator=g) * text_mask[:, None, :, None],
        "text_mask": text_mask,
    }


def test_an_attention_step_is_a_distribution_over_real_steps_and_its_weighted_sum():
    step = GuidedAttention(dim=16, guide_dim=8, k=12)
    x, mask = torch.randn(2, 10, 16), torch.arange(10)[None, :] < torch.tensor([10, 6])[:, None]
    pooled, weights = step(x, mask)
    assert torch.allclose(weights.sum(dim=1), torch.ones(2)) and (weights[1, 6:] == 0).all()
    assert torch.allclose(pooled, torch.einsum("bt,btd->bd", weights, x), atol=1e-6)
    same, _ = step(x, mask, torch.zeros(2, 8))  # g = 0 is the unguided first step
    assert torch.allclose(same, pooled)
    _, guided = step(x, mask, torch.randn(2, 8))
    assert not torch.allclose(guided, weights)  # the guide moves the attention


def test_the_three_steps_depend_on_what_they_are_guided_by():
    model = CoAttentionNet(n_classes=4, speech_dim=16, text_dim=16, attention_dim=8, fused_dim=12).eval()
    batch = _batch()
    out = model(**batch)
    assert out["logits"].shape == (3, 4) and out["speech_attention"].shape == (3, 20)
    assert out["text_attention_1"].shape == out["text_attention_3"].shape == (3, 7)
    other_speech = dict(
        batch, speech=batch["speech"] + torch.randn_like(batch["speech"]) * batch["speech_mask"][:, None, :, None]
    )
    moved = model(**other_speech)
    assert torch.allclose(moved["text_attention_1"], out["text_attention_1"])  # step 1: text alone
    assert not torch.allclose(moved["text_attention_3"], out["text_attention_3"])  # step 3: guided by speech
    other_text = dict(
        batch, text=batch["text"] + torch.randn_like(batch["text"]) * batch["text_mask"][:, None, :, None]
    )
    assert not torch.allclose(model(**other_text)["speech_attention"], out["speech_attention"])  # step 2


def test_a_clip_answers_the_same_whatever_its_batch_mates_and_padding():
    model = CoAttentionNet(n_classes=4, speech_dim=16, text_dim=16, attention_dim=8, fused_dim=12).eval()
    batch = _batch()
    alone = {k: v[2:3] for k, v in batch.items()}
    alone = {
        "speech": alone["speech"][:, :, :4],
        "speech_mask": alone["speech_mask"][:, :4],
        "text": alone["text"][:, :, :2],
        "text_mask": alone["text_mask"][:, :2],
    }
    assert torch.allclose(model(**batch)["logits"][2], model(**alone)["logits"][0], atol=1e-5)


@pytest.mark.parametrize("mode", ["fusion", "speech"])
def test_speech_stats_add_the_attended_frames_spread_and_ignore_padding(mode):
    """With ``speech_stats`` the speech summary is the attended mean and the attention-weighted standard
    deviation of the real frames: two clips with the same mean frame but a steadier or a livelier
    voice now differ, and padding still changes nothing."""
    model = CoAttentionNet(
        n_classes=4, mode=mode, speech_dim=16, text_dim=16, attention_dim=8, fused_dim=12, speech_stats=True
    ).eval()
    batch = _batch()
    x, weights = torch.randn(2, 5, 16), torch.softmax(torch.randn(2, 5), dim=-1)
    x_hat = torch.einsum("bt,btd->bd", weights, x)
    summary = model.speech_summary(x, x_hat, weights, torch.ones(2, 5, dtype=torch.bool))
    spread = (weights[:, :, None] * (x - x_hat[:, None]) ** 2).sum(1).sqrt()
    assert summary.shape == (2, 32) and torch.allclose(summary, torch.cat([x_hat, spread], -1), atol=1e-5)
    frames = torch.randn(1, 1, 6, 16)
    steady = torch.cat([frames, frames], dim=2)  # the same frames twice: mean, spread unchanged
    lively = torch.cat([frames + 1.0, frames - 1.0], dim=2)  # the same mean, twice the movement
    clip = lambda speech: {
        "speech": speech,
        "speech_mask": torch.ones(1, 12, dtype=torch.bool),
        **({k: batch[k][:1] for k in ("text", "text_mask")} if mode == "fusion" else {}),
    }
    uniform = lambda module: torch.nn.init.zeros_(module.w_h.weight)  # equal attention on every frame
    uniform(model.attend_speech)
    assert not torch.allclose(model(**clip(steady))["logits"], model(**clip(lively))["logits"])
    alone = {k: v[2:3] for k, v in batch.items() if mode == "fusion" or k.startswith("speech")}
    padded = dict(alone)  # clip 2 (4 real frames of 20), with 3 more padding frames
    padded["speech"] = torch.cat([alone["speech"], torch.randn(1, 1, 3, 16)], dim=2)
    padded["speech_mask"] = torch.cat([alone["speech_mask"], torch.zeros(1, 3, dtype=torch.bool)], dim=1)
    assert torch.allclose(model(**alone)["logits"], model(**padded)["logits"], atol=1e-5)


def test_speech_plain_adds_every_real_frames_mean_and_spread_whatever_the_attention():
    model = CoAttentionNet(
        n_classes=4, mode="speech", speech_dim=16, text_dim=16, attention_dim=8, fused_dim=12, speech_plain=True
    ).eval()
    x, mask = torch.randn(2, 6, 16), torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    for weights in (torch.softmax(torch.randn(2, 6), -1) * mask, torch.eye(6)[:2]):
        x_hat = torch.einsum("bt,btd->bd", weights, x)
        summary = model.speech_summary(x, x_hat, weights, mask)  # [x_hat, plain mean, plain spread]
        assert summary.shape == (2, 48) and torch.allclose(summary[:, :16], x_hat)
        for b, n in enumerate((6, 4)):
            frames = x[b, :n]
            assert torch.allclose(summary[b, 16:32], frames.mean(0), atol=1e-5)
            assert torch.allclose(summary[b, 32:], frames.std(0, unbiased=False), atol=1e-4)


@pytest.mark.parametrize("mode, keys", [("speech", {"speech_attention"}), ("text", {"text_attention_1"})])
def test_unimodal_variants_read_only_their_modality(mode, keys):
    model = CoAttentionNet(n_classes=4, mode=mode, speech_dim=16, text_dim=16, attention_dim=8, fused_dim=12).eval()
    batch = _batch()
    drop = "text" if mode == "speech" else "speech"
    out = model(**{k: v for k, v in batch.items() if not k.startswith(drop)})
    assert set(out) == keys | {"logits"}
    with pytest.raises(ValueError, match="mode"):
        CoAttentionNet(n_classes=4, mode="audio")


# a small model holding copies of two top layers of each encoder
STAGED = dict(
    n_classes=4,
    speech_dim=24,
    text_dim=24,
    speech_top=2,
    speech_heads=4,
    text_top=2,
    text_config={"num_attention_heads": 4, "intermediate_size": 48},
)


def test_unfreezing_trains_the_top_layers_only_and_runs_them_from_the_states_below():
    model = CoAttentionNet(**STAGED).eval()

    def trainable(prefix):
        return {
            n.split(".")[2] for n, p in model.named_parameters() if p.requires_grad and n.startswith(prefix + ".blocks")
        }

    model.unfreeze(0)
    assert trainable("speech_top") == trainable("text_top") == set()
    assert model.classifier[1].weight.requires_grad
    model.unfreeze(1)
    assert trainable("speech_top") == trainable("text_top") == {"1"}  # the top block of each side
    model.unfreeze(2)
    assert trainable("speech_top") == trainable("text_top") == {"0", "1"}
    with pytest.raises(ValueError, match="cannot unfreeze 3"):
        model.unfreeze(3)
    batch = _batch(layers=3, dim=24)
    model.unfreeze(0)
    head_only = model(**batch)
    # with nothing unfrozen the layer below is never read: changing it changes nothing
    changed = dict(batch, speech=batch["speech"].clone())
    changed["speech"][:, 1] += torch.randn_like(changed["speech"][:, 1])  # not a constant: layer norms remove those
    assert torch.allclose(model(**changed)["logits"], head_only["logits"])
    model.unfreeze(1)
    assert not torch.allclose(model(**changed)["logits"], model(**batch)["logits"])


def test_a_staged_model_answers_after_loading_as_it_did_after_training(tmp_path):
    """A checkpoint of a model whose top layers were fine-tuned runs them when loaded (the app, the
    harness's fold models), not the frozen encoder's last states its head never saw."""
    from emodemo.models import REGISTRY
    from emodemo.training.checkpoint import load_checkpoint, save_checkpoint

    model = CoAttentionNet(**STAGED)
    model.unfreeze(2)  # as after the top2 stage
    torch.manual_seed(1)
    with torch.no_grad():
        for block in model.speech_top.blocks:  # weights a stage moved
            for parameter in block.parameters():
                parameter.add_(0.1 * torch.randn_like(parameter))
    batch = _batch(layers=3, dim=24)
    trained = model.eval()(**batch)["logits"]
    save_checkpoint(
        tmp_path,
        model,
        model_name="coattention",
        model_kwargs=STAGED,
        labels=list("abcd"),
        data_card={"licence": "none: random weights"},
        metrics={},
    )
    loaded, _ = load_checkpoint(tmp_path, REGISTRY)
    assert loaded.unfrozen == 2 and torch.allclose(loaded(**batch)["logits"], trained, atol=1e-5)
    model.unfreeze(0)
    assert not torch.allclose(model(**batch)["logits"], trained, atol=1e-3)  # what it answered before the fix


@pytest.mark.parametrize("top, speech_layers, text_layers", [(2, 3, 3), (6, 5, 7)])
def test_copied_top_layers_reproduce_the_real_encoders_last_states(ravdess_clip, top, speech_layers, text_layers):
    """Staged fine-tuning starts where the frozen encoders end: Whisper's and MiniLM's top layers
    (or all of them: Whisper has 4 blocks, MiniLM 6), copied into the model and run on the cached
    states below them, give the cached last states."""
    from emodemo.inputs.audio import load_audio
    from emodemo.recipes import coattention as recipe

    spec = {"mode": "fusion", "top_layers": top, "speech_encoder": recipe.WHISPER, "text_encoder": recipe.MINILM}
    kwargs = recipe.model_kwargs("fusion", top, 7)
    assert (kwargs["speech_top"], kwargs["text_top"]) == (speech_layers - 1, text_layers - 1)
    model = recipe.build_model(kwargs, spec).eval()
    from emodemo.speech.asr import Transcript

    batch = recipe.clip_inputs(
        load_audio(ravdess_clip), Transcript("Kids are talking by the door.", [], "en", "x", 0, 4, "tiny.en"), spec
    )
    assert batch["speech"].shape[1] == speech_layers and batch["text"].shape[1] == text_layers
    for n in (1, 2, top):
        model.unfreeze(min(n, max(len(b) for b in model.top_blocks())))
        speech = model.speech_top(batch["speech"], batch["speech_mask"], n)
        text = model.text_top(batch["text"], batch["text_mask"], n)
        assert torch.allclose(speech, batch["speech"][:, -1], atol=0.05)  # fp16-cached inputs
        assert torch.allclose(text, batch["text"][:, -1], atol=0.01)


@pytest.mark.parametrize("normalise", [False, True], ids=["raw", "normalised"])
def test_serving_inputs_equal_training_inputs(ravdess_clip, normalise, tmp_path, monkeypatch):
    """A user's clip and its transcript reach the model as the same clip did in training, through the
    feature cache (filled, then read back), with raw or normalised input."""
    from emodemo.data.record import Sample
    from emodemo.inputs.audio import load_audio
    from emodemo.recipes import coattention as recipe
    from emodemo.speech.asr import Transcript

    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path))
    text = "Kids are talking by the door."
    sample = Sample("clip", "ravdess", "angry", audio=ravdess_clip, text=text)
    spec = {
        "mode": "fusion",
        "top_layers": 1,
        "speech_encoder": recipe.WHISPER,
        "text_encoder": recipe.MINILM,
        "normalise": normalise,
    }
    recipe.make_dataset([sample], recipe.LABELS, spec)  # fills the cache
    trained = recipe.StateClips.collate([recipe.make_dataset([sample], recipe.LABELS, spec)[0]])
    served = recipe.clip_inputs(load_audio(ravdess_clip), Transcript(text, [], "en", "x", 0.1, 4.0, "tiny.en"), spec)
    other = recipe.make_dataset([sample], recipe.LABELS, dict(spec, normalise=not normalise))[0]["speech"]
    mine = trained["speech"][0]  # the other setting's states are not read from this one's cache
    assert other.shape != mine.shape or not torch.allclose(other.float(), mine.float(), atol=1e-2)
    for key in ("speech_mask", "text_mask"):
        assert torch.equal(served[key], trained[key]), key
    for key in ("speech", "text"):  # the same layers of the same frames; fp16 rounding of batched vs lone runs
        assert served[key].shape == trained[key].shape
        assert torch.allclose(served[key], trained[key], rtol=1e-2, atol=1e-2), key
    assert recipe.clip_tokens(Transcript(text, [], "en", "x", 0.1, 4.0, "tiny.en"), spec)[:3] == (
        "[CLS]",
        "kids",
        "are",
    )
    nothing_heard = recipe.clip_inputs(load_audio(ravdess_clip), None, spec)
    assert nothing_heard["text"].shape[2] == 2  # [CLS] [SEP]: the model still answers from the voice


def test_the_talks_bce_and_softmax_ce_both_train_the_staged_model(tmp_path):
    """The CLI trains through the stages on an IEMOCAP fixture tree (the talk's data path), with
    either loss, scores the test speakers after every stage, and the checkpoint evaluates."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from emodemo.data import layouts

    repo = Path(__file__).resolve().parents[1]
    root = layouts.make_iemocap(tmp_path / "data", sessions=(1, 2, 3))
    for loss in ("bce", "ce"):
        out = tmp_path / loss
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "emodemo",
                "train",
                "coattention",
                "--dataset",
                "iemocap",
                "--root",
                str(root),
                "--cv",
                "--quick",
                "--out",
                str(out),
                "--results",
                str(tmp_path / f"{loss}.json"),
                "--option",
                f"loss={loss}",
                "--option",
                f"fold_models={tmp_path / loss}-folds",
            ],
            capture_output=True,
            text=True,
            cwd=repo,
            timeout=600,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        cv = json.loads((tmp_path / f"{loss}.json").read_text())
        assert list(cv["stages"]) == ["head", "top1", "top2"] and cv["loss"] == loss
        assert cv["stages"]["top2"]["folds"][0]["labels"] == ["neutral", "happy", "sad", "angry"]
        fold = cv["folds"][0]
        kept = json.loads((tmp_path / f"{loss}-folds" / fold["fold"] / "config.json").read_text())
        assert kept["data_card"]["test_speakers"] == fold["test"]  # each fold's model, to look inside later
        config = json.loads((out / "config.json").read_text())
        assert config["train_config"]["loss"] == loss and config["model_kwargs"]["speech_top"] == 2
        assert config["calibration"]["fitted_on"] == config["data_card"]["validation_speakers"]
    evaluated = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "evaluate",
            str(tmp_path / "bce"),
            "--dataset",
            "iemocap",
            "--root",
            str(root),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=600,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads(evaluated.stdout)["n_samples"] == 30


def test_hub_encoders_are_selectable_and_work_from_a_saved_folder(tmp_path, tiny_hub_encoders):
    """Users who are online pick a Hub speech / text encoder by id; the same code loads a saved
    folder, tested here with small random-weight models saved on disk (no network)."""
    import numpy as np

    from emodemo.inputs import text
    from emodemo.recipes import coattention as recipe

    speech_dir, text_dir = tiny_hub_encoders
    waves = [np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32), np.zeros(8000, np.float32) + 0.01]
    out = recipe.speech_encoder(str(speech_dir)).encode(waves, all_layers=True)
    assert out.layers.shape[:2] == (2, 3) and out.lengths[1] < out.lengths[0]
    assert out.mask.sum(dim=1).tolist() == out.lengths.tolist()
    spec = {"mode": "fusion", "top_layers": 0, "speech_encoder": str(speech_dir), "text_encoder": str(text_dir)}
    kwargs = recipe.model_kwargs("fusion", 0, 7, str(speech_dir), str(text_dir))
    assert kwargs["speech_dim"] == kwargs["text_dim"] == 32
    model = recipe.build_model(kwargs, spec).eval()
    from emodemo.speech.asr import Transcript

    logits = model(**recipe.clip_inputs(waves[0], Transcript("so happy", [], "en", "x", 0, 1, "tiny.en"), spec))[
        "logits"
    ]
    assert logits.shape == (1, 7)
    with pytest.raises(ValueError, match="top_layers=0"):
        recipe.build_model(
            recipe.model_kwargs("fusion", 1, 7, str(speech_dir), str(text_dir)), dict(spec, top_layers=1)
        )
    with pytest.raises(FileNotFoundError, match="Offline"):
        text.load_text_encoder(str(tmp_path / "missing"))


def test_stage_plan_follows_the_talk_and_rejects_unknown_stages():
    from emodemo.recipes import coattention as recipe

    plan = recipe.stage_plan(["head", "top1", "top2", "all"], None, 0, False, "bce", 1e-3, 32)
    assert [s.name for s in plan] == ["head", "top1", "top2", "all"]
    assert [s.cfg.lr for s in plan] == pytest.approx([1e-3, 1e-4, 5e-5, 2e-5])  # lower as more layers train
    assert all(s.cfg.loss == "bce" for s in plan)
    model = CoAttentionNet(**dict(STAGED, speech_top=1))
    plan[-1].prepare(model)  # "all": every copied layer of each side
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="unknown stage"):
        recipe.stage_plan(["head", "everything"], None, 0, False, "bce", 1e-3, 32)


def test_one_blocks_states_are_read_with_the_head_alone(ravdess_clip, tmp_path):
    """``speech_block``: the states of that Whisper block, the encoder run no deeper; refused with
    fine-tuned encoder tops, which copy the encoder's last blocks."""
    from emodemo.inputs.audio import load_audio
    from emodemo.recipes import coattention as recipe
    from emodemo.recipes import frozen_states

    with pytest.raises(ValueError, match="stages=head"):
        recipe.train("ravdess", tmp_path, tmp_path / "out", stages="head,top1", speech_block=3)
    spec = {"mode": "fusion", "top_layers": 0, "speech_encoder": "whisper-base", "text_encoder": recipe.MINILM}
    wave = load_audio(ravdess_clip)
    served = recipe.clip_inputs(wave, None, dict(spec, speech_block=3))["speech"][0]  # [1, T, 512]
    whole = frozen_states.speech_states([wave], "whisper-base", 6)[0].float()  # every layer [7, T, 512]
    assert served.shape[0] == 1 and torch.allclose(served[0], whole[3], rtol=1e-2, atol=1e-2)


def test_mixed_layers_are_each_normalised_then_weighted_by_the_learned_mix():
    """``speech_layers``: X is the softmax-weighted sum of the layer-normalised layers (one layer when its
    weight dominates), 0 on padding; the mix is reported; fine-tuned tops and a wrong depth are refused."""
    with pytest.raises(ValueError, match="speech_top=0"):
        CoAttentionNet(n_classes=4, speech_dim=16, text_dim=16, speech_top=1, speech_layers=4)
    model = CoAttentionNet(n_classes=4, speech_dim=16, text_dim=16, attention_dim=8, speech_layers=4).eval()
    batch = _batch(layers=4)
    batch["text"] = batch["text"][:, -1:]  # MiniLM's last layer alone [B, 1, N, 16]
    with torch.no_grad():
        model.layer_mix.logits.copy_(torch.tensor([0.0, 0.0, 30.0, 0.0]))  # all weight on layer 2
        out = {}
        x = model.speech_states(batch["speech"], batch["speech_mask"], out)
        third = torch.nn.functional.layer_norm(batch["speech"][:, 2], (16,)) * batch["speech_mask"][..., None]
        assert torch.allclose(x, third, atol=1e-5)
        assert out["layer_weights"].shape == (3, 4) and out["layer_weights"][0, 2] > 0.99
        assert torch.allclose(model(**batch)["layer_weights"], out["layer_weights"])
        with pytest.raises(ValueError, match="4 layers"):
            model(**dict(batch, speech=batch["speech"][:, :3]))


def test_utterance_norm_takes_out_what_stays_the_same_through_a_clip():
    """``utterance_norm``: X has each clip's real frames at mean 0 and spread 1 per feature, padding at 0; states
    that differ by a constant offset and scale per feature (another voice's timbre, another room) read the same,
    and the answer does not hang on how much padding a batch adds."""
    torch.manual_seed(0)
    kwargs = dict(n_classes=4, speech_dim=16, text_dim=16, attention_dim=8, speech_layers=4)
    model = CoAttentionNet(**kwargs, utterance_norm=True).eval()
    batch = _batch(layers=4)
    batch["text"] = batch["text"][:, -1:]
    mask = batch["speech_mask"]
    with torch.no_grad():
        x = model.speech_states(batch["speech"], mask, {})  # [B, T, 16]
        for b in range(len(x)):
            real = x[b, mask[b]]  # [T_b, 16]
            assert torch.allclose(real.mean(0), torch.zeros(16), atol=1e-4)
            assert torch.allclose(real.std(0, unbiased=False), torch.ones(16), atol=1e-2)
            assert (x[b, ~mask[b]] == 0).all()
        mixed = model.layer_mix.normalised(batch["speech"]) * mask[..., None]  # [B, T, 16]
        other_voice = (mixed * torch.linspace(0.5, 2.0, 16) + torch.randn(16)) * mask[..., None]
        assert torch.allclose(utterance_normalised(other_voice, mask), x, atol=1e-3)
        plain = CoAttentionNet(**kwargs).eval()
        assert torch.allclose(plain.speech_states(batch["speech"], mask, {}), mixed)  # off: the mix as before
        one = {k: v[1:2] for k, v in batch.items()}  # a clip of 15 real frames in a batch of 20
        trimmed = dict(one, speech=one["speech"][:, :, :15], speech_mask=one["speech_mask"][:, :15])
        assert torch.allclose(model(**one)["logits"], model(**trimmed)["logits"], atol=1e-5)
        # the last states as given (no layer mix): what the padding holds never reaches a clip's frames
        last = CoAttentionNet(n_classes=4, speech_dim=16, text_dim=16, attention_dim=8, utterance_norm=True).eval()
        plain_batch = _batch(layers=1)
        noisy = plain_batch["speech"] + torch.randn_like(plain_batch["speech"]) * ~mask[:, None, :, None]
        x_noisy = last.speech_states(noisy, mask, {})
        assert torch.allclose(x_noisy, last.speech_states(plain_batch["speech"], mask, {}), atol=1e-5)
        assert (x_noisy[~mask] == 0).all()


def test_the_recipe_refuses_utterance_norm_where_it_means_nothing(tmp_path):
    """Refused before any data is read: with no voice (``mode=text``), and beside ``speech_plain``, whose plain
    mean and spread of a normalised clip are 0 and 1 for every clip."""
    from emodemo.recipes import coattention as recipe

    for options, message in (
        ({"mode": "text", "utterance_norm": True}, "utterance_norm reads the speech"),
        ({"utterance_norm": True, "speech_plain": True}, "speech_plain would add nothing"),
    ):
        with pytest.raises(ValueError, match=message):
            recipe.train("ravdess", tmp_path / "no data here", tmp_path / "out", quick=True, **options)


def test_a_range_of_layers_is_read_with_the_head_alone(ravdess_clip, tmp_path):
    """``speech_layers=0-3``: the states of Whisper base's layers 0-3 (the encoder run no deeper), the
    same tensors Self-MHA's lower member reads; refused with fine-tuned tops or a gap in the range."""
    from emodemo.inputs.audio import load_audio
    from emodemo.recipes import coattention as recipe
    from emodemo.recipes import frozen_states, ssl_mha

    for options, message in (
        ({"stages": "head,top1"}, "stages=head"),
        ({"stages": "head", "speech_layers": "0,2"}, "contiguous"),
        ({"stages": "head", "speech_layers": "all"}, "a range of layers"),
        ({"stages": "head", "speech_layers": "3-1"}, "a range of layers"),
        ({"stages": "head", "mode": "text"}, "mode=text"),
        ({"stages": "head", "speech_block": 3}, "give one of them"),
    ):
        with pytest.raises(ValueError, match=message):
            recipe.train("ravdess", tmp_path, tmp_path / "out", **{"speech_layers": "0-3", **options})
    spec = {"mode": "fusion", "top_layers": 0, "speech_encoder": "whisper-base", "text_encoder": recipe.MINILM}
    wave = load_audio(ravdess_clip)
    served = recipe.clip_inputs(wave, None, dict(spec, speech_layers=[0, 1, 2, 3]))["speech"][0]  # [4, T, 512]
    whole = frozen_states.speech_states([wave], "whisper-base", 6)[0].float()  # every layer [7, T, 512]
    assert served.shape[0] == 4 and torch.allclose(served.float(), whole[:4], rtol=1e-2, atol=1e-2)
    gate = {"normalise": True, "denoise_below_db": 30.0, "steady_floor_below_db": 5.0}
    mha = {"fusion": "self", "speech_encoder": "whisper-base", "text_encoder": recipe.MINILM, "layers": [0, 1, 2, 3]}
    # the same (encoder, layers, input, gate) key: the feature cache and the app's clip memo are shared
    assert recipe._encoders(dict(spec, speech_layers=[0, 1, 2, 3], **gate)) == ssl_mha._encoders(dict(mha, **gate))


def test_a_mean_answers_its_members_calibrated_mean_and_averages_their_attention():
    """``CoAttentionMean``: the log of the members' mean probability, each at its own temperature; every
    attention map and the layer mix the members' average; members of other recipes are refused."""
    from emodemo.models.coattention import CoAttentionMean

    kwargs = dict(n_classes=4, speech_dim=16, text_dim=16, attention_dim=8, speech_layers=4)
    torch.manual_seed(0)
    mean = CoAttentionMean([kwargs] * 3, temperatures=(0.5, 1.0, 3.0)).eval()
    with torch.no_grad():
        for member in mean.members:
            member.layer_mix.logits.normal_()  # each member its own mix (they start even)
    batch = _batch(layers=4)
    batch["text"] = batch["text"][:, -1:]
    with torch.no_grad():
        outs = [member(**batch) for member in mean.members]
        out = mean(**batch)
    probs = torch.stack([torch.softmax(o["logits"] / t, -1) for o, t in zip(outs, (0.5, 1.0, 3.0))]).mean(0)
    assert torch.allclose(out["logits"].exp(), probs, atol=1e-6)
    for key in ("speech_attention", "text_attention_1", "text_attention_3", "layer_weights"):
        assert torch.allclose(out[key], torch.stack([o[key] for o in outs]).mean(0), atol=1e-6), key
    with pytest.raises(ValueError, match="built differently"):
        CoAttentionMean([kwargs, dict(kwargs, speech_layers=3)], (1.0, 1.0))
    # a member whose head also reads the frames' statistics attends the same frames and words: its maps average
    both = CoAttentionMean([kwargs, dict(kwargs, speech_plain=True)], (2.0, 1.0)).eval()
    with torch.no_grad():
        outs, out = [member(**batch) for member in both.members], both(**batch)
    probs = torch.stack([torch.softmax(o["logits"] / t, -1) for o, t in zip(outs, (2.0, 1.0))]).mean(0)
    assert torch.allclose(out["logits"].exp(), probs, atol=1e-6)
    for key in ("speech_attention", "text_attention_1", "text_attention_3"):
        assert torch.allclose(out[key], (outs[0][key] + outs[1][key]) / 2, atol=1e-6), key
    with pytest.raises(ValueError, match="same layers"):
        CoAttentionMean([kwargs] * 2, (1.0, 1.0), member_layers=[(0, 3), None])
