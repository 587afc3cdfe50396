"""Recipe of talk 002's models: layer-mixed self-supervised speech states and BERT-family word-piece
states, fused by self-attention over the joined sequence (Self-MHA) or by cross-attention (Cross-MHA).

Inputs per clip (:mod:`emodemo.recipes.frozen_states`): the frozen Whisper tiny.en encoder's frame
states at every layer (embedding output and 4 blocks, silence trimmed, cached per file) and the
frozen MiniLM word-piece states of its words at the last layer ([CLS] first). Text comes from one
of the pairings of :mod:`emodemo.protocols.pairing`; labels are the canonical 7 classes (RAVDESS calm counts
as neutral). The served checkpoints train on mixed pairs (``pairing=mixed``: each clip once with a
GoEmotions line of its emotion, once with its own Whisper words, which is what the app gives them);
cross-validation then also scores each half of the test clips apart (``by_pairing``), and the
final model carries a temperature fitted on its validation actors' real pairs
(:func:`emodemo.recipes.common.served_final_extras`). IEMOCAP (the talk's data) takes the path of
:func:`emodemo.recipes.common.paired_parts`: gold transcriptions, 4 classes, leave-one-session-out.

Training as the talk: at most 50 epochs, the learning rate halved when validation UF1 stalls for
2 epochs (reduce-on-plateau), early stopping after 8; every cross-validation result also holds
the random-prediction row on the same test speakers (:func:`emodemo.training.experiment.chance_baseline`).

Variants by option: ``fusion`` self | cross | speech | text, ``pooling`` stat | mean (the noSP
ablation), ``text_feature`` tokens | cls (the CLS ablation). Other encoders, for users who are
online: ``--option speech_encoder=<transformers id>`` (e.g. ``facebook/wav2vec2-base``, the talk's
kind of encoder, via :class:`emodemo.speech.hub_speech.HubSpeechEncoder`) and
``--option text_encoder=<transformers id>`` (e.g. ``bert-base-uncased``).
"""

from __future__ import annotations

import json
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

NAME = "ssl_mha"
MODALITIES = ("audio", "text")
LABELS = CANONICAL7


# --- inputs ------------------------------------------------------------------------------------


def _encoders(spec: dict) -> tuple[tuple | None, tuple[str, int] | None]:
    """(encoder, top layers, normalised input[, deepest block[, denoise_below_db[, steady_floor_below_db]]]) per
    modality the model reads: every
    speech layer, or the range ``spec["layers"]`` (the encoder run no deeper than its last), and the
    last text layer; raw input for checkpoints saved before normalisation existed. (At least
    :data:`ALL_LAYERS`, so that Whisper's cached states are the ones coattention's "all" stage
    fills; more for a deeper Hub encoder.)"""
    speech = None
    if spec["fusion"] != "text":
        name, normalised, layers = spec["speech_encoder"], spec.get("normalise", False), spec.get("layers")
        if layers:
            speech = layer_range(name, layers, normalised)
        else:
            speech = (name, max(ALL_LAYERS, speech_encoder(name).n_layers), normalised)
        speech = gated(speech, spec)
    return speech, ((spec["text_encoder"], 0) if spec["fusion"] != "speech" else None)


def make_dataset(samples: Sequence[Sample], labels: Sequence[str], spec: dict) -> StateClips:
    """Speech ``[L, T, 384]`` and text ``[1, N, 384]`` states per clip (fp16), with its label."""
    return state_clips(samples, labels, *_encoders(spec))


def clip_inputs(wave: np.ndarray, transcript=None, spec: dict | None = None) -> dict[str, torch.Tensor]:
    """A user's clip and its Whisper transcript as a batch of one, prepared like training clips."""
    return clip_states(wave, transcript, *_encoders(spec))


def clip_tokens(transcript, spec: dict) -> tuple[str, ...]:
    """The word pieces the attention maps of :func:`clip_inputs` refer to ([CLS] first)."""
    return one_line_states(words_of(transcript), spec["text_encoder"], 0)[1]


def explain(output: dict, wave: np.ndarray | None, transcript, spec: dict, labels, title: str = ""):
    """Each word piece's attention over the voiced sound (25 frames per second): Cross-MHA's text ->
    speech map, or Self-MHA's word-piece rows over the speech columns of its joined map."""
    from emodemo.inputs.audio import SAMPLE_RATE
    from emodemo.recipes.frozen_states import trim
    from emodemo.reports.viz import attention_heatmap

    tokens = list(clip_tokens(transcript, spec))
    if "text_to_speech" in output:
        weights = output["text_to_speech"]  # [N, T/2]
    elif "self_attention" in output:
        joined = output["self_attention"]  # [T/2 + N, T/2 + N]
        n_speech = len(joined) - len(tokens)
        weights = joined[n_speech:, :n_speech]
    else:
        return None
    return attention_heatmap(
        weights,
        tokens,
        trim(wave),
        SAMPLE_RATE,
        frame_rate=25.0,
        title=f"{title}: each word piece's attention over the voiced sound",
    )


# --- model and training ------------------------------------------------------------------------


def model_kwargs(
    fusion: str,
    pooling: str,
    text_feature: str,
    n_classes: int,
    speech_encoder_name: str = WHISPER,
    text_encoder_name: str = MINILM,
    layers: Sequence[int] | None = None,
) -> dict:
    """The model's constructor arguments, with the encoders' widths and the number of speech layers
    it mixes (``layers``, or all of them)."""
    kwargs = {"n_classes": n_classes, "fusion": fusion, "pooling": pooling, "text_feature": text_feature}
    if fusion != "text":
        encoder = speech_encoder(speech_encoder_name)
        n_layers = len(layers) if layers else encoder.n_layers + 1  # + the embedding output
        kwargs.update(speech_dim=encoder.dim, speech_layers=n_layers)
    if fusion != "speech":
        kwargs["text_dim"] = load_text_encoder(text_encoder_name)[1].config.hidden_size
    return kwargs


def train_config(epochs: int | None, seed: int, quick: bool, lr: float, batch_size: int):
    """The talk's training: <= 50 epochs, lr scheduling on the validation score, early stopping."""
    from emodemo.training.engine import TrainConfig

    return TrainConfig(
        epochs=epochs_for(epochs, 50, quick),
        batch_size=int(batch_size),
        lr=float(lr),
        weight_decay=0.01,
        scheduler="plateau",
        plateau_factor=0.5,
        plateau_patience=2,
        patience=8,
        min_epochs=5,
        class_weights=True,
        monitor="UF1",
        seed=seed,
        progress=not quick,
    )


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
    fusion: str = "self",
    pooling: str = "stat",
    text_feature: str = "tokens",
    speech_encoder: str = WHISPER,
    text_encoder: str = MINILM,
    lr: float = 5e-4,
    batch_size: int = 32,
    cv_from: str | None = None,
    normalise: bool = False,
    layers: str = "all",
    fold_models: str | None = None,
    denoise_below_db: float | None = None,
    steady_floor_below_db: float | None = None,
    no_words: bool = False,
    neutral_lines: bool = False,
    neutral_share: float = 0.5,
    pitch_copies: bool = False,
    pitch_tempo_copies: bool = False,
) -> dict:
    """Cross-validate by actor (optional), with the chance row on the same folds; then train and
    save the final model (validation actors for early stopping only). ``cv_from``: the results
    file of this variant's cross-validation run earlier (``train --cv --results``, merged), whose
    summary, chance row and (mixed pairs) halves the final model's card then reports. ``normalise``:
    each clip goes through :func:`emodemo.inputs.normalise.normalise` before the speech encoder (in the app too).
    ``layers`` (``"0-3"``, e.g.): the speech layers mixed, the encoder run no deeper (``speech_encoder=whisper-base
    layers=0-3`` reads Whisper base's lower half, which the speech probe found to carry to new voices best).
    ``fold_models=DIR`` also saves each fold's model as a checkpoint ``DIR/<fold name>`` (for the robustness set).
    ``denoise_below_db``: a clip that sounds noisy (:func:`emodemo.inputs.normalise.estimated_snr_db` under it)
    has its stationary noise gated out first, in training and in the app alike; with ``steady_floor_below_db``, only
    when its noise floor is steady too (:func:`emodemo.inputs.normalise.floor_spread_db` under it).
    ``no_words`` and ``neutral_lines``: as :func:`emodemo.recipes.common.paired_parts` (half the training clips'
    own words dropped, every test clip also scored with none; ``neutral_share`` of those left swapped for a
    neutral line). ``pitch_copies=1``: every training pair once more with its clip shifted in pitch (the ``"pitch"``
    chain of :func:`emodemo.inputs.augment.training_chain`, its words kept), so that how high a voice sits tells no
    emotion; ``pitch_tempo_copies=1``: the same with each copy also played 0.75 to 1.3 times as fast (the
    ``"pitch_tempo"`` chain), so that how slowly a voice speaks tells less either."""
    from emodemo.training.checkpoint import save_checkpoint

    if cv and cv_from:
        raise ValueError("cv_from reports an earlier cross-validation: run it without --cv")
    cfg = train_config(epochs, seed, quick, lr, batch_size)
    spec = {
        "fusion": fusion,
        "speech_encoder": speech_encoder,
        "text_encoder": text_encoder,
        "normalise": as_flag(normalise),
    }
    kept = contiguous_layers(layers, NAME)
    if kept:
        spec["layers"] = kept
    if denoise_below_db is not None:
        spec["denoise_below_db"] = float(denoise_below_db)
    if steady_floor_below_db is not None:
        spec["steady_floor_below_db"] = float(steady_floor_below_db)
    copies = copies_asked(pitch_copies, pitch_tempo_copies, "fusion=text" if fusion == "text" else None)
    if dataset in TEXT_BENCHMARKS:  # the word-piece branch alone on the corpus's official splits
        text_only(dataset, fusion == "text", "fusion=text")
        labels = DATASET_LABELS[dataset]
        kwargs = model_kwargs("text", pooling, text_feature, len(labels), speech_encoder, text_encoder)
        return text_benchmark_train(
            NAME,
            dataset,
            text_benchmark_parts(dataset, Path(root), quick),
            lambda part: make_dataset(part, labels, spec),
            lambda: build(NAME, **kwargs),
            labels,
            cfg,
            out=out,
            final=final,
            model_kwargs=kwargs,
            input_spec=spec,
            inputs=f"words -> frozen {text_encoder} word-piece states",
            pretrained=(MINILM_LICENCE,),
            variant={"fusion": "text", "pooling": pooling, "text_feature": text_feature},
            half=True,
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
        neutral_lines=neutral_lines,
        neutral_share=neutral_share,
        copies_chain=copies,
    )
    variant = {"fusion": fusion, "pooling": pooling, "text_feature": text_feature}
    if spec["normalise"]:
        variant["normalise"] = True
    if speech_encoder != WHISPER:
        variant["speech_encoder"] = speech_encoder
    if kept:
        variant["layers"] = f"{kept[0]}-{kept[-1]}"
    metrics: dict = {"pairing": pairing_name, "variant": variant}
    if cv_from:
        earlier = json.loads(Path(cv_from).read_text(encoding="utf-8"))
        if earlier.get("variant") != variant or earlier.get("pairing") != pairing_name:
            raise ValueError(
                f"{cv_from} holds {earlier.get('variant')} on {earlier.get('pairing')}, "
                f"not this model's {variant} on {pairing_name}"
            )
        metrics.update(
            {key: earlier[key] for key in ("cross_validation", "chance", "by_pairing") if key in earlier},
            cross_validation_from=Path(cv_from).name,
        )
    labels = DATASET_LABELS[dataset]
    kwargs = model_kwargs(fusion, pooling, text_feature, len(labels), speech_encoder, text_encoder, kept)
    folds = chosen_folds(folds, quick, fold_ids)
    make = lambda part: make_dataset(part, labels, spec)
    new_model = lambda: build(NAME, **kwargs)
    card = {
        "dataset": dataset,
        "pairing": pairing_name,
        "variant": variant,
        "licence": licence(dataset, pairing, text_source, whisper_minilm_licences(speech_encoder)),
        "inputs": f"16 kHz waveform, {NORMALISED if spec['normalise'] else 'silence trimmed'} -> frozen "
        f"{speech_encoder} states at {f'layers {kept[0]}-{kept[-1]}' if kept else 'every layer'}; "
        f"words (Whisper tiny.en transcript, or the paired line) -> frozen {text_encoder} "
        f"word-piece states{gate_note(spec)}",
    }
    if cv:
        halves = PairingScores(samples, make, labels, cfg.batch_size) if callable(samples) else None
        saver = fold_model_saver(
            fold_models, NAME, card, model_kwargs=kwargs, labels=list(labels), train_cfg=cfg, input_spec=spec, half=True
        )
        metrics.update(
            cross_validation_metrics(
                samples,
                folds,
                make,
                new_model,
                labels,
                cfg,
                seed,
                f"{NAME} {variant}, {pairing_name}",
                keep_model=every_fold(halves, saver),
            )
        )
        if halves:
            metrics["by_pairing"] = halves.summary()
    if final:
        model, final_metrics = final_model(samples, final_split, make, new_model, labels, cfg)
        by_pairing, calibration = served_final_extras(model, samples, final_split, make, labels, cfg.batch_size)
        metrics.update(final_metrics, **by_pairing)
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
            calibration=calibration,
            half=True,
        )
    return metrics
