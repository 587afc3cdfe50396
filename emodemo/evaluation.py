"""Score a trained checkpoint on a labelled dataset folder (``python -m emodemo evaluate``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from emodemo.pairing import REAL_PAIRING_NAME
from emodemo.pipeline import load_models


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
            raise ValueError(f"every speaker of these {len(samples)} samples was in the checkpoint's training "
                             "or validation data: there is nothing unseen to test on (use --split all to "
                             "score them anyway, knowing the number is optimistic)")
        return unseen
    chosen = [s for s in samples if s.split == split]
    if not chosen:
        found = sorted({str(s.split) for s in samples})
        raise ValueError(f"no samples in split {split!r}; this dataset has splits {found}, or use 'all' / 'unseen'")
    return chosen


def evaluate_checkpoint(model: str, dataset: str, root: str | Path, split: str = "all") -> dict[str, Any]:
    """Metrics (WA, UA, WF1, UF1, per class, confusion matrix) of checkpoint ``model`` on a dataset."""
    from emodemo import data
    from emodemo.train import evaluate

    loaded = load_models([model])[0]
    samples = select_split(data.load(dataset, root), split, loaded.meta)
    transcribed = "text" in loaded.recipe.MODALITIES and any(s.audio is not None for s in samples) and (
        loaded.meta.get("data_card", {}).get("pairing") == REAL_PAIRING_NAME or all(s.text is None for s in samples))
    if transcribed:  # the words as the model trained on them, or as the app hears a user's clip: Whisper's
        samples = with_transcripts(samples)
    missing = [m for m in loaded.recipe.MODALITIES if not any(getattr(s, m) is not None for s in samples)]
    if missing:
        raise ValueError(f"{loaded.name} needs {' and '.join(missing)}, and the {dataset} samples at {root} "
                         "have none")
    samples = [s for s in samples if all(getattr(s, m) is not None for m in loaded.recipe.MODALITIES)]
    known = set(loaded.labels)
    samples, relabelled = in_label_space(samples, known)
    usable = [s for s in samples if s.label in known]
    if not usable:
        raise ValueError(f"none of the {len(samples)} samples has a label this model predicts ({sorted(known)})")
    inputs = loaded.recipe.make_dataset(usable, loaded.labels, loaded.meta.get("input_spec"))
    report = evaluate(loaded.model, inputs, loaded.labels)
    report.update(model=loaded.name, dataset=dataset, root=str(root), split=split, n_samples=len(usable),
                  n_skipped_labels=len(samples) - len(usable), n_relabelled=relabelled,
                  text="Whisper transcripts" if transcribed else "the dataset's",
                  speakers=sorted({s.speaker for s in usable if s.speaker}))
    report["seen_speakers"] = sorted(seen_speakers(loaded.meta) & set(report["speakers"]))
    return report


def with_transcripts(samples: list) -> list:
    """Samples with audio get Whisper's words and timings (cached) in place of their text: real pairs."""
    from emodemo.pairing import real_pairs
    from emodemo.transcripts import transcribe_samples

    heard = [s for s in samples if s.audio is not None]
    paired = dict(zip((s.id for s in heard), real_pairs(heard, transcribe_samples(heard))))
    return [paired.get(s.id, s) for s in samples]


def in_label_space(samples: list, known: set[str]) -> tuple[list, int]:
    """Labels outside a model's classes moved to their canonical class when the model has it
    (RAVDESS "calm" -> "neutral" for a 7-class model); returns the samples and how many moved."""
    from dataclasses import replace

    from emodemo.labels import to_canonical

    moved = [replace(s, label=to_canonical(s.label)) if s.label not in known and to_canonical(s.label) in known
             else s for s in samples]
    return moved, sum(a is not b for a, b in zip(samples, moved))


def format_report(report: dict) -> str:
    lines = [f"{report['model']} on {report['dataset']} ({report['split']}, {report['n_samples']} clips, "
             f"{len(report['speakers'])} speakers)"]
    if report["seen_speakers"]:
        lines.append(f"WARNING: {len(report['seen_speakers'])} of these speakers were in the training or "
                     "validation data; "
                     "use --split unseen for an honest number")
    lines += [f"  {k}: {report[k]:.3f}" for k in ("WA", "UA", "WF1", "UF1")]
    return "\n".join(lines)


def headline_report(meta: dict) -> tuple[str, dict[str, Any]]:
    """The evaluation a checkpoint is best judged by, from its own metrics, with a title that says
    what it is: the cross-validation summary (test folds pooled into one confusion matrix), a
    fusion model's fused row, a held-out test split, or, failing those, the final model's
    validation speakers (which chose its epoch: not a test score)."""
    metrics = meta.get("metrics") or {}
    card = meta.get("data_card") or {}
    about = ", ".join(str(card[key]) for key in ("dataset", "pairing") if card.get(key))
    cv = metrics.get("cross_validation") or {}
    if isinstance(cv.get("fusion"), dict):   # several branches scored: the fused one answers
        cv = cv["fusion"]
    if "confusion_matrix" in cv:
        folds = cv.get("n_reports", "?")
        return f"{folds}-fold cross-validation, test folds pooled ({about})", cv
    if "confusion_matrix" in (metrics.get("test") or {}):
        return f"held-out test split ({about})", metrics["test"]
    final = metrics.get("final_validation_not_a_test_score") or {}
    if "confusion_matrix" in final:
        return f"final model's validation speakers, not a test score ({about})", final
    raise ValueError(f"checkpoint {meta.get('model_name')} stores no confusion matrix to show")


SPOKEN_WORDS = "meld"   # the corpus of spoken dialogue that words models are scored on


def expert_score(meta: dict, reads: tuple[str, ...]) -> tuple[int, float]:
    """How a model reading one modality alone ranks as the app's expert for it (higher is better).

    Voice and face: the headline WA (:func:`headline_report`). Words: the app reads Whisper's
    transcript of speech, so a words model is ranked by its weighted F1 on spoken dialogue (its
    headline test on MELD), and one never scored on spoken words (e.g. trained and tested on Reddit
    comments) ranks below any that was, whatever its accuracy there. -> ``(rank group, score)``."""
    report = headline_report(meta)[1]
    spoken = reads == ("text",) and (meta.get("data_card") or {}).get("dataset") == SPOKEN_WORDS
    value = report["WF1" if spoken else "WA"]
    return int(spoken), value["mean"] if isinstance(value, dict) else float(value)


def headline_markdown(name: str, meta: dict) -> str:
    """A model's headline evaluation as a few Markdown lines: what it was scored on and its WA, UA,
    WF1 and UF1 (mean ± std over folds when cross-validated), and the licence of its weights."""
    title, report = headline_report(meta)
    scores = []
    for metric in ("WA", "UA", "WF1", "UF1"):
        value = report.get(metric)
        if isinstance(value, dict):
            scores.append(f"{metric} {value['mean']:.3f} ± {value['std']:.3f}")
        elif isinstance(value, (int, float)):
            scores.append(f"{metric} {value:.3f}")
    licence = (meta.get("data_card") or {}).get("licence", "not stated")
    text = f"**{name}**: {title}\n\n{' · '.join(scores)}"
    cv = (meta.get("metrics") or {}).get("cross_validation") or {}
    if isinstance(cv.get("fusion"), dict) and isinstance(cv.get("audio"), dict):   # fused with the face
        audio = cv["audio"]["WA"]
        text += (f"\n\nA voice clip alone (no face action units, as in this app) gets the audio branch: "
                 f"WA {audio['mean']:.3f} ± {audio['std']:.3f}.")
    return f"{text}\n\nWeights' licence: {licence}"
