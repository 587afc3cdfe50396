"""Recipe of talk 001's model: frozen speech and text embeddings fused by alternating co-attention.

Inputs per clip: the frozen Whisper tiny.en encoder's frame states of the clip (leading and
trailing silence trimmed, as for talk 000's model) and the frozen MiniLM word-piece states of its
words, each at the top ``top_layers + 1`` layers (the input of every encoder layer the model may
fine-tune, and the last), from :mod:`emodemo.recipes.frozen_states` (speech cached per file, text
memoised). Text comes from one of the pairings of :mod:`emodemo.protocols.pairing`; labels are the
canonical 7 classes (RAVDESS calm counts as neutral). The served checkpoint trains on mixed pairs
(``pairing=mixed``: each clip once with a GoEmotions line of its emotion, once with its own Whisper
words, which is what the app gives it); cross-validation then also scores each half of the test
clips apart (``by_pairing``), and the final model carries a temperature fitted on its validation
actors' real pairs (:func:`emodemo.recipes.common.served_final_extras`).

Training runs in the talk's stages (:data:`STAGES`): the head alone on the encoders' last states,
then with the top encoder layer of each modality, then with the top two (``"all"`` trains every
layer, :data:`STAGE_LAYERS`); cross-validation scores the test actors after each stage. The served
checkpoint (issue 20) trains the head alone on other speech states: a learned mix of Whisper base's
layers 0-3 (``speech_encoder=whisper-base speech_layers=0-3``), which carry to new voices.
Text-only, the model also trains on the text benchmarks of
:mod:`emodemo.protocols.text_benchmarks` (``--dataset goemotions`` or ``meld``). IEMOCAP (the talk's data)
takes the path of :func:`emodemo.recipes.common.paired_parts`: gold transcriptions, 4 classes,
leave-one-session-out.

Other encoders, for users who are online: ``--option speech_encoder=<transformers id>`` (e.g.
``facebook/hubert-base-ls960``, via :class:`emodemo.speech.hub_speech.HubSpeechEncoder`) and
``--option text_encoder=<transformers id>`` (e.g. ``bert-base-uncased`` or ``t5-base``); the head
then trains on their frozen last states (``top_layers=0``: staged fine-tuning is built for the
packaged encoders' layer types).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from emodemo.core.labels import CANONICAL7
from emodemo.data.record import Sample
from emodemo.inputs.text import MINILM, load_text_encoder
from emodemo.models import build
from emodemo.protocols.text_benchmarks import TEXT_BENCHMARKS, text_benchmark_parts
from emodemo.recipes.common import (
    DATASET_LABELS,
    MINILM_LICENCE,
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
    served_final_extras,
    text_benchmark_train,
    text_only,
    whisper_minilm_licences,
)
from emodemo.recipes.frozen_states import (
    ALL_LAYERS,
    WHISPER,
    StateClips,
    clip_states,
    gated,
    layer_range,
    one_line_states,
    speech_encoder,
    state_clips,
    words_of,
)
from emodemo.recipes.frozen_states import prepare as prepare  # the recipe contract's prepare, re-exported

NAME = "coattention"
MODALITIES = ("audio", "text")
LABELS = CANONICAL7
# stage -> encoder layers per modality it trains: the head; + the top layer; + the top two; every layer
STAGE_LAYERS = {"head": 0, "top1": 1, "top2": 2, "all": ALL_LAYERS}
STAGES = ("head", "top1", "top2")  # the default sequence (the talk's, up to what this CPU trains in time)


# --- inputs ------------------------------------------------------------------------------------


def _encoders(spec: dict) -> tuple[tuple | None, tuple[str, int] | None]:
    """(encoder, top layers, normalised input[, deepest block]) per modality the model reads
    (checkpoints saved before normalisation existed have raw input; ``speech_block``: the speech
    states of that block, the encoder run no deeper; ``speech_layers``: the states of that range of
    layers, the encoder run no deeper than its last)."""
    name, normalised, layers = spec["speech_encoder"], spec.get("normalise", False), spec.get("speech_layers")
    if layers:  # the mixed range's states (as Self-MHA's)
        speech = layer_range(name, layers, normalised)
    else:
        speech = (name, spec["top_layers"], normalised)
        if spec.get("speech_block") is not None:
            speech += (spec["speech_block"],)
    speech = gated(speech, spec)
    return (
        speech if spec["mode"] != "text" else None,
        (spec["text_encoder"], spec["top_layers"]) if spec["mode"] != "speech" else None,
    )


def make_dataset(samples: Sequence[Sample], labels: Sequence[str], spec: dict) -> StateClips:
    return state_clips(samples, labels, *_encoders(spec))


def clip_inputs(wave: np.ndarray, transcript=None, spec: dict | None = None) -> dict[str, torch.Tensor]:
    """A user's clip and its Whisper transcript as a batch of one, prepared like training clips."""
    return clip_states(wave, transcript, *_encoders(spec))


def clip_tokens(transcript, spec: dict) -> tuple[str, ...]:
    """The word pieces the text attention weights of :func:`clip_inputs` refer to."""
    return one_line_states(words_of(transcript), spec["text_encoder"], spec["top_layers"])[1]


def explain(output: dict, wave: np.ndarray | None, transcript, spec: dict, labels, title: str = ""):
    """The three co-attention steps over this clip's word pieces and voiced sound."""
    from emodemo.inputs.audio import SAMPLE_RATE, voiced_bounds
    from emodemo.reports.viz import coattention_steps

    if "speech_attention" not in output or "text_attention_3" not in output:
        return None
    start, end = voiced_bounds(wave)
    words = (
        [(w.text, w.start - start / SAMPLE_RATE, w.end - start / SAMPLE_RATE) for w in transcript.words]
        if transcript is not None
        else None
    )
    panel = {
        "wave": wave[start:end],
        "tokens": clip_tokens(transcript, spec),
        "text_1": output["text_attention_1"],
        "speech": output["speech_attention"],
        "text_3": output["text_attention_3"],
        "title": title,
        "word_times": words,
    }
    return coattention_steps([panel], SAMPLE_RATE)


# --- model and stages --------------------------------------------------------------------------


def model_kwargs(
    mode: str, top_layers: int, n_classes: int, speech_encoder_name: str = WHISPER, text_encoder_name: str = MINILM
) -> dict:
    """The model's constructor arguments; ``top_layers`` copies per modality, at most the encoder's depth."""
    speech_dim, speech_top, text_dim, text_top, text_config = 384, 0, 384, 0, {}
    if mode != "text":
        encoder = speech_encoder(speech_encoder_name)
        speech_dim, speech_top = encoder.dim, min(top_layers, encoder.n_layers)
    if mode != "speech":
        config = load_text_encoder(text_encoder_name)[1].config
        text_dim, text_top = config.hidden_size, min(top_layers, config.num_hidden_layers)
        text_config = {"num_attention_heads": config.num_attention_heads, "intermediate_size": config.intermediate_size}
    return {
        "n_classes": n_classes,
        "mode": mode,
        "speech_dim": speech_dim,
        "text_dim": text_dim,
        "speech_top": speech_top,
        "text_top": text_top,
        "text_config": text_config,
    }


def build_model(kwargs: dict, spec: dict):
    """The model with its top encoder layers copied from the pre-trained encoders."""
    copies = kwargs["speech_top"] or kwargs["text_top"]
    if copies and (spec["speech_encoder"] != WHISPER or spec["text_encoder"] != MINILM):
        raise ValueError(
            "staged fine-tuning (top_layers > 0) is built for the packaged Whisper and MiniLM "
            "encoders; with a Hub encoder use --option top_layers=0 --option stages=head"
        )
    model = build(NAME, **kwargs)
    if copies:
        whisper = speech_encoder(WHISPER).encoder
        minilm = load_text_encoder(MINILM)[1]
        model.load_encoder_tops(whisper.blocks, whisper.ln_post, minilm.encoder.layer)
    model.unfreeze(0)
    return model


def stage_plan(names: Sequence[str], epochs: int | None, seed: int, quick: bool, loss: str, lr: float, batch_size: int):
    """The talk's stages: the head (lr ``lr``), then the top encoder layer(s) with a 10-50x lower lr."""
    from emodemo.training.engine import TrainConfig
    from emodemo.training.experiment import Stage

    def cfg(stage_epochs: int, stage_lr: float, patience: int, min_epochs: int) -> TrainConfig:
        return TrainConfig(
            epochs=epochs_for(epochs, stage_epochs, quick),
            batch_size=int(batch_size),
            lr=stage_lr,
            weight_decay=0.01,
            patience=patience,
            min_epochs=min_epochs,
            class_weights=True,
            monitor="UF1",
            loss=loss,
            seed=seed,
            progress=not quick,
            warmup_ratio=0.1,
        )

    def unfreeze(n: int):
        return lambda model: model.unfreeze(min(n, max(len(b) for b in model.top_blocks())))

    plan = {
        "head": Stage("head", cfg(60, float(lr), 10, 10), unfreeze(0)),
        "top1": Stage("top1", cfg(6, float(lr) / 10, 3, 0), unfreeze(1)),
        "top2": Stage("top2", cfg(6, float(lr) / 20, 3, 0), unfreeze(2)),
        "all": Stage("all", cfg(6, float(lr) / 50, 3, 0), unfreeze(ALL_LAYERS)),
    }
    unknown = [n for n in names if n not in plan]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages: {list(plan)}")
    return [plan[n] for n in names]


# --- training ----------------------------------------------------------------------------------


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
    loss: str = "bce",
    stages: str = ",".join(STAGES),
    top_layers: int | None = None,
    speech_encoder: str = WHISPER,
    text_encoder: str = MINILM,
    lr: float = 1e-3,
    batch_size: int = 32,
    fold_models: str | None = None,
    normalise: bool = False,
    speech_block: int | None = None,
    denoise_below_db: float | None = None,
    steady_floor_below_db: float | None = None,
    speech_stats: bool = False,
    speech_plain: bool = False,
    speech_layers: str | None = None,
    no_words: bool = False,
    neutral_lines: bool = False,
    neutral_share: float = 0.5,
    pitch_copies: bool = False,
    pitch_tempo_copies: bool = False,
    utterance_norm: bool = False,
) -> dict:
    """Cross-validate by actor through the stages (optional), then train and save the final model.

    ``stages``: comma-separated names from :data:`STAGE_LAYERS` (e.g. ``head`` for the head alone,
    ``head,all`` for the head and then every encoder layer);
    ``top_layers`` defaults to the number of encoder layers the stages unfreeze; ``loss`` is the
    talk's ``bce`` or softmax ``ce``; ``normalise``: each clip goes through
    :func:`emodemo.inputs.normalise.normalise` before the speech encoder (in the app too); ``speech_block``
    (with the head alone): the speech states of that block (3 with ``speech_encoder=whisper-base``: the
    lower half, which carries to new voices), the encoder run no deeper. ``denoise_below_db``: a clip that
    sounds noisy (:func:`emodemo.inputs.normalise.estimated_snr_db` under it) has its stationary noise
    gated out first, in training and in the app alike; with ``steady_floor_below_db``, only when its noise floor
    is steady too (:func:`emodemo.inputs.normalise.floor_spread_db` under it). ``speech_stats``: the
    speech summary adds the attended frames' spread to their mean (the model's ``speech_stats``);
    ``speech_plain``: every frame's plain mean and spread (the model's ``speech_plain``). ``speech_layers``
    (``"0-3"``, with the head alone): the speech states of those layers, mixed by learned weights (the model's
    ``speech_layers``), the encoder run no deeper than the last. ``no_words`` and ``neutral_lines``: as
    :func:`emodemo.recipes.common.paired_parts` (half the training clips' own words dropped, every test clip also
    scored with none; ``neutral_share`` of those left swapped for a neutral line); ``pitch_copies=1``: every
    training pair once more with its clip shifted in pitch (the ``"pitch"`` chain of
    :func:`emodemo.inputs.augment.training_chain`, its words kept), so that how high a voice sits tells no emotion;
    ``pitch_tempo_copies=1``: the same with each copy also played 0.75 to 1.3 times as fast (the ``"pitch_tempo"``
    chain), so that how slowly a voice speaks tells less either; ``utterance_norm=1``: the speech states less each
    clip's own mean over its spread, per feature (the model's
    ``utterance_norm``), so that what stays the same through a clip, a voice's age or timbre, tells no emotion either.
    On a text benchmark
    (``dataset`` goemotions or meld, with
    ``mode=text``) the model trains on its official splits.
    """
    from emodemo.training.checkpoint import save_checkpoint

    names = [n for n in stages.split(",") if n]
    plan = stage_plan(names, epochs, seed, quick, loss, lr, batch_size)
    top = int(top_layers) if top_layers is not None else max(STAGE_LAYERS[n] for n in names)
    spec = {
        "mode": mode,
        "top_layers": top,
        "speech_encoder": speech_encoder,
        "text_encoder": text_encoder,
        "normalise": as_flag(normalise),
    }
    if denoise_below_db is not None:  # noisy clips heard with their noise gated out, in the app too
        spec["denoise_below_db"] = float(denoise_below_db)
    if steady_floor_below_db is not None:
        spec["steady_floor_below_db"] = float(steady_floor_below_db)
    if speech_block is not None:
        if top:
            raise ValueError("speech_block reads one block's states with the head alone: add --option stages=head")
        spec["speech_block"] = int(speech_block)
    mixed = None  # the speech layers mixed, e.g. [0, 1, 2, 3]
    if speech_layers is not None:
        mixed = contiguous_layers(speech_layers, NAME)
        if not mixed:
            raise ValueError(f"speech_layers takes a range of layers like 0-3, not {speech_layers!r}")
        if mode == "text":
            raise ValueError("speech_layers mixes the speech states: it has no meaning with mode=text")
        if speech_block is not None:
            raise ValueError("speech_block reads one block, speech_layers mixes a range: give one of them")
        if top:
            raise ValueError("speech_layers mixes frozen layers with the head alone: add --option stages=head")
        spec["speech_layers"] = mixed
    asked = {"speech_stats": speech_stats, "speech_plain": speech_plain, "utterance_norm": utterance_norm}
    speech_options = {key: True for key, on in asked.items() if as_flag(on)}  # the model's ways of reading the speech
    if speech_options and mode == "text":
        raise ValueError(f"{next(iter(speech_options))} reads the speech: it has no meaning with mode=text")
    copies = copies_asked(pitch_copies, pitch_tempo_copies, "mode=text" if mode == "text" else None)
    if {"utterance_norm", "speech_plain"} <= set(speech_options):
        raise ValueError("utterance_norm leaves each clip at mean 0 and spread 1: speech_plain would add nothing")
    if dataset in TEXT_BENCHMARKS:  # the text side alone on the corpus's official splits, through the stages
        text_only(dataset, mode == "text", "mode=text")
        labels = DATASET_LABELS[dataset]
        kwargs = model_kwargs("text", top, len(labels), text_encoder_name=text_encoder)
        return text_benchmark_train(
            NAME,
            dataset,
            text_benchmark_parts(dataset, Path(root), quick),
            lambda part: make_dataset(part, labels, spec),
            lambda: build_model(kwargs, spec),
            labels,
            plan[0].cfg,
            out=out,
            final=final,
            model_kwargs=kwargs,
            input_spec=spec,
            inputs=f"words -> frozen {text_encoder} word-piece states",
            pretrained=(MINILM_LICENCE,),
            stages=plan,
        )
    samples, folds, final_split, pairing_name = paired_parts(
        NAME,
        dataset,
        Path(root),
        pairing,
        text_source,
        Path(text_root) if text_root else None,
        seed,
        quick,
        no_words=no_words,
        neutral_lines=neutral_lines,
        neutral_share=neutral_share,
        copies_chain=copies,
    )
    labels = DATASET_LABELS[dataset]
    kwargs = model_kwargs(mode, top, len(labels), speech_encoder, text_encoder)
    kwargs.update(speech_options)
    if mixed:
        kwargs["speech_layers"] = len(mixed)
    folds = chosen_folds(folds, quick, fold_ids)
    make = lambda part: make_dataset(part, labels, spec)
    new_model = lambda: build_model(kwargs, spec)
    card = {
        "dataset": dataset,
        "pairing": pairing_name,
        "licence": licence(dataset, pairing, text_source, whisper_minilm_licences(speech_encoder)),
        "inputs": f"16 kHz waveform, {NORMALISED if spec['normalise'] else 'silence trimmed'} -> frozen "
        f"{speech_encoder} states{f' of block {speech_block}' if speech_block is not None else ''}"
        f"{f' of layers {mixed[0]}-{mixed[-1]}, mixed by learned weights' if mixed else ''}"
        f"{' (attended mean and spread)' if kwargs.get('speech_stats') else ''}"
        f"{' (with the mean and spread of every frame)' if kwargs.get('speech_plain') else ''}"
        f"{', each clip less its own mean over its spread' if kwargs.get('utterance_norm') else ''}; words (Whisper "
        f"tiny.en transcript, or the paired line) -> frozen {text_encoder} word-piece states{gate_note(spec)}",
        "stages": names,
        "loss": loss,
    }
    metrics: dict = {"pairing": pairing_name, "stages_run": names, "loss": loss}

    halves = PairingScores(samples, make, labels, plan[-1].cfg.batch_size) if pairing == "mixed" else None

    keep = every_fold(
        halves,
        fold_model_saver(
            fold_models,
            NAME,
            card,
            model_kwargs=kwargs,
            labels=list(labels),
            train_cfg=plan[-1].cfg,
            input_spec=spec,
            half=True,
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
                plan[0].cfg,
                seed,
                f"{NAME} {mode}, {pairing_name}",
                keep_model=keep,
                stages=plan,
                chance=False,
            )
        )
        if halves:
            metrics["by_pairing"] = halves.summary()
    if final:
        model, final_metrics = final_model(samples, final_split, make, new_model, labels, plan[0].cfg, stages=plan)
        metrics.update(final_metrics)
        by_pairing, calibration = served_final_extras(
            model, samples, final_split, make, labels, plan[-1].cfg.batch_size
        )
        metrics.update(by_pairing)
        card.update(train_speakers=list(final_split.train), validation_speakers=list(final_split.val))
        save_checkpoint(
            out,
            model,
            model_name=NAME,
            model_kwargs=kwargs,
            labels=list(labels),
            data_card=card,
            metrics=metrics,
            train_cfg=plan[-1].cfg,
            input_spec=spec,
            calibration=calibration,
            half=True,
        )
    return metrics
