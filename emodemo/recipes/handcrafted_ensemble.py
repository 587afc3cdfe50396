"""Recipe of talk 003: hand-crafted audio features + SVM, an action-unit face SVM, random-forest late fusion.

The pipeline (:mod:`emodemo.models.handcrafted_ensemble`) is fitted with scikit-learn and stored
as tensors. What each part sees matters more than the parts:

* the two SVMs (audio, face) train on one group of actors, their C and gamma chosen on two
  validation actors (best macro F1 over a small grid), then refitted on both;
* the random forest trains on the SVMs' decision values for a *second, disjoint* group of actors,
  so it learns how the SVMs behave on people they never heard (trained on the SVMs' own training
  actors it would learn their over-confidence instead);
* the test actors are in neither group and are scored once;
* a clip without a face (every clip the app gets) is answered by a third SVM of the voice alone,
  trained on both groups' actors: with no face there is no forest to keep actors back for.

Splits of RAVDESS actors 01-20 (7 classes, calm merged into neutral):

* ``talk``: the talk's 8 / 12 / 4 scaled to 20 actors: SVMs on 01-06 (C, gamma chosen on 07-08,
  then refitted on 01-08), forest on 09-16, test 17-20; every group half male, half female;
* 5-fold (``--cv``): each committed fold's 14 training actors split into two halves of 7 (the
  genders alternate within each half): SVMs on one (chosen on the fold's 2 validation actors),
  forest on the other, test on the fold's 4 test actors;
* final checkpoint: the committed final split's 18 training actors halved likewise (9 + 9), the
  validation actors 16 and 19 choosing C and gamma.

Audio features: :func:`emodemo.inputs.handcrafted.clip_features` of the whole clip (50 ms frames, 1 s
mid-term windows, clip mean: 68 numbers), cached per file; with ``--option normalise=1`` (the
served checkpoint) of the clip after :func:`emodemo.inputs.normalise.normalise` (DC, voiced region,
loudness), in training and in the app alike, the setting saved as the checkpoint's ``input_spec``. Face: the clip's
35 OpenFace action
units (``../shared/datasets/ravdess_facial_au``; RAVDESS video itself is not at hand).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from emodemo.core.labels import CANONICAL7
from emodemo.core.metrics import classification_report
from emodemo.data.record import Sample
from emodemo.inputs.audio import load_audio
from emodemo.inputs.handcrafted import clip_features
from emodemo.inputs.normalise import asked, cache_key, normalised_if
from emodemo.models.handcrafted_ensemble import HandcraftedEnsemble
from emodemo.models.kernel_svm import RbfSvm
from emodemo.recipes.common import NORMALISED, as_flag, chosen_folds, fold_model_saver, validation_calibration
from emodemo.training.datasets import DictDataset

log = logging.getLogger(__name__)

NAME = "handcrafted_ensemble"
MODALITIES = ("audio",)  # the face's action units join when the samples carry meta["au"]
LABELS = CANONICAL7
FEATURE = "handcrafted-clip-v1"
C_GRID = (0.1, 1.0, 10.0, 100.0)
GAMMA_GRID = (0.25, 1.0, 4.0)  # times 1 / n_features (scikit-learn's "scale" on standardised data)
SMOOTH_GAMMA_GRID = (0.03, 0.1)  # the served audio SVM's: wider kernels (see train's ``audio_gammas``)
N_TREES = 100
BRANCHES = (
    "audio",
    "face",
    "fusion",
    "fusion_mean",
    "fusion_forest_on_svm_actors",
    "audio_all_actors",
    "face_all_actors",
    "voice",
)
# what each fit sets from its data: the SVMs' support vectors and kernel width (chosen from a grid on
# validation actors), the forest's nodes and depth; the feature counts and the number of trees are settings
FITTED_KWARGS = (
    *(f"{svm}.{key}" for svm in ("audio", "face", "voice") for key in ("n_support", "gamma")),
    "forest.n_nodes",
    "forest.depth",
)
TALK_SPLIT = {"svm_train": range(1, 7), "svm_val": range(7, 9), "forest": range(9, 17), "test": range(17, 21)}


def prepare(spec: dict | None = None) -> None:
    """Nothing to load: the features are computed from the waveform."""


# --- inputs ------------------------------------------------------------------------------------


def wave_features(wave: np.ndarray, spec: dict | None = None) -> torch.Tensor:
    """One clip's hand-crafted vector ``[68]`` (float64), of the normalised clip if ``spec`` says so."""
    return torch.from_numpy(clip_features(normalised_if(np.asarray(wave, dtype=np.float32), asked(spec)))[0])


def audio_features(samples: Sequence[Sample], spec: dict | None = None, progress: bool = True) -> torch.Tensor:
    """``[N, 68]`` for the samples' audio files, through the on-disk feature cache (its key holds
    the normalisation settings when the input is normalised)."""
    from emodemo.core.cache import FeatureCache

    cache = FeatureCache(
        FEATURE, {"window": 0.05, "step": 0.025, "mid_window": 1.0, "mid_step": 0.5, **cache_key(asked(spec))}
    )
    rows = cache.get_many(
        [s.audio for s in samples],
        lambda paths: [wave_features(load_audio(p), spec) for p in paths],
        progress=progress,
        desc="hand-crafted features",
    )
    return torch.stack(rows)


def au_features(samples: Sequence[Sample]) -> torch.Tensor:
    """``[N, 35]`` action units from ``meta["au"]`` (load RAVDESS with ``au_csv``)."""
    missing = [s.id for s in samples if "au" not in s.meta]
    if missing:
        raise ValueError(
            f"{len(missing)} clips have no action units (e.g. {missing[0]}): load RAVDESS with the "
            "face table (--option au_root=PATH to ravdess_facial_au)"
        )
    return torch.from_numpy(np.stack([s.meta["au"] for s in samples]).astype(np.float64))


def make_dataset(samples: Sequence[Sample], labels: Sequence[str], spec: dict | None = None) -> DictDataset:
    """Audio features, the action units when every sample has them, and the labels."""
    index = {name: i for i, name in enumerate(labels)}
    tensors = {
        "audio": audio_features(samples, spec, progress=False),
        "label": torch.tensor([index[s.label] for s in samples]),
    }
    if samples and all("au" in s.meta for s in samples):
        tensors["au"] = au_features(samples)
    return DictDataset(**tensors)


def clip_inputs(wave: np.ndarray, transcript=None, spec: dict | None = None) -> dict[str, torch.Tensor]:
    """A user's voice clip: ``{"audio": [1, 68]}`` (no face: the audio SVM answers alone)."""
    return {"audio": wave_features(wave, spec)[None]}


# --- fitting (scikit-learn, then copied into tensors) --------------------------------------------


def fit_svm(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_classes: int,
    gammas: Sequence[float] = GAMMA_GRID,
    refit: bool = True,
) -> tuple[dict, dict[str, torch.Tensor], dict]:
    """Standardise, fit one-vs-rest RBF SVMs over the C x gamma grid, keep the best validation macro F1,
    refit it on train + validation (unless ``refit`` is false: the validation actors then stay unheard,
    for calibration). Returns the :class:`~emodemo.models.kernel_svm.RbfSvm` kwargs, its
    state (buffers) and the grid's scores."""
    from sklearn.metrics import f1_score

    scores = {}
    for c in C_GRID:
        for g in gammas:
            machine, scaler = _ovr_svm(x_train, y_train, c, g)
            scores[(c, g)] = f1_score(
                y_val,
                machine.predict(scaler.transform(x_val)),
                average="macro",
                labels=range(n_classes),
                zero_division=0,
            )
    c, g = max(scores, key=scores.get)
    machine, scaler = (
        _ovr_svm(np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val]), c, g)
        if refit
        else _ovr_svm(x_train, y_train, c, g)
    )
    kwargs, state = export_svm(machine, scaler)
    choice = {
        "C": c,
        "gamma_times_n_features": g,
        "validation_macro_f1": scores[(c, g)],
        "grid": [{"C": k[0], "gamma_times_n_features": k[1], "validation_macro_f1": v} for k, v in scores.items()],
    }
    return kwargs, state, choice


def _ovr_svm(x: np.ndarray, y: np.ndarray, c: float, gamma_factor: float):
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    scaler = StandardScaler().fit(x)
    gamma = gamma_factor / x.shape[1]
    machine = OneVsRestClassifier(SVC(C=c, gamma=gamma, kernel="rbf", class_weight="balanced"))
    return machine.fit(scaler.transform(x), y), scaler


def export_svm(machine, scaler) -> tuple[dict, dict[str, torch.Tensor]]:
    """A fitted one-vs-rest RBF SVC (every class present) and its scaler -> RbfSvm kwargs and buffers."""
    binaries = machine.estimators_
    if not all(hasattr(b, "support_vectors_") for b in binaries):
        raise ValueError("every class needs training clips: a one-vs-rest machine fell back to a constant")
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))
    kwargs = {
        "n_features": int(scaler.mean_.shape[0]),
        "n_support": [int(len(b.support_vectors_)) for b in binaries],
        "gamma": float(binaries[0].gamma),
    }
    state = {
        "mean": t(scaler.mean_),
        "scale": t(scaler.scale_),
        "support": t(np.concatenate([b.support_vectors_ for b in binaries])),
        "dual": t(np.concatenate([b.dual_coef_[0] for b in binaries])),  # alpha * y, y = +1 for "this class"
        "intercept": t([b.intercept_[0] for b in binaries]),
    }
    return kwargs, state


def svm_module(kwargs: dict, state: dict[str, torch.Tensor]) -> RbfSvm:
    """An :class:`RbfSvm` holding an exported machine (:func:`export_svm`)."""
    svm = RbfSvm(**kwargs)
    svm.load_state_dict({**svm.state_dict(), **state})  # the one-hot owner buffer follows from kwargs
    return svm.eval()


def fit_forest(x: np.ndarray, y: np.ndarray, n_classes: int, seed: int) -> tuple[dict, dict[str, torch.Tensor]]:
    """A random forest (scikit-learn defaults, ``N_TREES`` trees) on ``x``, as Forest kwargs and buffers."""
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=N_TREES, random_state=seed).fit(x.astype(np.float32), y)
    if list(forest.classes_) != list(range(n_classes)):
        raise ValueError("the forest's training actors must cover every class")
    trees = [e.tree_ for e in forest.estimators_]
    n_nodes = max(t.node_count for t in trees)
    left = torch.full((len(trees), n_nodes), -1, dtype=torch.long)
    right, feature = left.clone(), torch.zeros_like(left)
    threshold = torch.zeros(len(trees), n_nodes, dtype=torch.float64)
    value = torch.zeros(len(trees), n_nodes, n_classes, dtype=torch.float64)
    for i, t in enumerate(trees):
        n = t.node_count
        left[i, :n], right[i, :n] = torch.as_tensor(t.children_left), torch.as_tensor(t.children_right)
        feature[i, :n] = torch.as_tensor(np.maximum(t.feature, 0))  # leaves test nothing (-2)
        threshold[i, :n] = torch.as_tensor(t.threshold)
        shares = t.value[:, 0, :]  # [n, C] counts or fractions
        value[i, :n] = torch.as_tensor(shares / shares.sum(axis=1, keepdims=True))
    kwargs = {"n_trees": len(trees), "n_nodes": n_nodes, "depth": max(t.max_depth for t in trees)}
    return kwargs, {"left": left, "right": right, "feature": feature, "threshold": threshold, "value": value}


def fit_ensemble(
    groups: dict[str, list[Sample]],
    labels: Sequence[str],
    seed: int,
    spec: dict | None = None,
    audio_gammas: Sequence[float] = GAMMA_GRID,
    voice: bool = False,
) -> tuple[HandcraftedEnsemble, dict, dict]:
    """Fit both SVMs on ``groups["svm_train"]`` (chosen on ``groups["svm_val"]``, the audio one's gamma
    among ``audio_gammas``) and the forest on their decision values for ``groups["forest"]``; with
    ``voice``, also the voice-alone SVM that answers a clip without a face: on both groups' actors,
    chosen on ``groups["svm_val"]`` and not refitted on them (they stay unheard, for its calibration).
    Returns the module, its kwargs and the SVMs' grid choices."""
    index = {name: i for i, name in enumerate(labels)}
    y = {k: np.array([index[s.label] for s in v]) for k, v in groups.items()}
    x_audio = {k: audio_features(v, spec).numpy() for k, v in groups.items()}
    x_face = {k: au_features(v).numpy() for k, v in groups.items()}
    audio_kwargs, audio_state, audio_choice = fit_svm(
        x_audio["svm_train"], y["svm_train"], x_audio["svm_val"], y["svm_val"], len(labels), audio_gammas
    )
    face_kwargs, face_state, face_choice = fit_svm(
        x_face["svm_train"], y["svm_train"], x_face["svm_val"], y["svm_val"], len(labels)
    )
    audio_svm, face_svm = svm_module(audio_kwargs, audio_state), svm_module(face_kwargs, face_state)
    with torch.inference_mode():  # the decision values the forest learns from, as the ensemble computes them
        fused_inputs = torch.cat(
            [
                audio_svm(torch.from_numpy(x_audio["forest"])).float(),
                face_svm(torch.from_numpy(x_face["forest"])).float(),
            ],
            dim=1,
        ).numpy()  # [N, 2C]
    forest_kwargs, forest_state = fit_forest(fused_inputs, y["forest"], len(labels), seed)
    kwargs = {"n_classes": len(labels), "audio": audio_kwargs, "face": face_kwargs, "forest": forest_kwargs}
    choices = {"audio_svm": audio_choice, "face_svm": face_choice}
    if voice:
        x_both, y_both = (
            np.concatenate([x_audio["svm_train"], x_audio["forest"]]),
            np.concatenate([y["svm_train"], y["forest"]]),
        )
        kwargs["voice"], voice_state, choices["voice_svm"] = fit_svm(
            x_both, y_both, x_audio["svm_val"], y["svm_val"], len(labels), audio_gammas, refit=False
        )
    final = HandcraftedEnsemble(**kwargs)
    final.audio, final.face = audio_svm, face_svm
    if voice:
        final.voice = svm_module(kwargs["voice"], voice_state)
    final.forest.load_state_dict(forest_state)
    return final.eval(), kwargs, choices


def score(
    model: HandcraftedEnsemble, samples: Sequence[Sample], labels: Sequence[str], spec: dict | None = None
) -> dict:
    """Test reports of each branch and of the fusion on ``samples``."""
    data = make_dataset(samples, labels, spec)
    with torch.inference_mode():
        out = model(data.tensors["audio"], data.tensors["au"])
        if model.voice is not None:  # what the app answers to a clip without a face
            out["voice_logits"] = model(data.tensors["audio"])["logits"]
    out["mean_logits"] = out["audio_logits"].softmax(-1) + out["face_logits"].softmax(-1)  # fusion without learning
    truth = [labels[i] for i in data.tensors["label"]]
    return {
        branch: classification_report(truth, [labels[i] for i in out[key].argmax(-1)], labels)
        for branch, key in (
            ("audio", "audio_logits"),
            ("face", "face_logits"),
            ("fusion", "logits"),
            ("fusion_mean", "mean_logits"),
            ("voice", "voice_logits"),
        )
        if key in out
    }


def fold_run(
    groups: dict[str, list[Sample]],
    labels: Sequence[str],
    seed: int,
    spec: dict | None = None,
    audio_gammas: Sequence[float] = GAMMA_GRID,
    keep: Callable[[HandcraftedEnsemble, dict, dict], None] | None = None,
) -> dict:
    """One fold's test reports: the pipeline as the talk built it, and two ablations; ``keep(model,
    kwargs, report)`` is handed the fold's ensemble as served (with its voice-alone SVM).

    * ``fusion_forest_on_svm_actors``: the forest fitted on the SVMs' decision values for their own
      training actors, the shortcut the talk avoided;
    * ``audio_all_actors`` / ``face_all_actors``: each SVM trained on both groups (twice the actors),
      what a unimodal model reaches when no actors are kept back for the forest;
    * ``voice``: the voice-alone SVM as the checkpoint serves it (both groups' actors, chosen on the
      validation actors and not refitted on them).
    """
    fitted = {k: v for k, v in groups.items() if k != "test"}
    model, kwargs, choices = fit_ensemble(fitted, labels, seed, spec, audio_gammas, voice=True)
    run = {**score(model, groups["test"], labels, spec), "svm_choices": choices}
    if keep:
        keep(model, kwargs, run["voice"])
    shortcut, _, _ = fit_ensemble({**fitted, "forest": groups["svm_train"]}, labels, seed, spec, audio_gammas)
    run["fusion_forest_on_svm_actors"] = score(shortcut, groups["test"], labels, spec)["fusion"]
    everyone, _, _ = fit_ensemble(
        {**fitted, "svm_train": groups["svm_train"] + groups["forest"]}, labels, seed, spec, audio_gammas
    )
    both = score(everyone, groups["test"], labels, spec)
    run["audio_all_actors"], run["face_all_actors"] = both["audio"], both["face"]
    return run


# --- protocols ------------------------------------------------------------------------------------


def by_actors(samples: Sequence[Sample], actors) -> list[Sample]:
    names = {f"Actor_{a:02d}" for a in actors}
    return [s for s in samples if s.speaker in names]


def halves(speakers: Sequence[str]) -> tuple[list[str], list[str]]:
    """Two disjoint halves of RAVDESS actors (odd numbers male): the men then the women, dealt
    alternately, so the halves differ by at most one actor and one man."""
    ordered = sorted(speakers, key=lambda s: (int(s.split("_")[1]) % 2 == 0, s))
    return ordered[::2], ordered[1::2]


def fold_groups(samples: Sequence[Sample], fold) -> dict[str, list[Sample]]:
    """A committed fold's actors as SVM / forest / test groups (the 14 training actors halved)."""
    svm_actors, forest_actors = halves(fold.train)
    pick = lambda names: [s for s in samples if s.speaker in set(names)]
    return {
        "svm_train": pick(svm_actors),
        "svm_val": pick(fold.val),
        "forest": pick(forest_actors),
        "test": pick(fold.test),
    }


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
    au_root: str | Path | None = None,
    normalise: bool = False,
    smooth: bool = False,
    fold_models: str | None = None,
) -> dict:
    """The talk's split, then (``cv``) the 5 folds, then (``final``) the checkpoint, with its voice-alone
    SVM (what the app serves: no face there) calibrated on the validation actors, whom it never heard.
    ``normalise``: features of the clip after :func:`emodemo.inputs.normalise.normalise`. ``smooth``: the
    audio SVM's RBF width is chosen among :data:`SMOOTH_GAMMA_GRID` instead of :data:`GAMMA_GRID`.
    Narrow kernels (the talk's grid, chosen on 2 validation actors) fit RAVDESS's voices closely and
    give a clip from another corpus, far from every support vector, the class with the largest
    intercept: the served SVM answered "fearful" to 88 % of TESS; wide ones extrapolate.
    ``fold_models``: a folder where each fold's ensemble is saved (``<folder>/fold<k>``), so the
    cross-corpus harness can score each fold's test actors with a model that never heard them."""
    from emodemo import data
    from emodemo.core.metrics import mean_std
    from emodemo.training.checkpoint import save_checkpoint
    from emodemo.training.experiment import chance_baseline, standard_protocol

    if dataset != "ravdess":
        raise ValueError(f"{NAME} needs RAVDESS with its action-unit table (--dataset ravdess), not {dataset!r}")
    if au_root is None:
        raise ValueError(
            f"{NAME} needs the face table: --option au_root=PATH (e.g. ../shared/datasets/ravdess_facial_au)"
        )
    samples = [s for s in data.load("ravdess", root, calm_as_neutral=True, au_csv=au_root) if "au" in s.meta]
    labels, spec = LABELS, {"normalise": as_flag(normalise)}
    gammas = SMOOTH_GAMMA_GRID if as_flag(smooth) else GAMMA_GRID
    talk_groups = {k: by_actors(samples, actors) for k, actors in TALK_SPLIT.items()}
    metrics: dict = {
        "audio_gamma_grid": list(gammas),
        "talk_split": {
            **fold_run(talk_groups, labels, seed, spec, gammas),
            "actors": {k: [f"Actor_{a:02d}" for a in v] for k, v in TALK_SPLIT.items()},
        },
    }
    log.info(
        "talk split, test actors 17-20: audio WA %.3f, face WA %.3f, fusion WA %.3f",
        *(metrics["talk_split"][b]["WA"] for b in ("audio", "face", "fusion")),
    )
    folds, final_split = standard_protocol("ravdess", samples)
    folds = chosen_folds(folds, quick, fold_ids)
    if cv:
        runs = [
            {
                **fold_run(fold_groups(samples, fold), labels, seed, spec, gammas, fold_saver(fold_models, fold, spec)),
                "fold": fold.name,
            }
            for fold in folds
        ]
        metrics["cross_validation"] = {b: mean_std([r[b] for r in runs]) for b in BRANCHES if b in runs[0]}
        metrics["folds"] = runs
        metrics["chance"] = chance_baseline(samples, folds, labels, seed)
    if final:
        svm_actors, forest_actors = halves(final_split.train)
        groups = {
            "svm_train": [s for s in samples if s.speaker in set(svm_actors)],
            "svm_val": [s for s in samples if s.speaker in set(final_split.val)],
            "forest": [s for s in samples if s.speaker in set(forest_actors)],
        }
        model, kwargs, choices = fit_ensemble(groups, labels, seed, spec, gammas, voice=True)
        metrics["final_svm_choices"] = choices
        unheard = DictDataset(
            audio=audio_features(groups["svm_val"], spec, progress=False),  # the voice alone
            label=torch.tensor([labels.index(s.label) for s in groups["svm_val"]]),
        )
        calibration = dict(
            validation_calibration(model, unheard, final_split.val),
            pairs="the voice-alone SVM, on the validation actors it was chosen on, not trained on",
        )
        save_checkpoint(
            out,
            model,
            model_name=NAME,
            model_kwargs=kwargs,
            labels=list(labels),
            data_card=data_card(svm_actors, final_split.val, forest_actors, spec),
            metrics=metrics,
            input_spec=spec,
            calibration=calibration,
        )
    return metrics


def fold_saver(folder: str | None, fold, spec: dict) -> Callable | None:
    """The ``keep`` of :func:`fold_run` that saves ``fold``'s ensemble as ``folder/<fold name>``
    (each fold's SVMs have their own sizes, so its constructor arguments come with the model)."""
    if not folder:
        return None
    svm_actors, forest_actors = halves(fold.train)
    card = data_card(svm_actors, fold.val, forest_actors, spec)
    return lambda model, kwargs, report: fold_model_saver(
        folder, NAME, card, model_kwargs=kwargs, labels=list(LABELS), input_spec=spec
    )(fold, model, report)


def data_card(svm_actors, val_actors, forest_actors, spec: dict | None = None) -> dict:
    return {
        "dataset": "ravdess (speech, actors 01-20) + ravdess_facial_au (OpenFace action units per take)",
        "svm_train_speakers": list(svm_actors),
        "validation_speakers": list(val_actors),
        "forest_train_speakers": list(forest_actors),
        "train_speakers": sorted(set(svm_actors) | set(forest_actors)),
        "licence": "RAVDESS: CC BY-NC-SA 4.0 (non-commercial); the action units are derived from RAVDESS video",
        "inputs": f"16 kHz waveform{', ' + NORMALISED if asked(spec) else ''} -> 68 hand-crafted statistics; "
        "optionally the take's 35 action units",
    }
