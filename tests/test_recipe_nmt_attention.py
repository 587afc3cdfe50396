"""The nmt_attention recipe: words with their timings, vocabulary, padding, train/serve parity."""

import numpy as np
import pytest
import torch

from emodemo.data.record import Sample
from emodemo.inputs.audio import load_audio, voiced_bounds
from emodemo.models.nmt_attention import FRAME_RATE
from emodemo.recipes import nmt_attention as recipe
from emodemo.speech.asr import Transcript, Word


def test_tokens_keep_the_timing_of_the_word_they_come_from():
    pairs = recipe.tokens_with_spans("ignored", [(" Don't", 0.5, 0.9), (" go!", 1.0, 1.2)])
    assert pairs == [("do", (0.5, 0.9)), ("n't", (0.5, 0.9)), ("go", (1.0, 1.2))]
    assert recipe.tokens_with_spans("Kids are talking", None) == [("kids", None), ("are", None), ("talking", None)]
    assert len(recipe.tokens_with_spans(" ".join(["word"] * 200), None)) == recipe.MAX_TOKENS


def test_trimming_silence_moves_the_word_spans_with_the_audio():
    wave = np.concatenate([np.zeros(16_000), np.sin(np.arange(16_000) * 0.2), np.zeros(8_000)]).astype(np.float32)
    cut, pairs = recipe.trim_silence(wave, [("kids", (1.2, 1.6)), ("late", (2.3, 2.9)), ("unk", None)])
    start = 16_000 - 1600  # speech onset minus the 0.1 s margin
    assert cut.size == 16_000 + 2 * 1600 and np.array_equal(cut, wave[start : start + cut.size])
    assert pairs[0] == ("kids", pytest.approx((1.2 - 0.9, 1.6 - 0.9)))
    assert pairs[1] == ("late", pytest.approx((cut.size / 16_000,) * 2))  # past the cut: an empty span at its end
    assert pairs[2] == ("unk", None)


def test_a_tempo_copys_word_spans_are_stretched_with_it_before_the_cut(tmp_path):
    """A pitch-and-tempo training copy plays the clip 0.75-1.3 times as fast: its words' times scale with its length
    (then move to where its states begin), so a word's span still covers the sound it names in the copy; a pitch copy
    keeps the clip's length, and its timings are the clip's."""
    import soundfile as sf

    from emodemo.inputs.augment import augmented
    from emodemo.recipes import frozen_states
    from emodemo.recipes.training_copies import CHAIN, COPY

    t = np.arange(5 * 16_000) / 16_000
    word = (t > 2.0) & (t < 3.0)  # one word, said from 2.0 to 3.0 s
    wave = np.where(word, 0.3 * np.sin(2 * np.pi * 200 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)), 0.0)
    wave = wave.astype(np.float32)
    path = tmp_path / "tempo.wav"
    sf.write(path, wave, 16_000)
    speech = frozen_states.mixed_speech({"speech_encoder": "whisper-base", "speech_layers": [0, 1, 2, 3]})
    copy = lambda chain: Sample("tempo+aug1", "ravdess", "sad", audio=path, meta={COPY: 1, CHAIN: chain})
    assert recipe._heard_timing(copy("pitch"), speech)[1] == 1.0  # exactly: the served runs' spans are unchanged
    shift, stretch = recipe._heard_timing(copy("pitch_tempo"), speech)
    made = augmented(load_audio(path), "tempo", 1, chain="pitch_tempo")
    assert stretch == pytest.approx(made.size / wave.size) and 0.75 <= 1 / stretch <= 1.3
    assert abs(stretch - 1) > 0.1  # this copy's draw moves the word by over 0.2 s: unstretched spans would miss it
    start, end = (b / 16_000 for b in voiced_bounds(made))  # where the word sounds in the copy (0.1 s margins)
    [(_, (first, last))] = recipe.moved_spans([("word", (2.0, 3.0))], shift, 10.0, stretch)
    # within 0.1 s (the stretch smears the word's edges by a frame or two); unstretched, its end would be 0.9 s early
    assert first + shift == pytest.approx(start + 0.1, abs=0.1) and last + shift == pytest.approx(end - 0.1, abs=0.1)
    assert recipe.moved_spans([("word", (1.0, 2.0))], 0.5, 10.0, 2.0) == [("word", (1.5, 3.5))]


def test_make_dataset_gives_each_clip_its_own_shift_and_stretch(monkeypatch):
    """The frozen-states dataset scales each sample's word times by its stretch, then moves them by its shift."""
    from emodemo.models.nmt_attention import word_spans_to_frames
    from emodemo.recipes import frozen_states

    monkeypatch.setattr(frozen_states, "speech_of_samples", lambda samples, *speech: [torch.zeros(4, 200, 8)] * 2)
    timing = {"a": (0.5, 1.0), "a+aug1": (0.25, 1.25)}  # (shift, stretch): the clip, then its tempo copy
    monkeypatch.setattr(recipe, "_heard_timing", lambda sample, speech: timing[sample.id])
    words = [(" kids", 1.0, 1.5)]
    samples = [Sample(i, "ravdess", "sad", text="kids", meta={"words": words}) for i in timing]
    spec = {"vocab": [recipe.PAD, recipe.UNK, "kids"], "speech_encoder": "whisper-base", "speech_layers": [0, 1, 2, 3]}
    data = recipe.make_dataset(samples, ["sad"], spec)
    assert data.frames[0].tolist() == word_spans_to_frames([(0.5, 1.0)]).tolist()
    assert data.frames[1].tolist() == word_spans_to_frames([(1.0, 1.625)]).tolist()


def test_vocabulary_holds_known_words_of_the_data_then_common_words():
    samples = [Sample("a", "x", "happy", text="Kids are talking qqxzzy"), Sample("b", "x", "sad", text="by the door")]
    vocab = recipe.vocabulary(samples)
    assert vocab[:2] == [recipe.PAD, recipe.UNK]
    assert {"kids", "talking", "door"} <= set(vocab) and "qqxzzy" not in vocab
    assert len(vocab) == len(set(vocab)) and len(vocab) >= recipe.COMMON_WORDS


def test_batches_pad_waves_words_and_spans():
    vocab = [recipe.PAD, recipe.UNK, "kids", "door"]
    data = recipe.PairedClips(
        [np.ones(16000, np.float32), np.ones(8000, np.float32)],
        [[("kids", (0.0, 0.4)), ("door", (0.5, 0.9))], []],
        vocab,
        [1, 2],
    )
    batch = recipe.PairedClips.collate([data[0], data[1]])
    assert batch["wave"].shape == (2, 16000) and batch["wave_lengths"].tolist() == [16000, 8000]
    assert batch["wave"][1, 8000:].abs().sum() == 0
    assert batch["tokens"].tolist() == [[2, 3], [1, 0]]  # nothing heard: one unknown word
    assert batch["word_frames"][1].tolist() == [[-1, -1], [-1, -1]]
    assert batch["word_frames"][0, 1, 0] >= int(0.5 * FRAME_RATE) - 1
    assert batch["label"].tolist() == [1, 2] and data.targets.tolist() == [1, 2]


@pytest.mark.parametrize("spec_extra", [{}, {"normalise": True}], ids=["raw", "normalised"])
def test_serving_inputs_equal_training_inputs(ravdess_clip, spec_extra):
    """A user's clip with Whisper's words must reach the model as a real pair does in training,
    raw or normalised."""
    words = [
        ("Kids", 1.0, 1.3),
        ("are", 1.3, 1.5),
        ("talking", 1.5, 1.9),
        ("by", 1.9, 2.0),
        ("the", 2.0, 2.1),
        ("door.", 2.1, 2.5),
    ]
    sample = Sample(
        "clip", "ravdess", "angry", audio=ravdess_clip, text="Kids are talking by the door.", meta={"words": words}
    )
    spec = {"vocab": recipe.vocabulary([sample]), **spec_extra}
    trained = recipe.PairedClips.collate([recipe.make_dataset([sample], recipe.LABELS, spec)[0]])
    transcript = Transcript(
        "Kids are talking by the door.",
        [Word(w, s, e, 0.9) for w, s, e in words],
        "en",
        "faster-whisper",
        0.1,
        4.0,
        "tiny.en",
    )
    served = recipe.clip_inputs(load_audio(ravdess_clip), transcript, spec)
    for key in ("wave", "wave_lengths", "tokens", "word_frames"):
        assert torch.equal(served[key], trained[key]), key
    if spec_extra:  # the level is gone: 12 dB louder, the same wave and word frames
        louder = recipe.clip_inputs(4 * load_audio(ravdess_clip), transcript, spec)
        assert torch.allclose(louder["wave"], served["wave"], atol=1e-3)
        assert torch.equal(louder["word_frames"], served["word_frames"])


def test_a_no_words_training_pair_is_what_the_app_gives_for_a_guessed_transcript(ravdess_clip):
    """no_words=1 trains on the input the app gives when Whisper only guessed the words (speech in
    another language): the same tensors, one unknown word with no time span."""
    from emodemo.protocols.pairing import real_pairs, without_words

    words = [Word(w, 1.0 + 0.3 * i, 1.2 + 0.3 * i, 0.2) for i, w in enumerate("Kinder reden an der Tür".split())]
    guess = Transcript("Kinder reden an der Tür", words, "en", "faster-whisper", 0.1, 4.0, "tiny.en")
    assert guess.guessed()
    clip = Sample("clip", "ravdess", "angry", audio=ravdess_clip)
    pair = without_words(real_pairs([clip], {"clip": guess})[0])
    spec = {"vocab": recipe.vocabulary([pair]), "normalise": True}
    trained = recipe.PairedClips.collate([recipe.make_dataset([pair], recipe.LABELS, spec)[0]])
    served = recipe.clip_inputs(load_audio(ravdess_clip), guess.as_read(), spec)
    for key in ("wave", "wave_lengths", "tokens", "word_frames"):
        assert torch.equal(served[key], trained[key]), key
    assert served["tokens"].tolist() == [[1]] and served["word_frames"].tolist() == [[[-1, -1]]]


def test_a_model_of_frozen_states_reads_in_the_app_what_it_read_in_training(ravdess_clip, tmp_path, monkeypatch):
    """``speech_layers=0-3`` of Whisper base: through the feature cache (filled, then read back), a user's clip and
    its words reach the model as the clip did in training; the states are co-attention's and Self-MHA's (one cache,
    one encoder pass per analysis), and the words point at the frames of the voiced region they were said in."""
    from emodemo.models.nmt_attention import word_spans_to_frames
    from emodemo.recipes import coattention, frozen_states

    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path))
    words = [("Kids", 1.0, 1.3), ("are", 1.3, 1.5), ("talking", 1.5, 1.9), ("by", 1.9, 2.0), ("the", 2.0, 2.1)]
    sample = Sample(
        "clip", "ravdess", "angry", audio=ravdess_clip, text="Kids are talking by the", meta={"words": words}
    )
    gate = {"normalise": True, "denoise_below_db": 30.0, "steady_floor_below_db": 5.0}
    spec = {
        "vocab": recipe.vocabulary([sample]),
        "speech_encoder": "whisper-base",
        "speech_layers": [0, 1, 2, 3],
        **gate,
    }
    recipe.make_dataset([sample], recipe.LABELS, spec)  # fills the cache
    trained = recipe.PairedStates.collate([recipe.make_dataset([sample], recipe.LABELS, spec)[0]])
    transcript = Transcript("Kids are talking by the", [Word(*w, 0.9) for w in words], "en", "x", 0.1, 4.0, "tiny.en")
    wave = load_audio(ravdess_clip)
    served = recipe.clip_inputs(wave, transcript, spec)
    assert served["speech"].shape[:2] == (1, 4) and served["speech"].shape[3] == 512
    for key in ("tokens", "word_frames", "speech_mask"):
        assert torch.equal(served[key], trained[key]), key
    assert torch.allclose(served["speech"], trained["speech"], rtol=1e-2, atol=1e-2)  # fp16, batched vs alone
    co = {"mode": "fusion", "top_layers": 0, "speech_encoder": "whisper-base", "text_encoder": "minilm", **gate}
    co["speech_layers"] = [0, 1, 2, 3]
    assert frozen_states.mixed_speech(spec) == coattention._encoders(co)[0]
    start = frozen_states.heard_start(
        wave, *frozen_states.mixed_speech(spec)
    )  # the states begin there: normalised, re-trimmed
    assert 0.5 < start < 1.0  # this clip's speech starts about 0.7 s in
    spans = [(0.0, 0.0) if s < start else (s - start, e - start) for s, e in ((1.0, 1.3), (1.3, 1.5))]
    assert served["word_frames"][0, :2].tolist() == word_spans_to_frames(spans).tolist()


@pytest.mark.parametrize("noise", [0.0, 0.02], ids=["clean", "noisy: its noise gated out"])
def test_the_frozen_states_begin_where_heard_start_says(noise):
    """``heard_start``: the encoder's input (noise gated out if the clip sounds noisy, normalised, trimmed again) is
    the clip from that point on, DC offset and level aside; ``voiced_start`` is where ``normalise`` cuts."""
    from emodemo.inputs.normalise import denoised_if, gated, normalise, voiced_start
    from emodemo.recipes import frozen_states

    rng = np.random.default_rng(0)
    t = np.arange(4 * 16_000) / 16_000
    voice = np.where((t > 1.1) & (t < 2.6), np.sin(2 * np.pi * 180 * t) * (0.2 + 0.15 * np.sin(2 * np.pi * 4 * t)), 0)
    wave = (voice + noise * rng.standard_normal(t.size) + 0.05).astype(np.float32)  # with a DC offset
    gate = {"denoise_below_db": 30.0, "steady_floor_below_db": 5.0}
    assert gated(wave, gate) == bool(noise)
    start = frozen_states.heard_start(wave, "whisper-base", 3, True, 3, *gate.values())
    heard = frozen_states.trim(normalise(denoised_if(wave, gate)))  # what speech_states encodes
    first = int(round(start * 16_000))
    source = denoised_if(wave, gate)[first : first + heard.size].astype(np.float64)
    assert 0.8 < start < 1.1 and np.corrcoef(source, heard)[0, 1] > 0.9999
    assert voiced_start(wave) == voiced_bounds(wave - wave.mean())[0] > 0


def test_frozen_states_settings_are_checked_before_training(tmp_path):
    for options, message in (
        ({"speech_layers": "0,2"}, "contiguous"),
        ({"speech_layers": "0-3", "mode": "text"}, "a mode that hears"),
        ({"denoise_below_db": 30.0}, "add speech_layers"),
        ({"speech_gru": 0}, "add speech_layers"),
        ({"speech_summary": 1}, "add speech_layers"),
        ({"speech_layers": "0-3", "speech_summary": 1, "mode": "audio"}, "read beside the words: mode fusion"),
        ({"speech_layers": "0-3", "speech_encoder": "facebook/wav2vec2-base"}, "packaged Whisper"),
        ({"speech_layers": "0-7"}, "has no layer 7"),
        ({"speech_layers": "0-3", "steady_floor_below_db": 5.0}, "give denoise_below_db too"),
    ):
        with pytest.raises(ValueError, match=message):
            recipe.train("ravdess", tmp_path, tmp_path / "out", **options)


@pytest.mark.parametrize(
    "mode, alignment",
    [("audio", "global"), ("text", "global"), ("fusion", "global"), ("fusion", "local"), ("fusion", "forced")],
)
def test_every_variant_builds_with_glove_and_runs_on_a_batch(mode, alignment):
    vocab = [recipe.PAD, recipe.UNK, "kids", "door"]
    kwargs = recipe.model_kwargs(vocab, mode, alignment, "concat", 5)
    model = recipe.build_model(kwargs, vocab)
    if mode != "audio":
        glove = recipe.glove()
        assert torch.allclose(model.text.embedding.weight[2], torch.from_numpy(glove.vectors(["kids"])[0]))
    data = recipe.PairedClips(
        [np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)],
        [[("kids", (0.1, 0.4)), ("door", (0.5, 0.8))]],
        vocab,
        [0],
    )
    out = model(**{k: v for k, v in recipe.PairedClips.collate([data[0]]).items() if k != "label"})
    assert out["logits"].shape == (1, len(recipe.LABELS)) and torch.isfinite(out["logits"]).all()


def test_a_text_branch_starts_from_the_words_expert(tmp_path):
    """``text_from``: the fusion model's GRU over the words is the words expert's, and so are the vectors of the words
    both know; a word the expert never saw keeps its GloVe vector, the padding row stays 0."""
    from emodemo.models import REGISTRY
    from emodemo.serving.pipeline import CHECKPOINTS
    from emodemo.training.checkpoint import load_checkpoint

    expert_folder = CHECKPOINTS / "nmt_attention" / "words_goemotions"
    expert, meta = load_checkpoint(expert_folder, REGISTRY)
    theirs = meta["input_spec"]["vocab"]
    known = set(theirs)
    unknown = next(w for w in recipe.glove().words if w not in known)
    vocab = [recipe.PAD, recipe.UNK, "kids", "door", unknown]
    kwargs = recipe.model_kwargs(vocab, "fusion", "forced", "concat", 5)
    model = recipe.build_model(kwargs, vocab, text_from=expert_folder)
    for word in ("kids", "door"):
        assert torch.equal(
            model.text.embedding.weight[vocab.index(word)], expert.text.embedding.weight[theirs.index(word)]
        )
    glove = torch.from_numpy(recipe.glove().vectors([unknown])[0])
    assert torch.allclose(model.text.embedding.weight[4], glove) and not model.text.embedding.weight[0].any()
    for mine, expert_weight in zip(model.text.gru.parameters(), expert.text.gru.parameters()):
        assert torch.equal(mine, expert_weight)
    with pytest.raises(ValueError, match="not a words-only"):
        recipe.build_model(kwargs, vocab, text_from=CHECKPOINTS / "nmt_attention" / "folds" / "fold0")
    with pytest.raises(ValueError, match="shares no word"):
        recipe.build_model(
            recipe.model_kwargs(vocab[:2] + ["zzqx"], "text", "global", "concat", 5),
            [*vocab[:2], "zzqx"],
            text_from=expert_folder,
        )
    with pytest.raises(ValueError, match="mode text or fusion"):
        recipe.train("ravdess", tmp_path, tmp_path / "out", mode="audio", text_from=str(expert_folder))


def test_the_talks_own_dataset_path_runs_on_an_iemocap_fixture(tmp_path):
    """IEMOCAP (the talk's data) through the same CLI: train one fold, save, evaluate the checkpoint."""
    import json
    import subprocess
    import sys

    from emodemo.data import layouts

    repo = __import__("pathlib").Path(__file__).resolve().parents[1]
    root = layouts.make_iemocap(tmp_path / "data", sessions=(1, 2, 3))
    out = tmp_path / "ckpt"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "train",
            "nmt_attention",
            "--dataset",
            "iemocap",
            "--root",
            str(root),
            "--cv",
            "--quick",
            "--out",
            str(out),
            "--results",
            str(tmp_path / "cv.json"),
            "--option",
            f"fold_models={tmp_path / 'folds'}",
        ],
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    cv = json.loads((tmp_path / "cv.json").read_text())
    assert cv["folds"][0]["labels"] == ["neutral", "happy", "sad", "angry"]
    fold_model = json.loads((tmp_path / "folds" / cv["folds"][0]["fold"] / "config.json").read_text())
    assert fold_model["data_card"]["test_speakers"] == cv["folds"][0]["test"]  # kept to look inside later
    assert (out / "model.safetensors").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["labels"] == ["neutral", "happy", "sad", "angry"] and "IEMOCAP" in config["data_card"]["licence"]
    evaluated = subprocess.run(
        [sys.executable, "-m", "emodemo", "evaluate", str(out), "--dataset", "iemocap", "--root", str(root), "--json"],
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=600,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    report = json.loads(evaluated.stdout)
    assert report["n_samples"] == 30 and len(report["confusion_matrix"]) == 4
