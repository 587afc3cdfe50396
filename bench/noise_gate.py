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

The estimate takes speech cut tight to its words (TESS's quiet takes) for noise: with no pauses, its
quietest frames are word edges. The **steady-floor test** tells them apart, chosen on the same
validation clips with no model: the spread of the quietest frames' levels
(:func:`emodemo.inputs.normalise.floor_spread_db`, 10th minus 1st percentile) of the clips the estimate
gates, in steady noise (white at 20, 15, 10 and 5 dB, pink and brown noise at 20 and 10 dB SNR) and
cut tight to their voiced region with no margin (clean); the threshold lies midway between the
noise's 95th percentile and the tight speech's 5th, to a whole dB (``--floor-only`` runs this part alone).

    python bench/noise_gate.py --root ../shared/datasets/ravdess_speech --tess ../shared/datasets/tess
    python bench/noise_gate.py --floor-only   # the steady-floor test alone (1 minute), into the saved results

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
from emodemo.inputs import estimated_snr_db, fixed_draw, floor_spread_db, load_audio, voiced_bounds  # noqa: E402
from emodemo.recipes.speech_probe import stats_of_waves  # noqa: E402
from emodemo.serving import cross_corpus, load_models  # noqa: E402

OUT = REPO / "bench" / "results" / "noise_gate"
SNRS = (None, 30, 25, 20, 15, 10, 5)  # None: the clip as recorded
GAIN = 5.0  # UA points gating must gain at a noise level to be worth a clean clip's cost
STEADY_NOISES = {  # steady noise the gate is for: (colour's spectral decay in dB per octave, SNR dB)
    **{f"white {snr}": (0.0, snr) for snr in (20, 15, 10, 5)},
    **{f"{colour} {snr}": (decay, snr) for colour, decay in (("pink", -3.01), ("brown", -6.02)) for snr in (20, 10)},
}


def with_white_noise(wave: np.ndarray, snr_db: float | None) -> np.ndarray:
    import audiomentations as A

    if snr_db is None:
        return wave
    return fixed_draw(A.AddGaussianSNR(min_snr_db=snr_db, max_snr_db=snr_db, p=1.0))(wave)


def with_steady_noise(wave: np.ndarray, decay: float, snr_db: float) -> np.ndarray:
    import audiomentations as A

    colour = A.AddColorNoise(min_snr_db=snr_db, max_snr_db=snr_db, min_f_decay=decay, max_f_decay=decay, p=1.0)
    return fixed_draw(colour)(wave)


def cut_tight(wave: np.ndarray) -> np.ndarray:
    """The clip's voiced region with no margin: speech with no pauses around it, as TESS's takes are cut."""
    start, end = voiced_bounds(wave, margin_s=0.0)
    return wave[start:end]


def floor_test(waves: list[np.ndarray], below_db: float) -> dict:
    """The steady-floor test's rows (the floor spread of the clips the estimate gates, per condition)
    and its threshold (module doc)."""
    conditions = {
        name: lambda w, d=decay, s=snr: with_steady_noise(w, d, s) for name, (decay, snr) in STEADY_NOISES.items()
    }
    conditions["clean, cut tight"] = cut_tight
    rows = []
    for name, heard_as in conditions.items():
        heard = [heard_as(w) for w in waves]
        spread = np.array([floor_spread_db(h) for h in heard if estimated_snr_db(h) < below_db])
        if spread.size == 0:  # the estimate gates none of them: nothing to tell apart
            continue
        rows.append(
            {
                "condition": name,
                "clips gated by the estimate": int(spread.size),
                **{f"spread p{q}": round(float(np.percentile(spread, q)), 2) for q in (5, 50, 95)},
            }
        )
    noise_top = max((r["spread p95"] for r in rows if r["condition"] in STEADY_NOISES), default=None)
    speech_bottom = next((r["spread p5"] for r in rows if r["condition"] == "clean, cut tight"), None)
    if noise_top is None or speech_bottom is None or speech_bottom <= noise_top:
        return {"rows": rows, "steady_below_db": None}
    middle = (noise_top + speech_bottom) / 2
    whole = float(round(middle))  # a whole dB when that stays inside the gap, else the middle to 0.1 dB
    chosen = whole if noise_top < whole <= speech_bottom else round(middle, 1)
    return {"rows": rows, "steady_below_db": chosen}


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
    parser.add_argument(
        "--floor-only", action="store_true", help="run the steady-floor test alone, into the saved results"
    )
    args = parser.parse_args()
    if args.floor_only:
        result = json.loads(OUT.with_suffix(".json").read_text())
        result.update(floor_and_tess(args.root, args.tess, result["threshold_db"]))
        report(result)
        return
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
    result = {"rows": rows, "threshold_db": chosen, "tess_choose_gated": 0, "tess_choose_clips": 0}
    if chosen is not None:
        result.update(floor_and_tess(args.root, args.tess, chosen))
    report(result)


def floor_and_tess(root: Path, tess_root: Path, below_db: float) -> dict:
    """The steady-floor test on the validation actors (:func:`floor_test`), and how many clips of the
    TESS choose half each test gates."""
    ravdess = data.load("ravdess", root, calm_as_neutral=True)
    validation = {a for f in load_splits(SPLITS_DIR / RAVDESS_KFOLD) for a in f.val}
    floor = floor_test([load_audio(s.audio) for s in ravdess if s.speaker in validation], below_db)
    tess = [load_audio(s.audio) for s in data.load("tess", tess_root) if s.split == "choose"]
    estimates = np.array([estimated_snr_db(w) for w in tess])
    spreads = np.array([floor_spread_db(w) for w in tess])
    steady = floor["steady_below_db"]
    return {
        "protocol": "\n\n".join(__doc__.split("\n\n")[1:5]),
        "floor_rows": floor["rows"],
        "steady_below_db": steady,
        "tess_choose_gated": int((estimates < below_db).sum()),
        "tess_choose_gated_steady": int(((estimates < below_db) & (spreads < steady)).sum()) if steady else None,
        "tess_choose_clips": len(tess),
        "tess_choose_estimate": {f"p{q}": round(float(np.percentile(estimates, q)), 1) for q in (1, 5, 50)},
    }


def report(result: dict) -> None:
    """Save, print and draw ``result``."""
    save_and_print(result, OUT, label="SNR dB")
    print(
        f"threshold: {result['threshold_db']} dB; TESS choose clips under it: "
        f"{result['tess_choose_gated']} of {result['tess_choose_clips']}"
    )
    if "floor_rows" in result:
        for row in result["floor_rows"]:
            print("  ".join(f"{k}: {v}" for k, v in row.items()))
        print(
            f"steady floor: spread under {result['steady_below_db']} dB; TESS choose clips gated with it: "
            f"{result['tess_choose_gated_steady']} of {result['tess_choose_clips']}"
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
