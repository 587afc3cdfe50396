"""Recipe of the speech probe: frozen Whisper-encoder statistics -> layer mix -> MLP.

Inputs per clip: a frozen Whisper encoder's states at every layer (embedding + each block),
pooled over time into mean and std, ``stats [L, 2D]`` (tiny.en: L = 5, D = 384; base: L = 7,
D = 512). They are computed once per file and kept in the on-disk feature cache, so
cross-validation and retraining cost seconds.

What reaches the encoder is set by the checkpoint's ``input_spec`` (old checkpoints have none:
tiny.en, raw input):

- ``encoder``: ``"tiny.en"`` or ``"base"`` (multilingual, larger; both packaged for offline use);
- ``normalise``: the clip goes through :func:`emodemo.inputs.normalise.normalise` first (DC, voiced region,
  loudness), in training and in the app alike;
- ``layers`` (absent: all): the layers the probe reads (0: the convolutions' output); training reads
  them from the cached statistics of every layer, the app runs the encoder up to the deepest alone;
- training only, ``augment = K``: each training clip also appears as K copies made by
  :func:`emodemo.inputs.augment.augmented` (their features cached like the clean ones; validation and
  test speakers stay clean).

Every setting that changes the features is in the feature cache's key (:func:`feature_cache`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from emodemo.core import labels as label_sets
from emodemo.data.record import Sample
from emodemo.inputs.normalise import DENOISE, cache_key, denoised_if, normalised_if
from emodemo.models import build
from emodemo.models.speech_probe import layer_stats
from emodemo.recipes.common import (
    NORMALISED,
    as_flag,
    chosen_folds,
    cross_validation_metrics,
    epochs_for,
    final_model,
    parse_layers,
    validation_calibration,
)
from emodemo.recipes.training_copies import by_copy, clip_waves, copy_key, with_copies
from emodemo.training.datasets import DictDataset
from emodemo.training.engine import TrainConfig

log = logging.getLogger(__name__)

NAME = "speech_probe"
MODALITIES = ("audio",)
ENCODERS = ("tiny.en", "base")
DEFAULT_SPEC = {"encoder": "tiny.en", "normalise": False}  # what a checkpoint without input_spec had
BATCH = 16  # clips per encoder call when filling the cache


def input_spec(spec: dict | None) -> dict:
    """A checkpoint's input settings with the defaults of checkpoints saved before they existed."""
    return {**DEFAULT_SPEC, **(spec or {})}


def encoder(name: str = "tiny.en"):
    """The frozen Whisper encoder ``name``, loaded once per process (shared with the fusion models)."""
    if name not in ENCODERS:
        raise ValueError(f"speech_probe reads a Whisper encoder of {ENCODERS}, not {name!r}")
    from emodemo.speech.speech_encoder import frozen_whisper_encoder

    return frozen_whisper_encoder(name)


def prepare(spec: dict | None = None) -> None:
    """Load what :func:`clip_inputs` needs now, so that the first user does not wait for it."""
    encoder(input_spec(spec)["encoder"])


@torch.inference_mode()
def stats_of_waves(waves: Sequence[np.ndarray], spec: dict | None = None, deepest: int | None = None) -> torch.Tensor:
    """16 kHz waves -> per-layer mean/std of encoder states ``[B, L, 2D]``; ``deepest``: layers 0 ..
    ``deepest`` alone (``[B, deepest + 1, 2D]``, the same values), the encoder run no further."""
    spec = input_spec(spec)
    heard = [normalised_if(denoised_if(np.asarray(wave, dtype=np.float32), spec), spec["normalise"]) for wave in waves]
    out = encoder(spec["encoder"]).encode(heard, all_layers=True, blocks=deepest)  # layers [B, L, T', D]
    return layer_stats(out.layers, out.mask).float()


def feature_cache(spec: dict, copy: int = 0, chain: str = "all"):
    """The feature cache of clips (``copy`` 0) or of training copy ``copy`` made by ``chain``: its key
    holds the encoder, the normalisation settings and the augmentation settings with the copy number."""
    from emodemo.core.cache import FeatureCache

    config: dict = {"encoder": spec["encoder"], "sr": 16000, **cache_key(spec["normalise"])}
    if spec.get("denoise"):
        config["denoise"] = DENOISE
    return FeatureCache(f"whisper-{spec['encoder']}-encoder-layer-stats-v1", {**config, **copy_key(copy, chain)})


def stats_of_samples(samples: Sequence[Sample], spec: dict | None = None, progress: bool = True) -> torch.Tensor:
    """``[N, L, 2D]`` for the samples' audio files (first 30 s; training copies as their
    ``meta["augment_copy"]`` and ``meta["augment_chain"]`` say), through the on-disk feature cache."""
    spec = input_spec(spec)
    rows: list[torch.Tensor | None] = [None] * len(samples)
    for (copy, chain), all_indices in by_copy(samples).items():
        for heard, indices in _by_gate(samples, all_indices, spec, copy, chain):
            chosen = [samples[i] for i in indices]
            lookup = {s.audio: s for s in chosen}
            values = feature_cache(heard, copy, chain).get_many(
                [s.audio for s in chosen],
                lambda paths, copy=copy, chain=chain, heard=heard: stats_of_waves(
                    clip_waves([lookup[p] for p in paths], copy, chain), heard
                ),
                batch=BATCH,
                progress=progress,
                desc=f"whisper-{spec['encoder']} features" + (f" (copy {copy}, {chain})" if copy else ""),
            )
            for i, value in zip(indices, values):
                rows[i] = value
    return torch.stack(rows)


def _by_gate(
    samples: Sequence[Sample], indices: list[int], spec: dict, copy: int, chain: str
) -> list[tuple[dict, list[int]]]:
    """``[(settings the features are computed with, indices)]``: with ``denoise_below_db``, the clips
    that sound noisy (:func:`~emodemo.inputs.normalise.noisy_files`) are heard denoised (the settings
    and cache of ``denoise``), the rest plain (without it): one decision per clip, so each cache holds
    what its key names. Otherwise all of them with ``spec``."""
    from emodemo.inputs.normalise import noisy_files

    below = spec.get("denoise_below_db")
    if below is None or spec.get("denoise"):
        return [(spec, indices)]
    plain = {k: v for k, v in spec.items() if k not in ("denoise_below_db", "steady_floor_below_db")}
    lookup = {samples[i].audio: samples[i] for i in indices}
    noisy = noisy_files(
        [samples[i].audio for i in indices],
        below,
        lambda paths: clip_waves([lookup[p] for p in paths], copy, chain),
        copy_key(copy, chain),
        steady_below_db=spec.get("steady_floor_below_db"),
    )
    clean = [i for i, n in zip(indices, noisy) if not n]
    gated = [i for i, n in zip(indices, noisy) if n]
    return [(heard, part) for heard, part in ((plain, clean), ({**plain, "denoise": True}, gated)) if part]


def make_dataset(samples: Sequence[Sample], labels: Sequence[str], spec: dict | None = None) -> DictDataset:
    index = {name: i for i, name in enumerate(labels)}
    targets = torch.tensor([index[s.label] for s in samples])
    return DictDataset(stats=stats_of_samples(samples, spec), label=targets)


def clip_inputs(wave: np.ndarray, transcript=None, spec: dict | None = None) -> dict[str, torch.Tensor]:
    """What the model needs for one user clip: ``{"stats": [1, L, 2D]}``; a probe of some layers
    (``spec["layers"]``) gets the layers up to its deepest, the encoder run no further."""
    layers = input_spec(spec).get("layers")
    return {"stats": stats_of_waves([wave], spec, deepest=max(layers) if layers else None)}


def model_kwargs(n_classes: int, spec: dict) -> dict:
    """The probe's settings for ``spec``'s encoder and the layers it reads (``spec["layers"]``; all when absent)."""
    enc = encoder(spec["encoder"])
    kwargs = {"n_classes": n_classes, "n_layers": enc.n_layers + 1, "dim": enc.dim}
    return dict(kwargs, layers=list(spec["layers"])) if spec.get("layers") else kwargs


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
    classes: int = 8,
    encoder_name: str = "tiny.en",
    normalise: bool = False,
    augment: int = 0,
    keep_folds: bool = False,
    ensemble: bool = False,
    augment_pair: bool = False,
    layers: str = "all",
    pair_layers: str | None = None,
    augment_chain: str = "all",
    denoise: bool = False,
    denoise_below_db: float | None = None,
    steady_floor_below_db: float | None = None,
) -> dict:
    """Cross-validate by speaker (optional), then train and save the final checkpoint. On RAVDESS,
    ``classes`` 8 keeps calm apart; 7 counts calm as neutral, as every other model here does.
    ``encoder_name``, ``normalise`` and ``augment`` (training copies per clip) set the inputs (see
    the module's doc); ``keep_folds`` saves each fold's model under ``out/folds/<fold>/`` (for
    cross-corpus and robustness tests on the speakers each never met). Each saved model carries a
    temperature fitted on its validation speakers (:mod:`emodemo.training.calibration`). ``ensemble``
    (with ``cv``): the checkpoint at ``out`` is the mean of the fold models
    (:class:`~emodemo.models.speech_probe.SpeechProbeEnsemble`) instead of a final model.
    ``augment_pair`` (with ``augment`` and ``ensemble``): each fold trains two probes, one on its
    clean clips and one with the augmented copies too, and the fold's model is their calibrated
    mean (the augmented one holds up in noise, the clean one on new voices); its cross-validation
    is the pair's, the members' own are kept beside it. ``layers`` (``"0-3"``, e.g.) keeps some of the
    encoder's layers (0: the convolutions' output): Whisper base's lower half generalises to new voices
    better than all its layers (``bench/speech_probe_seeds.py``). ``pair_layers`` (with ``ensemble``, e.g.
    ``"all"``): each fold trains a second probe, on the same clean clips, reading these layers, and the fold's
    model is the calibrated mean of the two (the lower half holds on new voices, every layer on RAVDESS's);
    the encoder runs as deep as either reads. ``augment_chain`` ``"noise"``: the
    copies get additive noise alone (:func:`emodemo.inputs.augment.training_chain`). ``denoise``: each
    clip's stationary noise is gated out first (:func:`emodemo.inputs.normalise.denoise`, in the app too);
    ``denoise_below_db``: only a clip whose :func:`~emodemo.inputs.normalise.estimated_snr_db` is under
    it (a noisy one) is, in training and in the app alike; with ``steady_floor_below_db``, only when its noise
    floor is steady too (:func:`~emodemo.inputs.normalise.floor_spread_db` under it)."""
    from emodemo import data
    from emodemo.training.experiment import standard_protocol

    if str(classes) not in ("7", "8"):
        raise ValueError(f"classes is 8 (calm apart) or 7 (calm counted as neutral), not {classes!r}")
    seven = str(classes) == "7"
    if seven and dataset != "ravdess":
        raise ValueError(f"classes=7 merges RAVDESS's calm into neutral; {dataset} keeps its own classes")
    kept = parse_layers(layers)
    second = parse_layers(pair_layers) if pair_layers else None
    read = reads_layers(kept, second) if pair_layers else kept  # what the encoder must give, every member's
    spec = input_spec(
        {
            "encoder": encoder_name,
            "normalise": as_flag(normalise),
            **({"layers": list(read)} if read else {}),
            **({"denoise": True} if as_flag(denoise) else {}),
            **({"denoise_below_db": float(denoise_below_db)} if denoise_below_db is not None else {}),
            **({"steady_floor_below_db": float(steady_floor_below_db)} if steady_floor_below_db is not None else {}),
        }
    )
    copies, as_ensemble = int(augment), as_flag(ensemble)
    pair = "augmented" if as_flag(augment_pair) else "layers" if pair_layers else None
    keep = as_flag(keep_folds) or as_ensemble
    if as_ensemble and not cv:
        raise ValueError("ensemble=1 averages the cross-validation folds' models: add --cv")
    if pair == "augmented" and not (copies and as_ensemble):
        raise ValueError(
            "augment_pair=1 pairs each fold's clean model with its augmented one: give augment=K and ensemble=1 too"
        )
    if pair_layers and (as_flag(augment_pair) or copies or not as_ensemble):
        raise ValueError("pair_layers pairs two clean probes of each fold: give ensemble=1, and no augment")
    if pair_layers and second == kept:
        raise ValueError(f"pair_layers={pair_layers} reads the layers the first probe reads: the pair would be twins")
    samples = [
        s for s in data.load(dataset, root, **({"calm_as_neutral": True} if seven else {})) if s.audio is not None
    ]
    if dataset == "ravdess":
        labels = label_sets.CANONICAL7 if seven else label_sets.RAVDESS8
    else:
        labels = tuple(sorted({s.label for s in samples}))
    cfg = TrainConfig(
        epochs=epochs_for(epochs, 60, quick),
        batch_size=32,
        lr=1e-3,
        weight_decay=0.05,
        patience=12,
        class_weights=True,
        monitor="UF1",
        seed=seed,
        progress=not quick,
    )
    folds, final_split = standard_protocol(dataset, samples)
    folds = chosen_folds(folds, quick, fold_ids)
    kwargs = model_kwargs(len(labels), spec)
    members = [reading(kwargs, kept), reading(kwargs, second)] if pair == "layers" else None  # each probe's kwargs
    if members:
        kwargs = members[0]
    build_model = lambda: build(NAME, **kwargs)
    make = lambda chosen: make_dataset(chosen, labels, spec)
    parts = parts_with_copies(samples, copies, augment_chain)
    card = data_card(dataset, final_split, spec, copies, augment_chain, members)
    save = functools.partial(_save, model_kwargs=kwargs, labels=labels, spec=spec, cfg=cfg, make=make, samples=samples)
    metrics: dict = {"input_spec": spec, "augment_copies": copies}
    if copies and augment_chain != "all":
        metrics["augment_chain"] = augment_chain
    if cv:
        fold_models, clean_models = {}, {}
        if pair:
            clean = cross_validation_metrics(
                samples,
                folds,
                make,
                build_model,
                labels,
                cfg,
                seed,
                f"{NAME} clean member" if pair == "augmented" else f"{NAME} member on {layers}",
                keep_model=lambda fold, model, report: clean_models.setdefault(fold.name, model),
                chance=False,
            )
            member = "clean" if pair == "augmented" else "first"
            metrics[f"{member}_member_cross_validation"] = clean["cross_validation"]
        result = cross_validation_metrics(
            parts,
            folds,
            make,
            (lambda: build(NAME, **members[1])) if members else build_model,
            labels,
            cfg,
            seed,
            {"augmented": f"{NAME} augmented member", "layers": f"{NAME} member on {pair_layers}"}.get(pair, NAME),
            chance=False,
            keep_model=(lambda fold, model, report: fold_models.setdefault(fold.name, (fold, model))) if keep else None,
        )
        if pair:
            member = "augmented" if pair == "augmented" else "second"
            metrics[f"{member}_member_cross_validation"] = result["cross_validation"]
            paired = _paired_folds(
                fold_models, clean_models, samples, labels, make, out, card, save, members or [kwargs, kwargs]
            )
            result = {"cross_validation": paired["summary"], "folds": paired["folds"]}
            s = paired["summary"]
            log.info(
                "%s pairs: %d-fold WA %.3f±%.3f UA %.3f±%.3f",
                NAME,
                len(folds),
                s["WA"]["mean"],
                s["WA"]["std"],
                s["UA"]["mean"],
                s["UA"]["std"],
            )
        metrics.update(result)
        if not pair:  # (a pair's fold models were saved as they were formed)
            for name, (fold, model) in fold_models.items():
                report = next(f for f in result["folds"] if f["fold"] == name)
                save(out / "folds" / name, model, fold, fold_card(card, fold), {"test": report})
        if as_ensemble:
            save_ensemble(out, metrics, samples)
    if final and not as_ensemble:
        model, final_metrics = final_model(parts, final_split, make, build_model, labels, cfg)
        metrics.update(final_metrics)  # its validation speakers chose the epoch: not a test score
        metrics["layer_weights"] = model.mix.weights.tolist()
        save(out, model, final_split, card, metrics)
    return metrics


def fold_card(card: dict, fold) -> dict:
    """A fold model's data card: the run's, with the fold's speakers."""
    return dict(
        card, train_speakers=list(fold.train), validation_speakers=list(fold.val), test_speakers=list(fold.test)
    )


def reads_layers(first: tuple[int, ...] | None, second: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """The layers a pair of probes reads between them (None: every layer, when either reads every one)."""
    return None if first is None or second is None else tuple(sorted(set(first) | set(second)))


def reading(kwargs: dict, layers: tuple[int, ...] | None) -> dict:
    """A probe's ``kwargs`` reading ``layers`` (None: every layer)."""
    return dict({k: v for k, v in kwargs.items() if k != "layers"}, **({"layers": list(layers)} if layers else {}))


def each_reads(read: list) -> dict:
    """An ensemble's ``member_layers`` argument for members reading ``read`` (one entry each, None: every
    layer): none when they all read the same layers (the shared ``layers`` says it)."""
    return {"member_layers": list(read)} if len({str(r) for r in read}) > 1 else {}


def _paired_folds(
    second: dict, first: dict, samples, labels, make, out: Path, card: dict, save, member_kwargs: list[dict]
) -> dict:
    """Per fold, the calibrated mean of its two probes (``first``: fold name -> model; ``second``: fold name
    -> (fold, model); clean and augmented, or two sets of layers, ``member_kwargs`` each one's), saved under
    ``out/folds/`` and scored on the fold's test speakers: ``{"folds", "summary"}`` as cross-validation gives."""
    from emodemo.core.metrics import mean_std
    from emodemo.data.splits import apply
    from emodemo.models import SpeechProbeEnsemble
    from emodemo.training.engine import evaluate

    reports = []
    layered = each_reads([k.get("layers") for k in member_kwargs])
    kwargs = reading(member_kwargs[0], None) if layered else member_kwargs[0]
    for name, (fold, model) in second.items():
        temperatures = [
            calibration_on(member, fold, make, samples)["temperature"]  # each on the fold's validation
            for member in (first[name], model)
        ]
        paired = SpeechProbeEnsemble(**kwargs, **layered, temperatures=tuple(temperatures))
        for target, member in zip(paired.members, (first[name], model)):
            target.load_state_dict(member.state_dict())
        test = apply(samples, fold)[2]
        report = dict(
            evaluate(paired.eval(), make(test), labels), fold=fold.name, train=fold.train, val=fold.val, test=fold.test
        )
        reports.append(report)
        save(
            out / "folds" / name,
            paired,
            fold,
            dict(fold_card(card, fold), members="its two probes" if layered else "its clean and augmented probes"),
            {"test": report},
            model_name="speech_probe_ensemble",
            model_kwargs=dict(kwargs, **layered, temperatures=temperatures),
            temperature=1.0,
        )
    return {"folds": reports, "summary": mean_std(reports)}


def parts_with_copies(samples: Sequence[Sample], copies: int, chain: str = "all"):
    """The samples (no copies), or a fold -> (train + its copies by ``chain``, val, test) function."""
    if not copies:
        return samples
    from emodemo.data.splits import apply

    def parts(fold):
        train, val, test = apply(samples, fold)
        return with_copies(train, copies, chain), val, test

    return parts


def _save(
    folder: Path,
    model,
    split,
    card: dict,
    metrics: dict,
    *,
    model_kwargs,
    labels,
    spec,
    cfg,
    make,
    samples,
    model_name: str = NAME,
    temperature: float | None = None,
):
    """Save ``model`` with the temperature and unsure threshold fitted on ``split``'s validation
    speakers (:func:`emodemo.training.calibration.calibrated_on`; a ``temperature`` given is kept instead,
    e.g. 1 for an ensemble of calibrated members)."""
    from emodemo.training.checkpoint import save_checkpoint

    calibration = calibration_on(model, split, make, samples, temperature)
    save_checkpoint(
        folder,
        model,
        model_name=model_name,
        model_kwargs=model_kwargs,
        labels=list(labels),
        data_card=card,
        metrics=metrics,
        train_cfg=cfg,
        input_spec=spec,
        calibration=calibration,
    )


def calibration_on(model, split, make, samples, temperature: float | None = None) -> dict:
    """The temperature and "unsure" line of ``model`` fitted on ``split``'s validation speakers among
    ``samples`` (:func:`emodemo.training.calibration.calibrated_on`); with ``temperature``, that one kept."""
    from emodemo.data.splits import apply
    from emodemo.training.calibration import softmax, unsure_threshold
    from emodemo.training.engine import predict

    val_set = make(apply(samples, split)[1])
    if temperature is None:
        return validation_calibration(model, val_set, split.val)
    probs, targets = predict(model, val_set)  # [N, C], [N]
    kept = softmax(np.log(np.clip(probs, 1e-12, None)), temperature)
    return {"temperature": temperature, "fitted_on": list(split.val), "unsure": unsure_threshold(kept, targets)}


def save_ensemble(out: Path, metrics: dict, samples: Sequence[Sample]) -> Path:
    """Save at ``out`` the mean of the fold models under ``out/folds/`` (each with its temperature).
    Its "unsure" line is chosen on the fold models' validation speakers among ``samples`` (each
    member on its own, pooled), since no speaker is unseen by every member; ``metrics`` (the
    members' cross-validation) go on its card."""
    from emodemo.models import REGISTRY, SpeechProbeEnsemble
    from emodemo.training.calibration import softmax, unsure_threshold
    from emodemo.training.checkpoint import load_checkpoint, read_checkpoint_config, save_checkpoint
    from emodemo.training.engine import predict

    folders = sorted(p.parent for p in (Path(out) / "folds").glob("*/config.json"))
    if not folders:
        raise ValueError(f"no fold models under {Path(out) / 'folds'}: train with --cv first")
    configs = [read_checkpoint_config(folder) for folder in folders]
    first = configs[0]
    base = {k: v for k, v in first["model_kwargs"].items() if k not in ("temperatures", "member_layers")}
    probes, temperatures, probs, targets = [], [], [], []  # a fold model that is a pair gives both its probes
    for folder, config in zip(folders, configs):
        model, _ = load_checkpoint(folder, REGISTRY)
        if isinstance(model, SpeechProbeEnsemble):
            probes += list(model.members)
            temperatures += config["model_kwargs"]["temperatures"]
        else:
            probes.append(model)
            temperatures.append(config["calibration"]["temperature"])
        val = [s for s in samples if s.speaker in set(config["data_card"]["validation_speakers"])]
        p, y = predict(model, make_dataset(val, first["labels"], config["input_spec"]))
        probs.append(softmax(np.log(np.clip(p, 1e-12, None)), config["calibration"]["temperature"]))
        targets.append(y)
    layered = each_reads([probe.layers for probe in probes])
    ensemble = SpeechProbeEnsemble(**base, **layered, temperatures=tuple(temperatures))
    for member, probe in zip(ensemble.members, probes):
        member.load_state_dict(probe.state_dict())
    unsure = unsure_threshold(np.concatenate(probs), np.concatenate(targets))
    card = dict(
        first["data_card"],
        train_speakers=sorted({a for c in configs for a in c["data_card"]["train_speakers"]}),
        validation_speakers=sorted({a for c in configs for a in c["data_card"]["validation_speakers"]}),
        members=f"the {len(probes)} probes of the {len(folders)} fold models under folds/, each trained on its "
        "fold's training actors",
    )
    card.pop("test_speakers", None)
    calibration = {
        "temperature": 1.0,
        "member_temperatures": temperatures,
        "fitted_on": ["each member on its own fold's validation actors"],
        "unsure": unsure,
    }
    metrics = dict(
        metrics,
        members_note="cross_validation: the members, each on its own test actors; the "
        "ensemble itself has no RAVDESS speaker unseen by all of its members",
    )
    return save_checkpoint(
        out,
        ensemble,
        model_name="speech_probe_ensemble",
        model_kwargs=dict(base, **layered, temperatures=temperatures),
        labels=first["labels"],
        data_card=card,
        metrics=metrics,
        train_cfg=first.get("train_config"),
        input_spec=first["input_spec"],
        calibration=calibration,
    )


def data_card(dataset: str, split, spec: dict, copies: int, chain: str = "all", members: list | None = None) -> dict:
    """What a checkpoint was trained on and how its inputs are made; ``members``: the kwargs of a pair's two
    probes, when they read different layers."""
    shown = lambda layers: f"layers {', '.join(map(str, layers))}" if layers else "every layer"
    kept = (
        " and ".join(f"{shown(m.get('layers'))} (one probe)" for m in members) + " (0: the convolutions' output)"
        if members
        else f"{shown(spec.get('layers'))} (0: the convolutions' output)"
    )
    steps = (
        ("stationary noise gated out (noisereduce) -> " if spec.get("denoise") else "")
        + (
            f"stationary noise gated out (noisereduce) below {spec['denoise_below_db']:g} dB estimated SNR"
            + (
                f" with a steady floor (under {spec['steady_floor_below_db']:g} dB)"
                if spec.get("steady_floor_below_db") is not None
                else ""
            )
            + " -> "
            if "denoise_below_db" in spec and not spec.get("denoise")
            else ""
        )
        + (f"{NORMALISED} -> " if spec["normalise"] else "")
        + f"frozen Whisper {spec['encoder']} encoder, mean/std of {kept}"
    )
    return {
        "dataset": dataset,
        "train_speakers": list(split.train),
        "validation_speakers": list(split.val),
        "licence": f"RAVDESS: CC BY-NC-SA 4.0 (non-commercial); Whisper {spec['encoder']} weights: MIT",
        "inputs": f"16 kHz mono audio -> {steps}",
        "augmentation": (
            f"{copies} copies per training clip (emodemo.inputs.augment: "
            + (
                "white or coloured noise at 5-30 dB SNR)"
                if chain == "noise"
                else "gain, reverberation, noise, pitch, tempo, telephone band or mp3)"
            )
        )
        if copies
        else "none",
    }
