"""What the fused answer does with words Whisper only guessed (speech in another language, issue 20).

The app's Whisper (tiny.en) knows English only: on German speech it writes English-sounding guesses,
which the models that read words used to read as real words. The served fusion was fitted on clips
whose words Whisper heard, so the app leaves the words out of the fused answer when Whisper's median
word confidence is under ``emodemo.speech.asr.UNSURE_WORDS`` (0.6), and every model then reads no
words (:meth:`emodemo.speech.asr.Transcript.as_read`). This measures:

1. **How often the line trips**: the share of clips under it, on RAVDESS (1,200 clips) and TESS (700),
   English, where it should not trip, and on German speech, where it should. No German emotional corpus
   is at hand (EmoDB is kept aside), so the German is spoken by espeak-ng (30 sentences of every
   emotion, 3 voices, 90 clips): synthetic, flat, but German, which is what Whisper's guessing turns on.
2. **What the words expert says to a guess**: its answers' shares and mean top probability on those
   90 German transcripts.
3. **What a guess does to the fused answer**: RAVDESS actors 01-20, the committed 5 folds by actor,
   7 classes (calm = neutral), each clip answered by the fold voice model that never heard its actor
   (``--voice``, calibrated on its validation actors), fused by the served rule
   (``checkpoints/fusion/stacker.json``) with (a) nothing (the voice alone: what the app now serves
   when the words are a guess), (b) the words expert's answer to a German guess drawn at random for
   each clip (seeded): the fusion as it was served before, on emotional speech whose words Whisper
   cannot read, and (c) the words expert's answer to the clip's own words, for reference. WA, UA,
   the share answered "neutral", and the answers over the "unsure" line with their accuracy, pooled
   over the test folds: the fusion's line for (b) and (c); for (a) each fold voice model's own line on
   its own answer, as the app points to the voice expert's line when the words take no part.
4. **What the line does where Whisper mishears English**: the robustness set's changed takes of the
   same test actors (``emodemo.serving.cross_corpus.robustness_set``: clean, level -20 / +20 dB, white
   noise 10 dB, babble 5 dB, telephone band; clips the app refuses left out), each with Whisper's words of
   the changed clip: per condition, how many transcripts are under the line, and the fused WA with
   every clip's words fused in, as served (guessed words left out), and the voice alone; also on the
   guessed clips alone.
5. **What a guess does to the models that hear the voice and read words**: every served one with fold
   models (``emodemo.serving.cross_corpus.fold_checkpoints``), on the same test actors (each clip
   answered by the fold model that never heard its actor), reading (a) the clip's own words as the app
   reads them, (b) a German clip's guessed words drawn at random for each clip (seeded; the same draw
   as in 3, its word times moved onto the clip's speech for the models that align words with the
   sound) read as words, as served before, (c) that guess as the app now reads it: no words, (d) English words no
   actor said, as a user's own neutral sentence gives them: a neutral line of GoEmotions' test split drawn
   for each clip (seeded), and (e) a GoEmotions test line of the clip's emotion (its constructed pair,
   seeded as in training). Each as served: through the words gate (``emodemo.serving.words_gate``: a
   model that learnt to read no words reads none when the words expert hears no emotion in them); a gated
   model also without the gate, as served before. WA, UA and the collapse, pooled over the test folds.

    python bench/guessed_words.py --voice checkpoints/speech_probe --root ../shared/datasets/ravdess_speech \\
        --tess ../shared/datasets/tess
    python bench/guessed_words.py ... --models nmt_attention   # part 5 again for a swapped served model alone,
                                                               # every other part and row as saved

Writes ``bench/results/guessed_words.json`` and ``.png`` (the share of each answer); needs espeak-ng
and ffmpeg; about 20 minutes on a 2-core CPU once the transcripts (RAVDESS, TESS, the robustness set) are cached.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from fusion import answers_of, top  # noqa: E402
from timing import save_and_print  # noqa: E402

from emodemo.core import CANONICAL7, classification_report  # noqa: E402
from emodemo.serving import Stacker, unsure_line  # noqa: E402

OUT = REPO / "bench" / "results" / "guessed_words"
VOICES = ("de", "de+f3", "de+m3")  # espeak-ng's German voice, and a female and a male variant of it
GERMAN = (  # what the clips say: every emotion, some flat lines
    "Ich habe heute den ganzen Tag auf dich gewartet, und du bist nicht gekommen.",
    "Das ist das Schönste, was mir je passiert ist, ich freue mich so sehr.",
    "Hör sofort damit auf, ich habe es dir hundertmal gesagt.",
    "Sie ist nicht mehr da, und nichts wird je wieder so sein wie früher.",
    "Ich habe Angst, dass im Dunkeln jemand hinter mir her ist.",
    "Das ist ja widerlich, nimm das sofort weg von mir.",
    "Was, du bist schon zurück? Damit habe ich überhaupt nicht gerechnet.",
    "Der Zug fährt um acht Uhr vom zweiten Gleis ab.",
    "Morgen soll es regnen, und am Wochenende wird es wieder wärmer.",
    "Ich bin so wütend, dass ich kaum noch sprechen kann.",
    "Wir haben gewonnen, ich kann es noch gar nicht glauben!",
    "Mein Hund ist letzte Nacht gestorben, und ich vermisse ihn.",
    "Bitte lass mich nicht allein, ich fürchte mich so.",
    "Der Geruch in diesem Keller ist einfach ekelhaft.",
    "Ach, das hätte ich nie gedacht, was für eine Überraschung.",
    "Das Treffen ist auf Dienstag verschoben worden.",
    "Die Kinder spielen draußen im Garten hinter dem Haus.",
    "Warum hast du mich schon wieder angelogen?",
    "Heute ist mein Geburtstag, und alle meine Freunde sind hier.",
    "Ich weiß nicht, wie ich ohne sie weiterleben soll.",
    "Da ist ein Geräusch an der Tür, hast du das gehört?",
    "Er hat mit vollem Mund auf den Tisch gespuckt.",
    "Du hast wirklich die Prüfung bestanden? Unglaublich!",
    "Die Hunde sitzen an der Tür und warten auf das Essen.",
    "Ich muss noch Brot und Milch beim Bäcker kaufen.",
    "Lass mich endlich in Ruhe, ich will nichts mehr hören.",
    "Endlich Ferien, wir fahren morgen ans Meer!",
    "Es tut so weh, dass du gegangen bist.",
    "Ich zittere am ganzen Körper, da draußen ist etwas.",
    "Igitt, in der Suppe schwimmt ein Haar.",
)


def german_clips(folder: Path) -> list:
    """The German lines spoken by each of :data:`VOICES`, as 16 kHz mono WAV samples."""
    from emodemo.data.record import Sample

    samples = []
    for i, line in enumerate(GERMAN):
        for voice in VOICES:
            raw, wav = folder / "raw.wav", folder / f"de_{i:02d}_{voice.replace('+', '_')}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", "150", line, "-w", str(raw)], check=True, timeout=60)
            subprocess.run(
                ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(raw), "-ar", "16000", "-ac", "1", str(wav)],
                check=True,
                timeout=60,
            )
            # espeak's voice carries no emotion: "neutral" only fills the class the datasets need
            samples.append(Sample(id=wav.stem, dataset="espeak-ng German", label="neutral", audio=wav))
    return samples


def flagged(samples, transcripts) -> dict:
    """How many of ``samples``' transcripts the app treats as guessed, and their median word confidence."""
    n = sum(transcripts[s.id].guessed() for s in samples)
    confidence = float(np.median([transcripts[s.id].word_confidence() for s in samples]))
    share = round(n / len(samples), 4)
    return {"clips": len(samples), "guessed": n, "share": share, "median word confidence": round(confidence, 4)}


def fused_row(name: str, stacker: Stacker, answers: list[dict], truth: list[str], lines: list | None = None) -> dict:
    """WA, UA, "neutral" share and the share over the unsure line (with its accuracy) of fused answers.
    With ``lines`` (one per clip) the answers are the voice's alone, as the app shows them when the
    words take no part: each clip's voice answer against its voice model's own "unsure" line."""
    fused = [stacker(a) for a in answers] if lines is None else [a["audio"] for a in answers]
    lines = lines or [stacker.unsure_below] * len(fused)
    guesses = [top(f) for f in fused]
    report = classification_report(truth, guesses, CANONICAL7)
    over = np.array([max(f.values()) >= line for f, line in zip(fused, lines)])
    right = np.array([g == t for g, t in zip(guesses, truth)])
    return {
        "fused with": name,
        "WA": round(report["WA"], 4),
        "UA": round(report["UA"], 4),
        "neutral answers": round(guesses.count("neutral") / len(guesses), 4),
        "over the unsure line": round(float(over.mean()), 4),
        "right over it": round(float(right[over].mean()), 4),
        "answers": {label: guesses.count(label) for label in CANONICAL7},
    }


def robustness_rows(clips, folds, voice: Path, words: str, stacker: Stacker) -> list[dict]:
    """Part 4 of the module doc: per robustness condition, the fused WA with and without the line
    (:func:`emodemo.serving.fused_answers` with each fold's voice model, loaded once per fold)."""
    from emodemo.protocols import pairing
    from emodemo.serving import cross_corpus, fused_answers, load_models
    from emodemo.speech import transcribe_samples

    words_model = load_models([words])[0]
    by_condition: dict[str, dict[str, list]] = {}
    for fold in folds:
        voice_model = load_models([str(voice / "folds" / fold.name)])[0]
        for condition, samples in cross_corpus.robustness_set(clips, fold, cross_corpus.robustness_folder()).items():
            tested = [s for s in samples if s.speaker in fold.test]
            result = fused_answers(voice_model, words_model, stacker, tested, "ravdess")
            # the words expert's answers to every transcript as heard, guesses too (it now reads a guess as no words)
            heard = pairing.real_pairs(result["samples"], transcribe_samples(result["samples"], progress=False))
            part = by_condition.setdefault(condition, {k: [] for k in ("truth", "guessed", "voice", "all", "served")})
            part["truth"] += [s.label for s in result["samples"]]
            part["guessed"] += [bool(why) for why in result["left_out"]]
            part["voice"] += [top(a["audio"]) for a in result["alone"]]
            part["all"] += [
                top(stacker({"audio": a["audio"], "text": w}))
                for a, w in zip(result["alone"], answers_of(words_model, heard))
            ]
            part["served"] += [top(f) for f in result["fused"]]
    rows = []
    for condition, part in by_condition.items():
        truth, guessed = np.array(part["truth"]), np.array(part["guessed"])
        row = {"condition": condition, "clips": len(truth), "guessed": int(guessed.sum())}
        for key, name in (("all", "every clip's words"), ("served", "guessed left out"), ("voice", "voice alone")):
            answers = np.array(part[key])
            row[f"WA, {name}"] = round(float((answers == truth).mean()), 4)
            row[f"on guessed clips, {name}"] = (
                round(float((answers[guessed] == truth[guessed]).mean()), 4) if guessed.any() else None
            )
        rows.append(row)
    return rows


def moved_onto(guess, own):
    """A German clip's transcript ``guess`` with its word times moved onto the span of ``own`` (a test
    clip's transcript: its first word's start to its last word's end, or the whole clip without words),
    so that a model aligning each word with the sound (``nmt_attention``'s forced alignment) reads the
    guess over the clip's speech, as the app read it over the German clip's own."""
    start, end = (own.words[0].start, own.words[-1].end) if own.words else (0.0, own.duration)
    first, last = guess.words[0].start, guess.words[-1].end  # a guess has words: an empty one is no guess
    scale = (end - start) / max(last - first, 1e-3)
    words = [
        replace(word, start=start + (word.start - first) * scale, end=start + (word.end - first) * scale)
        for word in guess.words
    ]
    return replace(guess, words=words, duration=own.duration)


def spoken(line: str, own):
    """A written ``line`` as Whisper would give it spoken over the speech of ``own`` (a test clip's
    transcript): its words sure and evenly spread over that span (:func:`moved_onto`)."""
    from emodemo.speech import Transcript, Word

    words = [Word(word, i, i + 0.8, 1.0) for i, word in enumerate(line.split())]
    return moved_onto(Transcript(line, words, "en", own.backend, 0.0, len(words), own.model), own)


def words_models_rows(
    clips,
    folds,
    transcripts,
    german_words: dict,
    drawn: list[str],
    lines: list,
    goemotions: Path,
    only: Sequence[str] | None = None,
) -> list[dict]:
    """Part 5 of the module doc: each served voice + words model with a model of every fold, reading
    each test clip's own words, a German guess (``drawn``: a German clip's id per test clip, in fold
    order; its word times moved onto the clip's speech), that guess as the app reads it, a neutral
    written line (``lines``: one per test clip, in fold order), and a GoEmotions line of the clip's
    emotion (constructed pairs, from ``goemotions``), each through the words gate as served; a gated
    model also without it, as served before. ``only``: those served models alone."""
    from emodemo.data.splits import apply
    from emodemo.protocols import pairing
    from emodemo.serving import cross_corpus, load_models, words_gate

    tests = [apply(pairing.real_pairs(clips, transcripts), fold)[2] for fold in folds]  # own words, as heard
    guesses = iter(drawn)
    guess_of = [{s.id: moved_onto(german_words[next(guesses)], transcripts[s.id]) for s in test} for test in tests]
    unsaid = iter(lines)
    line_of = [{s.id: spoken(next(unsaid).text, transcripts[s.id]) for s in test} for test in tests]
    readings = {
        "own words": lambda test, k: pairing.real_pairs(test, {s.id: transcripts[s.id].as_read() for s in test}),
        "a German guess read as words": lambda test, k: pairing.real_pairs(test, guess_of[k]),
        "the guess read as no words (served)": lambda test, k: pairing.real_pairs(
            test, {i: t.as_read() for i, t in guess_of[k].items()}
        ),
        "a neutral line no actor said": lambda test, k: pairing.real_pairs(test, line_of[k]),
        "a GoEmotions line of its emotion (constructed)": lambda test, k: pairing.constructed_pairs(
            clips, folds[k], "goemotions", goemotions
        )[2],
    }
    saved = json.loads((REPO / "bench" / "results" / "generalisation.json").read_text())  # what each model reads
    rows = []
    names = [m["model"] for m in saved["models"] if set(m["reads"]) == {"audio", "text"}]
    for name in [n for n in names if only is None or n in only]:
        paths = cross_corpus.fold_checkpoints(name)
        if set(paths) != {fold.name for fold in folds}:
            rows.append({"model": name, "fold models": sorted(map(str, paths.values())), "note": "not every fold's"})
            continue
        models = [load_models([str(paths[fold.name])])[0] for fold in folds]  # once per fold
        gated = words_gate.gated(models[0].meta)  # the served run's fold models: the same pairing
        gates = (True, False) if gated else (True,)
        answered = {(reading, gate): [] for reading in readings for gate in gates}
        truth = {reading: [] for reading in readings}
        for k, (model, test) in enumerate(zip(models, tests)):
            for reading, pairs_of in readings.items():
                pairs = pairs_of(test, k)
                for gate in gates:
                    answered[reading, gate] += [top(a) for a in answers_of(model, pairs, gate)]
                truth[reading] += [s.label for s in pairs]
        row = {"model": name, "fold models": [str(paths[fold.name]) for fold in folds], "words gate": gated}
        for (reading, gate), answers in answered.items():
            scores = reading_scores(truth[reading], answers)
            if gate:
                row[reading] = scores
            else:
                row.setdefault("before the words gate", {})[reading] = scores
        rows.append(row)
    return rows


def reading_scores(truth: list[str], answers: list[str]) -> dict:
    """WA, UA and the collapse of one reading's answers, rounded for the JSON."""
    report = classification_report(truth, answers, CANONICAL7)
    most = Counter(answers).most_common(1)[0]
    return {
        "WA": round(report["WA"], 4),
        "UA": round(report["UA"], 4),
        "collapse": round(most[1] / len(answers), 4),
        "most frequent": most[0],
    }


def neutral_lines(root: Path, n: int, seed: int) -> list:
    """``n`` neutral lines of GoEmotions' (``root``) test split, drawn without replacement (seeded):
    English words no RAVDESS actor said and no model trained on."""
    from emodemo.protocols import pairing

    return random.Random(seed).sample(pairing.text_pools("goemotions", root)["test"]["neutral"], n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", type=Path, required=True, help="a speech-probe run folder with folds/fold<k>/")
    parser.add_argument("--words", default="words_minilm", help="the words expert (served name or folder)")
    parser.add_argument("--root", type=Path, required=True, help="RAVDESS speech")
    parser.add_argument("--tess", type=Path, required=True)
    parser.add_argument(
        "--goemotions", type=Path, help="GoEmotions, for part 5's neutral lines (default: beside --root)"
    )
    parser.add_argument("--seed", type=int, default=0, help="draws each clip's German guess and neutral line")
    parser.add_argument(
        "--models", help="comma-separated served voice + words models: part 5 again for them alone, the rest as saved"
    )
    args = parser.parse_args()

    from emodemo import data
    from emodemo.data.splits import RAVDESS_KFOLD, apply, load_splits
    from emodemo.protocols import pairing
    from emodemo.speech import transcribe_samples

    goemotions = args.goemotions or args.root.parent / "goemotions"
    clips = data.load("ravdess", args.root, calm_as_neutral=True)
    tess = data.load("tess", args.tess)
    transcripts = transcribe_samples(clips)
    with tempfile.TemporaryDirectory() as folder:
        german = german_clips(Path(folder))
        german_words = transcribe_samples(german)
        guessed = [s for s in pairing.real_pairs(german, german_words) if flagged([s], german_words)["guessed"]]
        words_on_guesses = answers_of(args.words, guessed)
    trips = {
        "RAVDESS (English)": flagged(clips, transcripts),
        "TESS (English)": flagged(tess, transcribe_samples(tess)),
        "espeak-ng German": flagged(german, german_words),
    }
    said = Counter(top(a) for a in words_on_guesses)
    stacker = Stacker.load(REPO / "checkpoints" / "fusion" / "stacker.json")
    rng = np.random.default_rng(args.seed)
    voice, own_words, truth, voice_lines = [], [], [], []
    folds = load_splits(RAVDESS_KFOLD)
    if args.models:
        names = args.models.split(",")
        rescore_words_models(names, clips, folds, transcripts, german_words, guessed, goemotions, args.seed)
        return
    for fold in folds:  # every voice answer from the fold model that never heard the actor
        test = apply(pairing.real_pairs(clips, transcripts), fold)[2]
        fold_model = args.voice / "folds" / fold.name
        voice += answers_of(str(fold_model), test)
        voice_lines += [unsure_line(json.loads((fold_model / "config.json").read_text()))] * len(test)
        own_words += answers_of(args.words, test)
        truth += [s.label for s in test]
    drawn = rng.integers(len(words_on_guesses), size=len(voice))
    rows = [
        fused_row(
            "the voice alone (the words left out: served when they are a guess)",
            stacker,
            [{"audio": v} for v in voice],
            truth,
            voice_lines,
        ),
        fused_row(
            "a German clip's guessed words (served before)",
            stacker,
            [{"audio": v, "text": words_on_guesses[k]} for v, k in zip(voice, drawn)],
            truth,
        ),
        fused_row(
            "the clip's own words (for reference)",
            stacker,
            [{"audio": v, "text": t} for v, t in zip(voice, own_words)],
            truth,
        ),
    ]
    result = {
        "protocol": __doc__.split("\n\n")[1:4],
        "voice": str(args.voice),
        "words": args.words,
        "line": "median Whisper word confidence < 0.6",
        "transcripts the app treats as guessed": trips,
        "the words expert on German guesses": {
            "clips": len(words_on_guesses),
            "answers": {label: said[label] for label in CANONICAL7},
            "mean top probability": round(float(np.mean([max(a.values()) for a in words_on_guesses])), 4),
        },
        "rows": rows,
        "robustness set": robustness_rows(clips, folds, args.voice, args.words, stacker),
        "models that read the voice and words": words_models_rows(
            clips,
            folds,
            transcripts,
            german_words,
            [guessed[k].id for k in drawn],
            neutral_lines(goemotions, len(voice), args.seed),
            goemotions,
        ),
    }
    for corpus, trip in trips.items():
        print(f"{corpus}: {trip['guessed']} of {trip['clips']} transcripts treated as guessed")
    print("words expert on German guesses:", result["the words expert on German guesses"])
    save_and_print(result, OUT, label="fused with")
    for row in result["robustness set"] + result["models that read the voice and words"]:
        print(row)
    plot(rows, truth)


def rescore_words_models(names, clips, folds, transcripts, german_words, guessed, goemotions: Path, seed: int) -> None:
    """Part 5 again for the served models ``names`` alone (one swapped for another), with the guesses and neutral
    lines :func:`main` draws (the same seed, as many test clips); every other part and row kept as saved."""
    from emodemo.data.splits import apply
    from emodemo.protocols import pairing

    n = sum(len(apply(pairing.real_pairs(clips, transcripts), fold)[2]) for fold in folds)  # main's test clips
    drawn = np.random.default_rng(seed).integers(len(guessed), size=n)  # main's first draw
    lines = neutral_lines(goemotions, n, seed)
    fresh = words_models_rows(
        clips, folds, transcripts, german_words, [guessed[k].id for k in drawn], lines, goemotions, only=names
    )
    missing = sorted(set(names) - {row["model"] for row in fresh})
    if missing:
        raise SystemExit(f"not served voice + words models: {', '.join(missing)}")
    saved = json.loads(OUT.with_suffix(".json").read_text())
    key = "models that read the voice and words"
    by_name = {row["model"]: row for row in fresh}
    saved[key] = [by_name.pop(row["model"], row) for row in saved[key]] + list(by_name.values())
    save_and_print(saved, OUT, label="fused with")
    for row in saved[key]:
        print(row)


def plot(rows: list[dict], truth: list[str]) -> None:
    """The share of each answer: the true classes, then each row's fused answers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    series = {"true classes": Counter(truth), **{r["fused with"].split(" (")[0]: r["answers"] for r in rows}}
    width = 0.8 / len(series)
    for k, (name, counts) in enumerate(series.items()):
        shares = [counts[label] / len(truth) for label in CANONICAL7]
        ax.bar(np.arange(len(CANONICAL7)) + k * width, shares, width, label=name)
    ax.set_xticks(np.arange(len(CANONICAL7)) + 0.4 - width / 2, CANONICAL7)
    ax.set_ylabel("share of the 1,200 clips")
    ax.set_title("RAVDESS test actors: the fused answer with guessed words, and without")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT.with_suffix(".png"), dpi=110)
    print("saved", OUT.with_suffix(".png"))


if __name__ == "__main__":
    main()
