"""Does the fused answer beat its best expert? Equal-weight mean vs three learned fusions (issue 20).

Protocol: RAVDESS actors 01-20, the committed 5 folds by actor, 7 classes (calm = neutral). The
voice expert is a speech-probe variant's fold models (``bench/speech_probe_ablation.py`` trains
them; each calibrated on its validation actors); the words expert is a served words-only
checkpoint (trained on text corpora only, so no RAVDESS actor was ever its training data),
reading Whisper's words of each clip (real pairs) or a GoEmotions test line of the clip's emotion
(constructed pairs). Per fold the :class:`emodemo.serving.fusion.Stacker` (a 7 x 7 matrix per
modality, one weight per modality: ``Stacker.fit_weights``, or one per modality and class:
``per_class``) is fitted on the fold's 2 validation actors' mixed pairs (each clip with both
texts) and scored on its 4 test actors, each pairing apart; TESS choose half (words 1-25, 350
clips) is scored with each fold's voice model, the words expert on Whisper's words, and that fold's
stacker. Each rule is also fitted on the final split's validation actors with the served voice
model (its weights kept in the results as ``final_fits``); the one ``--save`` names is written to
``checkpoints/fusion/stacker.json``.

    python bench/fusion.py --voice runs/speech_probe_ablation/normalised --words nmt_attention/words_goemotions \\
        --root ../shared/datasets/ravdess_speech --goemotions ../shared/datasets/goemotions \\
        --tess ../shared/datasets/tess
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emodemo.core import CANONICAL7, classification_report  # noqa: E402
from emodemo.serving import Stacker, canonical_probabilities, fuse  # noqa: E402

RESULTS = REPO / "bench" / "results" / "fusion.json"
STACKER = REPO / "checkpoints" / "fusion" / "stacker.json"
MODALITIES = ("audio", "text")
FITS = {  # the learned fusions, each fitted on held-out actors' mixed pairs
    "learned stacker": Stacker.fit,
    "learned weights": Stacker.fit_weights,
    "learned per-class weights": lambda *args, **kwargs: Stacker.fit_weights(*args, per_class=True, **kwargs),
}


def answers_of(model_ref: str, samples) -> list[dict[str, float]]:
    """Canonical calibrated probabilities of a checkpoint (folder or served name) for each sample."""
    from emodemo.serving import evaluation, load_models

    loaded = load_models([model_ref])[0]
    probs, _ = evaluation.calibrated(loaded, samples)
    return [canonical_probabilities(list(zip(loaded.labels, row))) for row in probs]


def paired_answers(voice: str, words: str, pairs) -> list[dict[str, dict[str, float]]]:
    """``[{"audio": ..., "text": ...}]`` for (clip, text) samples."""
    return [{"audio": a, "text": t} for a, t in zip(answers_of(voice, pairs), answers_of(words, pairs))]


def top(answer: dict[str, float]) -> str:
    return max(answer.items(), key=lambda kv: kv[1])[0]


def scores(answers, truth) -> dict:
    rules = {
        "voice alone": lambda a: a["audio"],
        "words alone": lambda a: a["text"],
        "mean (equal weights)": lambda a: fuse(a, {"audio": 1, "text": 1}),
    }
    out = {}
    for name, rule in rules.items():
        report = classification_report(truth, [top(rule(a)) for a in answers], CANONICAL7)
        out[name] = {"WA": report["WA"], "UA": report["UA"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", type=Path, required=True, help="a speech-probe run folder with folds/fold<k>/")
    parser.add_argument("--words", required=True, help="the words expert (served name or checkpoint folder)")
    parser.add_argument("--served-voice", default="speech_probe", help="the served voice expert, for the final stacker")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--goemotions", type=Path, required=True)
    parser.add_argument("--tess", type=Path, required=True)
    parser.add_argument(
        "--save",
        choices=tuple(FITS),
        help="write that rule, fitted on the final split's validation actors, to checkpoints/fusion/",
    )
    args = parser.parse_args()

    from emodemo import data
    from emodemo.data.splits import RAVDESS_FINAL, RAVDESS_KFOLD, load_splits
    from emodemo.protocols import pairing
    from emodemo.speech import transcribe_samples

    clips = data.load("ravdess", args.root, calm_as_neutral=True)
    transcripts = transcribe_samples(clips)
    tess = [s for s in data.load("tess", args.tess) if s.split == "choose"]
    tess_pairs = pairing.real_pairs(tess, transcribe_samples(tess))
    per_fold = []
    for fold in load_splits(RAVDESS_KFOLD):
        voice = str(args.voice / "folds" / fold.name)
        _, val, test = pairing.mixed_pairs(clips, transcripts, fold, "goemotions", args.goemotions)
        val_answers = paired_answers(voice, args.words, val)
        stackers = {rule: fit(val_answers, [s.label for s in val], MODALITIES) for rule, fit in FITS.items()}
        fold_result = {}
        for half in ("constructed", "real"):
            chosen = [s for s in test if s.meta.get("pairing", "real") == half]
            answers = paired_answers(voice, args.words, chosen)
            fold_result[half] = (answers, [s.label for s in chosen], stackers)
        fold_result["tess"] = (paired_answers(voice, args.words, tess_pairs), [s.label for s in tess], stackers)
        per_fold.append(fold_result)
    results = {"voice": str(args.voice), "words": args.words, "protocol": __doc__.split("\n\n")[1]}
    for part in ("constructed", "real", "tess"):
        answers = [a for f in per_fold for a in f[part][0]]
        truth = [t for f in per_fold for t in f[part][1]]
        part_scores = scores(answers, truth)
        for rule in per_fold[0][part][2]:
            report = classification_report(
                truth, [top(f[part][2][rule](a)) for f in per_fold for a in f[part][0]], CANONICAL7
            )
            part_scores[rule] = {"WA": report["WA"], "UA": report["UA"]}
        results[part] = part_scores
        print(part, json.dumps(part_scores))
    final = load_splits(RAVDESS_FINAL)[0]
    _, val, _ = pairing.mixed_pairs(clips, transcripts, final, "goemotions", args.goemotions)
    val_answers = paired_answers(args.served_voice, args.words, val)
    about = (
        f"voice {args.served_voice} + words {args.words}, fitted on the mixed pairs of RAVDESS actors "
        f"{', '.join(final.val)} (the final split's validation actors)"
    )
    truth = [s.label for s in val]
    final_fits = {rule: fit(val_answers, truth, MODALITIES, about=f"{rule}: {about}") for rule, fit in FITS.items()}
    results["final_fits"] = {  # what each rule would serve: its weights on the voice's and the words' classes
        rule: {
            "voice": dict(zip(CANONICAL7, np.diag(stacker.weights[:, :7]).round(3).tolist())),
            "words": dict(zip(CANONICAL7, np.diag(stacker.weights[:, 7:]).round(3).tolist())),
            "bias": dict(zip(CANONICAL7, stacker.bias.round(3).tolist())),
        }
        for rule, stacker in final_fits.items()
        if rule != "learned stacker"  # a full 7 x 7 matrix per modality: no diagonal to show
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    if args.save:
        print("saved", final_fits[args.save].save(STACKER))


if __name__ == "__main__":
    main()
