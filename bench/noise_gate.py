"""Where gating stationary noise out helps the served speech probe, and the threshold the app uses (issue 20).

The noise gate (:func:`emodemo.inputs.normalise.denoise`, noisereduce's spectral gate) lifts the probe's
white-noise score, but reshapes clean speech too: gating every clip costs clean clips and new voices
(TESS). So the served probe gates a clip only when its estimated SNR
(:func:`emodemo.inputs.normalise.estimated_snr_db`: the 95th minus the 1st percentile of its 25 ms
frame levels) is low. This bench chooses that threshold on **validation actors only**:

- each of the committed 5 folds' models of the served probe (``checkpoints/speech_probe/folds``) hears
  its own fold's 2 validation actors (120 clips; never trained on, the actors its temperature and
  epoch were chosen on), clean and with white noise at 30, 25, 20, 15, 10 and 5 dB SNR (audiomentations'
  AddGaussianSNR, one fixed draw), plain and gated; UA pooled over the folds (600 clips a condition);
- each condition's estimated SNR (5th, 50th, 95th percentile).

Rule: gating a clean clip costs about 9 points, so the gate is for noise where it clearly pays: the
threshold lies midway between the estimates of the noisiest SNR level where gating gains under
:data:`GAIN` points and the next noisier one (where it gains more). Clips of the TESS choose half
under it are counted (model choice may look at that half; nothing is fitted on it).

    python bench/noise_gate.py --root ../shared/datasets/ravdess_speech --tess ../shared/datasets/tess

Writes ``bench/results/noise_gate.json`` and ``.png`` (about 15 minutes on one core: every noisy clip
goes through Whisper base's lower half twice; nothing is cached).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from timing import save_and_print  # noqa: E402

from emodemo import data  # noqa: E402
from emodemo.core import classification_report  # noqa: E402
from emodemo.data.splits import RAVDESS_KFOLD, SPLITS_DIR, load_splits  # noqa: E402
from emodemo.inputs import estimated_snr_db, fixed_draw, load_audio  # noqa: E402
from emodemo.recipes.speech_probe import stats_of_waves  # noqa: E402
from emodemo.serving import cross_corpus, load_models  # noqa: E402

OUT = REPO / "bench" / "results" / "noise_gate"
SNRS = (None, 30, 25, 20, 15, 10, 5)  # None: the clip as recorded
GAIN = 5.0  # UA points gating must gain at a noise level to be worth a clean clip's cost


def with_white_noise(wave: np.ndarray, snr_db: float | None) -> np.ndarray:
    import audiomentations as A

    if snr_db is None:
        return wave
    return fixed_draw(A.AddGaussianSNR(min_snr_db=snr_db, max_snr_db=snr_db, p=1.0))(wave)


def answers(loaded, waves: list[np.ndarray], spec: dict) -> list[str]:
    """The model's answers to ``waves`` heard with input settings ``spec``."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(waves), 16):
            logits = loaded.model(stats_of_waves(waves[start : start + 16], spec))  # [B, C]
            out += [loaded.labels[int(i)] for i in logits.argmax(-1)]
    return out


def threshold(rows: list[dict]) -> float | None:
    """Midway between the estimates of the noisiest level gating gains under GAIN at and the next
    noisier one, to a whole dB; None when it gains under GAIN everywhere."""
    noisy = [r for r in rows if r["SNR dB"] != "clean"]
    for quieter, louder in zip(noisy[1:], noisy[:-1]):  # levels in falling SNR
        if quieter["gain"] >= GAIN and louder["gain"] < GAIN:
            return float(round((quieter["estimate p95"] + louder["estimate p5"]) / 2))
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data_root = REPO.parent / "shared" / "datasets"
    parser.add_argument("--root", type=Path, default=data_root / "ravdess_speech", help="RAVDESS speech")
    parser.add_argument("--tess", type=Path, default=data_root / "tess", help="TESS")
    parser.add_argument("--render-only", action="store_true", help="print and draw the saved results again")
    args = parser.parse_args()
    if args.render_only:
        result = json.loads(OUT.with_suffix(".json").read_text())
        for row in result["rows"]:
            row["SNR dB"] = str(row["SNR dB"])  # (saved as numbers by the first run)
        report(result)
        return
    torch.set_num_threads(1)
    ravdess = data.load("ravdess", args.root, calm_as_neutral=True)
    folds = {f.name: f for f in load_splits(SPLITS_DIR / RAVDESS_KFOLD)}
    pooled = {snr: {"true": [], "plain": [], "gated": [], "estimate": []} for snr in SNRS}
    for fold, path in sorted(cross_corpus.fold_checkpoints("speech_probe").items()):
        loaded = load_models([str(path)])[0]
        spec = {k: v for k, v in loaded.meta["input_spec"].items() if k != "denoise_below_db"}
        validation = [s for s in ravdess if s.speaker in folds[fold].val]
        waves = [load_audio(s.audio) for s in validation]
        for snr in SNRS:
            heard = [with_white_noise(w, snr) for w in waves]
            scored = pooled[snr]
            scored["true"] += [s.label for s in validation]
            scored["estimate"] += [estimated_snr_db(w) for w in heard]
            scored["plain"] += answers(loaded, heard, spec)
            scored["gated"] += answers(loaded, heard, {**spec, "denoise": True})
        print(f"{fold}: done", flush=True)
    labels = sorted(set(pooled[None]["true"]))
    rows = []
    for snr, scored in pooled.items():
        ua = {k: 100 * classification_report(scored["true"], scored[k], labels)["UA"] for k in ("plain", "gated")}
        estimate = np.array(scored["estimate"])
        rows.append(
            {
                "SNR dB": "clean" if snr is None else str(snr),
                "plain UA": round(ua["plain"], 1),
                "gated UA": round(ua["gated"], 1),
                "gain": round(ua["gated"] - ua["plain"], 1),
                **{f"estimate p{q}": round(float(np.percentile(estimate, q)), 1) for q in (5, 50, 95)},
            }
        )
    chosen = threshold(rows)
    tess = [s for s in data.load("tess", args.tess) if s.split == "choose"]
    tess_estimates = np.array([estimated_snr_db(load_audio(s.audio)) for s in tess])
    result = {
        "protocol": __doc__.split("\n\n")[1] + "\n\n" + __doc__.split("\n\n")[2],
        "rows": rows,
        "threshold_db": chosen,
        "tess_choose_gated": int((tess_estimates < chosen).sum()) if chosen is not None else 0,
        "tess_choose_clips": len(tess),
        "tess_choose_estimate": {f"p{q}": round(float(np.percentile(tess_estimates, q)), 1) for q in (1, 5, 50)},
    }
    report(result)


def report(result: dict) -> None:
    """Save, print and draw ``result``."""
    save_and_print(result, OUT, label="SNR dB")
    print(
        f"threshold: {result['threshold_db']} dB; TESS choose clips under it: "
        f"{result['tess_choose_gated']} of {result['tess_choose_clips']}"
    )
    plot(result["rows"], result["threshold_db"], OUT.with_suffix(".png"))


def plot(rows: list[dict], chosen: float | None, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(r["SNR dB"]) for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    for key, style in (("plain UA", "o-"), ("gated UA", "s-")):
        left.plot(names, [r[key] for r in rows], style, label=key.replace(" UA", ""))
    left.set(xlabel="white noise, SNR dB", ylabel="UA % (validation actors, 5 folds)", title="Gating pays in noise")
    left.legend()
    right.errorbar(
        names,
        [r["estimate p50"] for r in rows],
        yerr=[
            [r["estimate p50"] - r["estimate p5"] for r in rows],
            [r["estimate p95"] - r["estimate p50"] for r in rows],
        ],
        fmt="o",
    )
    if chosen is not None:
        right.axhline(chosen, color="C3", linestyle="--", label=f"gate below {chosen} dB")
        right.legend()
    right.set(xlabel="white noise, SNR dB", ylabel="estimated SNR dB (p5-p95)", title="What the estimate sees")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
