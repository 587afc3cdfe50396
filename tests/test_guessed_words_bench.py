"""bench/guessed_words.py part 5's readings: a written line read as a user's own spoken sentence."""

import bench_scripts
import pytest

from emodemo.speech import Transcript, Word


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
    heard = bench_scripts.load("guessed_words").spoken(line, own)
    assert heard.as_read().text == line and [w.text for w in heard.words] == line.split()
    assert heard.words[0].start == own.words[0].start and abs(heard.words[-1].end - own.words[-1].end) < 1e-9
    starts = [w.start for w in heard.words]
    assert starts == sorted(starts) and all(w.end > w.start for w in heard.words)
    assert heard.duration == own.duration


def test_scoring_part_5_again_for_one_model_keeps_every_other_row_and_draws_mains_guesses(tmp_path, monkeypatch):
    """``--models``: the swapped model's part-5 row is replaced where it stood, every other part and model as saved,
    and its guesses and neutral lines are the ones the full run draws (the same seed, as many test clips)."""
    import json

    import numpy as np

    bench = bench_scripts.load("guessed_words")
    saved = {"rows": [{"fused with": "x", "WA": 0.5}], "models that read the voice and words": []}
    saved["models that read the voice and words"] = [{"model": "a", "WA": 1}, {"model": "b", "WA": 2}]
    monkeypatch.setattr(bench, "OUT", tmp_path / "guessed_words")
    (tmp_path / "guessed_words.json").write_text(json.dumps(saved))
    asked = {}

    def fake_rows(clips, folds, transcripts, german_words, drawn, lines, goemotions, only=None):
        asked.update(drawn=drawn, lines=lines, only=only)
        return [{"model": "b", "WA": 3}]

    monkeypatch.setattr(bench, "words_models_rows", fake_rows)
    monkeypatch.setattr(bench, "neutral_lines", lambda root, n, seed: [f"line {i}" for i in range(n)])
    tests = {"f0": ["c1", "c2"], "f1": ["c3"]}  # each fold's test clips
    monkeypatch.setattr("emodemo.data.splits.apply", lambda pairs, fold: (None, None, tests[fold]))
    monkeypatch.setattr("emodemo.protocols.pairing.real_pairs", lambda clips, transcripts: clips)
    guessed = [type("G", (), {"id": f"g{k}"})() for k in range(4)]
    bench.rescore_words_models(["b"], [], ["f0", "f1"], {}, {}, guessed, tmp_path, 7)
    again = json.loads((tmp_path / "guessed_words.json").read_text())
    assert again["models that read the voice and words"] == [{"model": "a", "WA": 1}, {"model": "b", "WA": 3}]
    assert again["rows"] == saved["rows"] and asked["only"] == ["b"]
    expected = [f"g{k}" for k in np.random.default_rng(7).integers(4, size=3)]
    assert asked["drawn"] == expected and asked["lines"] == ["line 0", "line 1", "line 2"]
    monkeypatch.setattr(bench, "words_models_rows", lambda *args, **kwargs: [])
    with pytest.raises(SystemExit, match="not served voice \\+ words models: c"):
        bench.rescore_words_models(["c"], [], ["f0", "f1"], {}, {}, guessed, tmp_path, 7)
