"""Talk 000's model (emodemo.models.nmt_attention): shapes, padding, alignments, gradients, training."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from emodemo.models import REGISTRY, build
from emodemo.models.nmt_attention import (
    FRAME_RATE,
    HOP,
    RECEPTIVE_FIELD,
    MaskedGRU,
    NMTAttention,
    frame_lengths,
    word_spans_to_frames,
)
from emodemo.training.checkpoint import load_checkpoint, save_checkpoint
from emodemo.training.datasets import DictDataset
from emodemo.training.engine import TrainConfig, fit

VOCAB, CLASSES = 30, 4
FUSIONS = [
    dict(mode="fusion", alignment=a, score=s)
    for a, s in [("global", "concat"), ("global", "dot"), ("local", "general"), ("forced", "concat")]
]
ALL_MODES = [dict(mode="audio"), dict(mode="text")] + FUSIONS


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: one thread is faster than several (no OpenMP hand-offs per small op)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_model(**kwargs) -> NMTAttention:
    torch.manual_seed(0)
    defaults = dict(n_classes=CLASSES, vocab_size=VOCAB, hidden=16, conv_channels=16, window=4, dropout=0.0)
    return NMTAttention(**{**defaults, **kwargs})


def batch(n: int = 4, seconds: float = 1.0, words: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random padded inputs with varied real lengths; word spans share each clip's frames evenly."""
    generator = torch.Generator().manual_seed(seed)
    samples = int(seconds * 16_000)
    wave_lengths = torch.linspace(samples // 2, samples, n).long()
    wave = torch.randn(n, samples, generator=generator) * (torch.arange(samples) < wave_lengths[:, None])
    word_counts = torch.linspace(2, words, n).long()
    tokens = torch.randint(1, VOCAB, (n, words), generator=generator) * (torch.arange(words) < word_counts[:, None])
    frames = frame_lengths(wave_lengths)
    word_frames = torch.full((n, words, 2), -1)
    for i in range(n):
        edges = torch.linspace(0, int(frames[i]), int(word_counts[i]) + 1).long()
        word_frames[i, : int(word_counts[i])] = torch.stack([edges[:-1], edges[1:]], dim=-1)
    return dict(wave=wave, wave_lengths=wave_lengths, tokens=tokens, word_frames=word_frames)


def one_example(inputs: dict[str, torch.Tensor], i: int) -> dict[str, torch.Tensor]:
    """Example i alone, cut to its own real length (no padding at all)."""
    samples, words = int(inputs["wave_lengths"][i]), int((inputs["tokens"][i] > 0).sum())
    return dict(
        wave=inputs["wave"][i : i + 1, :samples],
        wave_lengths=inputs["wave_lengths"][i : i + 1],
        tokens=inputs["tokens"][i : i + 1, :words],
        word_frames=inputs["word_frames"][i : i + 1, :words],
    )


# ------------------------------------------------------------------------------ audio geometry


def test_one_audio_state_every_20_ms():
    assert (HOP, FRAME_RATE, RECEPTIVE_FIELD) == (320, 50.0, 540)
    assert frame_lengths(torch.tensor([64_000, 16_000, 1])).tolist() == [199, 49, 1]
    model = small_model(mode="audio")
    for samples in (RECEPTIVE_FIELD - 1, 5_000, 16_000):
        states, mask = model.audio(torch.randn(1, samples), torch.tensor([samples]))
        assert states.shape[1] == mask.sum() == frame_lengths(torch.tensor([samples]))


def test_word_spans_become_the_frames_centred_inside_them():
    frames = word_spans_to_frames([(0.5, 1.0), None, (2.0, 2.001)])
    start, end = frames[0].tolist()
    centre_seconds = lambda i: (i * HOP + (RECEPTIVE_FIELD - 1) / 2) / 16_000
    assert all(0.5 <= centre_seconds(i) < 1.0 for i in range(start, end))
    assert centre_seconds(start - 1) < 0.5 and centre_seconds(end) >= 1.0
    assert frames[1].tolist() == [-1, -1]
    assert frames[2, 1] - frames[2, 0] == 1  # a very short word still gets one state
    assert word_spans_to_frames([]).shape == (0, 2)


def test_masked_gru_equals_a_gru_on_packed_sequences():
    torch.manual_seed(0)
    reference = nn.GRU(3, 5, batch_first=True, bidirectional=True)
    masked = MaskedGRU(3, 5, bidirectional=True)
    with torch.no_grad():
        for name, value in reference.named_parameters():
            target = masked.backward_gru if name.endswith("_reverse") else masked.forward_gru
            getattr(target, name.removesuffix("_reverse")).copy_(value)
    x, lengths = torch.randn(3, 7, 3), torch.tensor([7, 4, 1])
    packed, _ = reference(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    expected = pad_packed_sequence(packed, batch_first=True, total_length=7)[0]
    assert torch.allclose(masked(x, lengths), expected, atol=1e-6)


# ------------------------------------------------------------------------------ forward pass


@pytest.mark.parametrize("config", ALL_MODES, ids=lambda c: "-".join(c.values()))
def test_padding_never_changes_an_examples_result(config):
    model = small_model(**config).eval()
    inputs = batch()
    with torch.no_grad():
        together = model(**inputs)
        for i in range(len(inputs["wave"])):
            alone = model(**one_example(inputs, i))
            assert torch.allclose(alone["logits"][0], together["logits"][i], atol=1e-5)
            if "attention" in alone:
                words, frames = alone["attention"].shape[1:]
                assert torch.allclose(alone["attention"][0], together["attention"][i, :words, :frames], atol=1e-6)
                assert together["attention"][i, words:].abs().sum() == 0
                assert together["attention"][i, :, frames:].abs().sum() == 0


@pytest.mark.parametrize("config", FUSIONS, ids=lambda c: "-".join(c.values()))
def test_fusion_returns_logits_and_one_distribution_over_audio_per_real_word(config):
    inputs = batch()
    out = small_model(**config)(**inputs)
    n, words = inputs["tokens"].shape
    assert out["logits"].shape == (n, CLASSES)
    assert out["attention"].shape == (n, words, int(frame_lengths(inputs["wave_lengths"]).max()))
    assert torch.allclose(out["attention"].sum(-1), (inputs["tokens"] > 0).float(), atol=1e-5)


def test_unimodal_modes_return_only_logits():
    for mode in ("audio", "text"):
        assert set(small_model(mode=mode)(**batch())) == {"logits"}


def test_forced_alignment_puts_no_weight_outside_each_words_frames():
    inputs = batch()
    inputs["word_frames"][0, 1] = -1  # one word without a span
    attention = small_model(mode="fusion", alignment="forced")(**inputs)["attention"]
    frame = torch.arange(attention.shape[-1])
    start, end = inputs["word_frames"].unbind(-1)
    outside = (frame < start[..., None]) | (frame >= end[..., None])
    has_span = (start >= 0)[..., None]
    assert attention[outside & has_span].abs().max() == 0
    real_frames = int(frame_lengths(inputs["wave_lengths"][:1]))
    assert (attention[0, 1, :real_frames] > 0).all()  # fallback: every real frame


def test_local_alignment_attends_within_the_window():
    model = small_model(mode="fusion", alignment="local", window=3)
    attention = model(**batch())["attention"]
    assert ((attention > 0).sum(-1) <= 7).all()


def test_no_nan_with_empty_spans_or_no_words():
    inputs = batch()
    inputs["word_frames"][0] = -1  # no span at all
    inputs["word_frames"][1, :, 0] = 10_000  # spans past the audio
    inputs["word_frames"][1, :, 1] = 10_001
    inputs["tokens"][2] = 0  # no words at all
    model = small_model(mode="fusion", alignment="forced")
    out = model(**inputs)
    out["logits"].sum().backward()
    assert torch.isfinite(out["logits"]).all() and torch.isfinite(out["attention"]).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert out["attention"][2].abs().sum() == 0


# ------------------------------------------------------------------------------ gradients


def parameter_grads(model: NMTAttention, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | None]:
    model(**inputs)["logits"].sum().backward()
    return {name: p.grad for name, p in model.named_parameters()}


@pytest.mark.parametrize(
    "mode,branches", [("fusion", {"audio", "text", "score", "W_c"}), ("audio", {"audio"}), ("text", {"text"})]
)
def test_gradients_reach_every_used_branch_and_only_those_exist(mode, branches):
    model = small_model(mode=mode, score="general")
    grads = parameter_grads(model, batch())
    assert {name.split(".")[0] for name in grads} == branches | {"head"}
    dead = [name for name, grad in grads.items() if grad is None or grad.abs().sum() == 0]
    assert dead == []


def test_a_frozen_embedding_gets_no_gradient():
    model = small_model(mode="text", freeze_embedding=True)
    grads = parameter_grads(model, batch())
    assert grads["text.embedding.weight"] is None and grads["text.gru.forward_gru.weight_hh_l0"] is not None


# ------------------------------------------------------------------------------ training


@pytest.mark.parametrize("config", ALL_MODES, ids=lambda c: "-".join(c.values()))
def test_overfits_a_tiny_batch(config):
    model = small_model(**config)
    inputs, labels = batch(seconds=0.5), torch.tensor([0, 1, 2, 3])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = nn.functional.cross_entropy(model(**inputs)["logits"], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]


def test_trains_through_the_engine_on_a_dict_dataset():
    inputs = batch(n=8, seconds=0.5)
    data = DictDataset(**inputs, label=torch.arange(8) % CLASSES)
    model = small_model(mode="fusion", alignment="forced")
    history = fit(model, data, data, TrainConfig(epochs=2, batch_size=4, device="cpu", progress=False))
    assert len(history.epochs) == 2 and all(r.train_loss > 0 for r in history.epochs)


# ------------------------------------------------------------------------------ construction


def test_registered_with_json_kwargs_and_survives_a_checkpoint(tmp_path):
    kwargs = dict(n_classes=CLASSES, vocab_size=VOCAB, hidden=8, conv_channels=8, alignment="local", score="dot")
    assert REGISTRY["nmt_attention"] is NMTAttention
    model = build("nmt_attention", **json.loads(json.dumps(kwargs))).eval()
    model.load_embedding(torch.randn(VOCAB, 50))
    save_checkpoint(
        tmp_path,
        model,
        model_name="nmt_attention",
        model_kwargs=kwargs,
        labels=list("abcd"),
        data_card={"dataset": "random", "licence": "none"},
        metrics={},
    )
    loaded, _ = load_checkpoint(tmp_path, REGISTRY)
    inputs = batch()
    with torch.no_grad():
        assert torch.equal(loaded(**inputs)["logits"], model(**inputs)["logits"])


def test_load_embedding_copies_the_matrix_and_checks_its_shape():
    model = small_model(mode="text", embed_dim=6)
    matrix = torch.randn(VOCAB, 6)
    model.load_embedding(matrix.numpy())
    assert torch.equal(model.text.embedding.weight, matrix)
    with pytest.raises(ValueError, match=r"\[vocab_size, embed_dim\]"):
        model.load_embedding(torch.randn(VOCAB, 5))
    with pytest.raises(ValueError, match="no word embedding"):
        small_model(mode="audio").load_embedding(matrix)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(mode="video"), "mode must be one of"),
        (dict(alignment="soft"), "alignment must be one of"),
        (dict(vocab_size=None), "give vocab_size"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_model(**kwargs)


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda x: x.pop("word_frames"), "needs word_frames"),
        (lambda x: x.pop("wave"), "needs wave"),
        (lambda x: x.update(tokens=x["tokens"].flip(1)), "right-padded"),
        (lambda x: x.update(tokens=x["tokens"] + VOCAB), "token ids must lie"),
        (lambda x: x.update(wave_lengths=x["wave_lengths"] * 10), "wave_lengths must be"),
    ],
)
def test_bad_inputs_get_a_clear_message(change, message):
    inputs = batch()
    change(inputs)
    with pytest.raises(ValueError, match=message):
        small_model(mode="fusion", alignment="forced")(**inputs)


# ------------------------------------------------------------------------------ frozen speech states


def as_states(inputs: dict[str, torch.Tensor], layers: int = 3, dim: int = 8) -> dict[str, torch.Tensor]:
    """The batch with frozen-encoder states in place of its waves: ``speech [B, L, M, D]``, one frame per
    audio state the waveform branch would give (zero past each clip's length), and ``speech_mask [B, M]``."""
    frames = frame_lengths(inputs["wave_lengths"])  # [B]
    generator = torch.Generator().manual_seed(1)
    mask = torch.arange(int(frames.max()))[None, :] < frames[:, None]  # [B, M]
    speech = torch.randn(len(frames), layers, mask.shape[1], dim, generator=generator) * mask[:, None, :, None]
    out = {k: v for k, v in inputs.items() if k not in ("wave", "wave_lengths")}
    return dict(out, speech=speech, speech_mask=mask)


def states_model(**kwargs) -> NMTAttention:
    """A fusion model with forced alignment that reads 3 layers of 8-dim frozen states (:func:`as_states`)."""
    return small_model(mode="fusion", alignment="forced", speech_layers=3, speech_dim=8, **kwargs)


@pytest.mark.parametrize(
    "recurrent,summary", [(True, False), (False, False), (True, True)], ids=["GRU", "each frame alone", "summary"]
)
def test_a_model_of_frozen_states_answers_each_clip_as_it_would_alone(recurrent, summary):
    """``speech_layers``: the words attend over a GRU on the mixed layers (or over each frame projected alone),
    with the whole clip's statistics beside them if asked; padding frames change nothing."""
    model = states_model(speech_recurrent=recurrent, speech_summary=summary).eval()
    inputs = as_states(batch())
    assert not hasattr(model.audio, "convs") and model.audio.mix.weights.shape == (3,)
    assert (model.audio.gru is not None) == recurrent and (model.audio.project is None) == recurrent
    with torch.no_grad():
        together = model(**inputs)
        for i in range(len(inputs["speech"])):
            frames, words = int(inputs["speech_mask"][i].sum()), int((inputs["tokens"][i] > 0).sum())
            alone = model(
                speech=inputs["speech"][i : i + 1, :, :frames],
                tokens=inputs["tokens"][i : i + 1, :words],
                word_frames=inputs["word_frames"][i : i + 1, :words],
            )
            assert torch.allclose(alone["logits"][0], together["logits"][i], atol=1e-5)
            assert together["attention"][i, :, frames:].abs().sum() == 0
    louder = dict(inputs, speech=inputs["speech"] * 10)  # each layer normalised first: a scale is gone
    with torch.no_grad():
        assert torch.allclose(model(**louder)["logits"], together["logits"], atol=1e-4)


def test_the_clip_summary_is_read_beside_the_words():
    """``speech_summary``: the head reads the whole clip's [mean; std] of the mixed states beside the words' pooled
    states, so frames no word attends to still change the answer, and the summary's layer learns; without it,
    they change nothing."""
    inputs = as_states(batch())
    inputs["word_frames"][:, :, 1] = inputs["word_frames"][:, :, 0] + 1  # each word attends to its first frame
    attended = torch.zeros_like(inputs["speech_mask"])
    for i, spans in enumerate(inputs["word_frames"]):
        attended[i, spans[spans[:, 0] >= 0, 0]] = True
    elsewhere = dict(
        inputs, speech=inputs["speech"] + 3 * torch.randn_like(inputs["speech"]) * ~attended[:, None, :, None]
    )
    for summary in (False, True):
        # each frame projected alone: a frame no word attends to reaches the words through nothing
        model = states_model(speech_recurrent=False, speech_summary=summary).eval()
        with torch.no_grad():
            moved = not torch.allclose(model(**inputs)["logits"], model(**elsewhere)["logits"], atol=1e-5)
        assert moved == summary
    model.train()
    model(**inputs)["logits"].sum().backward()
    assert model.summary[2].weight.grad.abs().sum() > 0 and model.head[1].in_features == 3 * model.state_dim


@pytest.mark.parametrize("kwargs", [dict(), dict(speech_layers=3, speech_dim=8, mode="audio")])
def test_a_clip_summary_needs_states_and_words(kwargs):
    with pytest.raises(ValueError, match="speech_summary pools frozen encoder states beside the words"):
        small_model(**{"mode": "fusion", **kwargs, "speech_summary": True})


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda x: x.update(speech=x["speech"][:, :2]), "3 layers"),
        (lambda x: x.pop("speech"), "reads speech states"),
        (lambda x: x.update(speech_mask=x["speech_mask"].flip(1)), "real frames first"),
        (lambda x: x.update(speech_mask=x["speech_mask"].float()), "must be bool"),
        (lambda x: x["speech_mask"][-1].__setitem__(5, False), "real frames first"),  # a gap in a clip's frames
    ],
)
def test_bad_states_get_a_clear_message(change, message):
    inputs = as_states(batch())
    change(inputs)
    with pytest.raises(ValueError, match=message):
        states_model()(**inputs)


def test_a_fold_mean_answers_its_members_calibrated_mean_and_averages_their_attention():
    """``NMTAttentionMean`` (a run's fold models served as one): the log of the members' mean probability, each at
    its own temperature, each word's attention the members' average; members of other settings are refused."""
    from emodemo.models import REGISTRY, NMTAttentionMean

    kwargs = dict(
        n_classes=CLASSES,
        vocab_size=VOCAB,
        hidden=16,
        window=4,
        mode="fusion",
        alignment="forced",
        speech_layers=3,
        speech_dim=8,
    )
    torch.manual_seed(0)
    mean = REGISTRY["nmt_attention_mean"](members=[kwargs] * 3, temperatures=(0.5, 1.0, 3.0)).eval()
    assert isinstance(mean, NMTAttentionMean) and all(isinstance(m, NMTAttention) for m in mean.members)
    inputs = as_states(batch())
    with torch.no_grad():
        outs = [member(**inputs) for member in mean.members]
        out = mean(**inputs)
    probs = torch.stack([torch.softmax(o["logits"] / t, -1) for o, t in zip(outs, (0.5, 1.0, 3.0))]).mean(0)
    assert torch.allclose(out["logits"].exp(), probs, atol=1e-6)
    assert torch.allclose(out["attention"], torch.stack([o["attention"] for o in outs]).mean(0), atol=1e-6)
    assert not torch.allclose(outs[0]["attention"], outs[1]["attention"])  # the members differ: a real average
    with pytest.raises(ValueError, match="built differently"):
        NMTAttentionMean([kwargs, dict(kwargs, speech_layers=2)], (1.0, 1.0))


def test_fold_models_of_their_own_vocabularies_are_joined_on_one_and_answer_as_before(tmp_path):
    """``one_input`` (the recipe hook a served mean calls): two fold models whose processes built other vocabularies
    are copied onto their union, each embedding re-indexed; every line then gets the same answer from the copy, on
    the union's ids, as from the original on its own (a word a fold never had is its ``<unk>``)."""
    from emodemo.recipes import get_recipe, hook
    from emodemo.recipes.nmt_attention import PAD, UNK

    vocabularies = {"fold0": [PAD, UNK, "happy", "sad"], "fold1": [PAD, UNK, "sad", "door", "kids"]}
    folds = {}
    for seed, (name, vocab) in enumerate(vocabularies.items()):
        torch.manual_seed(seed)
        kwargs = dict(n_classes=CLASSES, mode="text", vocab_size=len(vocab), hidden=8, dropout=0.0)
        folds[name] = tmp_path / "run" / name
        save_checkpoint(
            folds[name],
            NMTAttention(**kwargs),
            model_name="nmt_attention",
            model_kwargs=kwargs,
            labels=list("abcd"),
            data_card={"licence": "none"},
            metrics={},
            input_spec={"vocab": vocab},
        )
    joined = hook(get_recipe("nmt_attention"), "one_input")(folds, tmp_path / "joined")
    lines = [["happy", "door"], ["sad"], ["kids", "are", "sad"]]
    ids = lambda vocab: torch.tensor(  # noqa: E731
        [[vocab.index(w) if w in vocab else 1 for w in line] + [0] * (3 - len(line)) for line in lines]
    )
    for name in folds:
        original, _ = load_checkpoint(folds[name], REGISTRY)
        copy, meta = load_checkpoint(joined[name], REGISTRY)
        assert meta["input_spec"]["vocab"] == [PAD, UNK, "happy", "sad", "door", "kids"]
        assert meta["parameters"]["total"] == sum(p.numel() for p in copy.parameters())  # its card counts them
        with torch.no_grad():
            before = original(tokens=ids(vocabularies[name]))["logits"]
            after = copy(tokens=ids(meta["input_spec"]["vocab"]))["logits"]
        assert torch.allclose(before, after, atol=1e-6)
    assert json.loads((folds["fold0"] / "config.json").read_text())["input_spec"]["vocab"] == vocabularies["fold0"]
    assert hook(get_recipe("nmt_attention"), "one_input")({"fold0": joined["fold0"]}, tmp_path / "x") == {
        "fold0": joined["fold0"]
    }  # one vocabulary already: nothing copied
