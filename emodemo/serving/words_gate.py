"""The words gate: words that carry no emotion reach a voice + words model as no words.

RAVDESS's actors say two sentences ("Kids are talking by the door", "Dogs are sitting by the door"),
so a voice + words model trained on its clips' own words learns those two sentences, not "words
without emotion", as its sign to go by the voice. A neutral sentence a user says instead is read as
some emotion: ``mesm`` falls from 46 % WA with the actors' own words to 33 % with a neutral line no
actor said, on actors it never heard (``bench/guessed_words.py``, part 5).

A model that also learnt to read clips with no words (``--option no_words=1``:
:func:`emodemo.protocols.pairing.learnt_no_words`) is given none when the app's words expert
(:data:`EXPERT`) hears no emotion in the words, that is when its top answer is :data:`NO_EMOTION`.
It then answers from the voice, as it learnt to for speech whose words were not heard. Nothing is
tuned: the rule is the words expert's own top answer. Words the expert hears an emotion in still
reach the model, which learnt to use them (its constructed pairs).

The app (:meth:`emodemo.serving.pipeline.Pipeline`) and every score of a served checkpoint
(:func:`emodemo.serving.evaluation.predicted`) read the words through this gate, so what is measured
is what is served.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from emodemo.core.labels import to_canonical
from emodemo.protocols.pairing import learnt_no_words

log = logging.getLogger(__name__)

EXPERT = "words_minilm"  # the app's words expert: the one the served fusion reads (checkpoints/fusion)
NO_EMOTION = "neutral"  # the expert's answer for words that carry no emotion


def gated(meta: Mapping) -> bool:
    """Whether a checkpoint (its ``meta``) reads words through the gate: it learnt to read no words."""
    return learnt_no_words((meta.get("data_card") or {}).get("pairing"))


def hears_no_emotion(ranking: Sequence[tuple[str, float]]) -> bool:
    """Whether the words expert's answer (``[(label, probability), ...]``, most likely first) says the
    words carry no emotion."""
    return to_canonical(ranking[0][0]) == NO_EMOTION


def unheard(sample):
    """``sample`` with no words, as a model that learnt to read no words meets them (its id kept, so
    that its answer stays the clip's); ``meta["words_gated"]`` says why."""
    return replace(sample, text="", meta={**sample.meta, "words": [], "words_gated": True})


@functools.cache
def _expert():
    """The words expert, loaded once (None when its checkpoint is not there: no gate can be applied)."""
    from emodemo.core.files import CHECKPOINTS
    from emodemo.serving.pipeline import load_models

    return load_models([EXPERT])[0] if (CHECKPOINTS / EXPERT / "config.json").is_file() else None


def expert_rankings(expert, samples: Sequence) -> list[list[tuple[str, float]]]:
    """The words expert's calibrated answer to each sample's text (its audio not read), most likely first."""
    from emodemo.serving.evaluation import calibrated

    lines = [replace(s, audio=None, label=expert.labels[0]) for s in samples]  # the expert's label is not scored
    probs, _ = calibrated(expert, lines)  # [N, C]
    return [[(expert.labels[i], float(row[i])) for i in np.argsort(-row)] for row in probs]


def read_by(meta: Mapping, samples: list, expert=None) -> list:
    """``samples`` as a checkpoint (its ``meta``) reads them: unchanged unless it is :func:`gated`, else
    each sample whose words the expert (default :data:`EXPERT`) hears no emotion in has them taken away
    (:func:`unheard`)."""
    if not gated(meta):
        return samples
    worded = [k for k, s in enumerate(samples) if (s.text or "").strip()]
    expert = expert if expert is not None else _expert()
    if expert is None:
        log.warning("the words expert %s is not there: the words reach the model ungated", EXPERT)
    if not worded or expert is None:
        return samples
    rankings = expert_rankings(expert, [samples[k] for k in worded])
    silent = {k for k, ranking in zip(worded, rankings) if hears_no_emotion(ranking)}
    return [unheard(s) if k in silent else s for k, s in enumerate(samples)]
