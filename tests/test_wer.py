"""Word error rate: word-level edit distance over reference words, after normalising case and punctuation."""

from __future__ import annotations

import pytest

from emodemo.speech.wer import edit_distance, normalise, word_error_rate


def test_edit_distance_counts_substitutions_deletions_and_insertions():
    reference = "kids are talking by the door".split()
    assert edit_distance(reference, reference) == 0
    assert edit_distance(reference, "kids are walking by the door".split()) == 1  # substitution
    assert edit_distance(reference, "kids are talking by door".split()) == 1  # deletion
    assert edit_distance(reference, "the kids are talking by the door".split()) == 1  # insertion
    assert edit_distance(reference, []) == 6 and edit_distance([], ["door"]) == 1


def test_case_and_punctuation_do_not_count_as_errors():
    assert normalise("Kids are talking, by the DOOR!") == "kids are talking by the door".split()
    assert normalise("Dogs aren't sitting...") == ["dogs", "aren't", "sitting"]
    assert word_error_rate(["Kids are talking by the door"], ["kids are talking by the door."]) == 0


def test_corpus_wer_sums_edits_over_all_reference_words():
    references = ["Kids are talking by the door", "Dogs are sitting by the door"]
    assert word_error_rate(references, ["Kids are talking by the door.", "Dogs sitting by the floor"]) == pytest.approx(
        2 / 12
    )


def test_mismatched_or_empty_inputs_are_refused():
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        word_error_rate(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no words"):
        word_error_rate(["..."], ["door"])
