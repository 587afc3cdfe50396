"""bench/guessed_words.py part 5's readings: a written line read as a user's own spoken sentence."""

import importlib.util
from pathlib import Path

from emodemo.speech import Transcript, Word


def _bench():
    path = Path(__file__).parents[1] / "bench" / "guessed_words.py"
    spec = importlib.util.spec_from_file_location("bench_guessed_words", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_neutral_line_is_read_as_sure_words_spread_over_the_clips_speech():
    """The line's words reach a model as Whisper's would for a sentence spoken in the clip: every word,
    in order, sure enough to be read (not a guess), and timed within the clip's own speech."""
    own = Transcript(
        "Kids are talking by the door",
        [Word(w, 0.7 + 0.3 * i, 0.9 + 0.3 * i, 0.9) for i, w in enumerate("Kids are talking by the door".split())],
        "en",
        "faster-whisper",
        0.1,
        3.2,
        "tiny.en",
    )
    line = "I think I will go to the shop after work"
    heard = _bench().spoken(line, own)
    assert heard.as_read().text == line and [w.text for w in heard.words] == line.split()
    assert heard.words[0].start == own.words[0].start and abs(heard.words[-1].end - own.words[-1].end) < 1e-9
    starts = [w.start for w in heard.words]
    assert starts == sorted(starts) and all(w.end > w.start for w in heard.words)
    assert heard.duration == own.duration
