"""Cross-corpus evaluation: does a served model recognise emotion, or RAVDESS?

Every served model that answers a voice clip (:func:`served_models`: the checkpoints
:func:`emodemo.serving.pipeline.discover` finds, face models aside) is scored, with its protocol named:

* **RAVDESS CV** (in-corpus): read from the committed cross-validation results, as
  :mod:`emodemo.reports.comparison` reads them (actors 01-20, the committed 5 folds by actor, 7 classes
  with calm counted as neutral, one run per fold, mean ± std over the test folds): the row of the
  served checkpoint's own protocol, and for a model that reads words both pairings (real: the clip's
  own Whisper words; constructed: a GoEmotions line of the clip's emotion). A row whose training
  pairing differs from the served checkpoint's is marked so (``served_protocol`` False). A served
  model with no committed row gets its card's cross-validation, counted on 7 classes from its
  pooled confusion matrix.
* **TESS** (cross-corpus; 2 female speakers, 7 emotions, 25 words per half): the **choose** half,
  on which models and settings may be chosen, and the **report** half, scored once per final
  choice and kept apart (``tess_report``). Words models read Whisper's transcript, as in the app.
* **Robustness** (:func:`robustness_set`): each RAVDESS fold's test actors' clips, clean and
  perturbed by :func:`emodemo.inputs.augment.robustness_conditions` (babble made of the fold's other test
  actors' clips), scored by the model of that fold (:func:`fold_checkpoints`), words from Whisper's
  transcript of the perturbed clip, answers pooled over the folds scored. A model that trained on
  no RAVDESS speaker (a words model trained on text) is its own fold model. A model with neither
  is marked "no fold models" rather than scored on speakers it trained on.
* **Per gender** and the **collapse** (share of clips given the single most frequent answer) on
  every set (:class:`emodemo.serving.evaluation.Answers`).

Metrics are WA (accuracy), UA (mean per-class recall), WF1, UF1 (:mod:`emodemo.core.metrics`).
``bench/generalisation.py`` runs it all and renders :func:`markdown_table` into docs/results.md and the
app's Compare tab.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from emodemo.data.record import Sample
from emodemo.serving.pipeline import CHECKPOINTS, LoadedModel
from emodemo.speech import asr

TESS_HALVES = ("choose", "report")
NO_FOLD_MODELS = "no fold models"
NOT_RUN = "not run"
BABBLE_VOICES = 6  # clips summed into the babble (augment.babble's default)


def served_models(checkpoints: Path = CHECKPOINTS) -> list[str]:
    """The served checkpoints that answer a voice clip (voice, words, or both): every one
    :func:`~emodemo.serving.pipeline.discover` finds but the face models."""
    from emodemo.recipes import get_recipe
    from emodemo.serving.pipeline import SOUND_AND_WORDS, discover
    from emodemo.training.checkpoint import read_checkpoint_config

    return [
        name
        for name in discover(checkpoints)
        if set(get_recipe(read_checkpoint_config(Path(checkpoints) / name)["model_name"]).MODALITIES) <= SOUND_AND_WORDS
    ]


def _same_run(served: dict, fold: dict) -> bool:
    """Whether checkpoint config ``fold`` is a fold model of the run behind ``served``: the same
    recipe, inputs and pairing, and the served constructor arguments agree with every one of the
    fold model's but the members' temperatures (an ensemble of fold models, or a fold model that is
    itself a pair of probes, has as many as it has members; their layers, ``member_layers``, and their own
    arguments, ``members``, are compared as the readings they hold; a mean of plain fold models, one of its members'
    arguments) and those each fit sets from its data (the recipe's
    ``FITTED_KWARGS``, an argument or ``argument.key`` inside a dict argument: an SVM's support-vector
    counts, not its feature count)."""
    from emodemo.recipes import get_recipe, hook

    recipe = get_recipe(served["model_name"])
    fitted = {"temperatures", *hook(recipe, "FITTED_KWARGS")}
    card = lambda config: (config.get("data_card") or {}).get("pairing")
    readings = lambda value: sorted({json.dumps(v) for v in value}) if isinstance(value, list) else value
    settings = lambda kwargs: {
        k: readings(v) if k in ("member_layers", "members") else v
        for k, v in _flat(kwargs).items()
        if k not in fitted and k.split(".")[0] not in fitted
    }
    served_kwargs, fold_kwargs = served["model_kwargs"], fold["model_kwargs"]
    one_recipe = "members" in served_kwargs and not any(served_kwargs.get("member_layers") or ())
    if one_recipe and "members" not in fold_kwargs:  # a mean of one run's fold models (no pair): each is one
        same = all(settings(member) == settings(fold_kwargs) for member in served_kwargs["members"])
    else:
        same = settings(served_kwargs) == settings(fold_kwargs)
    return (
        recipe is get_recipe(fold["model_name"])
        and served.get("input_spec") == fold.get("input_spec")
        and card(served) == card(fold)
        and same
    )


def _flat(kwargs: dict) -> dict:
    """Constructor arguments one level flat: a dict argument's keys as ``argument.key``."""
    flat = {}
    for key, value in kwargs.items():
        if isinstance(value, dict) and value:
            flat.update({f"{key}.{inner}": v for inner, v in value.items()})
        else:
            flat[key] = value
    return flat


def fold_checkpoints(name: str, checkpoints: Path = CHECKPOINTS, folder: Path | None = None) -> dict[str, Path]:
    """``{fold name: folder}`` of the cross-validation fold models of served checkpoint ``name``:
    folders ``<name>/fold<k>/...`` or ``<name>/folds/fold<k>/...`` holding a checkpoint of the same
    run (:func:`_same_run`); with ``folder``, those under ``folder`` instead (``folder/fold<k>``: fold
    models too large to commit, kept where their run wrote them)."""
    from emodemo.training.checkpoint import read_checkpoint_config

    served = read_checkpoint_config(Path(checkpoints) / name)
    home = Path(folder) if folder else Path(checkpoints) / name
    found = {}
    for config in sorted(home.glob("**/config.json")):
        parts = config.parent.relative_to(home).parts
        fold = next((p for p in parts if re.fullmatch(r"fold\d+", p)), None)
        if fold and parts[0] in (fold, "folds") and _same_run(served, read_checkpoint_config(config.parent)):
            found.setdefault(fold, config.parent)
    return found


# --- in-corpus: the committed RAVDESS cross-validation --------------------------------------------


def in_corpus(name: str, meta: dict, checkpoints: Path = CHECKPOINTS) -> list[dict[str, Any]]:
    """The committed results behind served checkpoint ``name`` (card ``meta``): the comparison's
    rows marked with it, plus the same model's rows on the other RAVDESS pairings (each with
    ``served_protocol`` saying whether the served checkpoint was trained that way); failing any,
    its card's cross-validation on 7 classes. Each row: benchmark, model, source, WA / UA / WF1 /
    UF1 as ``{"mean", "std"}`` (std None when pooled or scored once), folds, served_protocol."""
    from emodemo.reports import comparison

    marked = [e for e in comparison.ENTRIES if e.checkpoint == name]
    covered = {pairing(m.benchmark) for m in marked}
    twins = [
        e
        for e in comparison.ENTRIES
        if e.checkpoint is None
        and e.model in {m.model for m in marked}
        and pairing(e.benchmark) not in covered | {None}
    ]
    keep = ("benchmark", "model", "source", *comparison.METRICS, "folds")
    rows = [
        {**{k: r[k] for k in keep}, "served_protocol": e in marked}
        for e, r in ((e, comparison.read(e, checkpoints)) for e in marked + twins)
    ]
    return rows or [card_cross_validation(name, meta)]


def with_fresh_in_corpus(result: dict, checkpoints: Path = CHECKPOINTS) -> dict:
    """A saved :func:`run` result with every model's ``in_corpus`` rows read again from the committed
    results (they are read, not scored: a re-scored cross-validation, such as ``cv-as-served``'s, reaches
    the table without the harness running again)."""
    from emodemo.training.checkpoint import read_checkpoint_config

    models = [
        {**m, "in_corpus": in_corpus(m["model"], read_checkpoint_config(Path(checkpoints) / m["model"]), checkpoints)}
        for m in result["models"]
    ]
    return {**result, "models": models}


def pairing(benchmark: str) -> str | None:
    """The words a RAVDESS benchmark pairs a clip with ("real" or "constructed"), None for others."""
    last = benchmark.rsplit("_", 1)[-1]
    return last if benchmark.startswith("ravdess_") and last in ("real", "constructed") else None


def card_cross_validation(name: str, meta: dict) -> dict[str, Any]:
    """A checkpoint card's own cross-validation (:func:`~emodemo.reports.headline.headline_report`),
    counted on :func:`~emodemo.serving.evaluation.scoring_labels` from its confusion matrix pooled over the
    test folds (8 RAVDESS classes: calm merged into neutral; std None: pooled, not per fold)."""
    from emodemo.reports.headline import headline_report
    from emodemo.serving.evaluation import Answers, scored_as, scoring_labels

    title, report = headline_report(meta)
    labels, cm = list(report["labels"]), np.asarray(report["confusion_matrix"])  # [C, C] true x answered
    space = scoring_labels(labels)
    true, answered = np.nonzero(cm)
    counts = cm[true, answered]
    pooled = Answers(
        space,
        [scored_as(labels[t], space) for t in np.repeat(true, counts)],
        [scored_as(labels[a], space) for a in np.repeat(answered, counts)],
        [None] * int(counts.sum()),
    ).report()
    return {
        "benchmark": "ravdess_voice",
        "model": f"{name} ({title}, pooled)",
        "source": f"{name}/config.json",
        **{m: {"mean": pooled[m], "std": None} for m in ("WA", "UA", "WF1", "UF1")},
        "folds": int(report.get("n_reports", 1)),
        "served_protocol": True,
    }


# --- cross-corpus: TESS -----------------------------------------------------------------------------


def tess_answers(
    loaded: LoadedModel, samples: Sequence[Sample], halves: Sequence[str] = TESS_HALVES
) -> dict[str, tuple]:
    """``{half: (Answers, about)}`` of a model on each of the TESS ``halves``; words models read
    Whisper's words of each clip, as in the app."""
    from emodemo.serving.evaluation import answer

    return {half: answer(loaded, [s for s in samples if s.split == half], "tess", transcribe=True) for half in halves}


# --- robustness: the RAVDESS test folds, perturbed --------------------------------------------------


def robustness_folder() -> Path:
    """Where the perturbed clips are written: the cache folder, under a digest of the code that
    perturbs them (:func:`emodemo.inputs.augment.robustness_conditions`, the functions it calls, the
    telephone band's settings, and :func:`robustness_set`), so a change to it writes them anew and a
    change to the training copies' chain does not. Import statements are left out of the digest: a
    module moving to another folder changes no clip."""
    from emodemo.core.files import cache_dir
    from emodemo.inputs import augment

    used = (
        augment.robustness_conditions,
        augment.babble,
        augment.mix_at_snr,
        augment.telephone_band,
        augment.fixed_draw,
    )
    code = "".join(_without_imports(inspect.getsource(f)) for f in (*used, robustness_set))
    code += repr(augment.SETTINGS["telephone"])
    return cache_dir() / "robustness" / hashlib.sha256(code.encode()).hexdigest()[:16]


def _without_imports(source: str) -> str:
    """``source`` without the lines of its import statements (at any depth)."""
    skip = {
        line
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for line in range(node.lineno, node.end_lineno + 1)
    }
    return "".join(line for number, line in enumerate(source.splitlines(keepends=True), 1) if number not in skip)


def robustness_set(samples: Sequence[Sample], fold, folder: Path) -> dict[str, list[Sample]]:
    """``{condition: samples}``: the clips of ``fold``'s test speakers, clean (the files as they
    are) and through each other condition of :func:`emodemo.inputs.augment.robustness_conditions`, written
    once as 24-bit FLAC under ``folder/<fold>/<condition>/`` (so features and transcripts are cached
    like any file's). Each speaker's babble sums :data:`BABBLE_VOICES` clips of the fold's other
    test speakers, taken in turn from each of them."""
    import soundfile

    from emodemo.core.files import write_atomically
    from emodemo.inputs.audio import SAMPLE_RATE, load_audio
    from emodemo.inputs.augment import robustness_conditions

    test = [s for s in samples if s.speaker in fold.test]
    conditions = {}
    for speaker in sorted(fold.test):
        groups = [[s for s in test if s.speaker == other] for other in sorted(set(fold.test) - {speaker})]
        for group in groups:
            random.Random(f"{fold.name}/{speaker}").shuffle(group)
        voices = [clip for turn in zip(*groups) for clip in turn][:BABBLE_VOICES]
        conditions[speaker] = robustness_conditions([load_audio(s.audio) for s in voices])
    out: dict[str, list[Sample]] = {}
    for sample in test:
        wave = None
        for condition, perturb in conditions[sample.speaker].items():
            if condition == "clean":
                out.setdefault(condition, []).append(sample)
                continue
            path = folder / fold.name / re.sub(r"[^a-z0-9+-]+", "_", condition.lower()) / f"{sample.id}.flac"
            if not path.exists():
                wave = load_audio(sample.audio) if wave is None else wave
                write_atomically(
                    path,
                    lambda tmp, w=perturb(wave): soundfile.write(tmp, w, SAMPLE_RATE, subtype="PCM_24", format="FLAC"),
                )
            out.setdefault(condition, []).append(replace(sample, audio=path))
    return out


@functools.cache
def refused_by_app(path: Path) -> bool:
    """Whether the app refuses the clip at ``path`` (:func:`emodemo.serving.pipeline.refusal`: silent,
    empty, too short): a level change of -20 dB takes some quiet takes below the noise floor."""
    from emodemo.inputs.audio import load_audio
    from emodemo.serving.pipeline import refusal

    return refusal(load_audio(path)) is not None


def perturbed_answers(loaded: LoadedModel, samples: list, dataset: str) -> tuple[np.ndarray, np.ndarray, str]:
    """``(probs [M, C], targets [M], what they are)``: the checkpoint's answers to ``samples`` (its
    validation speakers' clips) through every condition of the robustness set but the clean one
    (:func:`robustness_set`: level -20 / +20 dB, white noise, babble of
    the other speakers, telephone band), read as the app reads them; clips the app refuses left out."""
    from emodemo.data.splits import Fold
    from emodemo.serving.evaluation import predicted, readable

    speakers = tuple(sorted({s.speaker for s in samples}))
    fold = Fold("validation-" + "-".join(speakers), train=(), val=(), test=speakers)
    changed = robustness_set(samples, fold, robustness_folder())
    changed.pop("clean")
    probs, targets = [], []
    for part in changed.values():  # one condition at a time: its clips keep their clean takes' ids
        heard = [s for s in part if not refused_by_app(s.audio)]
        usable, *_ = readable(loaded, heard, dataset, transcribe=True)
        answered, true = predicted(loaded, usable)
        probs.append(answered)  # [n, C]
        targets.append(true)
    n = sum(len(t) for t in targets)
    return np.concatenate(probs), np.concatenate(targets), f"the same clips changed ({', '.join(changed)}; {n} clips)"


def robustness(
    name: str,
    loaded: LoadedModel,
    sets: dict[str, dict[str, list[Sample]]],
    checkpoints: Path = CHECKPOINTS,
    fold_folder: Path | None = None,
) -> dict[str, Any]:
    """Scores on the robustness sets (``{fold: {condition: samples}}``), answers pooled over the
    folds this model can be scored on, of the clips the app answers (``n_refused``: those it refuses,
    :func:`refused_by_app`, left out): those it has a fold model of (:func:`fold_checkpoints`, under
    ``fold_folder`` when given), or every fold when it trained on no RAVDESS speaker. ``{"folds",
    "conditions": {condition: report}}`` (and ``"fold_models"``: ``fold_folder``), or ``{"status":
    NO_FOLD_MODELS}`` (``NOT_RUN`` when no set was built)."""
    from emodemo.serving.evaluation import answer
    from emodemo.serving.pipeline import load_models

    if not sets:
        return {"status": NOT_RUN}
    card = loaded.meta.get("data_card") or {}
    if "ravdess" not in str(card.get("dataset", "")).lower():
        scorers = {fold: loaded for fold in sets}
    else:
        paths = fold_checkpoints(name, checkpoints, fold_folder)
        scorers = {fold: load_models([str(paths[fold])])[0] for fold in sets if fold in paths}
    if not scorers:
        return {"status": NO_FOLD_MODELS}
    pooled, refused = {}, {}
    for fold, model in sorted(scorers.items()):
        for condition, samples in sets[fold].items():
            answered = [s for s in samples if not refused_by_app(s.audio)]
            refused[condition] = refused.get(condition, 0) + len(samples) - len(answered)
            if not answered:
                continue
            answers, _ = answer(model, answered, "ravdess", transcribe=True)
            pooled[condition] = pooled[condition] + answers if condition in pooled else answers
    result = {
        "folds": sorted(scorers),
        "conditions": {c: {**a.report(), "n_refused": refused[c]} for c, a in pooled.items()},
    }
    if fold_folder:
        result["fold_models"] = str(fold_folder)
    return result


# --- everything, for bench/generalisation.py -------------------------------------------------------


def evaluate_model(
    name: str,
    tess: Sequence[Sample],
    sets: dict[str, dict[str, list[Sample]]],
    halves: Sequence[str] = TESS_HALVES,
    checkpoints: Path = CHECKPOINTS,
    fold_folder: Path | None = None,
) -> dict[str, Any]:
    """One served model on every benchmark: ``in_corpus`` rows, ``tess_choose`` and ``tess_report``
    (each a report with what was scored, or ``{"status": NOT_RUN}`` for a half not in ``halves``),
    and ``robustness`` (its fold models under ``fold_folder`` when given)."""
    from emodemo.serving.pipeline import load_models, reads

    loaded = load_models([name], checkpoints)[0]
    scored = tess_answers(loaded, tess, halves)
    return {
        "model": name,
        "reads": list(reads(loaded)),
        "in_corpus": in_corpus(name, loaded.meta, checkpoints),
        **{
            f"tess_{half}": {**scored[half][0].report(), **scored[half][1]} if half in scored else {"status": NOT_RUN}
            for half in TESS_HALVES
        },
        "robustness": robustness(name, loaded, sets, checkpoints, fold_folder),
    }


def robustness_folds(
    models: Sequence[str], checkpoints: Path = CHECKPOINTS, fold_folders: Mapping[str, Path] | None = None
) -> list[str]:
    """The RAVDESS folds some served model has a fold model of: the robustness set is built for them."""
    folders = fold_folders or {}
    return sorted({fold for name in models for fold in fold_checkpoints(name, checkpoints, folders.get(name))})


def run(
    tess_root: Path,
    ravdess_root: Path,
    models: Sequence[str] | None = None,
    with_robustness: bool = True,
    halves: Sequence[str] = TESS_HALVES,
    checkpoints: Path = CHECKPOINTS,
    fold_folders: Mapping[str, Path] | None = None,
) -> dict[str, Any]:
    """Every served model (or ``models``) on every benchmark (:func:`evaluate_model`), with the
    protocol; JSON-ready. Without ``with_robustness`` no robustness set is built, and TESS halves
    not in ``halves`` are not scored (each says "not run"). ``fold_folders``: ``{model: folder}`` of
    fold models kept outside the checkpoints (:func:`fold_checkpoints`)."""
    from emodemo import data
    from emodemo.data.splits import RAVDESS_KFOLD, SPLITS_DIR, load_splits

    models = list(models or served_models(checkpoints))
    folders = dict(fold_folders or {})
    wanted = robustness_folds(models, checkpoints, folders) if with_robustness else []
    ravdess = data.load("ravdess", ravdess_root) if wanted else []
    folder = robustness_folder()
    sets = {
        fold.name: robustness_set(ravdess, fold, folder)
        for fold in load_splits(SPLITS_DIR / RAVDESS_KFOLD)
        if fold.name in wanted
    }
    tess = data.load("tess", tess_root)
    scored = [evaluate_model(name, tess, sets, halves, checkpoints, folders.get(name)) for name in models]
    for model in scored if not with_robustness else []:
        model["robustness"] = {"status": NOT_RUN}
    return {"protocol": {**PROTOCOL, "transcripts": asr.described()}, "robustness_folds": wanted, "models": scored}


def stale_words_models(saved: dict, scored: Sequence[str], served: Sequence[str], transcripts: str | None) -> list[str]:
    """The served models that read words whose ``saved`` scores a run scoring ``scored`` alone would keep although
    they read other transcripts than ``transcripts`` (:func:`emodemo.speech.asr.described`: another arithmetic, e.g.
    int8 against float32); [] when the saved results read the same ones."""
    if saved["protocol"].get("transcripts") == transcripts:
        return []
    kept = [m for m in saved["models"] if m["model"] in served and m["model"] not in scored]
    return [m["model"] for m in kept if "text" in m["reads"]]


def merged(saved: dict, new: dict, served: Sequence[str], keep_robustness: bool = False) -> dict:
    """``saved`` with the models of ``new`` scored again (the rest kept, in ``served`` order; models
    no longer served dropped); the robustness folds are those of every kept model. ``keep_robustness``:
    a model of ``new`` whose robustness set was not run keeps its saved robustness row (for a change
    that leaves every robustness clip's input as it was; the caller checks that). Refused when a kept model
    reads words and the saved results read other transcripts (:func:`stale_words_models`)."""
    old = {m["model"]: m for m in saved["models"]}
    fresh = {m["model"]: m for m in new["models"]}
    stale = stale_words_models(saved, list(fresh), served, new["protocol"].get("transcripts"))
    if stale:
        raise ValueError(
            f"the saved results read {saved['protocol'].get('transcripts') or 'unnamed (float32) transcripts'}, this "
            f"run {new['protocol'].get('transcripts')}: score {', '.join(stale)} again too"
        )
    for name, model in fresh.items():
        if keep_robustness and model["robustness"].get("status") == NOT_RUN and name in old:
            fresh[name] = {**model, "robustness": old[name]["robustness"]}
    by_name = old | fresh
    models = [by_name[name] for name in served if name in by_name]
    folds = sorted({f for m in models for f in m["robustness"].get("folds", [])})
    return {"protocol": new["protocol"], "robustness_folds": folds, "models": models}


PROTOCOL = {
    "classes": "7 (neutral, happy, sad, angry, fearful, disgust, surprised; RAVDESS calm counted as neutral)",
    "metrics": "WA = accuracy, UA = mean per-class recall, WF1 / UF1 = support-weighted / macro F1; collapse = "
    "share of clips given the single most frequent answer",
    "ravdess_cv": "committed results: actors 01-20, the committed 5 folds by actor (14 train / 2 validation / 4 "
    "test actors), one run per fold, mean ± std over the test folds (a checkpoint with no committed "
    "row: its card's cross-validation, test folds pooled, no std)",
    "tess": "TESS, 2 female speakers (OAF 64, YAF 26), 7 emotions; choose half = the first 25 of the 50 words "
    "(sorted), 350 clips, for choosing models; report half = the last 25, 350 clips, scored once per "
    "final choice; never trained on; words models read Whisper tiny.en's transcript",
    "robustness": "each robustness fold's 4 test actors (240 clips), clean and level -20 / +20 dB, white noise "
    "10 dB SNR, babble 5 dB SNR (6 clips of the fold's other test actors), telephone band "
    "(emodemo.inputs.augment.robustness_conditions); scored by that fold's model, words from Whisper's "
    "transcript of the perturbed clip; answers pooled over the folds; clips the app refuses (silent, as some "
    "quiet takes become at -20 dB) are left out for every model, and counted (n_refused)",
}


# --- the table ---------------------------------------------------------------------------------------

CONDITION_COLUMNS = ("level -20 dB", "level +20 dB", "white noise 10 dB", "babble 5 dB", "telephone band")
_SHORT = {
    "ravdess_voice": "voice",
    "ravdess_real": "real pairs",
    "ravdess_constructed": "constructed pairs",
    "ravdess_mixed_real": "mixed, real half",
    "ravdess_mixed_constructed": "mixed, constructed half",
    "ravdess_no_words": "no words",
    "goemotions": "GoEmotions test",
    "meld": "MELD dev",
}


def _in_corpus_cell(rows: list[dict]) -> str:
    """Each committed row's UA: "real pairs 37.1 ± 1.8 · constructed pairs 60.4 ± 3.9 †" (†: a run
    trained on another pairing than the served checkpoint)."""
    from emodemo.reports.comparison import cell

    return " · ".join(
        f"{_SHORT.get(r['benchmark'], r['benchmark'])} {cell(r['UA'])}" + ("" if r["served_protocol"] else " †")
        for r in rows
    )


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def _tess_cells(report: dict) -> list[str]:
    """UA, and the collapse with the answer given most (or why there are none)."""
    if "status" in report:
        return [report["status"], ""]
    return [_percent(report["UA"]), f"{_percent(report['collapse'])} ({report['most_frequent_answer']})"]


def _robustness_cells(robust: dict) -> list[str]:
    """Clean UA (collapse), clean UA per gender, each condition's UA (collapse); or why there are none."""
    if "conditions" not in robust:
        return [robust["status"]] + [""] * (len(CONDITION_COLUMNS) + 1)
    clean = robust["conditions"]["clean"]
    genders = " / ".join(_percent(clean["by_gender"][g]["UA"]) for g in ("male", "female"))
    return [f"{_percent(clean['UA'])} ({_percent(clean['collapse'])})", genders] + [
        f"{_percent(robust['conditions'][c]['UA'])} ({_percent(robust['conditions'][c]['collapse'])})"
        for c in CONDITION_COLUMNS
    ]


def markdown_table(result: dict, report_half: bool = False) -> str:
    """The saved result (:func:`run`) as one Markdown table, a row per served model: the in-corpus
    RAVDESS CV beside TESS (choose half; the report half too with ``report_half``) and the
    robustness set, UA in percent with the collapse; then the protocol."""
    tess = ["TESS choose: UA", "TESS choose: collapse (answer)"]
    if report_half:
        tess += ["TESS report: UA", "TESS report: collapse (answer)"]
    folds = ", ".join(result["robustness_folds"]) or "none"
    head = [
        "model",
        "reads",
        "RAVDESS CV: UA",
        *tess,
        f"RAVDESS test folds ({folds}), clean: UA (collapse)",
        "clean: UA male / female",
        *(f"{c}: UA (collapse)" for c in CONDITION_COLUMNS),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in result["models"]:
        cells = [
            f"`{m['model']}`",
            " + ".join(m["reads"]),
            _in_corpus_cell(m["in_corpus"]),
            *_tess_cells(m["tess_choose"]),
        ]
        if report_half:
            cells += _tess_cells(m["tess_report"])
        lines.append("| " + " | ".join(cells + _robustness_cells(m["robustness"])) + " |")
    p = result["protocol"]
    lines += [
        "",
        f"Classes: {p['classes']}. Metrics: {p['metrics']}. RAVDESS CV: {p['ravdess_cv']}; † a run "
        f"trained on another pairing than the served checkpoint. TESS: {p['tess']}"
        + ("" if report_half else " (the report half is saved apart and shown with `--report`)")
        + f'. Robustness: {p["robustness"]}; "{NO_FOLD_MODELS}": the model has no model of a fold whose '
        "test actors it never trained on." + (f" Transcripts: {p['transcripts']}." if "transcripts" in p else ""),
    ]
    return "\n".join(lines)


COLLAPSE_LINE = 0.35  # above it, a model giving one answer to a new corpus's clips is not reading emotion there
BEHIND_LINE = 0.05  # issue 20's bar: a model hearing the voice within 5 points of UA of the best voice model
SERVED_RAVDESS = ("ravdess_voice", "ravdess_real", "ravdess_mixed_real")  # what the app gives: a clip, its own words


def new_voice_warnings(result: dict) -> dict[str, str]:
    """Per model that hears the voice and fails on voices it never met, in a saved :func:`run`
    ``result``, a short line for the user (two joined by "; " when both hold):

    - on the TESS choose half (never trained on) it gave one answer to more than
      :data:`COLLAPSE_LINE` of the clips: ``"on new voices: 'disgust' for 51% of clips"``;
    - on unseen RAVDESS actors, given what the app gives it (the clip, and its own words), its
      cross-validated UA is more than :data:`BEHIND_LINE` under the best voice-only model's:
      ``"on unseen RAVDESS actors with their own words: 45% UA (the best voice model: 69%)"``.

    Models that read words alone are left out: they cannot be judged on the voice (TESS's words
    carry no emotion, and RAVDESS's two sentences are neutral whatever the actor acts)."""
    rows = [row for row in result["models"] if "audio" in row["reads"]]
    served = {row["model"]: _served_ravdess_ua(row) for row in rows}
    voice = [served[row["model"]] for row in rows if row["reads"] == ["audio"] and served[row["model"]] is not None]
    best = max(voice, default=None)
    warnings = {}
    for row in rows:
        lines = []
        tess = row.get("tess_choose") or {}
        if tess.get("collapse", 0.0) > COLLAPSE_LINE:
            lines.append(f"on new voices: '{tess['most_frequent_answer']}' for {tess['collapse']:.0%} of clips")
        ua = served[row["model"]]
        if best is not None and ua is not None and ua < best - BEHIND_LINE:
            words = " with their own words" if "text" in row["reads"] else ""
            lines.append(f"on unseen RAVDESS actors{words}: {ua:.0%} UA (the best voice model: {best:.0%})")
        if lines:
            warnings[row["model"]] = "; ".join(lines)
    return warnings


OWN_WORDS, UNSAID_SENTENCE = "own words", "a neutral line no actor said"  # bench/guessed_words.py part 5's readings
GUESS_AS_NONE = "the guess read as no words (served)"  # ... speech in another language: no words read
_READING_LINES = {  # part 5's reading -> the user's situation it stands for
    UNSAID_SENTENCE: "reading a sentence of yours",
    GUESS_AS_NONE: "with words Whisper only guessed (another language)",
}


def unsaid_sentence_warnings(result: dict) -> dict[str, str]:
    """Per voice + words model whose WA on unseen RAVDESS actors falls by more than :data:`BEHIND_LINE`
    when its words are a neutral sentence none of the actors said (as a user's own sentence reaches it), or none
    because Whisper only guessed them (speech in another language), instead of its own, in a saved
    ``bench/guessed_words.py`` result (part 5), a short line for the user (two joined by "; "):
    ``"reading a sentence of yours: 33% WA on unseen actors (46% with RAVDESS's own sentences)"``.
    Such a model learnt RAVDESS's two sentences, not words without emotion, as its sign to trust the voice, or
    never met a clip without words."""
    warnings: dict[str, list[str]] = {}
    for row in result.get("models that read the voice and words", []):
        own = row.get(OWN_WORDS)
        for reading, situation in _READING_LINES.items():
            other = row.get(reading)
            if own and other and other["WA"] < own["WA"] - BEHIND_LINE:
                warnings.setdefault(row["model"], []).append(
                    f"{situation}: {other['WA']:.0%} WA on unseen actors ({own['WA']:.0%} with RAVDESS's own sentences)"
                )
    return {model: "; ".join(lines) for model, lines in warnings.items()}


def _served_ravdess_ua(row: dict) -> float | None:
    """A model's cross-validated UA on RAVDESS as the app serves it (voice alone, or the clip's own
    words), from a :func:`run` row's ``in_corpus``; None when it has none."""
    return next(
        (
            r["UA"]["mean"]
            for r in row.get("in_corpus") or []
            if r["benchmark"] in SERVED_RAVDESS and r.get("served_protocol", True)
        ),
        None,
    )
