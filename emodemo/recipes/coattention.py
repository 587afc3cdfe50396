"""Recipe of talk 001's model: frozen speech and text embeddings fused by alternating co-attention.

Inputs per clip: the frozen Whisper tiny.en encoder's frame states of the clip (leading and
trailing silence trimmed, as for talk 000's model) and the frozen MiniLM word-piece states of its
words, each at the top ``top_layers + 1`` layers (the input of every encoder layer the model may
fine-tune, and the last). Text comes from one of the pairings of :mod:`emodemo.pairing`; labels
are the canonical 7 classes (RAVDESS calm counts as neutral).

Speech states are computed once per audio file and kept in the feature cache (about 40 kB per
second of speech and layer, fp16); text states are recomputed per process and memoised (MiniLM
takes ~10 ms for a RAVDESS transcript here, ``bench/coattention.py``).

Training runs in the talk's stages (:data:`STAGES`): the head alone on the encoders' last states,
then with the top encoder layer of each modality, then with the top two (``"all"`` trains every
layer, :data:`STAGE_LAYERS`); cross-validation scores the test actors after each stage. Text-only, the model also trains on the text benchmarks of
:mod:`emodemo.text_benchmarks` (``--dataset goemotions`` or ``meld``). IEMOCAP (the talk's data)
takes the path of :func:`emodemo.recipes.common.paired_parts`: gold transcriptions, 4 classes,
leave-one-session-out.

Other encoders, for users who are online: ``--option speech_encoder=<transformers id>`` (e.g.
``facebook/hubert-base-ls960``, via :class:`emodemo.hub_speech.HubSpeechEncoder`) and
``--option text_encoder=<transformers id>`` (e.g. ``bert-base-uncased`` or ``t5-base``); the head
then trains on their frozen last states (``top_layers=0``: staged fine-tuning is built for the
packaged encoders' layer types).
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from emodemo.audio import load_audio, voiced_bounds
from emodemo.data.record import Sample
from emodemo.labels import CANONICAL7
from emodemo.models import build
from emodemo.recipes.common import DATASET_LABELS, licence, paired_parts
from emodemo.text import MINILM, encode_tokens, load_text_encoder
from emodemo.text_benchmarks import DESCRIPTIONS, TEXT_BENCHMARKS, text_benchmark_parts

log = logging.getLogger(__name__)

NAME = "coattention"
MODALITIES = ("audio", "text")
LABELS = CANONICAL7
WHISPER = "whisper-tiny.en"
MAX_SECONDS = 30.0
MAX_TOKENS = 64        # word pieces per line, [CLS] and [SEP] included
TOP_LAYERS = 2         # encoder layers per modality the model can fine-tune (stage 3 trains both)
BATCH = 16             # clips per encoder call when filling the cache
ALL_LAYERS = 6         # "all": as many as each encoder has (Whisper tiny.en 4 blocks, MiniLM 6 layers)
# stage -> encoder layers per modality it trains: the head; + the top layer; + the top two; every layer
STAGE_LAYERS = {"head": 0, "top1": 1, "top2": 2, "all": ALL_LAYERS}
STAGES = ("head", "top1", "top2")   # the default sequence (the talk's, up to what this CPU trains in time)
PRETRAINED_LICENCES = ("Whisper tiny.en: MIT", "all-MiniLM-L6-v2: Apache-2.0")


# --- frozen encoders ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def speech_encoder(name: str = WHISPER):
    """The frozen speech encoder, loaded once: Whisper tiny.en, or a Hub model by id or folder."""
    if name == WHISPER:
        from emodemo.speech_encoder import WhisperSpeechEncoder
        return WhisperSpeechEncoder("tiny.en")
    from emodemo.hub_speech import HubSpeechEncoder
    return HubSpeechEncoder(name)


def prepare() -> None:
    """Load the frozen encoders now, so that the first user does not wait for them."""
    speech_encoder(WHISPER)
    load_text_encoder(MINILM)


def trim(wave: np.ndarray) -> np.ndarray:
    """The clip without its leading and trailing silence (:func:`~emodemo.audio.voiced_bounds`)."""
    start, end = voiced_bounds(wave)
    return wave[start:end]


@torch.inference_mode()
def speech_states(waves: Sequence[np.ndarray], encoder: str = WHISPER, top_layers: int = TOP_LAYERS) -> list[torch.Tensor]:
    """Each (trimmed) wave's encoder states at its top ``top_layers + 1`` layers: ``[top + 1, T, D]``
    (fp16), T = the clip's own frames (50 per second for Whisper); every layer (embedding output
    included) when the encoder has fewer."""
    out = speech_encoder(encoder).encode([trim(w) for w in waves], all_layers=True)   # layers [B, L+1, T, D]
    top = out.layers[:, -(top_layers + 1):]                                           # [B, top+1, T, D]
    return [states[:, :int(n)].half().cpu() for states, n in zip(top, out.lengths)]


def speech_of_samples(samples: Sequence[Sample], encoder: str = WHISPER, top_layers: int = TOP_LAYERS,
                      progress: bool = True) -> list[torch.Tensor]:
    """:func:`speech_states` of the samples' audio files (first 30 s), through the feature cache."""
    from emodemo.cache import FeatureCache
    cache = FeatureCache(f"coattention-speech-{encoder.replace('/', '--')}-v1",
                         {"top_layers": top_layers, "trim": "voiced_bounds", "max_seconds": MAX_SECONDS})
    return cache.get_many([s.audio for s in samples], lambda paths: speech_states(
        [load_audio(path, max_seconds=MAX_SECONDS) for path in paths], encoder, top_layers),
        batch=BATCH, progress=progress, desc="speech states")


def _text_states_batch(texts: tuple[str, ...], encoder: str, top_layers: int) -> list[tuple[torch.Tensor, tuple[str, ...]]]:
    encoded = encode_tokens(list(texts), max_length=MAX_TOKENS, encoder=encoder, all_layers=True)
    top = encoded.layers[:, -(top_layers + 1):]                                       # [B, top+1, N, D]
    return [(states[:, :len(tokens)].half(), tuple(tokens)) for states, tokens in zip(top, encoded.tokens)]


def text_states(texts: Sequence[str], encoder: str = MINILM, top_layers: int = TOP_LAYERS,
                batch: int = 64) -> list[tuple[torch.Tensor, tuple[str, ...]]]:
    """Each line's word-piece states at the top ``top_layers + 1`` layers, ``[top + 1, N, D]``
    (fp16), with its word pieces; computed in length-sorted batches and memoised per line."""
    texts = [t or "" for t in texts]
    todo = sorted({t for t in texts if (t, encoder, top_layers) not in _TEXT_MEMO}, key=len)
    for start in range(0, len(todo), batch):
        chunk = tuple(todo[start:start + batch])
        for text, value in zip(chunk, _text_states_batch(chunk, encoder, top_layers)):
            _TEXT_MEMO[(text, encoder, top_layers)] = value
    return [_TEXT_MEMO[(t, encoder, top_layers)] for t in texts]


_TEXT_MEMO: dict[tuple[str, str, int], tuple[torch.Tensor, tuple[str, ...]]] = {}  # (line, encoder, top) -> states


# --- inputs ------------------------------------------------------------------------------------

class CoAttentionClips(Dataset):
    """Per clip: speech states ``[top + 1, T, D]`` and/or text states ``[top + 1, N, D]``;
    :meth:`collate` pads a batch and adds the masks."""

    def __init__(self, speech: Sequence[torch.Tensor] | None, text: Sequence[torch.Tensor] | None,
                 labels: Sequence[int] | None = None):
        self.speech, self.text = speech, text
        self.labels = None if labels is None else torch.as_tensor(labels)
        sizes = {len(x) for x in (speech, text) if x is not None}
        if len(sizes) != 1:
            raise ValueError("a co-attention dataset needs speech or text states (the same number of each)")

    def __len__(self) -> int:
        return len(self.speech if self.speech is not None else self.text)

    @property
    def targets(self) -> torch.Tensor:
        return self.labels

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {}
        if self.speech is not None:
            item["speech"] = self.speech[i]
        if self.text is not None:
            item["text"] = self.text[i]
        if self.labels is not None:
            item["label"] = self.labels[i]
        return item

    @staticmethod
    def collate(items: list[dict]) -> dict[str, torch.Tensor]:
        """Zero-pad along time: speech ``[B, top + 1, T, D]`` + ``speech_mask [B, T]``, text likewise."""
        batch = {}
        for key in ("speech", "text"):
            if key not in items[0]:
                continue
            layers, _, dim = items[0][key].shape
            longest = max(it[key].shape[1] for it in items)
            states = torch.zeros(len(items), layers, longest, dim)
            mask = torch.zeros(len(items), longest, dtype=torch.bool)
            for i, it in enumerate(items):
                states[i, :, :it[key].shape[1]] = it[key].float()
                mask[i, :it[key].shape[1]] = True
            batch[key], batch[f"{key}_mask"] = states, mask
        if "label" in items[0]:
            batch["label"] = torch.stack([it["label"] for it in items])
        return batch


def make_dataset(samples: Sequence[Sample], labels: Sequence[str], spec: dict) -> CoAttentionClips:
    index = {name: i for i, name in enumerate(labels)}
    mode, top = spec["mode"], spec["top_layers"]
    speech = speech_of_samples(samples, spec["speech_encoder"], top) if mode != "text" else None
    text = None
    if mode != "speech":
        text = [states for states, _ in text_states([s.text or "" for s in samples], spec["text_encoder"], top)]
    return CoAttentionClips(speech, text, [index[s.label] for s in samples])


def clip_inputs(wave: np.ndarray, transcript=None, spec: dict | None = None) -> dict[str, torch.Tensor]:
    """A user's clip and its Whisper transcript as a batch of one, prepared like training clips."""
    item = {}
    if spec["mode"] != "text":
        item["speech"] = speech_states([wave], spec["speech_encoder"], spec["top_layers"])[0]
    if spec["mode"] != "speech":   # not memoised: a long-running app would keep every user's words
        item["text"] = _text_states_batch((_words(transcript),), spec["text_encoder"], spec["top_layers"])[0][0]
    return CoAttentionClips.collate([item])


def clip_tokens(transcript, spec: dict) -> tuple[str, ...]:
    """The word pieces the text attention weights of :func:`clip_inputs` refer to."""
    return _text_states_batch((_words(transcript),), spec["text_encoder"], spec["top_layers"])[0][1]


def _words(transcript) -> str:
    return transcript.text if transcript is not None else ""


# --- model and stages --------------------------------------------------------------------------

def model_kwargs(mode: str, top_layers: int, n_classes: int, speech_encoder_name: str = WHISPER,
                 text_encoder_name: str = MINILM) -> dict:
    """The model's constructor arguments; ``top_layers`` copies per modality, at most the encoder's depth."""
    speech_dim, speech_top, text_dim, text_top, text_config = 384, 0, 384, 0, {}
    if mode != "text":
        encoder = speech_encoder(speech_encoder_name)
        speech_dim, speech_top = encoder.dim, min(top_layers, encoder.n_layers)
    if mode != "speech":
        config = load_text_encoder(text_encoder_name)[1].config
        text_dim, text_top = config.hidden_size, min(top_layers, config.num_hidden_layers)
        text_config = {"num_attention_heads": config.num_attention_heads, "intermediate_size": config.intermediate_size}
    return {"n_classes": n_classes, "mode": mode, "speech_dim": speech_dim, "text_dim": text_dim,
            "speech_top": speech_top, "text_top": text_top, "text_config": text_config}


def build_model(kwargs: dict, spec: dict):
    """The model with its top encoder layers copied from the pre-trained encoders."""
    copies = kwargs["speech_top"] or kwargs["text_top"]
    if copies and (spec["speech_encoder"] != WHISPER or spec["text_encoder"] != MINILM):
        raise ValueError("staged fine-tuning (top_layers > 0) is built for the packaged Whisper and MiniLM "
                         "encoders; with a Hub encoder use --option top_layers=0 --option stages=head")
    model = build(NAME, **kwargs)
    if copies:
        whisper = speech_encoder(WHISPER).encoder
        minilm = load_text_encoder(MINILM)[1]
        model.load_encoder_tops(whisper.blocks, whisper.ln_post, minilm.encoder.layer)
    model.unfreeze(0)
    return model


def stage_plan(names: Sequence[str], epochs: int | None, seed: int, quick: bool, loss: str, lr: float,
               batch_size: int):
    """The talk's stages: the head (lr ``lr``), then the top encoder layer(s) with a 10-50x lower lr."""
    from emodemo.experiment import Stage
    from emodemo.train import TrainConfig

    def cfg(stage_epochs: int, stage_lr: float, patience: int, min_epochs: int) -> TrainConfig:
        return TrainConfig(epochs=epochs or (2 if quick else stage_epochs), batch_size=int(batch_size), lr=stage_lr,
                           weight_decay=0.01, patience=patience, min_epochs=min_epochs, class_weights=True,
                           monitor="UF1", loss=loss, seed=seed, progress=not quick, warmup_ratio=0.1)

    def unfreeze(n: int):
        return lambda model: model.unfreeze(min(n, max(len(b) for b in model.top_blocks())))

    plan = {"head": Stage("head", cfg(60, float(lr), 10, 10), unfreeze(0)),
            "top1": Stage("top1", cfg(6, float(lr) / 10, 3, 0), unfreeze(1)),
            "top2": Stage("top2", cfg(6, float(lr) / 20, 3, 0), unfreeze(2)),
            "all": Stage("all", cfg(6, float(lr) / 50, 3, 0), unfreeze(ALL_LAYERS))}
    unknown = [n for n in names if n not in plan]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages: {list(plan)}")
    return [plan[n] for n in names]


# --- training ----------------------------------------------------------------------------------

def train(dataset: str, root: Path, out: Path, cv: bool = True, final: bool = True, epochs: int | None = None,
          seed: int = 0, quick: bool = False, fold_ids: Sequence[int] | None = None, pairing: str = "real",
          text_source: str = "goemotions", text_root: str | None = None, mode: str = "fusion", loss: str = "bce",
          stages: str = ",".join(STAGES), top_layers: int | None = None, speech_encoder: str = WHISPER,
          text_encoder: str = MINILM, lr: float = 1e-3, batch_size: int = 32, fold_models: str | None = None) -> dict:
    """Cross-validate by actor through the stages (optional), then train and save the final model.

    ``stages``: comma-separated names from :data:`STAGE_LAYERS` (e.g. ``head`` for the head alone,
    ``head,all`` for the head and then every encoder layer);
    ``top_layers`` defaults to the number of encoder layers the stages unfreeze; ``loss`` is the
    talk's ``bce`` or softmax ``ce``. On a text benchmark (``dataset`` goemotions or meld, with
    ``mode=text``) the model trains on its official splits.
    """
    from emodemo.checkpoint import save_checkpoint
    from emodemo.experiment import cross_validate, train_final

    names = [n for n in stages.split(",") if n]
    plan = stage_plan(names, epochs, seed, quick, loss, lr, batch_size)
    top = int(top_layers) if top_layers is not None else max(STAGE_LAYERS[n] for n in names)
    spec = {"mode": mode, "top_layers": top, "speech_encoder": speech_encoder, "text_encoder": text_encoder}
    if dataset in TEXT_BENCHMARKS:
        return _train_text_benchmark(dataset, Path(root), out, final, quick, spec, plan)
    samples, folds, final_split, pairing_name = paired_parts(NAME, dataset, Path(root), pairing, text_source,
                                                             Path(text_root) if text_root else None, seed)
    labels = DATASET_LABELS[dataset]
    kwargs = model_kwargs(mode, top, len(labels), speech_encoder, text_encoder)
    if quick:
        folds = folds[:1]
    if fold_ids is not None:
        folds = [folds[i] for i in fold_ids]
    make = lambda part: make_dataset(part, labels, spec)  # noqa: E731
    new_model = lambda: build_model(kwargs, spec)  # noqa: E731
    card = {"dataset": dataset, "pairing": pairing_name,
            "licence": licence(dataset, pairing, text_source, PRETRAINED_LICENCES),
            "inputs": f"16 kHz waveform, silence trimmed -> frozen {speech_encoder} states; words (Whisper "
                      f"tiny.en transcript, or the paired line) -> frozen {text_encoder} word-piece states",
            "stages": names, "loss": loss}
    metrics: dict = {"pairing": pairing_name, "stages_run": names, "loss": loss}

    def keep(fold, model, report):
        save_checkpoint(Path(fold_models) / fold.name, model, model_name=NAME, model_kwargs=kwargs, labels=list(labels),
                        data_card=dict(card, train_speakers=list(fold.train), validation_speakers=list(fold.val),
                                       test_speakers=list(fold.test)),
                        metrics={"test": report}, train_cfg=plan[-1].cfg, input_spec=spec)

    if cv:
        result = cross_validate(samples, folds, make, new_model, labels, plan[0].cfg, keep if fold_models else None,
                                stages=plan)
        metrics["cross_validation"], metrics["folds"] = result["summary"], result["folds"]
        metrics["stages"] = result["stages"]
        for name, stage in result["stages"].items():
            s = stage["summary"]
            log.info("%s %s, %s, stage %s: %d-fold WA %.3f±%.3f UA %.3f±%.3f", NAME, mode, pairing_name, name,
                     len(folds), s["WA"]["mean"], s["WA"]["std"], s["UA"]["mean"], s["UA"]["std"])
    if final:
        model, histories, val_report = train_final(samples, final_split, make, new_model, labels, plan[0].cfg,
                                                   stages=plan)
        metrics["final_validation_not_a_test_score"] = val_report
        metrics["final_history"] = {name: h.to_dict() for name, h in histories.items()}
        card.update(train_speakers=list(final_split.train), validation_speakers=list(final_split.val))
        save_checkpoint(out, model, model_name=NAME, model_kwargs=kwargs, labels=list(labels), data_card=card,
                        metrics=metrics, train_cfg=plan[-1].cfg, input_spec=spec, half=True)
    return metrics


def _train_text_benchmark(name: str, root: Path, out: Path, final: bool, quick: bool, spec: dict, plan) -> dict:
    """The text side alone on a text corpus's official splits, through the stages; test scored after each."""
    from emodemo.checkpoint import save_checkpoint
    from emodemo.train import evaluate, fit, seed_everything

    if spec["mode"] != "text":
        raise ValueError(f"{name} has no audio: train it with --option mode=text")
    parts = text_benchmark_parts(name, root)
    if quick:
        parts = tuple(part[:200] for part in parts)
    labels = DATASET_LABELS[name]
    kwargs = model_kwargs("text", spec["top_layers"], len(labels), text_encoder_name=spec["text_encoder"])
    train_set, val_set, test_set = (make_dataset(part, labels, spec) for part in parts)
    seed_everything(plan[0].cfg.seed)
    model = build_model(kwargs, spec)
    metrics: dict = {"protocol": DESCRIPTIONS[name], "sizes": [len(p) for p in parts], "stages": {}}
    for stage in plan:
        stage.prepare(model)
        history = fit(model, train_set, val_set, stage.cfg, labels=labels)
        report = evaluate(model, test_set, labels, batch_size=stage.cfg.batch_size)
        metrics["stages"][stage.name] = {"test": report, "best_epoch": history.best_epoch, "history": history.to_dict()}
        log.info("%s text-only on %s, stage %s: test WA %.3f UA %.3f UF1 %.3f", NAME, name, stage.name,
                 report["WA"], report["UA"], report["UF1"])
    metrics["test"] = metrics["stages"][plan[-1].name]["test"]
    if final:
        card = {"dataset": name, "protocol": DESCRIPTIONS[name],
                "licence": licence(name, "real", name, PRETRAINED_LICENCES[1:]),
                "inputs": f"words -> frozen {spec['text_encoder']} word-piece states"}
        save_checkpoint(out, model, model_name=NAME, model_kwargs=kwargs, labels=list(labels), data_card=card,
                        metrics=metrics, train_cfg=plan[-1].cfg, input_spec=spec)
    return metrics
