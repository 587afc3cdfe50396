"""Score a trained checkpoint on a labelled dataset folder (``python -m emodemo evaluate``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from emodemo.core.labels import to_canonical
from emodemo.core.metrics import classification_report
from emodemo.protocols.pairing import learnt_gold_words
from emodemo.serving.pipeline import LoadedModel, load_models, reads

log = logging.getLogger(__name__)

# Loader options of the benchmarks' protocols (:mod:`emodemo.protocols.text_benchmarks`): GoEmotions is
# scored on its Ekman labels (the canonical 7), single-label rows.
LOADER_OPTIONS: dict[str, dict[str, Any]] = {"goemotions": {"labels": "ekman", "single_label": True}}


def seen_speakers(meta: dict) -> set[str]:
    """Speakers a checkpoint trained on or chose its epoch with: scores on them are not test scores."""
    card = meta.get("data_card", {})
    return set(card.get("train_speakers", [])) | set(card.get("validation_speakers", []))


def select_split(samples: list, split: str, meta: dict) -> list:
    """``all``; ``unseen``: speakers the checkpoint neither trained nor validated on; or a split name."""
    if split == "all":
        return samples
    if split == "unseen":
        unseen = [s for s in samples if s.speaker not in seen_speakers(meta)]
        if not unseen:
            raise ValueError(
                f"every speaker of these {len(samples)} samples was in the checkpoint's training "
                "or validation data: there is nothing unseen to test on (use --split all to "
                "score them anyway, knowing the number is optimistic)"
            )
        return unseen
    chosen = [s for s in samples if s.split == split]
    if not chosen:
        found = sorted({str(s.split) for s in samples})
        raise ValueError(f"no samples in split {split!r}; this dataset has splits {found}, or use 'all' / 'unseen'")
    return chosen


def evaluate_checkpoint(model: str | Path, dataset: str, root: str | Path, split: str = "all") -> dict[str, Any]:
    """Metrics of checkpoint ``model`` (a served name or a checkpoint folder) on a dataset folder:
    :func:`score` of the ``split``'s samples, with the dataset, split and the speakers the
    checkpoint trained or validated on (``seen_speakers``: their scores are not test scores)."""
    from emodemo import data

    loaded = load_models([str(model)])[0]
    samples = data.load(dataset, root, **LOADER_OPTIONS.get(dataset, {}))
    report = score(loaded, select_split(samples, split, loaded.meta), dataset)
    report.update(dataset=dataset, root=str(root), split=split)
    return report


def needed_fields(loaded: LoadedModel) -> tuple[str, ...]:
    """The ``Sample`` fields a checkpoint reads: its recipe's ``MODALITIES``, narrowed by what the
    checkpoint itself reads (a words-only variant of a voice + words recipe needs no audio)."""
    return tuple(m for m in loaded.recipe.MODALITIES if m in reads(loaded)) or tuple(loaded.recipe.MODALITIES)


@dataclass
class Answers:
    """A model's answers to labelled samples, in :func:`scoring_labels`' classes (``space``): the
    true and answered class names and each sample's ``meta["gender"]`` (None when not known), all
    ``[n]``. Answers of the same model's folds pool with ``+``."""

    space: list[str]
    true: list[str]
    answers: list[str]
    genders: list[str | None]

    def __add__(self, other: Answers) -> Answers:
        if other.space != self.space:
            raise ValueError(f"cannot pool answers scored on {self.space} with answers scored on {other.space}")
        return Answers(self.space, self.true + other.true, self.answers + other.answers, self.genders + other.genders)

    def report(self) -> dict[str, Any]:
        """:func:`scores_with_collapse` of every answer, and ``by_gender`` (the same per gender)
        when the samples carry one."""
        report = scores_with_collapse(self.true, self.answers, self.space)
        genders = sorted({g for g in self.genders if g})
        if genders:
            report["by_gender"] = {
                g: scores_with_collapse(
                    [t for t, h in zip(self.true, self.genders) if h == g],
                    [a for a, h in zip(self.answers, self.genders) if h == g],
                    self.space,
                )
                for g in genders
            }
        return report


def score(loaded: LoadedModel, samples: list, dataset: str, transcribe: bool | None = None) -> dict[str, Any]:
    """Score a loaded checkpoint on ``samples`` (:func:`answer`): WA / UA / WF1 / UF1, per class and
    the confusion matrix in :func:`scoring_labels` (7 classes, calm counted as neutral, for every
    model whose classes map there), the ``collapse`` (share of samples given the single most
    frequent answer, which is ``most_frequent_answer``), ``by_gender`` (the same scores per
    ``meta["gender"]``, when the samples carry it), and what was scored."""
    answers, about = answer(loaded, samples, dataset, transcribe)
    return {**answers.report(), **about}


def answer(loaded: LoadedModel, samples: list, dataset: str, transcribe: bool | None = None) -> tuple[Answers, dict]:
    """The checkpoint's :class:`Answers` to the samples it can read and has a class for, and what
    was scored: model, n_samples, n_skipped_labels, n_relabelled, classes, text, speakers,
    seen_speakers.

    Words: with ``transcribe`` the clips' Whisper words replace their text (what the app reads);
    ``None`` does so unless the checkpoint trained on a corpus's gold transcriptions (IEMOCAP,
    CMU-MOSEI: their own text is then its protocol's). Samples without audio (a text corpus) keep
    their text. Fields the checkpoint does not read are dropped first (a words-only model loads no audio).
    """
    usable, skipped, relabelled, transcribed = readable(loaded, samples, dataset, transcribe)
    fields = needed_fields(loaded)
    probs, targets = predicted(loaded, usable)
    space = scoring_labels(loaded.labels)
    answers = Answers(
        space,
        [scored_as(loaded.labels[t], space) for t in targets],
        [scored_as(loaded.labels[p], space) for p in probs.argmax(axis=1)],
        [s.meta.get("gender") for s in usable],
    )
    speakers = sorted({s.speaker for s in usable if s.speaker})
    about = dict(
        model=loaded.name,
        n_samples=len(usable),
        n_skipped_labels=skipped,
        n_relabelled=relabelled,
        classes=classes_note(loaded.labels, space),
        text=("Whisper transcripts" if transcribed else "the dataset's") if "text" in fields else None,
        speakers=speakers,
        seen_speakers=sorted(seen_speakers(loaded.meta) & set(speakers)),
    )
    return answers, about


def predicted(loaded: LoadedModel, usable: list, gate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The checkpoint's probabilities ``[N, C]`` (softmax at temperature 1) and the true class ids
    ``[N]`` of ``usable``, samples as :func:`readable` gives them, their words read through the words
    gate as the app reads them (:mod:`emodemo.serving.words_gate`; ``gate=False``: as given)."""
    from emodemo.training.engine import predict

    usable = through_words_gate(loaded, usable) if gate else usable
    return predict(loaded.model, loaded.recipe.make_dataset(usable, loaded.labels, loaded.meta.get("input_spec")))


def through_words_gate(loaded: LoadedModel, samples: list) -> list:
    """``samples`` as the checkpoint reads them in the app: unchanged unless it reads words through the
    words gate (:mod:`emodemo.serving.words_gate`), else each sample whose words the words expert
    (calibrated, as the app asks it) hears no emotion in has them taken away."""
    from emodemo.serving import words_gate
    from emodemo.serving.pipeline import words_expert

    if not words_gate.gated(loaded.meta):
        return samples
    spoken = words_gate.with_words(samples)
    if not spoken:  # nothing to ask the expert about: it is not loaded
        return samples
    expert = words_expert()
    if expert is None:
        log.warning("the words expert %s is not there: %s reads every word ungated", words_gate.EXPERT, loaded.name)
        return samples
    lines = [replace(samples[k], audio=None, label=expert.labels[0]) for k in spoken]  # the label is not scored
    probs, _ = calibrated(expert, lines, gate=False)  # [n, C]
    rankings = {k: [(expert.labels[i], float(row[i])) for i in np.argsort(-row)] for k, row in zip(spoken, probs)}
    return words_gate.read_by(samples, rankings)


def calibrated(loaded: LoadedModel, usable: list, gate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """:func:`predicted` at the checkpoint's temperature, the probabilities the app shows ``[N, C]``."""
    from emodemo.serving.pipeline import temperature
    from emodemo.training.calibration import softmax

    probs, targets = predicted(loaded, usable, gate)
    return softmax(np.log(np.clip(probs, 1e-12, None)), temperature(loaded.meta)), targets  # softmax(log p / T)


def readable(
    loaded: LoadedModel, samples: list, dataset: str, transcribe: bool | None = None
) -> tuple[list, int, int, bool]:
    """The samples as the checkpoint reads them (see :func:`answer`): ``(usable samples, how many
    were skipped for a label it has no class for, how many were relabelled, whether the words are
    Whisper's)``."""
    fields = needed_fields(loaded)
    if transcribe is None:  # as the app: Whisper's words of a clip, unless the model learnt a corpus's gold ones
        transcribe = not learnt_gold_words((loaded.meta.get("data_card") or {}).get("pairing"))
    transcribed = transcribe and "text" in fields and any(s.audio is not None for s in samples)
    if transcribed:  # the words as the model trained on them, or as the app hears a user's clip: Whisper's
        samples = with_transcripts(samples)
    samples = [replace(s, **{f: None for f in ("audio", "text") if f not in fields}) for s in samples]
    missing = [m for m in fields if not any(getattr(s, m) is not None for s in samples)]
    if missing:
        raise ValueError(
            f"{loaded.name} needs {' and '.join(missing)}, and these {len(samples)} {dataset} samples have none"
        )
    samples = [s for s in samples if all(getattr(s, m) is not None for m in fields)]
    known = set(loaded.labels)
    samples, relabelled = in_label_space(samples, known)
    usable = [s for s in samples if s.label in known]
    if not usable:
        raise ValueError(f"none of the {len(samples)} samples has a label this model predicts ({sorted(known)})")
    return usable, len(samples) - len(usable), relabelled, transcribed


def calibrate_checkpoint(
    model: str | Path,
    dataset: str,
    root: str | Path,
    perturbed: Callable[..., tuple] | None = None,
    clean_half: bool = False,
) -> dict[str, Any]:
    """Fit a checkpoint's temperature and "unsure" line (:func:`emodemo.training.calibration.calibrated_on`)
    on its validation speakers' clips of ``dataset``, read as the app reads them (each clip with its
    own Whisper words), or, for a words model trained on a text benchmark, on that benchmark's
    validation part (MELD: the held-out train dialogues); then write them into the checkpoint
    (config and card). For checkpoints saved before their recipe calibrated the final model;
    returns the calibration. ``perturbed(loaded, samples, dataset)`` (clips): the checkpoint's answers
    to those clips changed (:func:`emodemo.serving.cross_corpus.perturbed_answers`), which the
    temperature is fitted on too; ``clean_half``: the clean clips weigh half the fit
    (:func:`emodemo.training.calibration.calibrated_on`)."""
    from emodemo import data
    from emodemo.protocols.text_benchmarks import TEXT_BENCHMARKS, text_benchmark_parts
    from emodemo.serving.pipeline import CHECKPOINTS
    from emodemo.training.calibration import calibrated_on
    from emodemo.training.checkpoint import set_calibration

    if perturbed and (dataset in TEXT_BENCHMARKS or dataset == "fer2013"):
        raise ValueError(f"perturbed copies are of audio clips; {dataset} has none")
    folder = Path(model) if Path(model).is_dir() else CHECKPOINTS / str(model)
    loaded = load_models([str(folder)])[0]
    card = loaded.meta.get("data_card", {})
    if dataset in TEXT_BENCHMARKS and card.get("dataset") == dataset:  # a words model: its validation part
        samples, speakers = text_benchmark_parts(dataset, root)[1], [f"the validation part of {dataset}"]
    elif dataset == "fer2013" and card.get("dataset") == dataset:  # faces without speakers: its validation images
        from emodemo.recipes.fer_cnn import split

        samples, speakers = (
            split(data.load(dataset, root))[1],
            ["FER-2013's validation images (the epoch was chosen on them)"],
        )
    else:
        speakers = card.get("validation_speakers")
        if not speakers:
            raise ValueError(f"{model} names no validation speakers in its card: nothing held out to calibrate on")
        samples = [s for s in data.load(dataset, root, **LOADER_OPTIONS.get(dataset, {})) if s.speaker in set(speakers)]
        if not samples:
            raise ValueError(f"{root} holds none of {model}'s validation speakers ({', '.join(speakers)})")
    usable, *_ = readable(loaded, samples, dataset, transcribe=dataset not in TEXT_BENCHMARKS and dataset != "fer2013")
    probs, targets = predicted(loaded, usable)
    described = (
        "the lines"
        if dataset in TEXT_BENCHMARKS
        else "the face images"
        if dataset == "fer2013"
        else "real (each clip with its own words)"
        if "text" in needed_fields(loaded)
        else "the clips"
    )
    calibration = dict(
        calibrated_on(probs, targets, speakers, perturbed(loaded, samples, dataset) if perturbed else None, clean_half),
        pairs=(loaded.meta.get("calibration") or {}).get("pairs") or described,  # an earlier, closer description
    )
    set_calibration(folder, calibration)
    return calibration


def scoring_labels(labels: list[str]) -> list[str]:
    """The classes a model is scored on: its classes mapped to the canonical 7 (RAVDESS calm counted
    as neutral), in its own order, when every one of them maps there; else its own classes."""
    canonical = [to_canonical(label) for label in labels]
    return list(dict.fromkeys(canonical)) if all(canonical) else list(labels)


def scored_as(label: str, space: list[str]) -> str:
    """``label`` as :func:`scoring_labels`' ``space`` names it (calm -> neutral in the canonical 7)."""
    return label if label in space else to_canonical(label)


def classes_note(labels: list[str], space: list[str]) -> str:
    """How the scores count classes, for the report: "7 (calm counted as neutral)" and the like."""
    merged = [label for label in labels if label not in space]
    return f"{len(space)}" + (
        f" ({', '.join(merged)} counted as {', '.join(scored_as(m, space) for m in merged)})" if merged else ""
    )


def scores_with_collapse(true: list[str], answers: list[str], space: list[str]) -> dict[str, Any]:
    """:func:`~emodemo.core.metrics.classification_report` of label names, plus ``collapse``: the share
    of items given the single most frequent answer, and that answer (``most_frequent_answer``)."""
    report = classification_report(true, answers, space)
    predicted = np.asarray(report["confusion_matrix"]).sum(axis=0)  # [C] how often each class is answered
    report.update(
        collapse=float(predicted.max() / predicted.sum()), most_frequent_answer=space[int(predicted.argmax())]
    )
    return report


def with_transcripts(samples: list) -> list:
    """Samples with audio get Whisper's words and timings (cached) in place of their text: real pairs,
    with no words where Whisper was guessing them, as the app reads them
    (:meth:`emodemo.speech.asr.Transcript.as_read`)."""
    from emodemo.protocols.pairing import real_pairs
    from emodemo.speech.transcripts import words_read

    heard = [s for s in samples if s.audio is not None]
    audio_of = {}
    for s in heard:  # transcripts are keyed by id: one id, one clip
        if audio_of.setdefault(s.id, s.audio) != s.audio:
            raise ValueError(f"two clips share the id {s.id!r} ({audio_of[s.id]}, {s.audio}): give them their own ids")
    paired = dict(zip((s.id for s in heard), real_pairs(heard, words_read(heard))))
    return [paired.get(s.id, s) for s in samples]


def in_label_space(samples: list, known: set[str]) -> tuple[list, int]:
    """Labels outside a model's classes moved to their canonical class when the model has it
    (RAVDESS "calm" -> "neutral" for a 7-class model); returns the samples and how many moved."""
    moved = [
        replace(s, label=to_canonical(s.label)) if s.label not in known and to_canonical(s.label) in known else s
        for s in samples
    ]
    return moved, sum(a is not b for a, b in zip(samples, moved))


def format_report(report: dict) -> str:
    """The report as a few lines: what was scored, WA / UA / WF1 / UF1, the collapse and each gender's UA."""
    lines = [
        f"{report['model']} on {report['dataset']} ({report['split']}, {report['n_samples']} samples, "
        f"{len(report['speakers'])} speakers, {report['classes']} classes)"
    ]
    if report["seen_speakers"]:
        lines.append(
            f"WARNING: {len(report['seen_speakers'])} of these speakers were in the training or "
            "validation data; "
            "use --split unseen for an honest number"
        )
    lines += [f"  {k}: {report[k]:.3f}" for k in ("WA", "UA", "WF1", "UF1")]
    lines.append(f"  collapse: {report['collapse']:.3f} of the samples answered {report['most_frequent_answer']!r}")
    lines += [
        f"  {gender}: UA {r['UA']:.3f}, collapse {r['collapse']:.3f} ({r['n']} samples)"
        for gender, r in report.get("by_gender", {}).items()
    ]
    return "\n".join(lines)
