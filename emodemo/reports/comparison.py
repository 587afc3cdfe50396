"""One comparison of every model: which committed result backs each row, read into one shape, and
the Markdown tables (accuracy, and the cost ``bench/compare.py`` measures) docs/results.md and the app
show, and the README's headline table (:func:`headline_table`).

Every row of the comparison is an :class:`Entry`: a model (or one branch of it) on one benchmark,
backed by a results file under ``checkpoints/`` that its recipe wrote when it was run on the
committed protocol (``python -m emodemo reproduce MODEL``, ``configs/reproduce/<model>.toml``). :func:`rows` reads them
into dicts with the same keys whatever the file's layout (a cross-validation summary, a branch of
the ensemble's summary, a test report), so the table, the figures and the notebook read one thing.

The benchmarks (:data:`BENCHMARKS`):

* RAVDESS speech, actors 01-20, 7 classes (calm counted as neutral), the committed 5 folds by
  actor, one run per fold: mean ± std over the test folds; the confusion matrix pools them.
  Voice alone; voice + face action units; and the two text-audio pairings (constructed: a
  GoEmotions line of the clip's emotion; real: the clip's own Whisper words). The mixed pairing
  (each clip twice) is scored on each half; a run trained with no words on half its clips
  (``--option no_words=1``) is also scored on every test clip with no words.
* GoEmotions Ekman test and MELD dev (text; :mod:`emodemo.protocols.text_benchmarks`), scored once.
* FER-2013 PublicTest after de-duplication (faces), scored once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emodemo.core.files import CHECKPOINTS

METRICS = ("WA", "UA", "WF1", "UF1")

BENCHMARKS = {
    "ravdess_voice": "RAVDESS, voice alone",
    "ravdess_voice_face": "RAVDESS, voice + face action units",
    "ravdess_constructed": "RAVDESS, constructed pairs (a GoEmotions line of the clip's emotion)",
    "ravdess_real": "RAVDESS, real pairs (the clip's own Whisper words)",
    "ravdess_mixed_constructed": "RAVDESS, mixed pairs: the half with GoEmotions lines",
    "ravdess_mixed_real": "RAVDESS, mixed pairs: the half with the clip's own words",
    "ravdess_no_words": "RAVDESS, no words (the test clips again, as speech in another language reaches the models)",
    "goemotions": "GoEmotions Ekman, test split",
    "meld": "MELD, dev split",
    "fer2013": "FER-2013 PublicTest (de-duplicated)",
}


@dataclass(frozen=True)
class Entry:
    """One row: ``model`` (what the row is called) on ``benchmark``, read from ``source`` (relative to
    the checkpoints folder) at ``key`` (the path of dict keys to a report); ``checkpoint`` is the
    served checkpoint this row describes (its cost is measured by ``bench/compare.py``), if any."""

    benchmark: str
    model: str
    talk: str
    reads: str
    source: str
    key: tuple[str, ...] = ("cross_validation",)
    checkpoint: str | None = None
    trained: str | None = None  # a row re-scored after training (as served): its training run's results file


def _pairings(
    model: str,
    talk: str,
    files: dict[str, str],
    checkpoint_pairing: tuple[str, str] | None = None,
    words_alone: str | None = None,
) -> list[Entry]:
    """An architecture's rows on both pairings: ``files`` maps ``"fusion"`` / ``"text"`` to a file
    name pattern with ``{p}`` for the pairing; ``checkpoint_pairing`` = (checkpoint, pairing) marks
    the row the served checkpoint's protocol matches; ``words_alone`` names the text-only rows (as
    on the text benchmarks)."""
    entries = []
    for pairing in ("constructed", "real"):
        for part, pattern in files.items():
            served = checkpoint_pairing is not None and part == "fusion" and checkpoint_pairing[1] == pairing
            entries.append(
                Entry(
                    f"ravdess_{pairing}",
                    model if part == "fusion" else words_alone,
                    talk,
                    "voice + words" if part == "fusion" else "words",
                    pattern.format(p=pairing),
                    checkpoint=checkpoint_pairing[0] if served else None,
                )
            )
    return entries


def _mixed(model: str, talk: str, source: str, checkpoint: str | None = None) -> list[Entry]:
    """A voice + words model's rows on mixed pairs (results file ``source``): each half of the test
    clips scored apart, the constructed one and the real one (the clip's own words, as the app reads)."""
    return [
        Entry(
            f"ravdess_mixed_{half}", model, talk, "voice + words", source, ("by_pairing", half, "summary"), checkpoint
        )
        for half in ("constructed", "real")
    ]


def _no_words(model: str, talk: str, source: str, checkpoint: str | None = None) -> Entry:
    """A ``no_words=1`` run's row on its test clips read with no words (results file ``source``)."""
    return Entry(
        "ravdess_no_words", model, talk, "voice + words", source, ("by_pairing", "none", "summary"), checkpoint
    )


def _mixed_and_no_words(model: str, talk: str, source: str, checkpoint: str | None = None) -> list[Entry]:
    """A ``no_words=1`` run on mixed pairs: each half of its test clips with words, and every one with none."""
    return [*_mixed(model, talk, source, checkpoint), _no_words(model, talk, source, checkpoint)]


def _real_and_no_words(model: str, talk: str, source: str, checkpoint: str | None = None) -> list[Entry]:
    """A ``no_words=1`` run on real pairs: its test clips with their own words, and with none."""
    return [
        Entry("ravdess_real", model, talk, "voice + words", source, ("by_pairing", "real", "summary"), checkpoint),
        _no_words(model, talk, source, checkpoint),
    ]


def _as_served(
    model: str, talk: str, checkpoint: str, trained: str, mixed: bool, no_words: bool, kept: str | None = None
) -> list[Entry]:
    """A served voice + words checkpoint's rows as served (``python -m emodemo cv-as-served``,
    :mod:`emodemo.serving.served_cv`): its fold models on their test actors, the words as the app reads
    them; ``trained`` is its training run's results file (each half of a ``mixed`` run, the clips with no
    words of a ``no_words`` run). ``kept``: the file its scores were kept in once another model took its
    place (``cv/as_served_<x>.json``): a row no longer served."""
    halves = [("ravdess_mixed_constructed", "constructed"), ("ravdess_mixed_real", "real")] if mixed else []
    halves = halves or [("ravdess_real", "real")]
    halves += [("ravdess_no_words", "none")] if no_words else []
    source = f"{checkpoint}/cv/{kept or 'as_served.json'}"
    served = None if kept else checkpoint
    return [
        Entry(benchmark, model, talk, "voice + words", source, ("by_pairing", half, "summary"), served, trained)
        for benchmark, half in halves
    ]


ENTRIES: tuple[Entry, ...] = (
    # voice alone
    Entry(
        "ravdess_voice",
        "speech_probe (Whisper-encoder statistics + MLP)",
        "-",
        "voice",
        "speech_probe/cv/seven_classes.json",
    ),
    # issue 20: the input normalised (DC, voiced region, loudness), then with 2 augmented copies per clip,
    # then per fold the mean of both (served until Whisper base's lower half was judged over 3 seeds); the
    # served probe averages its 5 fold models (no RAVDESS actor is unseen by all of them)
    Entry("ravdess_voice", "speech_probe, normalised input", "-", "voice", "speech_probe/cv/ablation_normalised.json"),
    Entry(
        "ravdess_voice",
        "speech_probe, normalised input + 2 augmented copies per clip",
        "-",
        "voice",
        "speech_probe/cv/ablation_normalised-2_augmented_copies.json",
    ),
    Entry(
        "ravdess_voice",
        "speech_probe, normalised input, per fold a clean and an augmented probe averaged",
        "-",
        "voice",
        "speech_probe/cv/tiny_pair.json",
        ("metrics", "cross_validation"),
    ),
    Entry(
        "ravdess_voice",
        "speech_probe, normalised input, Whisper base's lower half (layers 0-3)",
        "-",
        "voice",
        "speech_probe/cv/lower_half.json",
        ("metrics", "cross_validation"),
    ),
    Entry(
        "ravdess_voice",
        "speech_probe, normalised input, Whisper base: per fold a probe of its lower half (layers 0-3) and one of "
        "every layer averaged (its fold models, averaged, are served)",
        "-",
        "voice",
        "speech_probe/config.json",
        ("metrics", "cross_validation"),
        "speech_probe",
    ),
    Entry("ravdess_voice", "coattention: voice branch", "001", "voice", "coattention/cv/speech.json"),
    Entry("ravdess_voice", "ssl_mha: voice branch", "002", "voice", "ssl_mha/cv/speech.json"),
    Entry("ravdess_voice", "mesm: FE2E voice alone", "004", "voice", "mesm/cv/fe2e_a.json"),
    Entry("ravdess_voice", "nmt_attention: waveform CNN alone", "000", "voice", "nmt_attention/cv/audio.json"),
    # talk 003 as the talk built it (raw input), kept from the checkpoint served before issue 20
    Entry(
        "ravdess_voice",
        "handcrafted_ensemble: audio SVM",
        "003",
        "voice",
        "handcrafted_ensemble/cv/raw_input.json",
        ("cross_validation", "audio_all_actors"),
    ),
    # the ensemble's SVMs train on half of each fold's training actors (the forest on the other half);
    # the served checkpoint answers a voice clip with a voice-alone SVM on every training actor, wide
    # RBF kernels (the app has no action units)
    Entry(
        "ravdess_voice",
        "handcrafted_ensemble: audio SVM, half the training actors",
        "003",
        "voice",
        "handcrafted_ensemble/cv/raw_input.json",
        ("cross_validation", "audio"),
    ),
    Entry(
        "ravdess_voice",
        "handcrafted_ensemble: voice-alone SVM, every training actor, wide kernels, normalised input (served)",
        "003",
        "voice",
        "handcrafted_ensemble/config.json",
        ("metrics", "cross_validation", "voice"),
        "handcrafted_ensemble",
    ),
    # voice + face action units
    Entry(
        "ravdess_voice_face",
        "handcrafted_ensemble: forest on both SVMs",
        "003",
        "voice + face AUs",
        "handcrafted_ensemble/cv/raw_input.json",
        ("cross_validation", "fusion"),
    ),
    Entry(
        "ravdess_voice_face",
        "handcrafted_ensemble: face-AU SVM",
        "003",
        "face AUs",
        "handcrafted_ensemble/cv/raw_input.json",
        ("cross_validation", "face_all_actors"),
    ),
    # the two pairings
    *_pairings(
        "nmt_attention (global attention)",
        "000",
        {"fusion": "nmt_attention/cv/fusion_global_{p}.json", "text": "nmt_attention/cv/text_{p}.json"},
        words_alone="nmt_attention: words alone",
    ),
    Entry(
        "ravdess_real",
        "nmt_attention (forced alignment)",
        "000",
        "voice + words",
        "nmt_attention/cv/fusion_forced_real.json",
    ),
    Entry(
        "ravdess_real",
        "nmt_attention (forced alignment), normalised input",
        "000",
        "voice + words",
        "nmt_attention/cv/fusion_forced_real_normalised.json",
    ),
    # served (issue 20): half its training clips without words (no_words=1), scored with and without words
    *_real_and_no_words(
        "nmt_attention (forced alignment), normalised input, half the training clips without words",
        "000",
        "nmt_attention/cv/fusion_forced_real_normalised_no_words.json",
    ),
    *_as_served(
        "nmt_attention (forced alignment), normalised input, half the training clips without words; as served until "
        "2026-12-06: through the words gate",
        "000",
        "nmt_attention",
        "nmt_attention/cv/fusion_forced_real_normalised_no_words.json",
        mixed=False,
        no_words=True,
        kept="as_served_no_words_real.json",
    ),
    # served (issue 20, 2026-12-06, third to eighth session): on Whisper base's layers 0-3, mixed pairs, half the
    # training clips without words, each training pair also with a pitch-shifted copy of its clip; its 5 fold models
    # averaged (emodemo.serving.pairs); then, to 2026-12-07, a member of the pair served below
    *_mixed_and_no_words(
        "nmt_attention (forced alignment) on Whisper base's layers 0-3, half the training clips without words, "
        "pitch-shifted training copies",
        "000",
        "nmt_attention/cv/fusion_forced_mixed_base_lower_pitch.json",
    ),
    # measured (issue 20, 2026-12-06, seventh session), not served alone: the same run, every model's text branch
    # started from the words expert's (text_from); from the eighth session to 2026-12-07 the pair's other member
    *_mixed_and_no_words(
        "nmt_attention (forced alignment) on Whisper base's layers 0-3, half the training clips without words, "
        "pitch-shifted training copies, the text branch started from the words expert's",
        "000",
        "nmt_attention/cv/fusion_pitch_words_expert.json",
    ),
    *_as_served(
        "nmt_attention (forced alignment) on Whisper base's layers 0-3, pitch-shifted training copies; as served until "
        "2026-12-06, eighth session: its 5 fold models averaged, through the words gate",
        "000",
        "nmt_attention",
        "nmt_attention/cv/fusion_forced_mixed_base_lower_pitch.json",
        mixed=True,
        no_words=True,
        kept="as_served_fold_mean.json",
    ),
    # served (issue 20, 2026-12-06, eighth session, to 2026-12-07, eleventh): the two runs above joined per fold
    # (emodemo.serving.pairs), as the MHA pairs are; its fold pairs scored as served
    *_as_served(
        "nmt_attention pair: the pitch-copies run beside the same run with the words expert's text branch, averaged "
        "per fold; as served until 2026-12-07: through the words gate",
        "000",
        "nmt_attention",
        "nmt_attention/cv/fusion_forced_mixed_base_lower_pitch.json",
        mixed=True,
        no_words=True,
        kept="as_served_two_runs_mean.json",
    ),
    # served (issue 20, 2026-12-07, eleventh session): the words-expert run with pitch-and-tempo training copies,
    # its 5 fold models averaged; its folds scored as served
    *_mixed_and_no_words(
        "nmt_attention (forced alignment) on Whisper base's layers 0-3, half the training clips without words, "
        "pitch-and-tempo training copies, the text branch started from the words expert's",
        "000",
        "nmt_attention/cv/fusion_pitch_tempo_words_expert.json",
    ),
    *_as_served(
        "nmt_attention, pitch-and-tempo training copies, the text branch started from the words expert's; as served: "
        "its 5 fold models averaged, through the words gate",
        "000",
        "nmt_attention",
        "nmt_attention/cv/fusion_pitch_tempo_words_expert.json",
        mixed=True,
        no_words=True,
    ),
    *_pairings(
        "coattention",
        "001",
        {"fusion": "coattention/cv/fusion_{p}.json", "text": "coattention/cv/text_{p}.json"},
        words_alone="coattention: words alone",
    ),
    *_pairings(
        "ssl_mha Self-MHA",
        "002",
        {"fusion": "ssl_mha/cv/self_{p}.json", "text": "ssl_mha/cv/text_{p}.json"},
        words_alone="ssl_mha: words alone",
    ),
    *_pairings("ssl_mha Cross-MHA", "002", {"fusion": "ssl_mha/cv/cross_{p}.json"}),
    # the best of talk 002's ablations on both pairings (chosen after its test folds were seen: optimistic)
    *_pairings("ssl_mha Self-noSP (ablation: mean pooling)", "002", {"fusion": "ssl_mha/cv/self_nosp_{p}.json"}),
    *_pairings("mesm MESM p=0.7", "004", {"fusion": "mesm/cv/mesm_p7_ta_{p}.json"}),
    *_pairings(
        "mesm FE2E",
        "004",
        {"fusion": "mesm/cv/fe2e_ta_{p}.json", "text": "mesm/cv/fe2e_t_{p}.json"},
        words_alone="mesm FE2E: words alone",
    ),
    # mixed pairs, each half scored; served (issue 20, 2026-12-06, ninth session): co-attention on Whisper base's
    # layers 0-3, half the training clips without words, a quarter with a neutral line, each training pair also with a
    # pitch- and tempo-shifted copy of its clip; its 5 fold models averaged (emodemo.serving.pairs)
    *_mixed_and_no_words(
        "coattention, head alone on Whisper base's layers 0-3 (mixed), half the training clips without words, a "
        "quarter with a neutral line, pitch- and tempo-shifted training copies",
        "001",
        "coattention/cv/fusion_mixed_base_lower_no_words_pitch_tempo.json",
    ),
    *_as_served(
        "coattention, base layers 0-3, no words, neutral lines, pitch- and tempo-shifted copies, its 5 fold models "
        "averaged; as served: through the words gate",
        "001",
        "coattention",
        "coattention/cv/fusion_mixed_base_lower_no_words_pitch_tempo.json",
        mixed=True,
        no_words=True,
    ),
    # served 2026-12-05 to 2026-12-06 (ninth session): the same head on plain mixed pairs, its final model
    *_mixed(
        "coattention, head alone on Whisper base's layers 0-3 (mixed), normalised input",
        "001",
        "coattention/cv/fusion_mixed_base_lower.json",
    ),
    *_as_served(
        "coattention, head alone on Whisper base's layers 0-3 (mixed); as served until 2026-12-06, ninth session: its "
        "fold models through the words gate",
        "001",
        "coattention",
        "coattention/cv/fusion_mixed_base_lower.json",
        mixed=True,
        no_words=False,
        kept="as_served_final_base_lower.json",
    ),
    # issue 20: the co-attentions served before it (the top two layers of each encoder fine-tuned; before that,
    # the head alone on the frozen encoders' last states)
    *_mixed(
        "coattention, head then the top two layers of each encoder, normalised input",
        "001",
        "coattention/cv/fusion_mixed_top2.json",
    ),
    *_mixed("coattention, head alone, normalised input", "001", "coattention/cv/fusion_mixed.json"),
    *_mixed(
        "ssl_mha Self-noSP (mean pooling), Whisper base layers 0-3, normalised input",
        "002",
        "ssl_mha/cv/self_nosp_mixed_base_lower.json",
    ),
    # issue 20: the Self-MHAs served before it (statistical pooling on base's lower half; on every tiny.en layer),
    # and tiny.en's lower layers (not served)
    *_mixed(
        "ssl_mha Self-MHA, Whisper base layers 0-3, normalised input", "002", "ssl_mha/cv/self_mixed_base_lower.json"
    ),
    *_mixed("ssl_mha Self-MHA, normalised input", "002", "ssl_mha/cv/self_mixed.json"),
    *_mixed("ssl_mha Self-MHA, tiny.en layers 0-2, normalised input", "002", "ssl_mha/cv/self_mixed_tiny_lower.json"),
    # served (issue 20, through the words gate): the Self-noSP above trained with no words on half its own-words
    # pairs and a neutral line on half of those left
    *_mixed_and_no_words(
        "ssl_mha Self-noSP, base layers 0-3, half the training clips without words, a quarter with a neutral line",
        "002",
        "ssl_mha/cv/self_nosp_mixed_base_lower_no_words_neutral_lines.json",
    ),
    *_as_served(
        "ssl_mha Self-noSP, base layers 0-3, half the training clips without words, a quarter with a neutral line; "
        "as served until 2026-12-05: through the words gate",
        "002",
        "ssl_mha",
        "ssl_mha/cv/self_nosp_mixed_base_lower_no_words_neutral_lines.json",
        mixed=True,
        no_words=True,
        kept="as_served_lower.json",
    ),
    # served (issue 20, 2026-12-05 to 2026-12-06): that model beside the same recipe on every base layer, averaged per
    # fold (emodemo.serving.pairs), as the served speech probe pairs its probes; no run scored the pair itself
    *_as_served(
        "ssl_mha Self-noSP pair: base layers 0-3 beside every base layer, averaged; as served until 2026-12-06: "
        "through the words gate",
        "002",
        "ssl_mha",
        "ssl_mha/cv/self_nosp_mixed_base_lower_no_words_neutral_lines.json",
        mixed=True,
        no_words=True,
        kept="as_served_pair_no_pitch.json",
    ),
    # issue 20 (not served alone): the same on every layer of base, as the served voice model reads them since
    *_mixed_and_no_words(
        "ssl_mha Self-noSP, every base layer, half the training clips without words, a quarter with a neutral line",
        "002",
        "ssl_mha/cv/self_nosp_mixed_base_all_no_words_neutral_lines.json",
    ),
    # served as a pair since 2026-12-06: the two runs above with a pitch-shifted copy of every training pair
    *_mixed_and_no_words(
        "ssl_mha Self-noSP, base layers 0-3, half the training clips without words, a quarter with a neutral line, "
        "pitch copies",
        "002",
        "ssl_mha/cv/self_nosp_mixed_base_lower_no_words_neutral_lines_pitch.json",
    ),
    *_mixed_and_no_words(
        "ssl_mha Self-noSP, every base layer, half the training clips without words, a quarter with a neutral line, "
        "pitch copies",
        "002",
        "ssl_mha/cv/self_nosp_mixed_base_all_no_words_neutral_lines_pitch.json",
    ),
    *_as_served(
        "ssl_mha Self-noSP pair with pitch copies: base layers 0-3 beside every base layer, averaged; as served: "
        "through the words gate",
        "002",
        "ssl_mha",
        "ssl_mha/cv/self_nosp_mixed_base_lower_no_words_neutral_lines_pitch.json",
        mixed=True,
        no_words=True,
    ),
    # served alone until 2026-12-05 as trained: no words gate, and scored again as served every fold scores as in
    # training (ssl_mha/cross/cv/as_served_lower.json)
    *_mixed(
        "ssl_mha Cross-noSP (mean pooling), Whisper base layers 0-3, normalised input",
        "002",
        "ssl_mha/cv/cross_nosp_mixed_base_lower.json",
    ),
    # served (issue 20, 2026-12-05): that model beside the same recipe on every base layer, averaged per fold, as
    # the Self-MHA pair; its fold pairs scored as served
    *_mixed(
        "ssl_mha Cross-noSP, every base layer, normalised input", "002", "ssl_mha/cv/cross_nosp_mixed_base_all.json"
    ),
    *_as_served(
        "ssl_mha Cross-noSP pair: base layers 0-3 beside every base layer, averaged; as served",
        "002",
        "ssl_mha/cross",
        "ssl_mha/cv/cross_nosp_mixed_base_lower.json",
        mixed=True,
        no_words=False,
    ),
    # issue 20, not served (TESS choose 53.4 through the words gate): the served Cross-noSP trained as the served
    # Self-noSP was, with no words on half its own-words pairs and a neutral line on half of those left
    *_mixed_and_no_words(
        "ssl_mha Cross-noSP, base layers 0-3, half the training clips without words, a quarter with a neutral line",
        "002",
        "ssl_mha/cv/cross_nosp_mixed_base_lower_no_words_neutral_lines.json",
    ),
    # issue 20: the Cross-MHA served before it (every tiny.en layer, statistical pooling)
    *_mixed("ssl_mha Cross-MHA, normalised input", "002", "ssl_mha/cv/cross_mixed.json"),
    *_mixed("mesm MESM p=0.7", "004", "mesm/cv/mesm_p7_ta_mixed.json"),
    # served (issue 20) to 2026-12-07: half its training clips without words, every test clip also scored with none;
    # from 2026-12-06 its 5 fold models averaged (their temperatures fitted clean-half) in place of its final model
    *_mixed_and_no_words(
        "mesm MESM p=0.7, half the training clips without words",
        "004",
        "mesm/cv/mesm_p7_ta_mixed_no_words.json",
    ),
    *_as_served(
        "mesm MESM p=0.7, half the training clips without words, its 5 fold models averaged; as served until "
        "2026-12-07: through the words gate",
        "004",
        "mesm",
        "mesm/cv/mesm_p7_ta_mixed_no_words.json",
        mixed=True,
        no_words=True,
        kept="as_served_logmel_fold_mean.json",
    ),
    # served (issue 20, 2026-12-07, thirteenth session): on Whisper base's layers 0-3 with pitch- and tempo-shifted
    # copies, every frame's mean and spread beside the chunks, group norm in the chunk CNN; its 5 fold models averaged
    *_mixed_and_no_words(
        "mesm MESM p=0.7 on Whisper base's layers 0-3, half the training clips without words, pitch-and-tempo "
        "training copies, the frames' mean and spread, group norm in the chunk CNN",
        "004",
        "mesm/cv/mesm_p7_ta_mixed_no_words_base_lower_pitch_tempo_plain_group.json",
    ),
    *_as_served(
        "mesm MESM p=0.7 on Whisper base's layers 0-3, pitch-and-tempo training copies, group norm in the chunk CNN; "
        "as served until 2026-12-07 (fourteenth session): its 5 fold models averaged, through the words gate",
        "004",
        "mesm",
        "mesm/cv/mesm_p7_ta_mixed_no_words_base_lower_pitch_tempo_plain_group.json",
        mixed=True,
        no_words=True,
        kept="as_served_group_fold_mean.json",
    ),
    # served (issue 20, 2026-12-07, fourteenth session): the same with its words side started from FE2E's words alone on
    # GoEmotions and frozen, the voice hidden from the head for 30 % of training clips
    *_mixed_and_no_words(
        "mesm MESM p=0.7 on Whisper base's layers 0-3, half the training clips without words, pitch-and-tempo "
        "training copies, the frames' mean and spread, group norm in the chunk CNN, the words side GoEmotions' "
        "(frozen), the voice hidden for 30 % of training clips",
        "004",
        "mesm/cv/mesm_p7_ta_mixed_no_words_base_lower_pitch_tempo_plain_group_words_from.json",
    ),
    *_as_served(
        "mesm MESM p=0.7 on Whisper base's layers 0-3, pitch-and-tempo training copies, group norm in the chunk CNN, "
        "the words side GoEmotions' (frozen); as served: its 5 fold models averaged, through the words gate",
        "004",
        "mesm",
        "mesm/cv/mesm_p7_ta_mixed_no_words_base_lower_pitch_tempo_plain_group_words_from.json",
        mixed=True,
        no_words=True,
    ),
    # issue 20, not served (every half 4-5 points down, TESS no better): the served run with a neutral line on half
    # the own-words training pairs it kept
    *_mixed_and_no_words(
        "mesm MESM p=0.7, half the training clips without words, a quarter with a neutral line",
        "004",
        "mesm/cv/mesm_p7_ta_mixed_no_words_neutral_lines.json",
    ),
    # and with every one given a neutral line: its "real" half is then RAVDESS's sentences, never met in training
    *_mixed_and_no_words(
        "mesm MESM p=0.7, half the training clips without words, the other half with a neutral line",
        "004",
        "mesm/cv/mesm_p7_ta_mixed_no_words_all_neutral_lines.json",
    ),
    # issue 20's input settings, not served: normalised input scored lower on real pairs and TESS
    *_mixed("mesm MESM p=0.7, normalised input", "004", "mesm/cv/mesm_p7_ta_mixed_normalised.json"),
    *_mixed("mesm FE2E", "004", "mesm/cv/fe2e_ta_mixed.json"),
    # text benchmarks
    Entry(
        "goemotions", "nmt_attention: words alone", "000", "words", "nmt_attention/cv/text_goemotions.json", ("test",)
    ),
    Entry(
        "goemotions",
        "nmt_attention: words alone, served run",
        "000",
        "words",
        "nmt_attention/words_goemotions/config.json",
        ("metrics", "test"),
        "nmt_attention/words_goemotions",
    ),
    Entry("goemotions", "coattention: words alone", "001", "words", "coattention/cv/text_goemotions.json", ("test",)),
    Entry("goemotions", "ssl_mha: words alone", "002", "words", "ssl_mha/cv/text_goemotions.json", ("test",)),
    Entry("goemotions", "mesm FE2E: words alone", "004", "words", "mesm/cv/fe2e_t_goemotions.json", ("test",)),
    Entry("meld", "nmt_attention: words alone", "000", "words", "nmt_attention/cv/text_meld.json", ("test",)),
    Entry("meld", "coattention: words alone", "001", "words", "coattention/cv/text_meld.json", ("test",)),
    Entry("meld", "ssl_mha: words alone", "002", "words", "ssl_mha/cv/text_meld.json", ("test",)),
    Entry("meld", "mesm FE2E: words alone", "004", "words", "mesm/cv/fe2e_t_meld.json", ("test",)),
    # the app's words expert: frozen MiniLM states (top layers fine-tunable) on MELD train + GoEmotions, chosen on
    # held-out MELD train dialogues (words_minilm/choice.json), MELD dev and GoEmotions test scored once
    Entry(
        "meld",
        "words_minilm (MiniLM, top 3 layers fine-tuned, attention pooling + MLP; MELD + GoEmotions)",
        "-",
        "words",
        "words_minilm/config.json",
        ("metrics", "test"),
        "words_minilm",
    ),
    Entry(
        "goemotions",
        "words_minilm (MiniLM, top 3 layers fine-tuned, attention pooling + MLP; MELD + GoEmotions)",
        "-",
        "words",
        "words_minilm/config.json",
        ("metrics", "goemotions_test"),
    ),
    # faces
    Entry("fer2013", "fer_cnn (VGG-style CNN)", "003", "face", "fer_cnn/config.json", ("metrics", "test"), "fer_cnn"),
)


def _score(value: Any) -> dict[str, float | None]:
    """``{"mean", "std"}`` of a summary's ``{"mean", "std"}`` or a single report's number (std None)."""
    if isinstance(value, dict):
        return {"mean": float(value["mean"]), "std": float(value["std"])}
    return {"mean": float(value), "std": None}


def _confusion(report: dict, folds: list[dict]) -> np.ndarray:
    """The report's confusion matrix, or the sum of its folds' (true rows x predicted columns)."""
    if "confusion_matrix" in report:
        return np.asarray(report["confusion_matrix"], dtype=int)
    return np.sum([np.asarray(f["confusion_matrix"], dtype=int) for f in folds], axis=0)


def _histories(source: dict, entry: Entry) -> list[list[dict]]:
    """Per run (fold), the epochs its training logged: every stage of a staged recipe, the one
    history of a single run, none for a model fitted without epochs (SVMs, forest)."""
    if entry.key == ("cross_validation",) or entry.key[:1] == ("by_pairing",):  # cross-validated
        staged = isinstance(source.get("stages"), dict) and all("folds" in s for s in source["stages"].values())
        stages = [s["folds"] for s in source["stages"].values()] if staged else [source["folds"]]
        return [[e for stage in stages for e in stage[i]["history"]["epochs"]] for i in range(len(stages[0]))]
    history = source.get("history") or (source.get("metrics") or {}).get("history")
    if isinstance(history, dict) and isinstance(history.get("epochs"), list):
        return [history["epochs"]]
    if isinstance(source.get("stages"), dict):  # a staged single run: each stage's history
        return [[e for s in source["stages"].values() for e in s["history"]["epochs"]]]
    return []


def _training(source: dict, entry: Entry) -> dict[str, float] | None:
    """Mean epochs and measured training seconds per run (the epochs' own timings), if logged."""
    runs = [epochs for epochs in _histories(source, entry) if epochs and all("seconds" in e for e in epochs)]
    if not runs:
        return None
    return {
        "epochs": float(np.mean([len(r) for r in runs])),
        "seconds": float(np.mean([sum(e["seconds"] for e in r) for r in runs])),
        "runs": len(runs),
    }


def _fold_reports(source: dict, entry: Entry) -> list[tuple[str, dict]]:
    """``(fold name, test report)`` of each fold behind a cross-validated row (none when scored once)."""
    if entry.key[:1] == ("by_pairing",):
        return [(f["fold"], f) for f in source["by_pairing"][entry.key[1]]["folds"]]
    inner = source["metrics"] if entry.key[:1] == ("metrics",) else source
    rest = entry.key[1:] if entry.key[:1] == ("metrics",) else entry.key
    if rest[:1] != ("cross_validation",):
        return []
    # a fold's report, or (a run scoring several branches per fold) the report of the branch named next
    return [(f["fold"], f[rest[1]] if len(rest) > 1 else f) for f in inner["folds"]]


def _trained_run(entry: Entry, checkpoints: Path) -> dict:
    """The results of the training run behind a row re-scored after it (its epochs and time)."""
    return json.loads((Path(checkpoints) / entry.trained).read_text(encoding="utf-8"))


def read(entry: Entry, checkpoints: Path = CHECKPOINTS) -> dict[str, Any]:
    """One entry's row: its identity, WA / UA / WF1 / UF1 as ``{"mean", "std"}`` (std None when
    scored once), the number of folds, each fold's name and WA (rows pair up by fold name),
    per-class F1, labels, the (pooled) confusion matrix, and ``training``: mean epochs and seconds
    per run as the run logged them and where it ran (None when not logged)."""
    path = Path(checkpoints) / entry.source
    try:
        source = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{entry.model} on {entry.benchmark}: its results file {path} is missing; "
            f"run python -m emodemo reproduce {entry.source.split('/')[0]} to make it (configs/reproduce/)"
        ) from None
    report = source
    for key in entry.key:
        report = report[key]
    folds = _fold_reports(source, entry)
    labels = list(report.get("labels") or folds[0][1]["labels"])
    f1 = {label: _score(report["per_class"][label]["f1"])["mean"] for label in labels}
    run = source if entry.trained is None else _trained_run(entry, checkpoints)  # what logged the training
    training = _training(run, entry)
    if training is not None:  # where it ran: a checkpoint's card says when it was not this CPU
        training["device"] = (run.get("data_card") or {}).get("trained_on", "this CPU")
    return {
        "benchmark": entry.benchmark,
        "model": entry.model,
        "talk": entry.talk,
        "reads": entry.reads,
        "checkpoint": entry.checkpoint,
        "source": entry.source,
        **{metric: _score(report[metric]) for metric in METRICS},
        "folds": int(report.get("n_reports", 1)) if isinstance(report["WA"], dict) else 1,
        "fold_names": [name for name, _ in folds],
        "fold_WA": [float(f["WA"]) for _, f in folds],
        "labels": labels,
        "per_class_f1": f1,
        "confusion_matrix": _confusion(report, [f for _, f in folds]).tolist(),
        "training": training,
    }


def rows(checkpoints: Path = CHECKPOINTS, entries: tuple[Entry, ...] = ENTRIES) -> list[dict[str, Any]]:
    """Every entry's row, benchmark by benchmark (in :data:`BENCHMARKS` order), best WA first."""
    order = list(BENCHMARKS)
    read_rows = [read(e, checkpoints) for e in entries]
    return sorted(read_rows, key=lambda r: (order.index(r["benchmark"]), -r["WA"]["mean"]))


def cell(score: dict[str, float | None]) -> str:
    """A score in percent: ``"70.4 ± 3.1"``, or ``"62.3"`` when scored once."""
    if score["std"] is None:
        return f"{100 * score['mean']:.1f}"
    return f"{100 * score['mean']:.1f} ± {100 * score['std']:.1f}"


def markdown_table(table_rows: list[dict[str, Any]], cost: dict[str, dict] | None = None) -> str:
    """The rows as one Markdown table (best of each benchmark in bold; of a tie, the first listed); ``cost``
    maps a served checkpoint to its measured cost (``bench/compare.py``), shown as ms per clip beside its row."""
    cost = cost or {}
    lines = [
        "| benchmark | model | talk | reads | WA | UA | WF1 | UF1 | served: ms per 4 s clip |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    best: dict[str, float] = {}
    for r in table_rows:
        best[r["benchmark"]] = max(best.get(r["benchmark"], 0.0), r["WA"]["mean"])
    bolded: set[str] = set()
    for r in table_rows:
        wins = r["WA"]["mean"] == best[r["benchmark"]] and r["benchmark"] not in bolded
        bolded |= {r["benchmark"]} if wins else set()
        name = f"**{r['model']}**" if wins else r["model"]
        ms = cost.get(r["checkpoint"] or "", {}).get("ms_per_clip")
        served = (
            f"`{r['checkpoint']}`: {ms:.0f}" if ms is not None else (f"`{r['checkpoint']}`" if r["checkpoint"] else "")
        )
        lines.append(
            f"| {BENCHMARKS[r['benchmark']]} | {name} | {r['talk']} | {r['reads']} | "
            + " | ".join(cell(r[m]) for m in METRICS)
            + f" | {served} |"
        )
    return "\n".join(lines)


def cost_markdown(cost: dict, accuracy: list[dict]) -> str:
    """The cost table: one row per served checkpoint (with the training time the run of its row's
    protocol logged, from ``accuracy``), then the transcriber, the app and the baseline."""
    logged = {r["checkpoint"]: r["training"] for r in accuracy if r["checkpoint"] and r["training"]}
    lines = [
        "| served checkpoint | parameters | on disk MB | load s | ms per 4 s clip, end to end | model alone, "
        "batch 1 | model alone per clip, batch 32 | one training step x steps per epoch, 1 thread (items) | "
        "training per run, as logged | peak RSS MB, serving | share of the Hub pipeline's time |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(cost["models"], key=lambda r: r["ms_per_clip"]):
        step = (
            f"{r['train_s_per_epoch']:.3g} s ({r['epoch_items']:,})"
            if "train_s_per_epoch" in r
            else "(fitted, no epochs)"
        )
        run = logged.get(r["checkpoint"])
        if run:
            device = run.get("device", "this CPU")
            where = "on a GPU" if any(word in device for word in ("GPU", "H200", "cuda")) else "this CPU"
            run = f"{run['seconds'] / 60:.1f} min, {run['epochs']:.0f} epochs ({where})"
        lines.append(
            f"| `{r['checkpoint']}` | {r['parameters'] / 1e6:.2f} M | {r['checkpoint_mb']:.1f} | "
            f"{r['load_s']:.2f} | {r['ms_per_clip']:.1f} | {r['ms_batch1']:.2f} | "
            f"{r['ms_per_clip_batch32']:.2f} | {step} | {run or ''} | {r['peak_rss_mb']:.0f} | "
            f"{100 * r['share_of_hub']:.2g} % |"
        )
    hub, asr, app = cost["hub_baseline"], cost["transcriber"], cost["app"]
    lines.append(
        f"| Hub baseline: {hub['model']} | {hub['parameters'] / 1e6:.0f} M | "
        f"{hub['parameters'] * 4 / 1e6:.0f} (fp32) | | {hub['ms_per_clip']:.0f} | | "
        f"{hub['ms_per_clip_batch8']:.0f} (the pipeline at batch 8) | | | | 100 % |"
    )
    lines.append("")
    lines.append(
        "`fer_cnn`'s clip is 4 s of video: 20 faces (face detection not counted); its model-alone columns "
        "are per face. The training-step column repeats one batch of real inputs (no validation, no "
        "data loading): it is a floor; the logged column is what the real runs took (wall time per fold, "
        "often beside another run on this 2-core CPU)."
    )
    lines.append("")
    lines.append(
        f"Transcriber ({asr['engine']}, default threads): {asr['ms_per_clip']:.0f} ms per 4 s clip, "
        f"real-time factor {asr['real_time_factor']:.3f}. The app end to end (`bench/app.py`, "
        f"{app['clip_seconds']:.0f} s clip, transcription + {len(app['models'])} models + attention "
        f"figures, default threads): {app['answer_s']:.2f} s (the Hub pipeline's one model on a 4 s "
        f"clip with the same threads: {hub['ms_per_clip_default_threads'] / 1000:.2f} s); start-up "
        f"{app['startup_s']:.1f} s; peak {app['peak_rss_mb']:.0f} MB. A process that only imports torch "
        f"and emodemo peaks at {cost['base_rss_mb']:.0f} MB: every model's peak RSS includes it."
    )
    return "\n".join(lines)


def latency_points(accuracy: list[dict], cost: dict) -> list[dict[str, Any]]:
    """For :func:`emodemo.reports.viz.accuracy_latency`: each served checkpoint at the row of its own
    protocol, its WA (%, ± std over folds) against its measured ms per clip."""
    ms = {r["checkpoint"]: r["ms_per_clip"] for r in cost["models"]}
    return [
        {
            "name": f"{r['checkpoint']}: {BENCHMARKS[r['benchmark']].split(' (')[0]}",
            "ms": ms[r["checkpoint"]],
            "WA": 100 * r["WA"]["mean"],
            "std": 100 * (r["WA"]["std"] or 0),
        }
        for r in accuracy
        if r["checkpoint"] in ms
    ]


def side_by_side(result: dict) -> str:
    """Both tables of a saved comparison (``bench/results/compare.json``: ``accuracy`` rows and the
    ``cost`` of every served checkpoint) as Markdown: what docs/results.md and the app show."""
    cost = {r["checkpoint"]: r for r in result["cost"]["models"]}
    return f"{markdown_table(result['accuracy'], cost)}\n\n{cost_markdown(result['cost'], result['accuracy'])}"


# --- the README's headline table ---------------------------------------------------------------------

# What each served checkpoint is, in a few plain words (the README's headline table; the talk each
# architecture comes from is named in docs/results.md)
ARCHITECTURES = {
    "speech_probe": "two small classifiers on the layer statistics of the frozen Whisper base encoder, one reading "
    "its lower half and one every layer, averaged",
    "handcrafted_ensemble": "an SVM on 68 hand-crafted audio statistics (its face SVM and forest need action units)",
    "ssl_mha": (
        "a pair: Whisper base's lower-half states, and every layer's, each with MiniLM word pieces, self-attention "
        "over both joined, mean-pooled; the two averaged"
    ),
    "ssl_mha/cross": (
        "a pair: Whisper base's lower-half states, and every layer's, each attending to MiniLM word pieces and they to "
        "it (cross-attention), mean-pooled; the two averaged"
    ),
    "coattention": (
        "Whisper base's layers 0-3 (mixed) and MiniLM word pieces fused by alternating co-attention, the head trained "
        "with pitch- and tempo-shifted copies; its 5 fold models averaged"
    ),
    "mesm": (
        "small CNNs (group norm) on 400 ms chunks of Whisper base's layers 0-3 (mixed), beside every frame's mean and "
        "spread; the words (a frozen words model trained on GoEmotions) choose which positions are computed; trained "
        "with pitch- and tempo-shifted copies, the voice hidden for 30 % of clips; its 5 fold models averaged"
    ),
    "nmt_attention": (
        "the words (GloVe + GRU, started from the words expert's) attend over a GRU on Whisper base's layers 0-3 "
        "(mixed), aligned by word times, trained with pitch- and tempo-shifted copies; its 5 fold models averaged"
    ),
    "words_minilm": "the app's words expert: MiniLM (top 3 layers fine-tuned), attention pooling + a classifier",
    "nmt_attention/words_goemotions": "`nmt_attention`'s words side alone (GloVe + GRU)",
    "fer_cnn": "a VGG-style CNN on 48x48 grey faces, for videos",
}
_READS_ORDER = ("voice", "voice + words", "words", "face")
_HEADLINE_BENCHMARK = {
    "ravdess_voice": "RAVDESS",
    "ravdess_real": "RAVDESS, own words",
    "ravdess_mixed_real": "RAVDESS, own words",
    "ravdess_mixed_constructed": "RAVDESS, a GoEmotions line",
    "ravdess_no_words": "RAVDESS, no words",
    "goemotions": "GoEmotions test",
    "meld": "MELD dev",
    "fer2013": "FER-2013 test",
}


FUSED_ANSWER = "**the fused answer**"  # the headline table's first row: what the app answers first


def fused_row(fusion: dict, fusion_report: dict, costs: dict[str, dict]) -> str:
    """The app's fused answer as a headline row, from ``bench/fusion.py``'s results: ``fusion``
    (``bench/results/fusion.json``: its cross-validation, each fold's rule fitted on held-out actors
    and scored on the fold's test actors with each fold's voice model, and the served rule on the TESS
    choose half) and ``fusion_report`` (``fusion_tess_report.json``: the served rule on the report
    half, scored once). In-corpus: the clip's own words, then a GoEmotions line; TESS: as the app
    serves it (the served voice expert and the words expert); cost: the two experts' (``costs`` by
    checkpoint), the fusion's own being a few multiplications."""
    choose, report = fusion["as served, TESS choose"], fusion_report["as served, TESS report"]
    if choose["rule"] != report["rule"]:
        raise ValueError(f"the TESS halves were scored for two rules: {choose['rule']!r} and {report['rule']!r}")
    folds = choose["cross-validated as"]
    halves = ("real", "constructed")  # the clip's own words first, as the voice + words models' rows
    wa, ua = (" · ".join(f"{100 * fusion[half][folds][m]:.1f}" for half in halves) for m in ("WA", "UA"))
    experts = [choose["voice"], fusion["words"]]
    what = f"`{experts[0]}` and `{experts[1]}` fused: one learned weight each (`checkpoints/fusion`)"
    return (
        f"| {FUSED_ANSWER} | {what} | voice + words | {_HEADLINE_BENCHMARK['ravdess_mixed_real']} · "
        f"{_HEADLINE_BENCHMARK['ravdess_mixed_constructed'].removeprefix('RAVDESS, ')} | {wa} | {ua} | "
        f"{100 * choose['UA']:.1f} / {100 * report['UA']:.1f} | "
        f"{sum(costs[e]['ms_per_clip'] for e in experts):.0f} | {sum(costs[e]['checkpoint_mb'] for e in experts):.1f} |"
    )


def headline_table(
    compare: dict, generalisation: dict, fusion: dict | None = None, fusion_report: dict | None = None
) -> str:
    """One row per served checkpoint (those whose cost ``compare`` holds: ``bench/results/compare.json``):
    what it is, what it reads, WA / UA on its own in-corpus protocol (the comparison's rows marked
    with it; for a model trained on mixed pairs the half with the clip's own words first), UA on
    TESS (``bench/results/generalisation.json``: the choose half / the report half) and its cost (ms
    per 4 s clip on 1 CPU thread, end to end; size on disk). Voice models first, then voice + words,
    words, faces; within each, the best in-corpus UA first. With ``fusion`` and ``fusion_report``
    (``bench/fusion.py``'s results), the app's fused answer comes first (:func:`fused_row`)."""
    tess = {m["model"]: m for m in generalisation["models"]}
    marked: dict[str, list[dict]] = {}
    for r in compare["accuracy"]:
        if r["checkpoint"]:
            marked.setdefault(r["checkpoint"], []).append(r)
    for own in marked.values():
        own.sort(key=lambda r: r["benchmark"] == "ravdess_mixed_constructed")  # the clip's own words first
    costs = [c for c in compare["cost"]["models"] if c["checkpoint"] in marked]

    def order(c: dict) -> tuple:
        first = marked[c["checkpoint"]][0]
        return _READS_ORDER.index(first["reads"]) if first["reads"] in _READS_ORDER else 9, -first["UA"]["mean"]

    def tess_cell(name: str) -> str:
        """UA on the choose / report half; "-" for a model TESS does not reach (faces)."""
        if name not in tess:
            return "-"
        halves = [tess[name].get(h, {}) for h in ("tess_choose", "tess_report")]
        return " / ".join(f"{100 * h['UA']:.1f}" if "UA" in h else h.get("status", "-") for h in halves)

    lines = [
        "| model | what it is | reads | in-corpus test | WA | UA | TESS UA: choose / report half "
        "| ms per 4 s clip | MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    if fusion is not None and fusion_report is not None:
        lines.append(fused_row(fusion, fusion_report, {c["checkpoint"]: c for c in compare["cost"]["models"]}))
    for c in sorted(costs, key=order):
        name, own = c["checkpoint"], marked[c["checkpoint"]]
        what = ARCHITECTURES.get(name, own[0]["model"])
        tests = [_HEADLINE_BENCHMARK.get(r["benchmark"], BENCHMARKS[r["benchmark"]]) for r in own]
        tests = " · ".join(
            [tests[0]] + [t.removeprefix("RAVDESS, ") if tests[0].startswith("RAVDESS") else t for t in tests[1:]]
        )
        wa, ua = (" · ".join(f"{100 * r[m]['mean']:.1f}" for r in own) for m in ("WA", "UA"))
        lines.append(
            f"| `{name}` | {what} | {own[0]['reads']} | {tests} | {wa} | {ua} | {tess_cell(name)} | "
            f"{c['ms_per_clip']:.0f} | {c['checkpoint_mb']:.1f} |"
        )
    return "\n".join(lines)
