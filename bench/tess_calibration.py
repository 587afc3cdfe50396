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
from emodemo.serving import evaluation, load_models, temperature  # noqa: E402
from emodemo.training import calibration  # noqa: E402

OUT = REPO / "bench" / "results" / "tess_calibration"
HALVES = ("choose", "report")


def calibrated_answers(name: str, samples: list) -> tuple[np.ndarray, np.ndarray, float]:
    """``(probabilities [N, C] at the checkpoint's temperature, true class ids [N], that temperature)``
    of served model ``name`` on ``samples``."""
    loaded = load_models([name])[0]
    usable, *_ = evaluation.readable(loaded, samples, "tess", transcribe=True)  # words as the app hears them
    probs, targets = evaluation.calibrated(loaded, usable)
    return probs, np.asarray(targets), temperature(loaded.meta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tess", type=Path, default=REPO.parent / "shared" / "datasets" / "tess")
    parser.add_argument("--models", default="speech_probe", help="comma-separated served models")
    args = parser.parse_args()
    tess = data.load("tess", args.tess)
    rows, bins_of = [], {}
    for name in args.models.split(","):
        for half in HALVES:
            probs, targets, t = calibrated_answers(name, [s for s in tess if s.split == half])
            bins = calibration.reliability(probs, targets)
            bins_of[f"{name} / {half}"] = {k: np.nan_to_num(v, nan=-1.0).round(4).tolist() for k, v in bins.items()}
            rows.append(
                {
                    "model / half": f"{name} / {half}",
                    "clips": len(targets),
                    "temperature": round(t, 3),  # what the row was scored at (a recalibrated model: run it again)
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
    kept = [r for r in saved.get("rows", []) if r["model / half"] not in bins_of]  # models not scored again
    bins_of = {**{r["model / half"]: saved["reliability"][r["model / half"]] for r in kept}, **bins_of}
    result = {"protocol": __doc__.split("\n\n")[1], "rows": kept + rows, "reliability": bins_of}  # empty bins: -1
    save_and_print(result, OUT, label="model / half")


if __name__ == "__main__":
    main()
