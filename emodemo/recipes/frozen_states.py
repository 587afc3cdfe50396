"""Frozen pre-trained encoders as feature extractors, shared by the recipes that fuse their states
(talk 001's co-attention, talk 002's self- vs cross-attention).

Per clip: the Whisper tiny.en encoder's frame states (leading and trailing silence trimmed, first
30 s; with ``normalised``, the clip first goes through :func:`emodemo.inputs.normalise.normalise`, in
training and serving alike) at its top ``top + 1`` layers (or, with ``deepest``, at the layers up to
block ``deepest`` alone, the encoder run no further: Whisper base's lower half, e.g.), and the
MiniLM word-piece states of its words likewise.
Speech states are computed once per audio file and kept in the feature cache (about 40 kB per
second of speech and layer, fp16); text states are recomputed per process and memoised in
training (MiniLM takes ~10 ms for a RAVDESS transcript here, ``bench/coattention.py``). When
serving, only the last few users' clips and transcripts are remembered (:func:`one_clip_states`,
:func:`one_line_states`), so that the models of one analysis share one encoding.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch

from emodemo.data.record import Sample
from emodemo.inputs.audio import MAX_SECONDS, SAMPLE_RATE, voiced_bounds
from emodemo.inputs.normalise import (
    DENOISE,
    asked,
    cache_key,
    denoised_if,
    forget_denoised,
    noisy_files,
    normalise,
    normalised_if,
    voiced_start,
)
from emodemo.inputs.text import MINILM, encode_tokens, load_text_encoder
from emodemo.recipes.training_copies import by_copy, clip_waves, copy_key
from emodemo.training.datasets import PaddedClips

WHISPER = "whisper-tiny.en"
MAX_TOKENS = 64  # word pieces per line, [CLS] and [SEP] included
BATCH = 16  # clips per encoder call when filling the cache
ALL_LAYERS = 6  # at least as many layers as either packaged encoder has (Whisper tiny.en 4 blocks, MiniLM 6)


@functools.cache
def speech_encoder(name: str = WHISPER):
    """The frozen speech encoder, loaded once: a packaged Whisper (``whisper-tiny.en``,
    ``whisper-base``: shared with the speech probe), or a Hub model by id or folder."""
    if name.startswith("whisper-"):
        from emodemo.speech.speech_encoder import frozen_whisper_encoder

        return frozen_whisper_encoder(name.removeprefix("whisper-"))
    from emodemo.speech.hub_speech import HubSpeechEncoder

    return HubSpeechEncoder(name)


def prepare(spec: dict | None = None) -> None:
    """Load the frozen encoders now, so that the first user does not wait for them."""
    speech_encoder((spec or {}).get("speech_encoder", WHISPER))
    load_text_encoder(MINILM)


def trim(wave: np.ndarray) -> np.ndarray:
    """The clip without its leading and trailing silence (:func:`~emodemo.inputs.audio.voiced_bounds`)."""
    start, end = voiced_bounds(wave)
    return wave[start:end]


def layer_range(encoder: str, layers: Sequence[int], normalised: bool) -> tuple:
    """The speech states of the contiguous ``layers`` (as :func:`one_clip_states` and :func:`speech_of_samples`
    take them): ``(encoder, top layers, normalised, deepest block)``, the encoder run no deeper than the last."""
    return (encoder, layers[-1] - layers[0], normalised, layers[-1])


def mixed_layers_spec(
    mixed: Sequence[int],
    encoder: str,
    denoise_below_db: float | None = None,
    steady_floor_below_db: float | None = None,
) -> dict:
    """A model's spec entries for reading a packaged Whisper ``encoder``'s frozen states of the contiguous layers
    ``mixed`` (``[0, 1, 2, 3]``), with the noise gate of :func:`gated` if given; a ``ValueError`` that says why for an
    encoder that is not a packaged Whisper (50 frames a second), a layer it lacks, or half a gate."""
    if not encoder.startswith("whisper-"):
        raise ValueError(f"speech_layers reads a packaged Whisper's frames (50 a second), not {encoder!r}")
    if mixed[-1] > speech_encoder(encoder).n_layers:
        raise ValueError(f"{encoder} has no layer {mixed[-1]} (speech_layers={mixed[0]}-{mixed[-1]})")
    if steady_floor_below_db is not None and denoise_below_db is None:
        raise ValueError("steady_floor_below_db narrows the noise gate: give denoise_below_db too")
    spec = {"speech_encoder": encoder, "speech_layers": list(mixed)}
    for key, value in (("denoise_below_db", denoise_below_db), ("steady_floor_below_db", steady_floor_below_db)):
        if value is not None:
            spec[key] = float(value)
    return spec


def mixed_speech(spec: dict) -> tuple | None:
    """The frozen speech states a model of ``spec`` (:func:`mixed_layers_spec`) mixes, as :func:`speech_of_samples`
    and :func:`one_clip_states` take them (encoder, layers, input setting and noise gate); None when it reads none."""
    layers = spec.get("speech_layers")
    if not layers:
        return None
    return gated(layer_range(spec["speech_encoder"], layers, asked(spec)), spec)


def gated(speech: tuple, spec: dict) -> tuple:
    """``speech`` ``(encoder, top layers, normalised[, deepest block])`` followed by ``spec``'s noise gate
    (``denoise_below_db``[, ``steady_floor_below_db``]; noisy clips heard with their noise gated out), if any."""
    if spec.get("denoise_below_db") is None:
        return speech
    speech = (*speech, *((None,) if len(speech) == 3 else ()), spec["denoise_below_db"])
    if spec.get("steady_floor_below_db") is not None:  # ... when their noise floor is steady
        speech = (*speech, spec["steady_floor_below_db"])
    return speech


@torch.inference_mode()
def speech_states(
    waves: Sequence[np.ndarray], encoder: str = WHISPER, top_layers: int = 0, deepest: int | None = None
) -> list[torch.Tensor]:
    """Each (trimmed) wave's encoder states at its top ``top_layers + 1`` layers: ``[top + 1, T, D]``
    (fp16), T = the clip's own frames (50 per second for Whisper); every layer (embedding output
    included) when the encoder has fewer. ``deepest`` (Whisper only): the encoder runs its first
    ``deepest`` blocks alone, and "top" counts down from there (layers ``deepest - top .. deepest``)."""
    blocks = {} if deepest is None else {"blocks": deepest}
    out = speech_encoder(encoder).encode([trim(w) for w in waves], all_layers=True, **blocks)  # [B, L+1, T, D]
    top = out.layers[:, -(top_layers + 1) :]  # [B, top+1, T, D]
    return [states[:, : int(n)].half().cpu() for states, n in zip(top, out.lengths)]


def one_clip_states(
    wave: np.ndarray,
    encoder: str = WHISPER,
    top_layers: int = 0,
    normalised: bool = False,
    deepest: int | None = None,
    denoise_below_db: float | None = None,
    steady_floor_below_db: float | None = None,
) -> torch.Tensor:
    """:func:`speech_states` of one user's clip (its noise gated out first when it sounds noisy, under
    ``denoise_below_db`` and ``steady_floor_below_db``; then normalised if asked), ``[top + 1, T, D]``. The
    encoder runs once per clip, input and encoder, as deep as the deepest reader of that encoder has asked
    so far (a reader of the lower blocks slices the same run: the blocks' outputs are the same tensors), so
    every Whisper-based model of one analysis (co-attention, ``nmt_attention``, Self- and Cross-MHA) reads
    one encoding (the first clip of a process runs twice when a shallower reader asks first: the deeper one is not
    known yet). The last :data:`CLIPS_REMEMBERED` clips are kept (safe under concurrent requests: at worst two of
    them encode the same clip, and a shallower run never replaces a deeper one)."""
    import hashlib

    digest = hashlib.blake2b(np.ascontiguousarray(wave, dtype=np.float32).tobytes(), digest_size=16).digest()
    gate = {"denoise_below_db": denoise_below_db, "steady_floor_below_db": steady_floor_below_db}
    key = (digest, encoder, bool(normalised), denoise_below_db, steady_floor_below_db)
    blocks = speech_encoder(encoder).n_layers
    needed = blocks if deepest is None else deepest
    with _CLIP_LOCK:
        run = _DEPTH_ASKED[encoder] = max(_DEPTH_ASKED.get(encoder, 0), needed)
        states = _CLIP_MEMO.get(key)
    if states is None or len(states) <= needed:
        heard = normalised_if(denoised_if(wave, gate), normalised)
        states = speech_states([heard], encoder, run, None if run == blocks else run)[0]  # [run + 1, T, D]
        with _CLIP_LOCK:
            if len(_CLIP_MEMO.get(key, ())) < len(states):  # a deeper run of the clip, kept meanwhile, stays
                _CLIP_MEMO[key] = states
            states = _CLIP_MEMO[key]
            while len(_CLIP_MEMO) > CLIPS_REMEMBERED:
                _CLIP_MEMO.popitem(last=False)
    return states[: needed + 1][-(top_layers + 1) :]


def heard_start(
    wave: np.ndarray,
    encoder: str = WHISPER,
    top_layers: int = 0,
    normalised: bool = False,
    deepest: int | None = None,
    denoise_below_db: float | None = None,
    steady_floor_below_db: float | None = None,
) -> float:
    """Seconds into ``wave`` ``[S]`` (16 kHz) where the first frame of its states begins, as :func:`one_clip_states`
    and :func:`speech_of_samples` make them (the same arguments; ``encoder``, ``top_layers`` and ``deepest`` change
    nothing here): the encoder hears the clip with its noise gated out if it sounds noisy, normalised (which cuts the
    voiced region: :func:`~emodemo.inputs.normalise.voiced_start`), then trimmed again (:func:`trim`). A model that
    points at frames by time (word timings) moves the times by it."""
    heard = denoised_if(wave, {"denoise_below_db": denoise_below_db, "steady_floor_below_db": steady_floor_below_db})
    start = 0
    if normalised:
        start, heard = voiced_start(heard), normalise(heard)
    return (start + voiced_bounds(heard)[0]) / SAMPLE_RATE


CLIPS_REMEMBERED = 4
_CLIP_MEMO: OrderedDict[tuple[bytes, str, bool, float | None, float | None], torch.Tensor] = (
    OrderedDict()
)  # (wave digest, encoder, normalised, gate's two thresholds) -> every layer's states up to the deepest block run
_DEPTH_ASKED: dict[str, int] = {}  # encoder -> the deepest block any reader has asked of it in this process
_CLIP_LOCK = threading.Lock()


def forget_clips() -> None:
    """Drop what is remembered of users' clips and transcripts (:func:`one_clip_states`,
    :func:`one_line_states`): a bench timing one clip over and over pays as for a new clip."""
    with _CLIP_LOCK:
        _CLIP_MEMO.clear()
    _line_layers.cache_clear()
    forget_denoised()


def speech_of_samples(
    samples: Sequence[Sample],
    encoder: str = WHISPER,
    top_layers: int = 0,
    normalised: bool = False,
    deepest: int | None = None,
    denoise_below_db: float | None = None,
    steady_floor_below_db: float | None = None,
    progress: bool = True,
) -> list[torch.Tensor]:
    """:func:`speech_states` of the samples' audio files (first 30 s; a training copy as its ``meta`` says,
    :mod:`emodemo.recipes.training_copies`; with ``denoise_below_db``, the noise gated out of those that sound
    noisy, :func:`~emodemo.inputs.normalise.noisy_files`; then normalised if asked), through the feature cache,
    whose key holds every input setting: a gated clip's states are kept under the key of ``denoise``, the others'
    under the plain one, and a copy's under its augmentation settings and copy number."""
    config = {"top_layers": top_layers, "trim": "voiced_bounds", "max_seconds": MAX_SECONDS, **cache_key(normalised)}
    if deepest is not None:
        config["deepest"] = deepest
    out: list[torch.Tensor | None] = [None] * len(samples)
    for (copy, chain), indices in by_copy(samples).items():
        chosen = [samples[i] for i in indices]
        gate = (denoise_below_db, steady_floor_below_db)
        states = _copy_states(chosen, (copy, chain), config, (encoder, top_layers, normalised, deepest), gate, progress)
        for i, value in zip(indices, states):
            out[i] = value
    return out


def _copy_states(
    samples: list[Sample], made_by: tuple[int, str], config: dict, speech: tuple, gate: tuple, progress: bool
) -> list[torch.Tensor]:
    """:func:`speech_of_samples` of samples that are all copy ``made_by = (copy, chain)`` (copy 0: the clips
    themselves); ``speech``: ``(encoder, top_layers, normalised, deepest)``; ``gate``: ``(denoise_below_db,
    steady_floor_below_db)``; ``config``: the cache key's input settings."""
    from emodemo.core.cache import FeatureCache

    (copy, chain), (encoder, top_layers, normalised, deepest) = made_by, speech
    denoise_below_db, steady_floor_below_db = gate
    lookup = {s.audio: s for s in samples}
    paths = [s.audio for s in samples]
    decode = lambda chosen: clip_waves([lookup[p] for p in chosen], copy, chain)  # noqa: E731
    made = copy_key(copy, chain)
    noisy = (
        noisy_files(paths, denoise_below_db, decode, made or None, steady_below_db=steady_floor_below_db)
        if denoise_below_db is not None
        else [False] * len(paths)
    )
    out: list[torch.Tensor | None] = [None] * len(paths)
    for gated in (False, True):
        indices = [i for i, n in enumerate(noisy) if n == gated]
        if not indices:
            continue
        # (named after its first user; renaming it would throw away every filled cache)
        cache = FeatureCache(
            f"coattention-speech-{encoder.replace('/', '--')}-v1",
            {**config, **({"denoise": DENOISE} if gated else {}), **made},
        )
        values = cache.get_many(
            [paths[i] for i in indices],
            lambda chosen, gated=gated: speech_states(
                [normalised_if(denoised_if(w, {"denoise": gated}), normalised) for w in decode(chosen)],
                encoder,
                top_layers,
                deepest,
            ),
            batch=BATCH,
            progress=progress,
            desc=f"speech states{' (noise gated out)' if gated else ''}{f' (copy {copy}, {chain})' if copy else ''}",
        )
        for i, value in zip(indices, values):
            out[i] = value
    return out


def line_states(texts: tuple[str, ...], encoder: str, top_layers: int) -> list[tuple[torch.Tensor, tuple[str, ...]]]:
    """Each line's word-piece states ``[top + 1, N, D]`` (fp16) and word pieces, not memoised."""
    encoded = encode_tokens(list(texts), max_length=MAX_TOKENS, encoder=encoder, all_layers=True)
    top = encoded.layers[:, -(top_layers + 1) :]  # [B, top+1, N, D]
    return [(states[:, : len(tokens)].half(), tuple(tokens)) for states, tokens in zip(top, encoded.tokens)]


def one_line_states(text: str, encoder: str, top_layers: int) -> tuple[torch.Tensor, tuple[str, ...]]:
    """:func:`line_states` of one line (a user's transcript). The encoder runs once per line and
    encoder whatever the layers asked for (every words model and every figure of one analysis
    reads the same transcript); the last 16 lines are remembered."""
    if top_layers > ALL_LAYERS:
        return line_states((text,), encoder, top_layers)[0]
    states, tokens = _line_layers(text, encoder)  # [ALL_LAYERS + 1, N, D]
    return states[-(top_layers + 1) :], tokens


@functools.lru_cache(maxsize=16)
def _line_layers(text: str, encoder: str) -> tuple[torch.Tensor, tuple[str, ...]]:
    return line_states((text,), encoder, ALL_LAYERS)[0]


def text_states(
    texts: Sequence[str], encoder: str = MINILM, top_layers: int = 0, batch: int = 64
) -> list[tuple[torch.Tensor, tuple[str, ...]]]:
    """Each line's word-piece states at the top ``top_layers + 1`` layers, ``[top + 1, N, D]``
    (fp16), with its word pieces; computed in length-sorted batches and memoised per line."""
    texts = [t or "" for t in texts]
    todo = sorted({t for t in texts if (t, encoder, top_layers) not in _TEXT_MEMO}, key=len)
    for start in range(0, len(todo), batch):
        chunk = tuple(todo[start : start + batch])
        for text, value in zip(chunk, line_states(chunk, encoder, top_layers)):
            _TEXT_MEMO[(text, encoder, top_layers)] = value
    return [_TEXT_MEMO[(t, encoder, top_layers)] for t in texts]


_TEXT_MEMO: dict[tuple[str, str, int], tuple[torch.Tensor, tuple[str, ...]]] = {}  # (line, encoder, top) -> states


class StateClips(PaddedClips):
    """Per clip: speech states ``[layers, T, D]`` and/or text states ``[layers, N, D]``; ``collate``
    zero-pads along time into ``speech [B, layers, T, D]`` + ``speech_mask [B, T]``, text likewise."""

    TIME_AXIS = {"speech": 1, "text": 1}

    def __init__(
        self,
        speech: Sequence[torch.Tensor] | None,
        text: Sequence[torch.Tensor] | None,
        labels: Sequence[int] | None = None,
    ):
        super().__init__(labels, speech=speech, text=text)


def state_clips(
    samples: Sequence[Sample], labels: Sequence[str], speech: tuple | None, text: tuple[str, int] | None
) -> StateClips:
    """A dataset of the samples' encoder states: ``speech`` is (encoder, top layers, normalised[,
    deepest block[, denoise_below_db[, steady_floor_below_db]]]), ``text`` (encoder, top layers), either
    None for a modality the model does not read."""
    index = {name: i for i, name in enumerate(labels)}
    speech_part = speech_of_samples(samples, *speech) if speech else None
    text_part = [states for states, _ in text_states([s.text or "" for s in samples], *text)] if text else None
    return StateClips(speech_part, text_part, [index[s.label] for s in samples])


def clip_states(
    wave: np.ndarray, transcript, speech: tuple | None, text: tuple[str, int] | None
) -> dict[str, torch.Tensor]:
    """A user's clip and its Whisper transcript (or None) as a batch of one, like :func:`state_clips`."""
    item = {}
    if speech:
        item["speech"] = one_clip_states(wave, *speech)
    if text:
        item["text"] = one_line_states(words_of(transcript), *text)[0]
    return StateClips.collate([item])


def words_of(transcript) -> str:
    """A transcript's text ("" without one)."""
    return transcript.text if transcript is not None else ""
