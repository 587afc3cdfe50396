"""A served mean of fold models: one run's calibrated fold models averaged (``mesm``'s, ``coattention``'s and
``nmt_attention``'s served), or a pair per fold, two runs' calibrated fold models averaged: two ``ssl_mha`` models
that read other ranges of one encoder's layers (:class:`emodemo.models.SslMhaEnsemble`), as the served speech probe
pairs a probe of Whisper base's lower half with one of every layer (the lower layers carry to new voices, all of them
score more on RAVDESS), or two runs of one recipe with a served mean (``nmt_attention``'s, served 2026-12-06 to
2026-12-07: a run whose words side started from the words expert's beside one learnt from scratch; their vocabularies
joined first by the recipe's ``one_input`` hook). Two such runs are built alike, or differ only in what their heads read
after the attention (the served mean's ``HEAD_OPTIONS``: co-attention's ``speech_stats`` and ``speech_plain``,
``mesm``'s ``speech_plain``; each member's line on the card names its own).

``python -m emodemo pair OUT --fold-models DIR [DIR] --root RAVDESS --text-root GOEMOTIONS [--clean-half]``
(:func:`write_pair`):

1. with two runs, per fold, the two runs' fold models (each calibrated on its fold's validation actors,
   ``calibrate``) are joined into the fold pair ``OUT/folds/fold<k>``, which gets a temperature of its own on top
   (averaging calibrated answers flattens them) and an "unsure" line, fitted on those actors as a served
   checkpoint's are (``calibrate --perturbed``; with ``--clean-half`` the clean clips weigh as much as all their
   changed copies, as the served Cross-MHA pair's do); with one run, its calibrated fold models are the folds (copied
   to ``OUT/folds`` unless they are there);
2. the served model at ``OUT`` is the mean of every fold's members (as the served probe averages its fold
   models: no RAVDESS actor is unseen by all of them), each at its own temperature, the mean at the mean of the
   fold pairs' temperatures (1 for fold models, whose temperature is their member's), its "unsure" line chosen
   on each fold's answers to its own validation actors, pooled;
3. the folds are scored on their test actors as the app reads the words
   (:func:`emodemo.serving.served_cv.write_as_served`, which reads the served checkpoint's card): the served
   model's cross-validation, its card's ``by_pairing``, and ``cross_validation`` (the app's confusion matrix),
   the clips with their own words. A pair's "raw" calibration error there is of the members' answers at their
   own temperatures, averaged, before the fold pair's.

``python -m emodemo recalibrate OUT --root RAVDESS --text-root GOEMOTIONS`` (:func:`refit`) fits each of a served
mean's folds' temperatures again as it was fitted (a fold pair's as in step 1, a run's fold model by its own
``calibrate``), then steps 2 and 3.

Every check that can fail (every run has a calibrated model of every fold, a pair's two of one recipe, reading the
same inputs; the lines of a mixed-pairs run's constructed half) is made before anything is written.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emodemo.serving.cross_corpus import perturbed_answers
from emodemo.serving.evaluation import LOADER_OPTIONS, calibrate_checkpoint
from emodemo.serving.served_cv import AS_SERVED, run_pairing, write_as_served
from emodemo.training.checkpoint import add_metrics, read_checkpoint_config

ENSEMBLE = "ssl_mha_ensemble"
MEMBER = "ssl_mha"
# a member model -> the served mean of such members
MEAN_OF = {
    MEMBER: ENSEMBLE,
    "coattention": "coattention_mean",
    "nmt_attention": "nmt_attention_mean",
    "mesm": "mesm_mean",
}


def layer_range(meta: dict) -> tuple[int, int] | None:
    """The range of encoder layers an ``ssl_mha`` checkpoint mixes (its ``input_spec``'s ``layers``), None: all."""
    layers = (meta.get("input_spec") or {}).get("layers")
    return (int(layers[0]), int(layers[-1])) if layers else None


def _calibrated_models_of(configs: list[dict], where: Sequence[Path], models: Sequence[str], what: str) -> None:
    """Raises unless every checkpoint config is of one of ``models`` and calibrated."""
    for config, folder in zip(configs, where):
        if config["model_name"] not in models:
            raise ValueError(f"{folder} is a {config['model_name']} model: {what} is of {' or '.join(models)} models")
        if (config.get("calibration") or {}).get("temperature") is None:
            raise ValueError(f"{folder} has no temperature: calibrate it first (python -m emodemo calibrate)")


def _one_run(configs: list[dict], where: Sequence[Path]) -> None:
    """Raises unless one run's fold models (each checked calibrated, of a recipe with a served mean, by
    :func:`_write_mean`) can be averaged: one recipe, constructor, inputs, labels and pairing (only the actors they
    trained on differ)."""
    keys = ("model_name", "model_kwargs", "input_spec", "labels")
    run = lambda c: [*(c.get(key) for key in keys), (c.get("data_card") or {}).get("pairing")]
    odd = [str(folder) for config, folder in zip(configs, where) if run(config) != run(configs[0])]
    if odd:
        raise ValueError(f"{', '.join(odd)}: not the model, inputs, labels or pairing of {where[0]}: another run's")


def _checked(configs: list[dict], where: Sequence[Path]) -> dict:
    """The input spec every member's answers can be read from; raises unless the members are calibrated models of
    one recipe with a served mean, of the same labels, pairing and actors, and read the same inputs: all of them, or
    for ``ssl_mha`` all but the layers (the pair is fed the member's that reads every layer); built alike but for what
    only their heads read or only their training used (the served mean's ``member_options``)."""
    from emodemo.models import REGISTRY

    _calibrated_models_of(configs, where, sorted(MEAN_OF), "a pair")
    if len({c["model_name"] for c in configs}) > 1:
        kinds = " and ".join(sorted({c["model_name"] for c in configs}))
        raise ValueError(f"the members of {', '.join(map(str, where))} are of different recipes ({kinds})")
    if any(c.get("labels") != configs[0].get("labels") for c in configs):
        raise ValueError(f"the members of {', '.join(map(str, where))} answer different classes")
    pairings = {(c.get("data_card") or {}).get("pairing") for c in configs}
    if len(pairings) > 1:
        raise ValueError(f"the members were trained on different pairings: {sorted(map(str, pairings))}")
    for part in ("train_speakers", "validation_speakers", "test_speakers"):
        if len({str((c.get("data_card") or {}).get(part)) for c in configs}) > 1:
            raise ValueError(f"the members' {part} differ: a pair is of models of the same actors")
    if configs[0]["model_name"] != MEMBER:  # one input, one constructor: answers and attention maps averaged
        if any(c.get("input_spec") != configs[0].get("input_spec") for c in configs):
            raise ValueError("the members read different inputs: their answers cannot be averaged")
        if not REGISTRY[MEAN_OF[configs[0]["model_name"]]].built_alike([c["model_kwargs"] for c in configs]):
            raise ValueError("the members are built differently: their attention maps cannot be averaged")
        return configs[0]["input_spec"]
    shared = lambda c: {k: v for k, v in (c.get("input_spec") or {}).items() if k != "layers"}
    if any(shared(c) != shared(configs[0]) for c in configs):
        raise ValueError("the members read different inputs (not only other layers): their states cannot be shared")
    widest = [c for c in configs if layer_range(c) is None]
    if not widest:
        raise ValueError("one member must read every layer: the pair is fed that member's inputs")
    return widest[0]["input_spec"]


def run_names(folders: Sequence[Path]) -> list[str]:
    """The names of the runs whose fold models ``folders`` hold (``runs/<model>/<run>/folds`` -> ``<run>``); the
    folders themselves where two runs would share a name."""
    name = lambda folder: folder.parent.name if folder.name == "folds" else folder.name
    names = [name(Path(folder)) for folder in folders]
    return names if len(set(names)) == len(names) else [str(folder) for folder in folders]


def joined(out: Path, members: Sequence[Path], runs: Sequence[str] | None = None) -> Path:
    """Save at ``out`` the mean of the calibrated checkpoints ``members`` (uncalibrated itself: :func:`write_pair`
    fits its temperature): an :class:`~emodemo.models.SslMhaEnsemble` of ``ssl_mha`` members, each reading its
    layers, else the recipe's served mean (``MEAN_OF``). Its card: the first member's with the members named (by
    the layers they read, or by ``runs``: the name of each member's run)."""
    from emodemo.models import REGISTRY
    from emodemo.training.checkpoint import load_checkpoint, save_checkpoint

    configs = [read_checkpoint_config(m) for m in members]
    spec = _checked(configs, members)
    loaded = [load_checkpoint(m, REGISTRY)[0] for m in members]
    first = configs[0]
    by_layers = first["model_name"] == MEMBER
    kwargs = dict(
        members=[c["model_kwargs"] for c in configs],
        temperatures=[float(c["calibration"]["temperature"]) for c in configs],
        member_layers=[layer_range(c) if by_layers else None for c in configs],
    )
    name = ENSEMBLE if by_layers else MEAN_OF[first["model_name"]]
    pair = REGISTRY[name](**kwargs)
    for target, member in zip(pair.members, loaded):
        target.load_state_dict(member.state_dict())
    reading = lambda c: "every layer" if layer_range(c) is None else "layers {}-{}".format(*layer_range(c))
    named = [reading(c) for c in configs] if by_layers else list(runs or map(str, members))  # each member's name
    own = REGISTRY[name].member_options() if hasattr(REGISTRY[name], "member_options") else frozenset()
    members_differ = any(c["model_kwargs"] != first["model_kwargs"] for c in configs)  # built alike but for these
    options = lambda c: ", ".join(f"{k}={v}" for k, v in sorted(c["model_kwargs"].items()) if k in own) or "none"
    widest = next(c for c in configs if not by_layers or layer_range(c) is None)
    variant = {"layers" if by_layers else "runs": " + ".join(named)}
    card = dict(
        first["data_card"],
        variant=dict(first["data_card"].get("variant") or {}, **variant),
        inputs=widest["data_card"].get("inputs"),
        members=[
            f"{label}: "
            + (f"{c['data_card'].get('variant')}, " if by_layers else "")
            + (f"options {options(c)}, " if members_differ else "")
            + f"temperature {c['calibration']['temperature']:.3f} "
            f"(fitted on {', '.join(c['calibration'].get('fitted_on') or [])})"
            for label, c in zip(named, configs)
        ],
    )
    return save_checkpoint(
        out,
        pair,
        model_name=name,
        model_kwargs=kwargs,
        labels=first["labels"],
        data_card=card,
        metrics={},  # scored on its fold's test actors with the served model (write_as_served)
        train_cfg=first.get("train_config"),
        input_spec=spec,
        half=True,
    )


def fitted_on(metas: Sequence[dict], paired: bool) -> str:
    """What the ``metas`` folds' temperatures (a served mean's) were fitted on, for its card: each fold's validation
    actors, and the same clips changed (``calibrate --perturbed``) with the clean clips' share of the fit, when every
    fold was fitted so."""
    fits = [meta["calibration"] for meta in metas]
    what = "the mean of the fold pairs' temperatures, each fitted" if paired else "each member"
    what += " on its own fold's validation actors"
    if all(fit.get("perturbed") for fit in fits):  # "the same clips changed (level -20 dB, ...; 564 clips)"
        what += " and " + re.sub(r"; [\d,]+ clips\)$", ")", fits[0]["perturbed"])  # each fold's own count left out
        shares = {fit.get("clean_share") for fit in fits}
        if len(shares) == 1 and None not in shares:
            what += f", the clean clips weighing {shares.pop():.0%} of each fit"
    return what


def averaged(out: Path, folds: Sequence[Path], root: Path, dataset: str = "ravdess") -> Path:
    """Save at ``out`` the mean of every member of the calibrated ``folds`` (fold pairs or fold models; step 2 of
    the module docstring): each member at its own temperature, the mean at the mean of the fold pairs'
    temperatures (1 for fold models)."""
    from emodemo import data
    from emodemo.models import REGISTRY
    from emodemo.serving import load_models
    from emodemo.serving.evaluation import calibrated, readable
    from emodemo.training.calibration import unsure_threshold
    from emodemo.training.checkpoint import save_checkpoint

    loaded = load_models([str(p) for p in folds])  # each fold once: its members, and its answers below
    metas = [fold.meta for fold in loaded]
    if len({m["model_name"] for m in metas}) > 1:
        raise ValueError(f"the folds are of {sorted({m['model_name'] for m in metas})}: average one kind")
    first = metas[0]
    paired = first["model_name"] in MEAN_OF.values()
    kwargs, modules, on_top = {"members": [], "temperatures": [], "member_layers": []}, [], []
    for fold in loaded:
        own = fold.meta["model_kwargs"]
        if paired:  # a fold pair: its members, its temperature on top
            for key in kwargs:
                kwargs[key] += own[key]
            modules += list(fold.model.members)
            on_top.append(float(fold.meta["calibration"]["temperature"]))
        else:  # a fold model: its temperature is its member's
            kwargs["members"].append(own)
            kwargs["temperatures"].append(float(fold.meta["calibration"]["temperature"]))
            kwargs["member_layers"].append(None)
            modules.append(fold.model)
            on_top.append(1.0)
    name = first["model_name"] if paired else MEAN_OF[first["model_name"]]
    mean = REGISTRY[name](**kwargs)
    for target, member in zip(mean.members, modules):
        target.load_state_dict(member.state_dict())
    clips = data.load(dataset, root)
    probs, targets = [], []  # each fold on its own validation actors, as the app answers
    for fold in loaded:
        seen = set(fold.meta["data_card"]["validation_speakers"])
        usable, *_ = readable(fold, [s for s in clips if s.speaker in seen], dataset, transcribe=True)
        p, y = calibrated(fold, usable)  # [N, C] at the fold's own temperature
        probs.append(p)
        targets.append(y)
    variant = first["data_card"].get("variant") or {}
    what = (
        f"fold pairs under folds/ (each: {variant.get('layers') or variant.get('runs')})" if paired else "fold models"
    )
    card = dict(
        first["data_card"],
        train_speakers=sorted({a for m in metas for a in m["data_card"]["train_speakers"]}),
        validation_speakers=sorted({a for m in metas for a in m["data_card"]["validation_speakers"]}),
        members=(f"the {len(mean.members)} models of the {len(folds)} {what}" if paired else f"the {len(folds)} {what}")
        + ", each trained on its fold's training actors",
    )
    card.pop("test_speakers", None)
    calibration = {
        "temperature": float(np.mean(on_top)),
        **({"fold_pair_temperatures": on_top} if paired else {"member_temperatures": kwargs["temperatures"]}),
        "fitted_on": [fitted_on(metas, paired)],
        "unsure": unsure_threshold(np.concatenate(probs), np.concatenate(targets)),
        "pairs": first["calibration"].get("pairs"),
    }
    return save_checkpoint(
        out,
        mean,
        model_name=name,
        model_kwargs=kwargs,
        labels=first["labels"],
        data_card=card,
        metrics={
            "members_note": f"its cross-validation is its {'fold pairs' if paired else 'fold models'}', each on its "
            "own test actors; the mean itself has no RAVDESS speaker unseen by all of its members"
        },
        train_cfg=first.get("train_config"),
        input_spec=first["input_spec"],
        calibration=calibration,
        half=True,
    )


def fold_models_under(folder: Path) -> dict[str, Path]:
    """``{fold name: folder}`` of the fold models (``fold<k>/``) under ``folder``."""
    return {p.parent.name: p.parent for p in sorted(Path(folder).glob("fold[0-9]*/config.json"))}


def write_pair(
    out: str | Path,
    fold_models: Sequence[str | Path],
    root: str | Path,
    text_root: str | Path | None = None,
    dataset: str = "ravdess",
    clean_half: bool = False,
) -> Path:
    """The served mean at ``out`` (the module docstring) from one run's fold models, or from two runs' joined per
    fold into pairs (``fold_models``: one folder of ``fold<k>`` per run): calibrated, averaged, the folds scored
    as served; returns ``out``. ``clean_half``: each fold pair's temperature fitted with its clean clips weighing as
    much as all their changed copies (``calibrate --perturbed --clean-half``)."""
    out = Path(out)
    if clean_half and len(fold_models) != 2:
        raise ValueError("clean_half calibrates fold pairs: one run's fold models keep their own calibration")
    if len(fold_models) not in (1, 2):
        raise ValueError(f"a served mean is of one run's fold models or of two runs' pairs, not {len(fold_models)}")
    folds = [fold_models_under(Path(f)) for f in fold_models]
    names = sorted(set().union(*folds))
    lacking = [f"{folder}: {', '.join(sorted(set(names) - set(found)))}" for folder, found in zip(fold_models, folds)]
    if not names or any(set(found) != set(names) for found in folds):
        raise FileNotFoundError(
            "each run needs a calibrated model of every fold (run its variant first: reproduce MODEL --variant "
            f"RUN --force); missing under {'; '.join(lacking) if names else ', '.join(map(str, fold_models))}"
        )
    with tempfile.TemporaryDirectory() as scratch:
        return _write_mean(Path(out), folds, names, Path(scratch), root, text_root, dataset, clean_half)


def _write_mean(
    out: Path, folds: list[dict], names: list[str], scratch: Path, root, text_root, dataset: str, clean_half: bool
) -> Path:
    """:func:`write_pair` once its fold models are found (``scratch``: a folder for the runs' fold models made to
    read one input, the recipe's ``one_input`` hook)."""
    from emodemo.recipes import get_recipe, hook

    runs = run_names([f[names[0]].parent for f in folds])
    sources = [f[name] for f in folds for name in names]
    configs = [read_checkpoint_config(source) for source in sources]
    kinds = sorted({config["model_name"] for config in configs})
    if len(kinds) > 1:
        raise ValueError(f"the fold models are of {' and '.join(kinds)}: a served mean is of one recipe's")
    _calibrated_models_of(configs, sources, sorted(MEAN_OF), "a served mean")
    if len(folds) == 2 and any(s.resolve().parent == (out / "folds").resolve() for s in sources):
        raise ValueError(f"{out / 'folds'} would be written over while its fold models are joined: move them first")
    recipe = get_recipe(kinds[0])
    together = hook(recipe, "one_input")(
        {f"{k}/{name}": f[name] for k, f in enumerate(folds) for name in names}, scratch
    )
    folds = [{name: together[f"{k}/{name}"] for name in names} for k in range(len(folds))]  # one input for all
    if len(folds) == 2:
        for name in names:
            _checked([read_checkpoint_config(f[name]) for f in folds], [f[name] for f in folds])
    else:
        _one_run([read_checkpoint_config(folds[0][name]) for name in names], [folds[0][name] for name in names])
    if run_pairing(read_checkpoint_config(folds[0][names[0]]))["pairing"] == "mixed" and text_root is None:
        raise ValueError("a mixed-pairs run's constructed half needs the lines it was paired with: give text_root")
    units = [out / "folds" / name for name in names]
    for target, name in zip(units, names):
        if len(folds) == 2:
            joined(target, [f[name] for f in folds], runs)
            calibrate_checkpoint(target, dataset, root, perturbed=perturbed_answers, clean_half=clean_half)
        elif folds[0][name].resolve() != target.resolve():  # a fold model of the run, as it is: nothing left over
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(folds[0][name], target)
    return _served(out, units, root, text_root, dataset)


def _served(out: Path, units: Sequence[Path], root, text_root, dataset: str) -> Path:
    """Steps 2 and 3 of the module docstring: the mean of the calibrated ``units`` (fold pairs or fold models) saved
    at ``out``, and the units scored as served into its card; returns ``out``."""
    paired = read_checkpoint_config(units[0])["model_name"] in MEAN_OF.values()
    averaged(out, units, Path(root), dataset)
    result = json.loads(write_as_served(str(out), root, text_root).read_text(encoding="utf-8"))
    add_metrics(
        out,
        {
            "by_pairing": result["by_pairing"],
            "cross_validation": result["by_pairing"]["real"]["summary"],
            "cross_validation_is": f"its fold {'pairs' if paired else 'models'} on their test actors, each "
            f"clip with its own words ({AS_SERVED})",
        },
        overwrite=True,
    )
    return out


def refit(out: str | Path, root: str | Path, text_root: str | Path | None = None, dataset: str = "ravdess") -> Path:
    """Fit the temperature and "unsure" line of each of the served mean's own folds (``out/folds/fold<k>``: fold
    models or fold pairs) again, each as it was fitted (on its validation actors, and their clips changed where they
    were, the clean clips weighing half where they did), then build the mean and score the folds as served, as
    :func:`write_pair` does; returns ``out``. For when what the models read has changed (the transcriber's
    arithmetic, say) and their weights have not. A fold pair's members keep their own temperatures (their runs'
    fold models are not part of the served checkpoint); the pair's on top is fitted again. What can be checked is
    checked before any fold is written (every fold calibrated, of one recipe, its validation actors under ``root``,
    the lines of a mixed-pairs run). The mean's card is written anew, as by :func:`write_pair`: its scores on other
    corpora (TESS) are dropped with the old temperatures; score it again (``bench/generalisation.py --cards``)."""
    from emodemo import data

    out = Path(out)
    units = list(fold_models_under(out / "folds").values())
    if not units:
        raise FileNotFoundError(f"no fold models or fold pairs under {out / 'folds'}: nothing to fit again")
    configs = [read_checkpoint_config(unit) for unit in units]
    _calibrated_models_of(configs, units, sorted({*MEAN_OF, *MEAN_OF.values()}), "a served mean's fold")
    if len({c["model_name"] for c in configs}) > 1:
        raise ValueError(f"the folds under {out / 'folds'} are of {sorted({c['model_name'] for c in configs})}")
    if run_pairing(configs[0])["pairing"] == "mixed" and text_root is None:
        raise ValueError("a mixed-pairs run's constructed half needs the lines it was paired with: give text_root")
    present = {s.speaker for s in data.load(dataset, root, **LOADER_OPTIONS.get(dataset, {}))}
    wanted = {
        unit.name: set(c["data_card"].get("validation_speakers") or ["none named"]) for unit, c in zip(units, configs)
    }
    lacking = [
        f"{name} ({', '.join(sorted(actors - present))})" for name, actors in wanted.items() if not actors <= present
    ]
    if lacking:
        raise FileNotFoundError(f"{root} lacks the validation actors of {'; '.join(lacking)}: nothing was fitted")
    for unit, config in zip(units, configs):
        fit = config["calibration"]
        changed = perturbed_answers if fit.get("perturbed") else None
        calibrate_checkpoint(unit, dataset, root, perturbed=changed, clean_half="clean_share" in fit)
    return _served(out, units, root, text_root, dataset)
