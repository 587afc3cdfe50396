"""Real and constructed (label-matched) text-audio pairs: labels agree, no text line crosses parts,
the draw is deterministic and balanced, and missing data fails clearly."""

from __future__ import annotations

import logging
import random
from collections import Counter

import pytest
from conftest import shared_dataset

from emodemo import data
from emodemo.core.labels import CANONICAL7, to_canonical
from emodemo.data import layouts
from emodemo.data.splits import Fold, load_splits
from emodemo.protocols import pairing
from emodemo.speech import asr

FOLD = Fold("fixture", train=("Actor_01",), val=("Actor_02",), test=("Actor_03",))
PARTS = dict(zip(pairing.PARTS, ("train", "dev", "test")))  # our part -> the text split it draws from


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = layouts.make_ravdess(tmp_path_factory.mktemp("ravdess"), actors=(1, 2, 3), fmt="flac", seconds=0.1)
    return data.load("ravdess", root)


@pytest.fixture(scope="module")
def clips_but_sad(clips):
    """The fixture GoEmotions has no single-label sad comment (its sad rows are multi-label)."""
    return [s for s in clips if s.label != "sad"]


@pytest.fixture(scope="module")
def goemotions_root(tmp_path_factory):
    # 120 rows per split: 12 single-label lines of each emotion but happy (36) and sad (none),
    # as many as one actor's clips need (12 neutral incl. calm, 8 of each other emotion)
    return layouts.make_goemotions(
        tmp_path_factory.mktemp("goemotions"), rows={s: 120 for s in ("train", "dev", "test")}
    )


@pytest.fixture(scope="module")
def pairs(clips_but_sad, goemotions_root):
    return pairing.constructed_pairs(clips_but_sad, FOLD, "goemotions", goemotions_root, seed=0)


def lines_by_id(pools) -> dict[str, data.Sample]:
    return {line.id: line for part in pools.values() for lines in part.values() for line in lines}


def check_label_matched(parts, pools, fold):
    """Every pair: canonical audio label == pair label == its text line's label; parts follow the fold."""
    lines = lines_by_id(pools)
    for part, pairs_of_part, speakers in zip(pairing.PARTS, parts, (fold.train, fold.val, fold.test)):
        assert pairs_of_part, part
        for pair in pairs_of_part:
            line = lines[pair.meta["text_id"]]
            assert pair.label == to_canonical(pair.meta["audio_label"]) == line.label and pair.labels == (pair.label,)
            assert pair.text == line.text and pair.split == part and pair.speaker in speakers
            assert pair.meta["pairing"] == "constructed" and "constructed" in pair.meta["pairing_name"]
            assert "words" not in pair.meta and pair.audio is not None


def used_lines(parts) -> list[set[str]]:
    return [{p.meta["text_id"] for p in part} for part in parts]


def test_every_pair_is_label_matched(pairs, clips_but_sad, goemotions_root):
    check_label_matched(pairs, pairing.text_pools("goemotions", goemotions_root), FOLD)
    assert sum(map(len, pairs)) == len(clips_but_sad)  # every clip paired once
    assert {p.meta["audio_label"] for p in pairs[0]} == set(layouts.ravdess.RAVDESS_CODES.values()) - {"sad"}
    assert pairs[0][0].meta["pairing_name"] == "constructed (GoEmotions lines)"


def test_no_text_line_serves_two_parts_and_each_part_uses_its_own_split(pairs):
    train, val, test = used_lines(pairs)
    assert not (train & val) and not (train & test) and not (val & test)
    for part, pairs_of_part in zip(pairing.PARTS, pairs):
        assert {p.meta["text_split"] for p in pairs_of_part} == {PARTS[part]}


def test_lines_are_not_reused_while_the_pool_lasts(pairs):
    counts = pairing.pair_counts(*pairs)
    for part in pairing.PARTS:
        assert set(counts[part]["max_uses"].values()) == {1}
        assert counts[part]["text_lines"] == counts[part]["pairs"] == 52  # 60 takes of one actor, 8 sad left out
        assert counts[part]["by_label"]["neutral"] == 12
        assert counts[part]["pairing_name"] == ["constructed (GoEmotions lines)"]


def test_same_seed_same_pairs_whatever_the_input_order(pairs, clips_but_sad, goemotions_root):
    shuffled = random.Random(1).sample(clips_but_sad, len(clips_but_sad))
    again = pairing.constructed_pairs(shuffled, FOLD, "goemotions", goemotions_root, seed=0)
    assert [[(p.id, p.text) for p in part] for part in again] == [[(p.id, p.text) for p in part] for part in pairs]
    other = pairing.constructed_pairs(clips_but_sad, FOLD, "goemotions", goemotions_root, seed=1)
    assert [p.id for p in other[0]] != [p.id for p in pairs[0]]


def test_a_small_pool_is_reused_evenly_with_a_warning(clips_but_sad, tmp_path, caplog):
    root = layouts.make_goemotions(tmp_path, rows={s: 30 for s in ("train", "dev", "test")})  # 3 lines per emotion
    with caplog.at_level(logging.WARNING, logger="emodemo.protocols.pairing"):
        train, _, _ = pairing.constructed_pairs(clips_but_sad, FOLD, "goemotions", root)
    uses = Counter((p.label, p.meta["text_id"]) for p in train)
    neutral = [n for (label, _), n in uses.items() if label == "neutral"]
    disgust = [n for (label, _), n in uses.items() if label == "disgust"]
    assert sorted(neutral) == [4, 4, 4] and sorted(disgust) == [2, 3, 3]  # 12 and 8 clips over 3 lines
    assert max(p.meta["text_use"] for p in train if p.label == "neutral") == 3
    assert "3 neutral lines for 12 train clips" in caplog.text


def test_an_emotion_missing_from_a_text_split_is_a_clear_error(clips, goemotions_root):
    with pytest.raises(ValueError, match="no 'sad' line for the 8 sad train clips"):
        pairing.constructed_pairs(clips, FOLD, "goemotions", goemotions_root)


def test_bad_options_and_labels_outside_the_canonical_set_are_refused(clips_but_sad, goemotions_root):
    with pytest.raises(ValueError, match="text_source must be one of"):
        pairing.constructed_pairs(clips_but_sad, FOLD, "reddit", goemotions_root)
    bored = [data.Sample(id="x", dataset="emodb", label="bored", speaker="Actor_01")]
    with pytest.raises(ValueError, match="'bored', which has no place"):
        pairing.constructed_pairs(bored, Fold("one", ("Actor_01",), (), ()), "goemotions", goemotions_root)


def test_meld_with_an_official_test_split_pairs_from_train_dev_and_test(clips, tmp_path):
    root = layouts.make_meld(tmp_path)  # every emotion in each split
    parts = pairing.constructed_pairs(clips, FOLD, "meld", root, seed=3)
    check_label_matched(parts, pairing.text_pools("meld", root), FOLD)
    assert [{p.meta["text_split"] for p in part} for part in parts] == [{"train"}, {"dev"}, {"test"}]
    assert parts[0][0].meta["pairing_name"] == "constructed (MELD lines)"


def test_meld_without_test_halves_dev_by_dialogue(tmp_path):
    dev = data.load("meld", layouts.make_meld(tmp_path, splits=("train", "dev")), split="dev")
    val, test = pairing.meld_dev_halves(dev)
    dialogues = [{s.meta["dialogue_id"] for s in half} for half in (val, test)]
    assert dialogues[0] and dialogues[1] and not dialogues[0] & dialogues[1]
    assert sorted(s.id for s in val + test) == sorted(s.id for s in dev)
    assert pairing.meld_dev_halves(dev) == (val, test)
    pools = pairing.text_pools("meld", tmp_path)  # the pools use those halves
    assert {line.id for lines in pools["val"].values() for line in lines} == {s.id for s in val}
    assert {line.id for lines in pools["test"].values() for line in lines} == {s.id for s in test}


def test_real_pairs_carry_each_clip_with_its_own_words(clips):
    chosen = clips[:3]
    heard = {
        s.id: asr.Transcript(
            f"Words of {s.id}.",
            [asr.Word("Words", 0.1, 0.4, 0.9), asr.Word("of", 0.4, 0.5, 0.8)],
            "en",
            "faster-whisper",
            0.2,
            0.1,
            "tiny.en",
        )
        for s in chosen
    }
    real = pairing.real_pairs(chosen, heard)
    assert [p.text for p in real] == [f"Words of {s.id}." for s in chosen]
    assert real[0].meta["words"] == [("Words", 0.1, 0.4), ("of", 0.4, 0.5)]
    assert real[0].meta["pairing"] == "real" and real[0].meta["pairing_name"] == pairing.REAL_PAIRING_NAME
    assert [(p.id, p.label, p.speaker, p.audio) for p in real] == [(s.id, s.label, s.speaker, s.audio) for s in chosen]
    assert pairing.pair_counts(real, [], [])["train"]["text_lines"] == 3
    with pytest.raises(ValueError, match="1 of 4 samples have no transcript"):
        pairing.real_pairs(clips[:4], heard)


def test_mixed_pairs_hold_every_clip_once_with_a_line_and_once_with_its_own_words(
    clips_but_sad, goemotions_root, pairs
):
    heard = {
        s.id: asr.Transcript(f"Words of {s.id}.", [], "en", "faster-whisper", 0.2, 0.1, "tiny.en")
        for s in clips_but_sad
    }
    mixed = pairing.mixed_pairs(clips_but_sad, heard, FOLD, "goemotions", goemotions_root, seed=0)
    for part, constructed, both in zip(pairing.PARTS, pairs, mixed):
        real = [p for p in both if p.meta["pairing"] == "real"]
        assert [p.id for p in both[: len(constructed)]] == [p.id for p in constructed], part
        assert sorted(p.audio for p in real) == sorted(p.audio for p in constructed), part
        assert all(p.text == f"Words of {p.id}." for p in real)
    assert "GoEmotions line" in pairing.mixed_pairing_name("goemotions") and "own words" in pairing.mixed_pairing_name(
        "goemotions"
    )


# --- the committed RAVDESS fold 0 with the real GoEmotions and MELD ------------------------------


@pytest.fixture(scope="module")
def fold0_clips():
    return data.load("ravdess", shared_dataset("ravdess_speech"), actors=range(1, 21))


def expected_counts(actors: int) -> dict[str, int]:
    """RAVDESS takes per actor: neutral 4 + calm 8 -> 12 canonical neutral, 8 of each other emotion."""
    return {label: actors * (12 if label == "neutral" else 8) for label in CANONICAL7}


@pytest.mark.parametrize("text_source, folder", [("goemotions", "goemotions"), ("meld", "meld_text")])
def test_fold0_constructed_pairs_from_the_real_corpora(fold0_clips, text_source, folder):
    fold = load_splits("ravdess_5fold_seed0.json")[0]
    root = shared_dataset(folder)
    parts = pairing.constructed_pairs(fold0_clips, fold, text_source, root, seed=0)
    pools = pairing.text_pools(text_source, root)
    check_label_matched(parts, pools, fold)
    counts = pairing.pair_counts(*parts)
    for part, speakers in zip(pairing.PARTS, (fold.train, fold.val, fold.test)):
        assert counts[part]["by_label"] == expected_counts(len(speakers))
        assert counts[part]["pairs"] == 60 * len(speakers)
    train, val, test = used_lines(parts)
    assert not (train & val) and not (train & test) and not (val & test)
    for part, pairs_of_part in zip(pairing.PARTS, parts):  # repeats only where the pool is too small
        needed = Counter(p.label for p in pairs_of_part)
        for label, most in counts[part]["max_uses"].items():
            assert most == -(-needed[label] // len(pools[part][label]))
    if text_source == "meld":  # the two dev halves share no dialogue
        val_dialogues = {p.meta["text_id"].split("_utt")[0] for p in parts[1]}
        test_dialogues = {p.meta["text_id"].split("_utt")[0] for p in parts[2]}
        assert {p.meta["text_split"] for p in parts[2]} == {"dev"} and not val_dialogues & test_dialogues


def test_a_card_says_whether_its_model_learnt_to_read_no_words():
    """The words gate reads this from a checkpoint's pairing name, whatever training added after it."""
    mixed = "mixed (each clip twice: with a GoEmotions line, and with its own words)"
    no_words = pairing.no_words_pairing_name(mixed)
    assert pairing.learnt_no_words(no_words)
    assert pairing.learnt_no_words(pairing.neutral_lines_pairing_name(no_words))
    assert not pairing.learnt_no_words(mixed) and not pairing.learnt_no_words(None)
    assert not pairing.learnt_no_words(pairing.neutral_lines_pairing_name(mixed))
