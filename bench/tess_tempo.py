"""Does how fast TESS is spoken move a model's answers? Its fold models on TESS at three tempi (issue 20).

Every head trained on RAVDESS over Whisper base's frames answers "disgust" to much of TESS, whose speakers say
one slow carrier phrase ("Say the word ..."); RAVDESS's "disgust" takes are its slowest. Here each clip of
TESS's **choose half** (350 clips, 2 speakers) is played as recorded, slower (rate 0.77) and faster (1.3), by
librosa's phase-vocoder time stretch, pitch kept, and read by each fold model of the given runs (a folder of
``fold0`` .. ``fold4`` checkpoints: the served models' ``checkpoints/MODEL/folds`` or a run's fold models under
``runs/``). A model that reads words must have been trained for none (the app gives it none for 94 % of TESS,
whose words the words expert hears no emotion in): every clip is read with no words. Reported per tempo: the
share of clips each fold model answers "disgust" (and their mean), the 5 fold models' mean answer's UA, its
share of "disgust" (overall and for each speaker: OAF, the older, and YAF), and its recall of the true "disgust"
clips. The report half is not touched.

    python bench/tess_tempo.py --tess ../shared/datasets/tess --folds checkpoints/speech_probe/folds \\
        --folds runs/nmt_attention/fusion_forced_mixed_base_lower_summary/folds

The stretched clips are written once under ``runs/tess_tempo/`` (their encoder states then cached as any
clip's); results in ``bench/results/tess_tempo.json`` (rows of other runs kept) and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from timing import save_and_print  # noqa: E402

from emodemo import data  # noqa: E402
from emodemo.inputs import audio  # noqa: E402
from emodemo.serving import evaluation, load_models, words_gate  # noqa: E402

RATES = (1.0, 0.77, 1.3)  # as recorded, slower, faster
CLIPS = REPO / "runs" / "tess_tempo"
RESULTS = REPO / "bench" / "results" / "tess_tempo.json"


def stretched(samples: list, rate: float) -> list:
    """The samples with their audio at ``rate`` (written once) and no words."""
    import librosa

    folder = CLIPS / f"rate_{rate}"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for sample in samples:
        path = folder / f"{sample.id}.wav"
        if not path.exists():
            wave = audio.load_audio(sample.audio)
            soundfile.write(
                path, wave if rate == 1.0 else librosa.effects.time_stretch(wave, rate=rate), audio.SAMPLE_RATE
            )
        out.append(replace(sample, audio=path, text=""))
    return out


def scored(folds: Path, tess: list) -> list[dict]:
    models = load_models([str(p.parent) for p in sorted(folds.glob("fold[0-9]/config.json"))])
    if len(models) < 2:
        raise FileNotFoundError(f"{folds}: no fold models (fold0/config.json, ...)")
    refused = [m.name for m in models if "text" in evaluation.needed_fields(m) and not words_gate.gated(m.meta)]
    if refused:
        raise ValueError(f"{', '.join(refused)} read words and were not trained for none: no-words answers say nothing")
    older = np.array([s.speaker == "OAF" for s in tess])  # TESS's older speaker (the other: YAF)
    rows = []
    for rate in RATES:
        probs = []
        for model in models:
            p, true = evaluation.predicted(model, stretched(tess, rate), gate=False)  # [N, C], [N]
            probs.append(p)
        labels = models[0].labels
        disgust = labels.index("disgust")
        mean = np.mean(probs, axis=0).argmax(axis=1)  # [N] the fold models' mean answer
        report = evaluation.scores_with_collapse([labels[t] for t in true], [labels[a] for a in mean], labels)
        rows.append(
            {
                "run": str(folds.relative_to(REPO) if folds.is_relative_to(REPO) else folds),
                "tempo": rate,
                "disgust, each fold model": " ".join(f"{np.mean(p.argmax(axis=1) == disgust):.2f}" for p in probs),
                "disgust, fold models' mean": float(np.mean([np.mean(p.argmax(axis=1) == disgust) for p in probs])),
                "mean answer UA": report["UA"],
                "mean answer disgust": float(np.mean(mean == disgust)),
                "recall of true disgust": report["per_class"]["disgust"]["recall"],
                **{
                    f"mean answer disgust, {speaker}": float(np.mean(mean[older == (speaker == "OAF")] == disgust))
                    for speaker in ("OAF", "YAF")
                },
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tess", type=Path, required=True)
    parser.add_argument("--folds", type=Path, action="append", required=True, help="a folder of fold0 .. fold4")
    args = parser.parse_args()
    tess = [s for s in data.load("tess", args.tess) if s.split == "choose"]
    kept = json.loads(RESULTS.read_text())["rows"] if RESULTS.exists() else []
    for folds in args.folds:
        rows = scored(folds.resolve(), tess)
        kept = [r for r in kept if r["run"] != rows[0]["run"]] + rows
    save_and_print({"protocol": __doc__.split("\n\n")[1].replace("\n", " "), "rows": kept}, RESULTS, label="run")


if __name__ == "__main__":
    main()
