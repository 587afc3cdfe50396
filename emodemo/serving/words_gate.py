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

This module holds the rule; the app (:meth:`emodemo.serving.pipeline.Pipeline`, which loads the
expert beside a gated model) and every score of a served checkpoint
(:func:`emodemo.serving.evaluation.predicted`) apply it, so what is measured is what is served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from emodemo.core.labels import to_canonical
from emodemo.protocols.pairing import learnt_no_words

EXPERT = "words_minilm"  # the app's words expert: the one the served fusion reads (checkpoints/fusion)
NO_EMOTION = "neutral"  # the expert's answer for words that carry no emotion


def gated(meta: Mapping) -> bool:
    """Whether a checkpoint (its ``meta``) reads words through the gate: it learnt to read no words."""
    return learnt_no_words((meta.get("data_card") or {}).get("pairing"))


def hears_no_emotion(ranking: Sequence[tuple[str, float]]) -> bool:
    """Whether the words expert's answer (``[(label, probability), ...]``, most likely first) says the
    words carry no emotion."""
    return to_canonical(ranking[0][0]) == NO_EMOTION


def with_words(samples: Sequence) -> list[int]:
    """The positions of the samples that hold words: the ones the expert is asked about."""
    return [k for k, s in enumerate(samples) if (s.text or "").strip()]


def read_by(samples: Sequence, rankings: Mapping[int, Sequence[tuple[str, float]]]) -> list:
    """``samples`` as a gated model reads them, given the expert's answer to the words of the samples at
    each position of ``rankings`` (:func:`with_words`): where it hears no emotion, the sample has its
    words taken away (its id kept, so that the answer stays the clip's)."""
    silent = {k for k, ranking in rankings.items() if hears_no_emotion(ranking)}
    return [replace(s, text="", meta={**s.meta, "words": []}) if k in silent else s for k, s in enumerate(samples)]


def note(names: Sequence[str]) -> str:
    """What the app tells the user when the models ``names`` read no words through the gate."""
    return (
        f"{', '.join(names)} read no words: the words expert hears no emotion in them, and "
        f"{'these models' if len(names) > 1 else 'this model'} learnt RAVDESS's two sentences as the sign of "
        "such words (a sentence never met is read as some emotion), so the voice decides."
    )
