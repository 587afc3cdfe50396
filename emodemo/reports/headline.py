"""A checkpoint's headline evaluation, read from the metrics its ``config.json`` stores: what the app
shows beside each model, and what ranks the models that read one modality alone as its expert."""

from __future__ import annotations

from typing import Any


def headline_report(meta: dict) -> tuple[str, dict[str, Any]]:
    """The evaluation a checkpoint is best judged by, from its own metrics, with a title that says
    what it is: the cross-validation summary (test folds pooled into one confusion matrix), a
    fusion model's fused row, a held-out test split, or, failing those, the final model's
    validation speakers (which chose its epoch: not a test score)."""
    metrics = meta.get("metrics") or {}
    card = meta.get("data_card") or {}
    about = ", ".join(str(card[key]) for key in ("dataset", "pairing") if card.get(key))
    cv = metrics.get("cross_validation") or {}
    if isinstance(cv.get("fusion"), dict):  # several branches scored: the fused one answers
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


SPOKEN_WORDS = "meld"  # the corpus of spoken dialogue that words models are scored on


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
    if isinstance(cv.get("fusion"), dict) and isinstance(cv.get("audio"), dict):  # fused with the face
        audio = cv["audio"]["WA"]
        text += (
            f"\n\nA voice clip alone (no face action units, as in this app) gets the audio branch: "
            f"WA {audio['mean']:.3f} ± {audio['std']:.3f}."
        )
    return f"{text}\n\nWeights' licence: {licence}"
