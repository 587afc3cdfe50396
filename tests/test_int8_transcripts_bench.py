"""bench/int8_transcripts.py: how int8 transcripts differ from float32 ones, and the table it prints."""

import bench_scripts

from emodemo.speech import asr

BENCH = bench_scripts.load("int8_transcripts")


def heard(text: str, confidence: float = 0.9) -> asr.Transcript:
    words = [asr.Word(w, 0.1 * k, 0.1 * (k + 1), confidence) for k, w in enumerate(text.split())]
    return asr.Transcript(text, words, "en", "faster-whisper", 0.1, 3.0, "tiny.en")


def test_changes_count_another_text_other_words_and_another_guess_apart():
    float32 = {"a": heard("Kids are talking by the door."), "b": heard("Dogs are sitting by the door.")}
    float32["c"] = heard("Kids are talking by the door.", confidence=0.3)  # a guess: read as no words
    int8 = {"a": heard("kids are talking by the door!"), "b": heard("Dog is our sitting by the door.")}
    int8["c"] = heard("Kids are talking by the door.", confidence=0.9)
    changes = BENCH.transcript_changes(float32, int8)
    assert changes["clips"] == 3 and changes["other_text"] == 2  # case and punctuation count as another text ...
    assert changes["other_words"] == 1  # ... not as other words
    assert changes["examples"] == [["Dogs are sitting by the door.", "Dog is our sitting by the door."]]
    assert changes["other_guessed"] == 1


def test_the_table_gives_each_model_and_reading_its_move_and_the_apps_answer():
    result = {
        "served": {"mesm": {"float32": {"real": 75.25, "none": 75.17}, "int8": {"real": 74.92, "none": 75.17}}},
        "tess": {"mesm": {"float32": {"UA": 56.57, "collapse": 29.1}, "int8": {"UA": 56.86, "collapse": 28.6}}},
        "app": {"float32": {"median_s": 1.185}, "int8": {"median_s": 0.925}},
    }
    rows = BENCH.table(result)
    assert rows[0] == {"row": "mesm: real", "float32": 75.25, "int8": 74.92, "move": -0.33}
    assert rows[1]["move"] == 0.0
    assert rows[2] == {"row": "mesm: TESS choose UA", "float32": 56.57, "int8": 56.86, "move": 0.29}
    assert rows[3]["row"] == "mesm: TESS choose collapse" and rows[3]["move"] == -0.5
    assert rows[-1] == {"row": "app answer, s (median)", "float32": 1.185, "int8": 0.925, "move": -0.26}


def test_each_setting_answers_first_in_every_other_pair():
    """A slow call that recurs every few calls must not fall on one setting only (it did, every 6th call, while
    float32 always went first)."""
    assert BENCH.turns(4) == ["float32", "int8", "int8", "float32", "float32", "int8", "int8", "float32"]
    order = BENCH.turns(6)
    assert all(len(set(order[start::6])) == 2 for start in range(6))  # every sixth call falls on both settings
