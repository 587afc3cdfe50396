"""Whisper in int8 for the app, without retraining a words model: what changes in the transcripts, in what the voice +
words models answer as served, and in what a user waits for.

``EMODEMO_WHISPER_COMPUTE`` (``emodemo.speech.asr``) sets faster-whisper's arithmetic on a CPU: int8 since 2026-12-08,
float32 before; every served words model was trained on float32 transcripts. Three parts, each with both settings:

* ``transcripts``: RAVDESS actors 01-20 (the clips the served models' cross-validation reads), each clip's transcript
  in float32 and in int8 (both cached apart): how many differ in their text, in their words once lowercased and
  stripped of punctuation, and in whether Whisper was guessing (``Transcript.guessed``: the app reads no words then),
  and each setting's word error rate against the sentences the actors read;
* ``served``: each served voice + words model scored as served (``served_cv.scored_as_served``: its fold models on
  their test actors, 7 classes, the words gate reading the transcripts' own confidences), WA in percent, mean over the
  5 test folds, for each reading (a GoEmotions line, own words, no words);
* ``tess``: the same models on TESS's choose half (words 1-25, 350 clips; a second corpus, never trained on), as
  the harness reads it (``serving.evaluation.score``, words from each setting's transcripts): UA and the collapse
  (the share of clips given the most frequent answer), in percent. The report half is not read;
* ``app``: the app's answer for ``bench/app.py``'s 5 s clip (analyse + explain, remembered encodings forgotten each
  round), the two settings interleaved in one process (the same hour for both), each taking the first turn of a pair
  in turn (float32, int8, int8, float32, ...: a slow call that recurs every few calls falls on both alike): the
  median of ``--rounds`` each after 2 warm-ups each, and the transcription stage's; each round's call number is kept.

Usage::

    python bench/int8_transcripts.py [--root RAVDESS] [--tess TESS] [--parts transcripts,served,tess,app]

Writes ``bench/results/int8_transcripts.json`` (the parts not asked for are kept) and prints a table. A first run
transcribes the 1,200 clips in int8 (about 9 minutes here); run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from timing import five_second_clip, machine, save_and_print  # noqa: E402

from emodemo import data  # noqa: E402
from emodemo.data.ravdess import SENTENCES  # noqa: E402
from emodemo.recipes.frozen_states import forget_clips  # noqa: E402
from emodemo.serving import CHECKPOINTS, Pipeline, evaluation, load_models, served_cv  # noqa: E402
from emodemo.speech import asr, normalise, transcripts, word_error_rate  # noqa: E402

SETTINGS = asr.CPU_COMPUTE_TYPES  # float32 (trained on), int8 (served)
SERVED = ("coattention", "mesm", "nmt_attention", "ssl_mha", "ssl_mha/cross")  # the voice + words models
PARTS = ("transcripts", "served", "tess", "app")
OUT = REPO / "bench" / "results" / "int8_transcripts"


def in_setting(compute: str) -> None:
    """Make this process's transcriptions (and their cache) faster-whisper's ``compute`` ones."""
    os.environ[asr.COMPUTE_ENV] = compute


def transcript_changes(first: dict, second: dict) -> dict:
    """How ``second``'s transcripts (``{clip id: Transcript}``) differ from ``first``'s, over the clips of ``first``:
    counts of another text, other words (as word error rates read them: ``normalise``) and another ``guessed()``, and
    up to 8 changed words' pairs."""
    ids = sorted(first)
    other_words = [i for i in ids if normalise(first[i].text) != normalise(second[i].text)]
    return {
        "clips": len(ids),
        "other_text": sum(first[i].text != second[i].text for i in ids),
        "other_words": len(other_words),
        "other_guessed": sum(first[i].guessed() != second[i].guessed() for i in ids),
        "examples": [[first[i].text, second[i].text] for i in other_words[:8]],
    }


def transcripts_part(root: Path) -> dict:
    clips = data.load("ravdess", root, actors=range(1, 21))
    references = [SENTENCES[f"{c.meta['statement']:02d}"] for c in clips]
    heard, wer = {}, {}
    for compute in SETTINGS:
        in_setting(compute)
        heard[compute] = transcripts.transcribe_samples(clips, progress=False)
        wer[compute] = word_error_rate(references, [heard[compute][c.id].text for c in clips])
    return {**transcript_changes(*(heard[c] for c in SETTINGS)), "wer": wer}


def served_part(root: Path, text_root: Path) -> dict:
    """``{model: {setting: {reading: WA}}}``, each model scored as served with each setting's transcripts."""
    scores: dict = {}
    for name in SERVED:
        folder = CHECKPOINTS / name
        for compute in SETTINGS:
            in_setting(compute)
            scored = served_cv.scored_as_served(folder.name, root, text_root, folder.parent)
            by_reading = {k: round(100 * v["summary"]["WA"]["mean"], 2) for k, v in scored["by_pairing"].items()}
            scores.setdefault(name, {})[compute] = by_reading
    return scores


def tess_part(tess_root: Path) -> dict:
    """``{model: {setting: {"UA", "collapse", "answer"}}}`` on TESS's choose half, words from each setting's
    transcripts."""
    choose = [s for s in data.load("tess", tess_root) if s.split == "choose"]
    scores: dict = {}
    for loaded in load_models(list(SERVED)):
        for compute in SETTINGS:
            in_setting(compute)
            scored = evaluation.score(loaded, choose, "tess", transcribe=True)
            row = {"UA": round(100 * scored["UA"], 2), "collapse": round(100 * scored["collapse"], 2)}
            scores.setdefault(loaded.name, {})[compute] = {**row, "answer": scored["most_frequent_answer"]}
    return scores


def turns(rounds: int) -> list[str]:
    """The settings in the order they answer: pairs, each setting first in every other pair (A B B A A B ...)."""
    pairs = [SETTINGS if k % 2 == 0 else SETTINGS[::-1] for k in range(rounds)]
    return [compute for pair in pairs for compute in pair]


def app_part(root: Path, rounds: int) -> dict:
    """The app's answer, seconds, each setting: ``median``, every round's (and its call number), and the transcription
    stage's median."""
    pipeline = Pipeline()
    times: dict = {c: [] for c in SETTINGS}
    calls: dict = {c: [] for c in SETTINGS}
    scribe: dict = {c: [] for c in SETTINGS}
    heard = {}
    with tempfile.TemporaryDirectory() as folder:
        clip = five_second_clip(root, Path(folder))
        for k, compute in enumerate(turns(rounds + 2)):
            in_setting(compute)
            forget_clips()  # each round pays as for a new clip
            started = time.perf_counter()
            result = pipeline.analyse(clip)
            pipeline.explain(result)
            if k >= 2 * len(SETTINGS):  # after 2 warm-ups each
                times[compute].append(time.perf_counter() - started)
                calls[compute].append(k)
                scribe[compute].append(result.timings["transcribe"])
            heard[compute] = result.transcript.text
    return {
        c: {
            "median_s": statistics.median(times[c]),
            "rounds_s": times[c],
            "calls": calls[c],
            "transcribe_s": statistics.median(scribe[c]),
            "transcript": heard[c],
        }
        for c in SETTINGS
    }


def table(result: dict) -> list[dict]:
    """One row per served model and reading (WA float32, int8, the move), and one for the app's answer."""
    rows = []
    for name, by_setting in result.get("served", {}).items():
        for reading in by_setting[SETTINGS[0]]:
            row = {"row": f"{name}: {reading}", **{c: by_setting[c][reading] for c in SETTINGS}}
            rows.append({**row, "move": round(row[SETTINGS[1]] - row[SETTINGS[0]], 2)})
    for name, by_setting in result.get("tess", {}).items():
        for count in ("UA", "collapse"):
            row = {"row": f"{name}: TESS choose {count}", **{c: by_setting[c][count] for c in SETTINGS}}
            rows.append({**row, "move": round(row[SETTINGS[1]] - row[SETTINGS[0]], 2)})
    if "app" in result:
        app = {c: round(result["app"][c]["median_s"], 3) for c in SETTINGS}
        rows.append({"row": "app answer, s (median)", **app, "move": round(app[SETTINGS[1]] - app[SETTINGS[0]], 3)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets" / "ravdess_speech")
    parser.add_argument("--text-root", type=Path, default=REPO.parent / "shared" / "datasets" / "goemotions")
    parser.add_argument("--tess", type=Path, default=REPO.parent / "shared" / "datasets" / "tess")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--rounds", type=int, default=14)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    asked = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(asked) - set(PARTS))
    if unknown:
        parser.error(f"no part {unknown}: choose of {', '.join(PARTS)}")
    saved = args.out.with_suffix(".json")
    result = json.loads(saved.read_text(encoding="utf-8")) if saved.is_file() else {}
    result.update(machine=machine(), settings=list(SETTINGS), models=list(SERVED))
    if "app" in asked:  # first, in a process that has loaded nothing else (after the scoring, its rounds spread wider)
        result["app"] = app_part(args.root, args.rounds)
    if "transcripts" in asked:
        result["transcripts"] = transcripts_part(args.root)
    if "served" in asked:
        result["served"] = served_part(args.root, args.text_root)
    if "tess" in asked:
        result["tess"] = tess_part(args.tess)
    result["rows"] = table(result) or [{"row": "(no part measured yet)"}]
    save_and_print(result, args.out, label="row")
    if "transcripts" in result:
        t = result["transcripts"]
        print(
            f"transcripts of {t['clips']} clips: {t['other_text']} another text, {t['other_words']} other words, "
            f"{t['other_guessed']} another guess; word error rate "
            + ", ".join(f"{c} {t['wer'][c]:.4f}" for c in SETTINGS)
        )


if __name__ == "__main__":
    main()
