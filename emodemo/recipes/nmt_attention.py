"""Recipe of talk 000's model: words (GloVe + GRU) attending over the raw-waveform audio (conv + GRU).

Inputs per clip: the 16 kHz waveform, the words as ids of a vocabulary saved with the
checkpoint, and for each word the audio states where Whisper says it was spoken (forced
alignment). With ``speech_layers`` (e.g. ``0-3`` of ``speech_encoder=whisper-base``), the frozen
encoder's states of those layers replace the waveform (:mod:`emodemo.recipes.frozen_states`: cached per
file, the same states co-attention and Self-MHA read), at the same 50 frames per second.

Text comes from one of the two pairings of :mod:`emodemo.protocols.pairing`: a RAVDESS clip's own
transcript (``pairing="real"``) or a label-matched line from GoEmotions or MELD (``pairing="constructed"``).
Labels are the canonical 7 classes (RAVDESS calm counts as neutral)
so that both pairings share them.

Text-only, the model also trains on the text benchmarks of :mod:`emodemo.protocols.text_benchmarks`
(``--dataset goemotions`` or ``meld``): official splits, the test part scored once.

IEMOCAP, the talk's own data, takes the same path with its gold transcriptions (no word timings,
so forced alignment falls back to global attention for every word), its 4-class protocol (excited
merged into happy) and leave-one-session-out folds.

Vocabulary: the words of the data the model sees that GloVe knows, plus GloVe's most frequent
:data:`COMMON_WORDS` words so that a user's own words are not all unknown; ids 0 = padding,
1 = unknown. Word identities only (no labels) decide it.
"""

from __future__ import annotations

import functools
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from emodemo.core.labels import CANONICAL7
from emodemo.data.record import Sample
from emodemo.inputs.audio import MAX_SECONDS, SAMPLE_RATE, load_audio, voiced_bounds
from emodemo.inputs.normalise import asked, normalise
from emodemo.inputs.text import load_glove, tokenize
from emodemo.models import REGISTRY, build
from emodemo.models.nmt_attention import FRAME_RATE, word_spans_to_frames
from emodemo.protocols.text_benchmarks import TEXT_BENCHMARKS, text_benchmark_parts
from emodemo.recipes import frozen_states
from emodemo.recipes.common import (
    DATASET_LABELS,
    GLOVE_LICENCE,
    NORMALISED,
    PairingScores,
    as_flag,
    chosen_folds,
    contiguous_layers,
    copies_asked,
    cross_validation_metrics,
    epochs_for,
    every_fold,
    final_model,
    fold_model_saver,
    gate_note,
    licence,
    paired_parts,
    text_benchmark_train,
    text_only,
    whisper_minilm_licences,
)
from emodemo.recipes.training_copies import clip_id, copy_of, copy_wave

NAME = "nmt_attention"
MODALITIES = ("audio", "text")
LABELS = CANONICAL7
PAD, UNK = "<pad>", "<unk>"
EMBEDDING = "text.embedding.weight"  # the word embedding in a checkpoint's state dict
MAX_TOKENS = 64  # longer lines are cut (GoEmotions comments can run to ~70 words)
COMMON_WORDS = 10_000
PRETRAINED_LICENCES = (GLOVE_LICENCE,)


@functools.lru_cache(maxsize=1)
def glove():
    return load_glove()


def prepare(spec: dict | None = None) -> None:
    """Load the frozen speech encoder of a model that reads its states, so that the first user does not wait
    for it. The words need nothing: only the checkpoint's vocabulary, and the trained word vectors are in its
    weights (GloVe is read only to train)."""
    if (spec or {}).get("speech_layers"):
        frozen_states.speech_encoder(spec["speech_encoder"])


# --- words -----------------------------------------------------------------------------------


def tokens_with_spans(
    text: str | None, words: Sequence[tuple[str, float, float]] | None
) -> list[tuple[str, tuple[float, float] | None]]:
    """GloVe tokens of a line, each with its time span in the clip when ASR word timings are given.

    ``words``: ``[(word, start_s, end_s), ...]`` as Whisper heard them; tokens split from one word
    ("don't" -> "do", "n't") share its span. Without ``words`` every span is None.
    """
    if words:
        pairs = [(token, (start, end)) for word, start, end in words for token in tokenize(word)]
    else:
        pairs = [(token, None) for token in tokenize(text or "")]
    return pairs[:MAX_TOKENS]


def vocabulary(samples: Sequence[Sample]) -> list[str]:
    """``[PAD, UNK, words...]``: the samples' words that GloVe knows, then GloVe's most common words."""
    vectors = glove()
    seen = Counter(tok for s in samples for tok, _ in tokens_with_spans(s.text, s.meta.get("words")))
    known = sorted((w for w in seen if w in vectors), key=vectors.row)
    common = [w for w in vectors.words[:COMMON_WORDS] if w not in seen]
    return [PAD, UNK] + known + common


# --- inputs ----------------------------------------------------------------------------------


class PairedClips(Dataset):
    """Waveforms with their words; items are dicts of unpadded tensors, :meth:`collate` pads a batch.
    :class:`PairedStates` holds a frozen encoder's states in place of the waveforms."""

    SOUND = "wave"

    def __init__(
        self,
        sounds: Sequence[np.ndarray] | Sequence[torch.Tensor],
        texts: Sequence[list],
        vocab: Sequence[str],
        labels: Sequence[int] | None = None,
    ):
        index = {w: i for i, w in enumerate(vocab)}
        self.sounds = [self.as_sound(w) for w in sounds]
        self.tokens, self.frames = [], []
        for pairs in texts:
            pairs = pairs or [(UNK, None)]  # no words heard: one unknown word
            self.tokens.append(torch.tensor([index.get(t, 1) for t, _ in pairs]))
            self.frames.append(word_spans_to_frames([span for _, span in pairs]))  # [N, 2]
        self.labels = None if labels is None else torch.as_tensor(labels)

    def __len__(self) -> int:
        return len(self.sounds)

    @property
    def targets(self) -> torch.Tensor:
        return self.labels

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {self.SOUND: self.sounds[i], "tokens": self.tokens[i], "word_frames": self.frames[i]}
        if self.labels is not None:
            item["label"] = self.labels[i]
        return item

    @classmethod
    def collate(cls, items: list[dict]) -> dict[str, torch.Tensor]:
        """Pad to the batch's longest clip and line: the sound (:meth:`sound_batch`), tokens [B, N] (0 = pad),
        word_frames [B, N, 2] (-1 = no span)."""
        b = len(items)
        n = max(len(it["tokens"]) for it in items)
        batch = {
            **cls.sound_batch([it[cls.SOUND] for it in items]),
            "tokens": torch.zeros(b, n, dtype=torch.long),
            "word_frames": torch.full((b, n, 2), -1, dtype=torch.long),
        }
        for i, it in enumerate(items):
            batch["tokens"][i, : len(it["tokens"])] = it["tokens"]
            batch["word_frames"][i, : len(it["tokens"])] = it["word_frames"]
        if "label" in items[0]:
            batch["label"] = torch.stack([it["label"] for it in items])
        return batch

    @staticmethod
    def as_sound(wave: np.ndarray) -> torch.Tensor:
        """One clip's sound as an item holds it: the wave ``[S]`` float32."""
        return torch.as_tensor(np.asarray(wave, dtype=np.float32))

    @staticmethod
    def sound_batch(waves: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """``wave [B, S]`` zero-padded and ``wave_lengths [B]``."""
        batch = {
            "wave": torch.zeros(len(waves), max(len(w) for w in waves)),
            "wave_lengths": torch.tensor([len(w) for w in waves]),
        }
        for i, w in enumerate(waves):
            batch["wave"][i, : len(w)] = w
        return batch


class PairedStates(PairedClips):
    """Frozen speech states ``[L, M, D]`` (fp16, M frames of the voiced region at 50 per second) with their words."""

    SOUND = "speech"

    @staticmethod
    def as_sound(states: torch.Tensor) -> torch.Tensor:
        """One clip's states ``[L, M, D]``, kept as they are (fp16)."""
        return states

    @staticmethod
    def sound_batch(states: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """``speech [B, L, M, D]`` zero-padded along the frames and ``speech_mask [B, M]``."""
        return frozen_states.StateClips.collate([{"speech": s} for s in states])


def trim_silence(wave: np.ndarray, pairs: list, normalised: bool = False) -> tuple[np.ndarray, list]:
    """Cut the leading and trailing silence (:func:`~emodemo.inputs.audio.voiced_bounds`) and move the
    word spans with it; with ``normalised``, the cut wave then goes through the rest of
    :func:`emodemo.inputs.normalise.normalise` (DC, loudness, peak). RAVDESS clips are ~42 % silence (speech starts
    near 0.7 s and ends ~0.9 s
    before the clip does); cutting it makes the audio branch, the cost of this model, ~1.4x faster
    and leaves global attention fewer empty frames to spend weight on."""
    start, end = voiced_bounds(wave)
    moved = moved_spans(pairs, start / SAMPLE_RATE, (end - start) / SAMPLE_RATE)
    wave = wave[start:end]
    return (normalise(wave, trim=False) if normalised and len(wave) else wave), moved


def moved_spans(pairs: list, shift: float, length: float, stretch: float = 1.0) -> list:
    """``pairs``' word spans in a cut of the clip that starts ``shift`` seconds in and lasts ``length`` seconds
    (a span outside it becomes an empty one at its edge); ``stretch``: the cut is of a copy of the clip played that
    many times as long (a tempo copy), its word times scaled with it before the cut."""
    clip = lambda t: min(max(t * stretch - shift, 0.0), length)
    return [(tok, None if span is None else (clip(span[0]), clip(span[1]))) for tok, span in pairs]


def make_dataset(samples: Sequence[Sample], labels: Sequence[str], spec: dict) -> PairedClips:
    index = {name: i for i, name in enumerate(labels)}
    speech = frozen_states.mixed_speech(spec)
    if speech:  # the states of the voiced region; the words' spans (a tempo copy's stretched) moved to where they begin
        states = frozen_states.speech_of_samples(samples, *speech)
        timing = [_heard_timing(s, speech) for s in samples]  # (shift, stretch) per clip
        spans = [
            moved_spans(tokens_with_spans(s.text, s.meta.get("words")), shift, _seconds(x), stretch)
            for s, x, (shift, stretch) in zip(samples, states, timing)
        ]
        return PairedStates(states, spans, spec["vocab"], [index[s.label] for s in samples])
    no_audio = np.zeros(0, np.float32)  # text-only corpora: the audio branch is not built
    trimmed = [
        trim_silence(
            load_audio(s.audio, max_seconds=MAX_SECONDS) if s.audio else no_audio,
            tokens_with_spans(s.text, s.meta.get("words")),
            asked(spec),
        )
        for s in samples
    ]
    return PairedClips(
        [w for w, _ in trimmed], [p for _, p in trimmed], spec["vocab"], [index[s.label] for s in samples]
    )


def _heard_timing(sample: Sample, speech: tuple) -> tuple[float, float]:
    """``(shift, stretch)`` of a sample's clip (or of its training copy) for :func:`moved_spans`: where its states
    begin (:func:`emodemo.recipes.frozen_states.heard_start`, in seconds) and how many times as long as the clip the
    heard wave is (a tempo copy's; 1 otherwise), once per process and version of the file (a clip is in several parts
    and pairings)."""
    stat = Path(sample.audio).stat()
    copy, chain = copy_of(sample)
    return _heard_timing_of(str(sample.audio), stat.st_mtime_ns, stat.st_size, speech, copy, chain, clip_id(sample))


@functools.lru_cache(maxsize=8192)
def _heard_timing_of(
    path: str, mtime_ns: int, size: int, speech: tuple, copy: int, chain: str, clip: str
) -> tuple[float, float]:
    heard, stretch = copy_wave(load_audio(path, max_seconds=MAX_SECONDS), clip, copy, chain)
    return frozen_states.heard_start(heard, *speech), stretch


def _seconds(states: torch.Tensor) -> float:
    """The duration of ``states [L, M, D]`` (M frames at 50 per second)."""
    return states.shape[1] / FRAME_RATE


def clip_item(wave: np.ndarray, transcript, spec: dict) -> dict[str, torch.Tensor]:
    """A user's clip and Whisper's words with their timings, trimmed like training clips, unbatched."""
    words = [(w.text, w.start, w.end) for w in transcript.words] if transcript is not None else None
    pairs = tokens_with_spans(None, words)
    speech = frozen_states.mixed_speech(spec)
    if speech:
        states = frozen_states.one_clip_states(wave, *speech)  # [L, M, D], the encoder run once per analysis
        moved = moved_spans(pairs, frozen_states.heard_start(wave, *speech), _seconds(states))
        return PairedStates([states], [moved], spec["vocab"])[0]
    wave, pairs = trim_silence(wave, pairs, asked(spec))
    return PairedClips([wave], [pairs], spec["vocab"])[0]


def clip_inputs(wave: np.ndarray, transcript=None, spec: dict | None = None) -> dict[str, torch.Tensor]:
    """:func:`clip_item` as a batch of one."""
    spec = spec or {}
    clips = PairedStates if frozen_states.mixed_speech(spec) else PairedClips
    return clips.collate([clip_item(wave, transcript, spec)])


def one_input(folds: dict[str, Path], into: Path) -> dict[str, Path]:
    """The recipe's ``one_input`` hook (:mod:`emodemo.recipes.contract`): the fold models of a served mean's runs
    (``{key: folder}``), reading one vocabulary. A fold trained in its own process drew its own GoEmotions lines, so its
    vocabulary (the lines' words GloVe knows, then GloVe's commonest) differs. Each is copied to ``into/<key>`` with the
    union of their vocabularies and its word embedding re-indexed to it, a word it never had pointing at its own
    ``<unk>`` row: it answers every input exactly as before. The folders as they are when they share one already."""
    from safetensors.torch import load_file

    from emodemo.training.checkpoint import read_checkpoint_config, rewrite_checkpoint

    configs = {name: read_checkpoint_config(folder) for name, folder in folds.items()}
    vocabularies = [config["input_spec"]["vocab"] for config in configs.values()]
    if all(vocab == vocabularies[0] for vocab in vocabularies):
        return dict(folds)
    if any(vocab[:2] != [PAD, UNK] for vocab in vocabularies):
        raise ValueError(f"every vocabulary starts with {PAD} and {UNK}")
    union = list(dict.fromkeys(word for vocab in vocabularies for word in vocab))
    out = {}
    for name, folder in folds.items():
        own = {word: i for i, word in enumerate(configs[name]["input_spec"]["vocab"])}
        rows = torch.tensor([own.get(word, own[UNK]) for word in union])  # [U] the fold's row of each word
        tensors = load_file(str(Path(folder) / "model.safetensors"))
        config = dict(configs[name])
        if EMBEDDING in tensors:  # a model that reads words (one of the sound alone has no embedding)
            added = (len(union) - len(own)) * tensors[EMBEDDING].shape[1]
            tensors[EMBEDDING] = tensors[EMBEDDING][rows]  # [U, E]
            count = dict(config.get("parameters") or {})
            frozen = bool(config["model_kwargs"].get("freeze_embedding"))
            config["parameters"] = {
                key: value + (added if key == "total" or not frozen else 0) for key, value in count.items()
            }
        config["input_spec"] = {**config["input_spec"], "vocab": union}
        config["model_kwargs"] = {**config["model_kwargs"], "vocab_size": len(union)}
        out[name] = Path(into) / name
        shutil.copytree(folder, out[name])
        rewrite_checkpoint(out[name], config, tensors)
    return out


def reads(meta: dict) -> tuple[str, ...]:
    """What a checkpoint reads: its ``mode`` trains the words alone, the sound alone, or both."""
    return {"text": ("text",), "audio": ("audio",)}.get(meta["model_kwargs"].get("mode"), MODALITIES)


def explains(meta: dict) -> bool:
    """Only the fusion variants have an attention of words over the sound to draw."""
    return reads(meta) == MODALITIES


def explain(output: dict, wave: np.ndarray | None, transcript, spec: dict, labels, title: str = ""):
    """The attention of each word over the (silence-trimmed) sound, word spans outlined; None for
    a model without it (audio or text alone)."""
    from emodemo.reports.viz import attention_heatmap

    if "attention" not in output:
        return None
    words = [(w.text, w.start, w.end) for w in transcript.words] if transcript is not None else None
    speech = frozen_states.mixed_speech(spec)
    if speech:  # the stretch of the clip the states cover, and the words moved to it
        start, seconds = frozen_states.heard_start(wave, *speech), output["attention"].shape[-1] / FRAME_RATE
        first = int(round(start * SAMPLE_RATE))
        trimmed = wave[first : first + int(round(seconds * SAMPLE_RATE))]
        pairs = moved_spans(tokens_with_spans(None, words), start, seconds)
    else:
        trimmed, pairs = trim_silence(wave, tokens_with_spans(None, words), asked(spec))
    if not pairs:  # no words heard: nothing attended
        return None
    return attention_heatmap(
        output["attention"],
        [token for token, _ in pairs],
        trimmed,
        SAMPLE_RATE,
        word_times=[span for _, span in pairs],
        frame_rate=FRAME_RATE,
        title=f"{title}: each word's attention over the sound",
    )


# --- training --------------------------------------------------------------------------------


def model_kwargs(
    vocab: Sequence[str],
    mode: str,
    alignment: str,
    score: str,
    window: int,
    n_classes: int = len(LABELS),
    speech_layers: Sequence[int] | None = None,
    speech_encoder: str | None = None,
    speech_recurrent: bool = True,
    speech_summary: bool = False,
) -> dict:
    """The model's constructor arguments; with ``speech_layers``, it reads that many layers of ``speech_encoder``
    (``speech_recurrent=False``: each frame projected alone, no GRU over them; ``speech_summary``: the head also
    reads the whole clip's statistics of those states)."""
    states = {}
    if speech_layers and mode != "text":
        states = {"speech_layers": len(speech_layers), "speech_dim": frozen_states.speech_encoder(speech_encoder).dim}
        if not speech_recurrent:
            states["speech_recurrent"] = False
        if speech_summary:
            states["speech_summary"] = True
    return {
        **states,
        "n_classes": n_classes,
        "mode": mode,
        "vocab_size": len(vocab),
        "embed_dim": glove().dim,
        "score": score,
        "alignment": alignment,
        "window": window,
    }


def build_model(kwargs: dict, vocab: Sequence[str], seed: int = 0, text_from: str | Path | None = None):
    """A new model; its word vectors GloVe's, or with ``text_from`` its text branch started from that words-only
    checkpoint's (:func:`start_text_branch`)."""
    model = build(NAME, **kwargs)
    if kwargs["mode"] != "audio":
        model.load_embedding(glove().embedding_matrix(vocab, pad_token=PAD, seed=seed))
    if text_from is not None:
        start_text_branch(model, vocab, text_from)
    return model


@torch.no_grad()
def start_text_branch(model, vocab: Sequence[str], text_from: str | Path) -> None:
    """Start ``model``'s text branch from a words-only checkpoint of this recipe (``mode="text"``, as the words
    expert ``nmt_attention/words_goemotions``, trained on GoEmotions' 40k lines): its GRU's weights, and its trained
    vectors of the words both vocabularies hold (the rest keep their GloVe vectors). The words side then starts from
    what a larger text corpus taught it rather than from the few thousand lines of RAVDESS's pairs."""
    from emodemo.training.checkpoint import load_checkpoint

    words, meta = load_checkpoint(text_from, REGISTRY)
    if meta.get("model_name") != NAME or meta["model_kwargs"].get("mode") != "text":
        raise ValueError(f"{text_from} is not a words-only {NAME} checkpoint (mode text): it cannot start one")
    if not hasattr(model, "text"):
        raise ValueError("text_from starts a text branch: the model reads no words (mode audio)")
    if words.text.gru.forward_gru.hidden_size != model.text.gru.forward_gru.hidden_size:
        raise ValueError(f"{text_from}'s GRU is not the size of the model's")
    model.text.gru.load_state_dict(words.text.gru.state_dict())
    theirs = {word: i for i, word in enumerate(meta["input_spec"]["vocab"])}
    shared = [(i, theirs[word]) for i, word in enumerate(vocab) if word not in (PAD, UNK) and word in theirs]
    if not shared:
        raise ValueError(f"{text_from}'s vocabulary shares no word with the model's: its word vectors cannot start it")
    shared.append((vocab.index(UNK), theirs[UNK]))  # its unknown word's vector too; the padding row stays 0
    rows, their_rows = (list(column) for column in zip(*shared))
    model.text.embedding.weight[rows] = words.text.embedding.weight[their_rows].to(model.text.embedding.weight.dtype)


def train(
    dataset: str,
    root: Path,
    out: Path,
    cv: bool = True,
    final: bool = True,
    epochs: int | None = None,
    seed: int = 0,
    quick: bool = False,
    fold_ids: Sequence[int] | None = None,
    pairing: str = "real",
    text_source: str = "goemotions",
    text_root: str | None = None,
    mode: str = "fusion",
    alignment: str = "global",
    score: str = "concat",
    window: int = 10,
    lr: float = 1e-3,
    batch_size: int = 16,
    fold_models: str | None = None,
    normalise: bool = False,
    no_words: bool = False,
    speech_encoder: str = "whisper-base",
    speech_layers: str | None = None,
    denoise_below_db: float | None = None,
    steady_floor_below_db: float | None = None,
    speech_gru: bool = True,
    speech_summary: bool = False,
    pitch_copies: bool = False,
    pitch_tempo_copies: bool = False,
    text_from: str | None = None,
) -> dict:
    """Cross-validate by actor (optional), then train and save the final checkpoint; on a text
    benchmark (``dataset`` goemotions or meld, ``mode="text"``), train on its official splits.
    ``fold_models=DIR`` also saves each fold's model as a checkpoint ``DIR/<fold name>``.
    ``normalise``: each clip goes through :func:`emodemo.inputs.normalise.normalise` (in the app too).
    ``no_words``: half the training clips lose their words, and every test clip is scored with and
    without them (:func:`emodemo.protocols.pairing.with_unheard_words`): the no-words input is what
    the app gives for speech in another language. ``speech_layers`` (``"0-3"``): the audio branch reads the frozen
    ``speech_encoder``'s states of those layers, mixed by learned weights, in place of the waveform;
    ``denoise_below_db`` and ``steady_floor_below_db``: their noise gate, as co-attention's
    (:func:`emodemo.recipes.frozen_states.gated`); ``speech_gru=0``: no GRU over those states, each frame projected
    alone (the model's ``speech_recurrent``); ``speech_summary=1``: the head also reads the whole clip's mean and
    standard deviation of the mixed states (the speech probe's statistics), beside what the words attended to;
    ``pitch_copies=1``: every training pair once more with its clip shifted in pitch (-4 to +4 semitones, the
    ``"pitch"`` chain of :func:`emodemo.inputs.augment.training_chain`, words and timings kept), so that how high a
    voice sits tells no emotion (the frozen states' models only); ``pitch_tempo_copies=1``: the same with each copy
    also played 0.75 to 1.3 times as fast (the ``"pitch_tempo"`` chain), its word timings stretched with it
    (:func:`moved_spans`), so that how slowly a voice speaks tells less either; ``text_from=CHECKPOINT``: every
    model's text branch starts from that words-only checkpoint's (:func:`start_text_branch`)."""
    from emodemo.training.checkpoint import save_checkpoint

    heard: dict = {}  # the frozen speech states the audio branch reads, if any
    copies = copies_asked(pitch_copies, pitch_tempo_copies, "mode=text" if mode == "text" else None)
    mixed = contiguous_layers(speech_layers, NAME) if speech_layers is not None else None
    if speech_layers is not None and (not mixed or mode == "text"):
        raise ValueError(f"speech_layers takes a range of layers like 0-3 and a mode that hears, not {speech_layers!r}")
    if mixed:
        heard = frozen_states.mixed_layers_spec(mixed, speech_encoder, denoise_below_db, steady_floor_below_db)
    elif any(
        (
            denoise_below_db is not None,
            steady_floor_below_db is not None,
            not as_flag(speech_gru),
            as_flag(speech_summary),
            copies,
        )
    ):
        raise ValueError(
            "the noise gate, speech_gru, speech_summary and the pitch (or pitch-and-tempo) copies set how frozen "
            "encoder states are read: add speech_layers"
        )
    if as_flag(speech_summary) and mode != "fusion":
        raise ValueError("speech_summary is read beside the words: mode fusion")
    if text_from is not None and (dataset in TEXT_BENCHMARKS or mode == "audio"):
        raise ValueError("text_from starts the text branch of a model trained on clips and words (mode text or fusion)")
    if dataset in TEXT_BENCHMARKS:  # the text branch alone on the corpus's official splits
        text_only(dataset, mode == "text", "mode=text")
        parts = text_benchmark_parts(dataset, Path(root), quick)
        vocab = vocabulary([s for part in parts for s in part])
        spec, labels = {"vocab": vocab}, DATASET_LABELS[dataset]
        kwargs = model_kwargs(vocab, "text", "global", "concat", 10, len(labels))
        return text_benchmark_train(
            NAME,
            dataset,
            parts,
            lambda part: make_dataset(part, labels, spec),
            lambda: build_model(kwargs, vocab, seed),
            labels,
            train_config(epochs, seed, quick, batch_size, lr),
            out=out,
            final=final,
            model_kwargs=kwargs,
            input_spec=spec,
            inputs="words (GloVe 6B 50-d vocabulary)",
            pretrained=PRETRAINED_LICENCES,
        )
    samples, folds, final_split, pairing_name = paired_parts(
        NAME,
        dataset,
        root,
        pairing,
        text_source,
        text_root,
        seed,
        quick,
        no_words=no_words,
        copies_chain=copies,
    )
    every_part = [p for f in folds + [final_split] for p in samples(f)] if callable(samples) else [samples]
    vocab = vocabulary([s for part in every_part for s in part])
    spec = {"vocab": vocab, **({"normalise": True} if as_flag(normalise) else {}), **heard}
    labels = DATASET_LABELS[dataset]
    recurrent = as_flag(speech_gru)
    kwargs = model_kwargs(
        vocab,
        mode,
        alignment,
        score,
        int(window),
        len(labels),
        mixed,
        speech_encoder,
        recurrent,
        as_flag(speech_summary),
    )
    cfg = train_config(epochs, seed, quick, batch_size, lr)
    folds = chosen_folds(folds, quick, fold_ids)
    make = lambda part: make_dataset(part, labels, spec)
    new_model = lambda: build_model(kwargs, vocab, seed, text_from)
    metrics: dict = {"pairing": pairing_name}
    states = (
        f" -> frozen {speech_encoder} states of layers {mixed[0]}-{mixed[-1]}, mixed by learned weights"
        + ("" if recurrent else ", each frame projected alone (no GRU)")
        + (", and the whole clip's mean and std of them read beside the words" if as_flag(speech_summary) else "")
        if mixed
        else ""
    )
    whisper = whisper_minilm_licences(speech_encoder)[:1] if mixed else ()  # the Whisper licence alone
    card = {
        "dataset": dataset,
        "pairing": pairing_name,
        "licence": licence(dataset, pairing, text_source, PRETRAINED_LICENCES + whisper),
        "inputs": f"16 kHz waveform, {NORMALISED if asked(spec) else 'silence trimmed'}{states}; words (GloVe 6B 50-d "
        f"vocabulary) with Whisper tiny.en word timings{gate_note(spec)}"
        + (f"; the text branch started from the words-only {Path(text_from).name} checkpoint's" if text_from else ""),
    }

    halves = PairingScores(samples, make, labels, cfg.batch_size) if callable(samples) else None
    keep = every_fold(
        halves,
        fold_model_saver(
            fold_models, NAME, card, model_kwargs=kwargs, labels=list(labels), train_cfg=cfg, input_spec=spec
        ),
    )
    if cv:
        metrics.update(
            cross_validation_metrics(
                samples,
                folds,
                make,
                new_model,
                labels,
                cfg,
                seed,
                f"{NAME} {mode}/{alignment}, {pairing_name}",
                keep_model=keep,
                chance=False,
            )
        )
        if halves:
            metrics["by_pairing"] = halves.summary()
    if final:
        model, final_metrics = final_model(samples, final_split, make, new_model, labels, cfg)
        metrics.update(final_metrics)
        card.update(train_speakers=list(final_split.train), validation_speakers=list(final_split.val))
        save_checkpoint(
            out,
            model,
            model_name=NAME,
            model_kwargs=kwargs,
            labels=list(labels),
            data_card=card,
            metrics=metrics,
            train_cfg=cfg,
            input_spec=spec,
        )
    return metrics


def train_config(epochs: int | None, seed: int, quick: bool, batch_size: int, lr: float):
    from emodemo.training.engine import TrainConfig

    return TrainConfig(
        epochs=epochs_for(epochs, 40, quick),
        batch_size=int(batch_size),
        lr=float(lr),
        weight_decay=0.01,
        patience=8,
        min_epochs=15,
        class_weights=True,
        monitor="UF1",
        seed=seed,
        progress=not quick,
    )
