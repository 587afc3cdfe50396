"""Recipe of talk 004's models: FE2E and MESM (:mod:`emodemo.models.mesm`) on RAVDESS voices and words.

Inputs per clip:

* audio: the clip (silence trimmed, first 6.4 s) as a 64-band log-mel spectrogram (Whisper's
  front end, 10 ms hop) cut into 400 ms chunks, ``[S, 64, 40]`` with S <= 16, cached per file;
* text: the frozen all-MiniLM-L6-v2 word-piece states of its words (``[N, 384]``), from one of the
  pairings of :mod:`emodemo.protocols.pairing` (the paper's text encoder is fine-tuned end to end; on this
  CPU we keep it frozen and train the transformer layer above it);
* visual: the largest face of the video sampled every 400 ms (like the audio chunks; Haar cascade,
  :func:`emodemo.inputs.video.face_track`) as 48x48 grey crops, ``[Sv, 48, 48]`` with Sv <= 16, cached
  per file (:func:`video_faces`). Tested on generated videos of real faces; the data here has no
  labelled emotional video, so no model trains on it yet.

Training as the paper: one sigmoid per emotion with binary cross-entropy (``loss="bce"``, class
weights), decided by arg-max because a RAVDESS or IEMOCAP clip carries one emotion. On CMU-MOSEI
(:mod:`emodemo.data.cmu_mosei`, gold transcripts, standard folds) a clip carries any number of
six emotions: targets are 0/1 per emotion, each sigmoid decides at 0.5, and the reports are the
paper's per-emotion accuracy, F1 and weighted accuracy (WAcc) with their means. Reports: the project's
single-label WA / UA / WF1 / UF1, and the paper's per-emotion binary accuracy and F1 with their
averages (:func:`per_emotion`), from the same predictions.

Or (``speech_layers``, e.g. ``0-3`` of ``speech_encoder=whisper-base``) the audio is the frozen encoder's states of
those layers of the voiced region (first 6.4 s, 50 frames a second, cached per file like co-attention's), mixed by
learned weights and cut into the same 400 ms chunks inside the model (:meth:`emodemo.models.mesm.Mesm.state_chunks`).

Variants by option: ``modalities`` (T, A, TA; V where the data has faces), ``sparse`` (MESM) or
not (FE2E), ``top_p`` (the nucleus). ``sparse`` needs the text (its query).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from emodemo.core.labels import CANONICAL7
from emodemo.core.metrics import multilabel_report
from emodemo.data.record import Sample
from emodemo.inputs.audio import is_silent, load_audio, log_mel, voiced_bounds
from emodemo.inputs.normalise import asked, cache_key, normalised_if
from emodemo.inputs.text import MINILM, load_text_encoder
from emodemo.models import build
from emodemo.models.mesm import NORMS, STATE_CHUNK, checked_voice_dropout
from emodemo.protocols.text_benchmarks import TEXT_BENCHMARKS, text_benchmark_parts
from emodemo.recipes import frozen_states
from emodemo.recipes.common import (
    DATASET_LABELS,
    MINILM_LICENCE,
    MULTILABEL_DATASETS,
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
from emodemo.recipes.frozen_states import one_line_states, text_states, words_of
from emodemo.training.datasets import PaddedClips

NAME = "mesm"
MODALITIES = ("audio", "text")
LABELS = CANONICAL7
N_MELS, CHUNK_FRAMES, MAX_CHUNKS = 64, 40, 16  # 400 ms chunks (10 ms hop), at most 6.4 s
MAX_FRAMES = MAX_CHUNKS * STATE_CHUNK  # the frozen states of the same 6.4 s
FEATURE = "mesm-logmel-chunks-v1"
FACE_FEATURE, FACE_FPS = "mesm-face-frames-v1", 2.5  # a face every 400 ms
PRETRAINED_LICENCES = (MINILM_LICENCE,)


def prepare(spec: dict | None = None) -> None:
    """Load the frozen encoders now, so that the first user does not wait for them."""
    load_text_encoder(MINILM)
    if (spec or {}).get("speech_layers"):
        frozen_states.speech_encoder(spec["speech_encoder"])


# --- inputs ------------------------------------------------------------------------------------


def wave_chunks(wave: np.ndarray, spec: dict | None = None) -> torch.Tensor:
    """The voiced part of a 16 kHz wave as log-mel chunks ``[S, 64, 40]`` (fp16), the last one padded
    with the clip's quietest value. The input settings of ``spec``: ``normalise`` (the wave goes
    through :func:`emodemo.inputs.normalise.normalise` first), ``band_norm`` (each band's mean over
    the clip is subtracted: a gain or a microphone's colouring, constant over the clip, is gone)."""
    spec = spec or {}
    if len(wave) < 160 or is_silent(wave):
        raise ValueError("the clip holds no sound above the noise floor: there is nothing to cut into chunks")
    wave = normalised_if(np.asarray(wave, dtype=np.float32), asked(spec))
    start, end = voiced_bounds(wave)
    mel = log_mel(np.asarray(wave[start:end], dtype=np.float32), n_mels=N_MELS)[
        :, : MAX_CHUNKS * CHUNK_FRAMES
    ]  # [64, F]
    if spec.get("band_norm", False):
        mel = mel - mel.mean(dim=1, keepdim=True)  # [64, F]
    chunks = -(-mel.shape[1] // CHUNK_FRAMES)
    padded = torch.full((N_MELS, chunks * CHUNK_FRAMES), float(mel.min()))
    padded[:, : mel.shape[1]] = mel
    return padded.view(N_MELS, chunks, CHUNK_FRAMES).permute(1, 0, 2).half()  # [S, 64, 40]


def chunks_of_samples(samples: Sequence[Sample], spec: dict | None = None, progress: bool = True) -> list[torch.Tensor]:
    """:func:`wave_chunks` of the samples' audio files, cached per file and input setting."""
    from emodemo.core.cache import FeatureCache

    spec = spec or {}
    cache = FeatureCache(
        FEATURE,
        {
            "n_mels": N_MELS,
            "chunk_frames": CHUNK_FRAMES,
            "max_chunks": MAX_CHUNKS,
            **cache_key(asked(spec)),
            **({"band_norm": "mean over the clip"} if spec.get("band_norm") else {}),
        },
    )
    return cache.get_many(
        [s.audio for s in samples],
        lambda paths: [wave_chunks(load_audio(p), spec) for p in paths],
        progress=progress,
        desc="log-mel chunks",
    )


def video_faces(path: str | Path) -> torch.Tensor:
    """The largest face every 400 ms of a video, ``[Sv, 48, 48]`` uint8 grey (Sv <= 16); a
    ``ValueError`` that says so when no sampled frame shows a face (or the file is no video)."""
    from emodemo.inputs.video import face_track

    track = face_track(path, fps=FACE_FPS, max_frames=MAX_CHUNKS)
    if len(track.crops) == 0:
        raise ValueError(
            f"no face found in the {track.n_frames} frames sampled from {Path(path).name}: "
            "the visual branch needs a frontal face in view"
        )
    return torch.from_numpy(track.crops)  # [Sv, 48, 48]


def faces_of_samples(samples: Sequence[Sample], progress: bool = True) -> list[torch.Tensor]:
    from emodemo.core.cache import FeatureCache

    cache = FeatureCache(FACE_FEATURE, {"fps": FACE_FPS, "max_frames": MAX_CHUNKS, "size": 48})
    return cache.get_many(
        [s.video for s in samples], lambda paths: [video_faces(p) for p in paths], progress=progress, desc="face frames"
    )


class ChunkClips(PaddedClips):
    """Per clip: audio chunks ``[S, 64, 40]``, word-piece states ``[N, 384]`` and face frames
    ``[Sv, 48, 48]``, any of them; ``collate`` zero-pads into ``audio [B, S, 64, 40]`` +
    ``audio_mask [B, S]``, ``text [B, N, 384]`` + mask, ``visual [B, Sv, 48, 48]`` + mask.
    :class:`StateChunkClips` holds frozen speech states as the audio."""

    TIME_AXIS = {"audio": 0, "text": 0, "visual": 0}

    def __init__(
        self,
        audio: Sequence[torch.Tensor] | None,
        text: Sequence[torch.Tensor] | None,
        labels: Sequence[int] | None = None,
        visual: Sequence[torch.Tensor] | None = None,
    ):
        super().__init__(labels, audio=audio, text=text, visual=visual)


class StateChunkClips(ChunkClips):
    """:class:`ChunkClips` with a frozen encoder's speech states ``[L, M, D]`` (M <= 320 frames) as the audio,
    padded into ``audio [B, L, M, D]`` + the frame mask ``audio_mask [B, M]``."""

    TIME_AXIS = {**ChunkClips.TIME_AXIS, "audio": 1}


def clips_class(spec: dict) -> type[ChunkClips]:
    return StateChunkClips if frozen_states.mixed_speech(spec) else ChunkClips


def audio_of_samples(samples: Sequence[Sample], spec: dict) -> list[torch.Tensor]:
    """The audio input of each sample: its log-mel chunks, or the frozen states of its first 6.4 s of voice."""
    speech = frozen_states.mixed_speech(spec)
    if not speech:
        return chunks_of_samples(samples, spec)
    return [x[:, :MAX_FRAMES] for x in frozen_states.speech_of_samples(samples, *speech)]  # [L, M, D] each


def make_dataset(samples: Sequence[Sample], labels: Sequence[str], spec: dict) -> ChunkClips:
    """Inputs of the modalities ``spec["modalities"]`` names; targets are class indices, or with
    ``spec["multilabel"]`` 0/1 rows ``[C]`` (an emotion is 1 when the clip carries it)."""
    index = {name: i for i, name in enumerate(labels)}
    audio = audio_of_samples(samples, spec) if "A" in spec["modalities"] else None
    text = (
        [states[0] for states, _ in text_states([s.text or "" for s in samples], MINILM, 0)]
        if "T" in spec["modalities"]
        else None
    )
    visual = faces_of_samples(samples) if "V" in spec["modalities"] else None
    targets = (
        [[float(name in s.labels) for name in labels] for s in samples]
        if spec.get("multilabel")
        else [index[s.label] for s in samples]
    )
    return clips_class(spec)(audio, text, targets, visual)


def clip_inputs(
    wave: np.ndarray | None, transcript=None, spec: dict | None = None, video: str | Path | None = None
) -> dict[str, torch.Tensor]:
    """A user's clip (its wave, Whisper transcript and, for a model that sees faces, the video
    file) as a batch of one, prepared like training clips."""
    spec = spec or {}
    modalities, speech = spec.get("modalities", "TA"), frozen_states.mixed_speech(spec)
    item = {}
    if "A" in modalities:
        item["audio"] = (
            frozen_states.one_clip_states(wave, *speech)[:, :MAX_FRAMES] if speech else wave_chunks(wave, spec)
        )
    if "T" in modalities:
        item["text"] = one_line_states(words_of(transcript), MINILM, 0)[0][0]
    if "V" in modalities:
        if video is None:
            raise ValueError("this model also reads the face: give a video, not only sound")
        item["visual"] = video_faces(video)
    return clips_class(spec).collate([item])


def explain(output: dict, wave: np.ndarray | None, transcript, spec: dict, labels, title: str = ""):
    """What MESM's nucleus sampling kept of each 400 ms chunk, over its spectrogram (or the projected states it
    read in its place); None for FE2E."""
    from emodemo.reports.viz import kept_positions

    if "audio_attention" not in output:
        return None
    if "audio_chunks" in output:  # [S, 64, 20], the batch axis gone (as the attention's)
        chunks, what, rows = np.asarray(output["audio_chunks"], dtype=np.float32), "projected speech states", "channel"
    else:
        chunks, what, rows = wave_chunks(wave, spec).float().numpy(), "spectrogram", "mel band"  # [S, 64, 40]
    return kept_positions(
        chunks,
        {"kept at the trained p": output["audio_attention"]},
        title=f"{title}: where the words sent the audio CNN (over its {what})",
        rows=rows,
    )


# --- reports -------------------------------------------------------------------------------------


def per_emotion(report: dict) -> dict:
    """The paper's Tables 3-4 from a single-label report's confusion matrix: each emotion scored as
    its own present / absent task (present = the arg-max), accuracy, F1, WAcc and their means."""
    cm = np.asarray(report["confusion_matrix"], dtype=int)
    n = len(cm)
    truth = np.repeat(np.arange(n), cm.sum(axis=1))
    guess = np.concatenate([np.repeat(np.arange(n), row) for row in cm])
    eye = np.eye(n, dtype=int)
    return multilabel_report(eye[truth], eye[guess], report["labels"])


# --- training ------------------------------------------------------------------------------------


def train_config(epochs: int | None, seed: int, quick: bool, lr: float, batch_size: int, multilabel: bool = False):
    """The paper's per-emotion BCE; epochs chosen on validation UF1 (single-label data) or on the
    mean per-emotion weighted accuracy (multi-label CMU-MOSEI, the paper's WAcc)."""
    from emodemo.training.engine import TrainConfig

    return TrainConfig(
        epochs=epochs_for(epochs, 40, quick),
        batch_size=int(batch_size),
        lr=float(lr),
        weight_decay=0.01,
        scheduler="plateau",
        plateau_factor=0.5,
        plateau_patience=2,
        patience=8,
        min_epochs=5,
        class_weights=True,
        loss="bce",
        multilabel=multilabel,
        monitor="mean_wacc" if multilabel else "UF1",
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
    modalities: str = "TA",
    sparse: bool = True,
    top_p: float = 0.7,
    lr: float = 1e-3,
    batch_size: int = 16,
    normalise: bool = False,
    band_norm: bool = False,
    fold_models: str | None = None,
    no_words: bool = False,
    neutral_lines: bool = False,
    neutral_share: float = 0.5,
    speech_encoder: str = "whisper-base",
    speech_layers: str | None = None,
    denoise_below_db: float | None = None,
    steady_floor_below_db: float | None = None,
    pitch_copies: bool = False,
    pitch_tempo_copies: bool = False,
    speech_plain: bool = False,
    chunk_norm: str = "batch",
    voice_dropout: float = 0.0,
    text_from: str | None = None,
) -> dict:
    """Cross-validate by actor (optional), with the chance row; then train and save the final model.
    ``normalise``: each clip goes through :func:`emodemo.inputs.normalise.normalise` before its log-mel
    chunks (in the app too); ``band_norm``: each log-mel band's mean over the clip is subtracted;
    ``fold_models``: a folder where each cross-validation fold's model is saved (``<folder>/fold<k>``);
    ``no_words``: half the training clips' own-words pairs lose their words, and every test clip is
    also scored with none (:func:`emodemo.protocols.pairing.with_unheard_words`: what the app gives
    for speech in another language); ``neutral_lines``: ``neutral_share`` (half) of the training clips'
    own-words pairs left get a neutral written line instead (:func:`emodemo.protocols.pairing.with_neutral_lines`).
    ``speech_layers`` (``"0-3"``): the audio is the frozen ``speech_encoder``'s states of those layers, mixed by
    learned weights, in place of the log-mel; ``denoise_below_db`` and ``steady_floor_below_db``: their noise gate,
    as co-attention's (:func:`emodemo.recipes.frozen_states.gated`). ``pitch_copies=1``: every training pair once more
    with its clip shifted in pitch (the ``"pitch"`` chain of :mod:`emodemo.recipes.training_copies`, as the served
    ``nmt_attention``); ``pitch_tempo_copies=1``: the same with each copy also played 0.75 to 1.3 times as fast (the
    ``"pitch_tempo"`` chain, as the served co-attention); either only for frozen states (``speech_layers``), whose
    cache reads the copies. ``speech_plain=1``: the head also reads every frame's plain mean and spread of the mixed
    states (the model's ``speech_plain``; only with ``speech_layers``). ``chunk_norm=group``: the chunk CNN normalises
    each chunk by its own statistics (group norm) in place of batch norm's (the model's ``chunk_norm``).
    ``voice_dropout=0.3``: in training the head reads the words alone for that share of clips (the model's
    ``voice_dropout``), so that the words learn to answer by themselves. ``text_from=CHECKPOINT``: every model's words
    side starts from that words-only FE2E checkpoint's and stays frozen (:func:`start_words_side`)."""
    from emodemo.training.checkpoint import save_checkpoint

    mixed = contiguous_layers(speech_layers, NAME) if speech_layers is not None else None
    if speech_layers is not None and (not mixed or "A" not in modalities.upper() or as_flag(band_norm)):
        raise ValueError(
            f"speech_layers takes a range of layers like 0-3, for a model that hears and reads no log-mel "
            f"(no band_norm), not {speech_layers!r}"
        )
    if not mixed and (denoise_below_db is not None or steady_floor_below_db is not None):
        raise ValueError("the noise gate sets how frozen encoder states are heard: add speech_layers")
    plain = as_flag(speech_plain)
    if plain and not mixed:
        raise ValueError("speech_plain pools frozen encoder states: add speech_layers")
    if chunk_norm not in NORMS:
        raise ValueError(f"chunk_norm is one of {', '.join(NORMS)}, not {chunk_norm!r}")
    voice_dropout = checked_voice_dropout(voice_dropout, modalities)
    if text_from is not None and (dataset in TEXT_BENCHMARKS or not set("TA") <= set(modalities.upper())):
        raise ValueError("text_from starts the words side of a model of voice and words (modalities TA) on clips")
    copies = copies_asked(pitch_copies, pitch_tempo_copies)
    if copies and not (mixed and "T" in modalities.upper()):
        raise ValueError(
            f"{copies}_copies are made of voice + words pairs and read through frozen encoder states (the log-mel "
            "path reads none): add speech_layers, with modalities TA"
        )
    heard = (
        frozen_states.mixed_layers_spec(mixed, speech_encoder, denoise_below_db, steady_floor_below_db) if mixed else {}
    )

    sparse = as_flag(sparse)
    modalities = modalities.upper()
    if "V" in modalities and not all(s.video for s in voice_clips(dataset, Path(root))[0]):
        raise ValueError(
            f"modalities {modalities!r} include faces, but the {dataset} clips here have no video (use T, A or TA)"
        )
    multilabel = dataset in MULTILABEL_DATASETS
    cfg = train_config(epochs, seed, quick, lr, batch_size, multilabel)
    spec = {"modalities": modalities, "multilabel": multilabel}
    spec.update({key: True for key, on in (("normalise", normalise), ("band_norm", band_norm)) if as_flag(on)})
    spec.update(heard)
    if dataset in TEXT_BENCHMARKS:  # FE2E's text side alone on the corpus's official splits
        text_only(dataset, modalities == "T", "modalities=T")
        labels = DATASET_LABELS[dataset]
        kwargs = {"n_classes": len(labels), "modalities": "T", "sparse": False, "top_p": 1.0}
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
            inputs="words -> frozen MiniLM word-piece states",
            pretrained=PRETRAINED_LICENCES,
            variant={"model": "FE2E", "modalities": "T", "top_p": None},
            half=True,
        )
    if "T" in modalities:
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
    else:  # the voice alone: no words to pair (and nothing to transcribe)
        samples, folds, final_split = voice_clips(dataset, Path(root))
        pairing, pairing_name = "none", "none (audio only)"
    variant = {
        "model": "MESM" if sparse else "FE2E",
        "modalities": modalities,
        "top_p": float(top_p) if sparse else None,
    }
    variant.update({key: True for key in ("normalise", "band_norm") if spec.get(key)})
    if mixed:
        variant["speech"] = f"{speech_encoder} layers {mixed[0]}-{mixed[-1]}" + (
            ", with every frame's mean and spread" if plain else ""
        )
    if chunk_norm != "batch":
        variant["chunk_norm"] = chunk_norm
    if voice_dropout:
        variant["voice_dropout"] = voice_dropout
    if text_from:
        variant["words_side"] = f"started from {Path(text_from).name}'s, frozen"
    metrics: dict = {"pairing": pairing_name, "variant": variant}
    labels = DATASET_LABELS[dataset]
    kwargs = {"n_classes": len(labels), "modalities": modalities, "sparse": sparse, "top_p": float(top_p)}
    if mixed:
        kwargs.update(speech_layers=len(mixed), speech_dim=frozen_states.speech_encoder(speech_encoder).dim)
        if plain:
            kwargs["speech_plain"] = True
    if chunk_norm != "batch":
        kwargs["chunk_norm"] = chunk_norm
    if voice_dropout:
        kwargs["voice_dropout"] = voice_dropout
    folds = chosen_folds(folds, quick, fold_ids)
    make = lambda part: make_dataset(part, labels, spec)
    new_model = lambda: start_words_side(build(NAME, **kwargs), text_from) if text_from else build(NAME, **kwargs)
    halves = PairingScores(samples, make, labels, cfg.batch_size) if callable(samples) else None
    card = {
        "dataset": dataset,
        "pairing": pairing_name,
        "variant": variant,
        "licence": licence(
            dataset, pairing, text_source, whisper_minilm_licences(speech_encoder) if mixed else PRETRAINED_LICENCES
        ),
        "inputs": f"16 kHz waveform, {NORMALISED if spec.get('normalise') else 'silence trimmed'} -> "
        + (
            f"frozen {speech_encoder} states of layers {mixed[0]}-{mixed[-1]} (first 6.4 s), mixed by learned weights, "
            f"each frame projected to 64 channels, in 400 ms chunks"
            + (", and every frame's mean and spread" if plain else "")
            + gate_note(spec)
            if mixed
            else "400 ms log-mel chunks (64 bands"
            + (", each less its mean over the clip)" if spec.get("band_norm") else ")")
        )
        + ("; the chunk CNN's maps normalised per chunk (group norm)" if chunk_norm == "group" else "")
        + "; words (Whisper tiny.en transcript, or the paired line) -> frozen MiniLM word-piece states"
        + (f"; the words' encoder the words-only {Path(text_from).name} model's, frozen" if text_from else ""),
    }
    keep = every_fold(
        halves,
        fold_model_saver(
            fold_models, NAME, card, model_kwargs=kwargs, labels=list(labels), train_cfg=cfg, input_spec=spec, half=True
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
                f"{NAME} {variant}, {pairing_name}",
                keep_model=keep,
            )
        )
        if not multilabel:  # multi-label reports are per emotion already
            metrics["per_emotion"] = per_emotion_summary(metrics["folds"])
        if halves:
            metrics["by_pairing"] = halves.summary()
    if final:
        model, final_metrics = final_model(samples, final_split, make, new_model, labels, cfg)
        by_pairing, calibration = (
            ({}, None) if multilabel else served_final_extras(model, samples, final_split, make, labels, cfg.batch_size)
        )
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


@torch.no_grad()
def start_words_side(model, text_from: str | Path):
    """``model`` with its words side taken from a words-only FE2E checkpoint of this recipe (``modalities="T"``, as
    ``fe2e_t_goemotions_words``, trained on GoEmotions' 40k lines): the words' encoder, frozen (its dropout still acts
    in training), and the head's columns that read the words' vector with the head's bias, as a start (they go on
    training with the rest). Trained on the few hundred lines of RAVDESS's constructed pairs, the words' encoder learns
    those lines by heart and reads new ones worse than the voice alone (words alone 50 WA on test lines, against 62 on
    GoEmotions' test for the words-only model); frozen, it reads every line as the larger corpus taught it, and the
    rest of the model learns how far to trust it."""
    from emodemo.models import REGISTRY
    from emodemo.training.checkpoint import load_checkpoint

    words, meta = load_checkpoint(text_from, REGISTRY)
    if meta.get("model_name") != NAME or meta["model_kwargs"].get("modalities") != "T":
        raise ValueError(f"{text_from} is not a words-only {NAME} checkpoint (modalities T): it cannot start one")
    if list(meta["labels"]) != list(LABELS) or words.text.project.out_features != model.text.project.out_features:
        raise ValueError(f"{text_from} answers other emotions, or its words' vector is another size, than the model's")
    model.text.load_state_dict(words.text.state_dict())
    model.text.requires_grad_(False)
    dim = model.text.project.out_features
    model.head[1].weight[:, :dim] = words.head[1].weight.to(model.head[1].weight.dtype)  # the words' vector is first
    model.head[1].bias.copy_(words.head[1].bias)
    return model


def voice_clips(dataset: str, root: Path):
    """``(clips, folds, final split)`` of a dataset's audio, labelled as the text-and-audio runs are."""
    from emodemo import data
    from emodemo.training.experiment import standard_protocol

    if dataset not in DATASET_LABELS:
        raise ValueError(f"{NAME} trains on {sorted(DATASET_LABELS)}, not {dataset!r}")
    options = {"ravdess": {"calm_as_neutral": True}, "iemocap": {"classes": 4}}.get(dataset, {})
    clips = [s for s in data.load(dataset, root, **options) if s.audio is not None]
    return (clips, *standard_protocol(dataset, clips))


def per_emotion_summary(folds: list[dict]) -> dict:
    """The paper's per-emotion scores (:func:`per_emotion`) of each fold, mean and std over the folds."""
    from emodemo.core.metrics import mean_std

    return mean_std([per_emotion(fold) for fold in folds])


FOLD_SUMMARIES = {"per_emotion": per_emotion_summary}  # computed again when runs of some folds each are merged
