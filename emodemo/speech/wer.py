"""Word error rate: how many word edits turn a transcript into the reference, per reference word.

Both texts are normalised first (:func:`normalise`: lowercase, every character other than a
letter, a digit, an apostrophe or a space dropped), so "Kids are talking by the door." and
"kids are talking by the door" match. Used by ``bench/asr.py`` and to check cached transcripts
(:mod:`emodemo.speech.transcripts`) against RAVDESS's two known sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def normalise(text: str) -> list[str]:
    """Lowercase, drop everything but letters, digits, apostrophes and spaces, split into words."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences (substitution, deletion, insertion cost 1)."""
    previous = list(range(len(hypothesis) + 1))  # distances from an empty reference prefix
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (ref_word != hyp_word),
                )
            )  # substitution / match
        previous = current
    return previous[-1]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: total word edits over total reference words, after :func:`normalise`."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    edits = sum(edit_distance(normalise(r), normalise(h)) for r, h in zip(references, hypotheses))
    words = sum(len(normalise(r)) for r in references)
    if words == 0:
        raise ValueError("the references hold no words, so the word error rate is undefined")
    return edits / words
