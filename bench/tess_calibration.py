"""How far to trust a served voice model on new voices: its calibration on TESS (issue 20).

The app shows a calibrated confidence and says "unsure" below a line chosen on validation actors.
This scores that confidence on a corpus no model trained or fitted on: for each served model asked
for, on each TESS half (choose: words 1-25, report: words 26-50, 350 clips each; the report half
scored once per final choice), read as the harness reads it (``emodemo.serving.evaluation``; words from
Whisper's transcript), with the checkpoint's temperature applied as the app applies it: accuracy, mean
confidence, top-label expected calibration error (15 equal-width bins) with its 95 % bias-corrected
bootstrap interval over clips (low, high) and the ECE a perfectly calibrated model would show on as many
clips at the same confidences (if_calibrated: binned ECE's floor at this size), and the reliability bins.

    python bench/tess_calibration.py --tess ../shared/datasets/tess [--models speech_probe,ssl_mha]
    python bench/tess_calibration.py --models speech_probe --ravdess ../shared/datasets/ravdess_speech

``--ravdess`` adds the same row for RAVDESS's test folds, the cross-validation's protocol (actors 01-20, the
committed 5 folds by actor, 7 classes, calm counted as neutral): each of the model's fold models on its own
fold's 4 test actors at its own temperature (the ones the served model averages or was chosen by), pooled.

Writes ``bench/results/tess_calibration.json`` (the saved rows of models not asked for are kept).
Every model is scored on what the app shows, the softmax of its logits over its temperature, also
for those trained with per-class sigmoids (co-attention, MESM).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from timing import save_and_print  # noqa: E402

from emodemo import data  # noqa: E402
from emodemo.serving import evaluation, load_models, pipeline, temperature  # noqa: E402
from emodemo.speech import asr  # noqa: E402
from emodemo.training import calibration  # noqa: E402

OUT = REPO / "bench" / "results" / "tess_calibration"
HALVES = ("choose", "report")
FOLDS = "RAVDESS test folds"


def calibrated_answers(loaded, samples: list) -> tuple[np.ndarray, np.ndarray, float]:
    """``(probabilities [N, C] at the checkpoint's temperature, true class ids [N], that temperature)``
    of a loaded served model on ``samples``."""
    usable, *_ = evaluation.readable(loaded, samples, "tess", transcribe=True)  # words as the app hears them
    probs, targets = evaluation.calibrated(loaded, usable)
    return probs, np.asarray(targets), temperature(loaded.meta)


def fold_answers(name: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities [N, C], true class ids [N])`` of served model ``name``'s fold models, each on its own
    fold's test actors of the RAVDESS clips under ``root`` as the app reads them, at its temperature, pooled."""
    from emodemo.data.splits import apply
    from emodemo.serving import cross_corpus
    from emodemo.training import standard_protocol

    samples = data.load("ravdess", root, calm_as_neutral=True)
    folds, _ = standard_protocol("ravdess", samples)
    paths = cross_corpus.fold_checkpoints(name)
    missing = [f.name for f in folds if f.name not in paths]
    if missing:
        sys.exit(f"{name} has no fold model of {', '.join(missing)}: its RAVDESS test folds cannot be scored")
    probs, targets = [], []
    for fold in folds:
        loaded = load_models([str(paths[fold.name])])[0]
        usable, *_ = evaluation.readable(loaded, apply(samples, fold)[2], "ravdess", transcribe=True)
        p, y = evaluation.calibrated(loaded, usable)  # [N_k, C], [N_k]
        probs.append(p)
        targets.append(np.asarray(y))
    return np.concatenate(probs), np.concatenate(targets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tess", type=Path, default=REPO.parent / "shared" / "datasets" / "tess")
    parser.add_argument("--models", default="speech_probe", help="comma-separated served models")
    parser.add_argument("--ravdess", type=Path, help="RAVDESS speech: also score the fold models on their test folds")
    parser.add_argument(
        "--halves",
        default=",".join(HALVES),
        help="TESS halves to score (choose,report; choose alone while choosing: the report half is scored once per "
        "final choice); a half left out keeps its saved row",
    )
    args = parser.parse_args()
    halves = [h for h in args.halves.split(",") if h]
    if not set(halves) <= set(HALVES):
        sys.exit(f"--halves takes {', '.join(HALVES)}, not {args.halves!r}")
    tess = data.load("tess", args.tess)
    rows, bins_of = [], {}
    for name in args.models.split(","):
        loaded = load_models([name])[0]
        scored = [(half, *calibrated_answers(loaded, [s for s in tess if s.split == half])) for half in halves]
        if args.ravdess:
            scored.append((FOLDS, *fold_answers(name, args.ravdess), None))
        for half, probs, targets, t in scored:
            bins = calibration.reliability(probs, targets)
            bins_of[f"{name} / {half}"] = {k: np.nan_to_num(v, nan=-1.0).round(4).tolist() for k, v in bins.items()}
            rows.append(
                {
                    "model / half": f"{name} / {half}",
                    "clips": len(targets),
                    **({"transcripts": asr.described()} if "text" in pipeline.reads(loaded) else {}),
                    # what the row was scored at (a recalibrated model: run it again); None: each fold model's own
                    "temperature": None if t is None else round(t, 3),
                    "accuracy": round(float((probs.argmax(1) == targets).mean()), 3),
                    "mean confidence": round(float(probs.max(1).mean()), 3),
                    "ECE": round(calibration.expected_calibration_error(probs, targets), 3),
                    **{
                        f"ECE {key}": round(value, 3)
                        for key, value in calibration.ece_uncertainty(probs, targets).items()
                    },
                }
            )
    saved = json.loads(OUT.with_suffix(".json").read_text()) if OUT.with_suffix(".json").exists() else {}
    fresh = {r["model / half"]: r for r in rows}  # a saved row scored again is replaced where it stood
    rows = [fresh.pop(r["model / half"], r) for r in saved.get("rows", [])] + list(fresh.values())
    bins_of = {**saved.get("reliability", {}), **bins_of}
    protocol = " ".join(__doc__.split("\n\n")[k] for k in (1, 3))  # TESS, then the RAVDESS test folds
    result = {"protocol": protocol, "rows": rows, "reliability": bins_of}  # empty bins: -1
    save_and_print(result, OUT, label="model / half")


if __name__ == "__main__":
    main()
