"""The app's fused answer scored on a labelled dataset, made as the app makes it
(``python -m emodemo evaluate fused --dataset tess --root PATH --split choose``).

The served voice and words experts (``Pipeline.experts``) answer each clip at their calibrated
temperatures, the words expert reading Whisper's transcript of the clip as the app reads it (no words
where Whisper was guessing them); the served rule
(``checkpoints/fusion/stacker.json``, or the equal-weight mean when there is none) fuses them, with
the words left out where Whisper heard none or was guessing them
(:func:`emodemo.serving.pipeline.words_left_out`). Scored on the canonical 7 classes with the
collapse and per gender (:class:`emodemo.serving.evaluation.Answers`), with how many clips' words
were left out and the share of clips the app answers rather than calling unsure (the fusion's line;
the voice expert's own where the words take no part) and how many of those are right.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from emodemo.core.labels import CANONICAL7, to_canonical
from emodemo.serving.evaluation import LOADER_OPTIONS, Answers, calibrated, readable, seen_speakers, select_split
from emodemo.serving.fusion import canonical_probabilities, fuse
from emodemo.serving.pipeline import LoadedModel, unsure_line, words_left_out


def fused_answers(voice: LoadedModel, words: LoadedModel, stacker, samples: list, dataset: str) -> dict[str, Any]:
    """For labelled clips, as the app answers them: ``samples`` (those the app does not refuse and
    both experts have a class for, with their audio), ``alone`` (per clip the canonical probabilities
    of each modality that takes part), ``fused`` (per clip the canonical probabilities ``stacker``
    gives, or the equal-weight mean when it is None), ``left_out`` (per clip why the words take no
    part, "" when they do), ``answered``
    (per clip whether the app's answer is over its "unsure" line: the fusion's, or the voice expert's
    own where the words take no part; None where no line applies), ``refused`` (how many clips the
    app refuses: empty, too short, silent) and ``skipped_labels`` / ``relabelled`` (clips with no
    class among the experts' / counted in their canonical class, e.g. calm as neutral)."""
    from emodemo.serving.cross_corpus import refused_by_app
    from emodemo.speech.transcripts import transcribe_samples

    kept = [s for s in samples if s.audio is None or not refused_by_app(s.audio)]
    heard, skipped, relabelled, _ = readable(words, kept, dataset, transcribe=True)  # with Whisper's words
    by_id = {s.id: s for s in heard}
    voiced, *_ = readable(voice, [s for s in kept if s.id in by_id], dataset)
    heard = [by_id[s.id] for s in voiced]
    transcripts = transcribe_samples(voiced, progress=False)  # cached: what Whisper heard, with confidences
    left_out = [words_left_out(transcripts[s.id]) for s in heard]
    voice_rows = calibrated(voice, voiced)[0]  # [N, C] in the voice expert's own classes
    voice_answers = [canonical_probabilities(list(zip(voice.labels, p))) for p in voice_rows]
    words_answers = [canonical_probabilities(list(zip(words.labels, p))) for p in calibrated(words, heard)[0]]
    alone = [
        {"audio": v} if why else {"audio": v, "text": w} for v, w, why in zip(voice_answers, words_answers, left_out)
    ]
    fused = [stacker(a) if stacker is not None else fuse(a, dict.fromkeys(a, 1.0)) for a in alone]
    voice_line, fused_line = unsure_line(voice.meta), getattr(stacker, "unsure_below", None)
    answered = [
        None if line is None else bool(top >= line)
        for top, line in (
            (float(row.max()), voice_line) if why else (max(f.values()), fused_line)
            for row, f, why in zip(voice_rows, fused, left_out)
        )
    ]
    return {
        "samples": voiced,
        "alone": alone,
        "fused": fused,
        "left_out": left_out,
        "answered": answered,
        "refused": len(samples) - len(kept),
        "skipped_labels": skipped,
        "relabelled": relabelled,
    }


def evaluate_fused(dataset: str, root: str | Path, split: str = "all", pipeline=None) -> dict[str, Any]:
    """:func:`fused_answers` of the ``split``'s clips of a dataset folder, scored: the report of
    :func:`emodemo.serving.evaluation.evaluate_checkpoint` (speakers the voice expert trained or
    validated on are ``seen_speakers``), plus ``n_refused``, ``n_words_left_out``, ``answered`` and
    ``accuracy_answered`` (over the clips an "unsure" line applies to; None when none does).
    ``pipeline``: the app's (default: every served checkpoint, loaded now)."""
    from emodemo import data
    from emodemo.serving.pipeline import Pipeline

    pipeline = pipeline or Pipeline()
    if not {"audio", "text"} <= set(pipeline.experts):
        raise ValueError(f"the fused answer needs a voice and a words expert; served: {sorted(pipeline.experts)}")
    voice, words = pipeline.experts["audio"], pipeline.experts["text"]
    samples = select_split(data.load(dataset, root, **LOADER_OPTIONS.get(dataset, {})), split, voice.meta)
    result = fused_answers(voice, words, pipeline.stacker, samples, dataset)
    scored = result["samples"]
    guesses = [max(f, key=f.get) for f in result["fused"]]
    truth = [to_canonical(s.label) for s in scored]
    answers = Answers(CANONICAL7, truth, guesses, [s.meta.get("gender") for s in scored])
    lined = [(a, g == t) for a, g, t in zip(result["answered"], guesses, truth) if a is not None]
    over = [right for a, right in lined if a]
    speakers = sorted({s.speaker for s in scored if s.speaker})
    return {
        **answers.report(),
        "model": f"fused ({voice.name} + {words.name})",
        "dataset": dataset,
        "root": str(root),
        "split": split,
        "n_samples": len(scored),
        "n_refused": result["refused"],
        "n_skipped_labels": result["skipped_labels"],
        "n_relabelled": result["relabelled"],
        "classes": "7 (canonical: calm counted as neutral)",
        "text": "Whisper transcripts",
        "n_words_left_out": sum(bool(why) for why in result["left_out"]),
        "answered": len(over) / len(lined) if lined else None,
        "accuracy_answered": float(np.mean(over)) if over else None,
        "speakers": speakers,
        "seen_speakers": sorted(seen_speakers(voice.meta) & set(speakers)),
    }
