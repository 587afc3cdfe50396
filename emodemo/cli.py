"""``python -m emodemo``: check data, train, evaluate and predict from the command line.

python -m emodemo check ravdess --root ../shared/datasets/ravdess_speech
python -m emodemo train speech_probe --dataset ravdess --root PATH [--cv] [--out checkpoints/speech_probe]
python -m emodemo evaluate speech_probe --dataset ravdess --root PATH [--split unseen] --json
python -m emodemo evaluate speech_probe --dataset tess --root PATH --split choose   # or report
python -m emodemo evaluate nmt_attention/words_goemotions --dataset meld --root PATH --split dev
python -m emodemo evaluate fused --dataset tess --root PATH --split choose   # the app's fused answer
python -m emodemo calibrate mesm --root PATH [--perturbed [--clean-half]]   # temperature + "unsure" line
python -m emodemo recalibrate checkpoints/mesm --root PATH --text-root GOEMOTIONS   # a served mean's folds, again
python -m emodemo gate ssl_mha --below 30 --root PATH   # noise gate for noisy clips, if no training clip is one
python -m emodemo merge runs/fold*.json --out cv.json [--model mesm]   # folds trained in parallel, one result
python -m emodemo reproduce mesm [--variant V] [--quick] [--list]   # a model's measured runs (configs/reproduce/)
python -m emodemo predict FILE|DIR|MANIFEST [--out predictions.jsonl] [--workers 2]
python -m emodemo timeline FILE|DIR|MANIFEST --out segments.jsonl [--csv segments.csv]   # emotion over time
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
from pathlib import Path

from emodemo import __version__

FUSED = "fused"  # `evaluate fused`: the app's fused answer, not a checkpoint


def _served_mean_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments ``pair`` and ``recalibrate`` share: the served mean's folder and the corpora it is scored on."""
    parser.add_argument("out", type=Path, help="the served checkpoint's folder (its fold models or pairs under folds/)")
    parser.add_argument("--root", required=True, type=Path, help="RAVDESS speech")
    parser.add_argument("--text-root", type=Path, help="GoEmotions, for a mixed-pairs run's constructed half")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m emodemo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="version", version=f"emodemo {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="load a dataset, validate it against the published counts, print a summary")
    c.add_argument("dataset")
    c.add_argument("--root", required=True, type=Path)

    t = sub.add_parser("train", help="train a model: k-fold cross-validation by speaker and/or the final model")
    t.add_argument("model")
    t.add_argument("--dataset", default="ravdess")
    t.add_argument("--root", required=True, type=Path)
    t.add_argument("--cv", action="store_true", help="run the speaker-independent k-fold protocol first")
    t.add_argument("--no-final", action="store_true", help="skip training the final model")
    t.add_argument("--out", type=Path, help="checkpoint folder (default checkpoints/MODEL)")
    t.add_argument("--epochs", type=int)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run of the same code path: one fold, two epochs (RAVDESS clips paired with words: a quarter)",
    )
    t.add_argument("--folds", help="comma-separated fold indices to run (default: all)")
    t.add_argument("--results", type=Path, help="also write the metrics (cross-validation included) to this JSON file")
    t.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a recipe setting, e.g. --option pairing=constructed --option normalise=1 (converted to "
        "the type the recipe's train() declares)",
    )

    e = sub.add_parser("evaluate", help="score a trained model on a labelled dataset folder")
    e.add_argument(
        "model",
        help=f"a model name (its folder under checkpoints/), a checkpoint folder, or '{FUSED}': the app's fused "
        "answer (its voice and words experts and the served fusion rule)",
    )
    e.add_argument("--dataset", default="ravdess")
    e.add_argument("--root", required=True, type=Path)
    e.add_argument(
        "--split",
        default="all",
        help="'all', 'unseen' (speakers the checkpoint never trained on), or a dataset split "
        "(TESS: choose / report, the word halves)",
    )
    e.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout")

    g = sub.add_parser(
        "gate",
        help="give trained checkpoints the noise gate for noisy clips (denoise_below_db), after checking that "
        "none of their training clips would be gated",
    )
    g.add_argument("models", nargs="+", help="model names (folders under checkpoints/) or checkpoint folders")
    g.add_argument("--below", type=float, required=True, help="estimated SNR in dB under which a clip is gated")
    g.add_argument(
        "--steady-below",
        type=float,
        help="and only when its noise floor is steady: the 10th minus the 1st percentile of its frame levels under "
        "this many dB (may be added to a gate already set at --below)",
    )
    g.add_argument("--dataset", default="ravdess")
    g.add_argument("--root", required=True, type=Path)

    k = sub.add_parser(
        "calibrate",
        help="fit a checkpoint's temperature and 'unsure' line on its validation "
        "speakers (as the app reads them) and write them into it",
    )
    k.add_argument("model", help="a model name (its folder under checkpoints/) or a checkpoint folder")
    k.add_argument("--dataset", default="ravdess")
    k.add_argument("--root", required=True, type=Path)
    k.add_argument(
        "--perturbed",
        action="store_true",
        help="fit the temperature on those clips through the robustness set's conditions too (level, noise, "
        "babble, telephone): tempered for what is new, the 'unsure' line still on the clean clips",
    )
    k.add_argument(
        "--clean-half",
        action="store_true",
        help="with --perturbed: the clean clips weigh as much in the fit as all the changed ones together",
    )

    v = sub.add_parser(
        "cv-as-served",
        help="score a served voice + words checkpoint's fold models on their own test actors as the app reads "
        "the words (through the words gate) and write checkpoints/MODEL/cv/as_served.json",
    )
    v.add_argument("models", nargs="+", help="served model names (folders under checkpoints/) or checkpoint folders")
    v.add_argument("--root", required=True, type=Path, help="RAVDESS speech")
    v.add_argument("--text-root", type=Path, help="GoEmotions, for a mixed-pairs run's constructed half")
    v.add_argument(
        "--fold-models",
        type=Path,
        help="the fold models' folder (fold<k>/ under it) when they are kept outside the checkpoint (too large to "
        "commit); one model only",
    )

    pr = sub.add_parser(
        "pair",
        help="serve the mean of one run's calibrated fold models, or of two runs' joined into calibrated fold pairs "
        "(of coattention, mesm, nmt_attention or ssl_mha: two ssl_mha runs may read other encoder layers); the folds "
        "scored as served (emodemo.serving.pairs)",
    )
    _served_mean_arguments(pr)
    pr.add_argument(
        "--fold-models", nargs="+", type=Path, required=True, help="one or two runs' fold models (fold<k>/)"
    )
    pr.add_argument(
        "--clean-half",
        action="store_true",
        help="two runs: each fold pair's temperature fitted with its clean clips weighing as much as all the changed "
        "ones together",
    )

    rc = sub.add_parser(
        "recalibrate",
        help="fit a served mean's fold temperatures and unsure lines again, each as it was fitted (after the "
        "transcriber changed, say), then build the mean and score its folds as served; its card's TESS scores are "
        "dropped: run bench/generalisation.py --cards again (emodemo.serving.pairs.refit)",
    )
    _served_mean_arguments(rc)

    m = sub.add_parser("merge", help="merge the --results files of runs that each did some folds into one")
    m.add_argument("runs", nargs="+", type=Path, help="results JSON files of `train --cv --folds ...`")
    m.add_argument("--out", required=True, type=Path)
    m.add_argument("--model", help="the runs' model, whose own summaries of its folds are computed again (mesm's)")

    x = sub.add_parser(
        "reproduce",
        help="every measured run of a model, as configs/reproduce/MODEL.toml records "
        "them (a run whose results exist is skipped)",
    )
    x.add_argument("model", help="a model with a config, configs/reproduce/MODEL.toml (e.g. mesm)")
    x.add_argument("--variant", action="append", metavar="RUN", help="only this run (repeatable; see --list)")
    x.add_argument("--served", action="store_true", help="only the runs behind the served checkpoints")
    x.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run of the config's quick runs (or --variant): one fold, two epochs, one process at "
        "a time on every core, into runs/quick/MODEL (or --into); nothing skipped, nothing committed touched",
    )
    x.add_argument("--list", action="store_true", help="list the runs, done or not, and exit")
    x.add_argument(
        "--data", type=Path, help="the datasets folder ({data}; default ../shared/datasets or $EMODEMO_DATA)"
    )
    x.add_argument(
        "--into", type=Path, help="write {runs} and {checkpoints} under this folder instead of the repository"
    )
    x.add_argument("--jobs", type=int, help="trainings at a time (default: the config's; --quick: one)")
    x.add_argument("--force", action="store_true", help="run again what is done")

    r = sub.add_parser("predict", help="predict the emotion of clips; writes JSON lines")
    r.add_argument("inputs", type=Path, help="a media file, a folder (searched recursively) or a manifest (.txt/.csv)")
    r.add_argument("--models", default="all", help="comma-separated model names, or 'all'")
    r.add_argument("--out", type=Path, help="JSONL output file (default: stdout)")
    r.add_argument("--workers", type=int, default=2, help="DataLoader workers that decode audio")
    r.add_argument("--no-transcript", action="store_true", help="skip Whisper (faster)")

    m = sub.add_parser(
        "timeline",
        help="emotion over time: every speech segment of long recordings; JSON lines, "
        "resumable (a rerun skips the files already done)",
    )
    m.add_argument("inputs", type=Path, help="a media file, a folder (searched recursively) or a manifest (.txt/.csv)")
    m.add_argument("--out", required=True, type=Path, help="JSONL output (appended to; a rerun resumes)")
    m.add_argument("--csv", type=Path, help="also write the segments as a CSV table")
    m.add_argument("--models", default="all", help="comma-separated model names, or 'all'")
    m.add_argument(
        "--channels",
        choices=("mix", "each"),
        default="mix",
        help="'each' analyses every channel apart (the two sides of a stereo call)",
    )
    m.add_argument("--max-minutes", type=float, help="analyse at most this much of each recording")
    m.add_argument("--no-transcript", action="store_true", help="skip Whisper and the words models (faster)")
    m.add_argument("--no-progress", action="store_true", help="no progress bar")
    m.add_argument(
        "--ray",
        action="store_true",
        help="run on Ray Data (pip install -r requirements-ray.txt): a pool of "
        "--workers actors, local or on the cluster of RAY_ADDRESS; not resumable",
    )
    m.add_argument("--workers", type=int, default=2, help="Ray actors, each with the models loaded (with --ray)")
    m.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per Ray actor (with --ray)")
    return p


def _check(args) -> int:
    from emodemo import data

    samples = data.load(args.dataset, args.root)
    print(json.dumps(data.summary(samples), indent=2))
    return 0


def _key_value(option: str) -> tuple[str, str]:
    key, sep, value = option.partition("=")
    if not sep or not key:
        raise ValueError(f"--option wants KEY=VALUE, got {option!r}")
    return key, value


def _train(args) -> int:
    from emodemo.recipes import get_recipe, typed_options

    recipe = get_recipe(args.model)
    out = args.out or Path("checkpoints") / args.model
    options = typed_options(recipe, dict(_key_value(o) for o in args.option))  # typed as train() declares them
    if args.folds:
        if "fold_ids" not in inspect.signature(recipe.train).parameters:
            raise ValueError(f"{args.model} has no folds to choose (it trains once)")
        options["fold_ids"] = [int(i) for i in args.folds.split(",")]
    metrics = recipe.train(
        dataset=args.dataset,
        root=args.root,
        out=out,
        cv=args.cv,
        final=not args.no_final,
        epochs=args.epochs,
        seed=args.seed,
        quick=args.quick,
        **options,
    )
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(metrics, indent=1, default=str) + "\n", encoding="utf-8")
    return 0


def _merge(args) -> int:
    from emodemo.recipes import get_recipe
    from emodemo.recipes.contract import hook
    from emodemo.training.experiment import merge_fold_runs

    summaries = hook(get_recipe(args.model), "FOLD_SUMMARIES") if args.model else None
    merged = merge_fold_runs([json.loads(path.read_text(encoding="utf-8")) for path in args.runs], summaries)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=1) + "\n", encoding="utf-8")
    s = merged["cross_validation"]
    print(
        f"{len(merged['folds'])} folds: "
        + ", ".join(f"{k} {s[k]['mean']:.3f}±{s[k]['std']:.3f}" for k in ("WA", "UA", "WF1", "UF1"))
    )
    return 0


def _reproduce(args) -> int:
    from emodemo.recipes import reproduce as rp

    config = rp.load(args.model)
    into = args.into or (rp.REPO / "runs" / "quick" / args.model if args.quick else rp.REPO)
    places = rp.Places(data=(args.data or rp.DEFAULT_DATA).resolve(), workspace=into.resolve(), model=args.model)
    if args.list:
        print(rp.listing(config, places))
        return 0
    runs = rp.selected(config, args.variant, served=args.served, quick=args.quick)
    if not runs:
        raise ValueError(f"{args.model}: no run selected (see --list)")
    status = rp.reproduce(config, places, runs, quick=args.quick, force=args.force, jobs=args.jobs)
    for name, state in status.items():
        print(f"{name}: {state}")
    return 0 if all(state in ("done", "skipped") for state in status.values()) else 1


def _evaluate(args) -> int:
    from emodemo.serving.evaluation import evaluate_checkpoint

    if args.model == FUSED:
        from emodemo.serving.fused_eval import evaluate_fused

        report = evaluate_fused(args.dataset, args.root, split=args.split)
    else:
        report = evaluate_checkpoint(args.model, args.dataset, args.root, split=args.split)
    if args.json:
        print(json.dumps(report))
    else:
        from emodemo.serving.evaluation import format_report

        print(format_report(report))
        if "n_words_left_out" in report:
            answered, right = report["answered"], report["accuracy_answered"]
            print(
                f"  clips the app refuses (empty, too short, silent): {report['n_refused']}; with no class among "
                f"the 7: {report['n_skipped_labels']}\n"
                f"  words left out (none heard, or guessed): {report['n_words_left_out']} of {report['n_samples']}\n"
                + (
                    f"  answered (over the unsure line): {answered:.3f}"
                    + (f", {right:.3f} of those right" if right is not None else "")
                    if answered is not None
                    else "  answered: no unsure line applies"
                )
            )
    return 0


def _calibrate(args) -> int:
    from emodemo.serving.evaluation import calibrate_checkpoint

    perturbed = None
    if args.perturbed:
        from emodemo.serving.cross_corpus import perturbed_answers as perturbed
    if args.clean_half and not args.perturbed:
        raise SystemExit("--clean-half weighs the clean clips against the changed ones: add --perturbed")
    cal = calibrate_checkpoint(args.model, args.dataset, args.root, perturbed, args.clean_half)
    print(
        f"{args.model}: temperature {cal['temperature']:.3f} on {', '.join(cal['fitted_on'])}; ECE "
        f"{cal['ece_before']:.3f} -> {cal['ece_after']:.3f}; unsure below {cal['unsure']['threshold']:.3f} "
        f"({100 * cal['unsure']['answered']:.0f} % answered, {100 * cal['unsure']['accuracy_answered']:.0f} % right)"
    )
    return 0


def _cv_as_served(args) -> int:
    from emodemo.serving.served_cv import write_as_served

    if args.fold_models and len(args.models) > 1:
        raise SystemExit("--fold-models names one model's fold models: give one model")
    for model in args.models:
        out = write_as_served(model, args.root, args.text_root, args.fold_models)
        summary = json.loads(out.read_text(encoding="utf-8"))["by_pairing"]
        scores = "; ".join(f"{k} WA {100 * v['summary']['WA']['mean']:.1f}" for k, v in summary.items())
        print(f"{model}: {scores} -> {out}")
    return 0


def _pair(args) -> int:
    from emodemo.serving.pairs import write_pair

    out = write_pair(args.out, args.fold_models, args.root, args.text_root, clean_half=args.clean_half)
    summary = json.loads((out / "config.json").read_text(encoding="utf-8"))["metrics"]["by_pairing"]
    print(f"{out}: " + "; ".join(f"{k} WA {100 * v['summary']['WA']['mean']:.1f}" for k, v in summary.items()))
    return 0


def _recalibrate(args) -> int:
    from emodemo.serving.pairs import fold_models_under, refit
    from emodemo.training.checkpoint import read_checkpoint_config

    out = refit(args.out, args.root, args.text_root)
    folds = fold_models_under(out / "folds").values()
    temperatures = [read_checkpoint_config(fold)["calibration"]["temperature"] for fold in folds]
    summary = read_checkpoint_config(out)["metrics"]["by_pairing"]
    print(
        f"{out}: fold temperatures {', '.join(f'{t:.3f}' for t in temperatures)}; "
        + "; ".join(f"{k} WA {100 * v['summary']['WA']['mean']:.1f}" for k, v in summary.items())
    )
    return 0


def _gate(args) -> int:
    from emodemo.serving.noise_gate import set_noise_gate

    for model in args.models:
        done = set_noise_gate(model, args.below, args.root, args.dataset, args.steady_below)
        checked = done["clips_checked"]
        steady = "" if done["steady_below_db"] is None else f", floor steady within {done['steady_below_db']:g} dB"
        print(f"{done['checkpoint']}: gated below {done['below_db']:g} dB{steady} ({checked} training clips checked)")
        if done["ungated_folds"]:
            print(
                f"  its fold models are not gated yet ({', '.join(done['ungated_folds'])}): gate them too, or the "
                "robustness harness will not take them for this checkpoint's",
                file=sys.stderr,
            )
    return 0


def _predict(args) -> int:
    from emodemo.serving.batch import predict_to_jsonl

    models = None if args.models == "all" else args.models.split(",")
    if args.out and not args.out.parent.is_dir():
        raise ValueError(f"cannot write {args.out}: the folder {args.out.parent} does not exist")
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    try:
        n = predict_to_jsonl(args.inputs, out, models=models, workers=args.workers, transcribe=not args.no_transcript)
    finally:
        if args.out:
            out.close()
    print(f"{n} clips -> {args.out or 'stdout'}", file=sys.stderr)
    return 0


def _timeline(args) -> int:
    from emodemo.serving.pipeline import Pipeline
    from emodemo.serving.timeline_files import timeline_to_jsonl, write_csv

    for path in (args.out, args.csv):
        if path is not None and not path.parent.is_dir():
            raise ValueError(f"cannot write {path}: the folder {path.parent} does not exist")
    models = None if args.models == "all" else args.models.split(",")
    max_seconds = None if args.max_minutes is None else 60 * args.max_minutes
    if args.ray:
        from emodemo.serving.timeline_ray import timeline_with_ray

        summary = timeline_with_ray(
            args.inputs,
            args.out,
            models,
            transcribe=not args.no_transcript,
            channels=args.channels,
            max_seconds=max_seconds,
            workers=args.workers,
            gpus_per_worker=args.gpus_per_worker,
        )
        summary["skipped"] = 0
    else:
        summary = timeline_to_jsonl(
            args.inputs,
            args.out,
            Pipeline(models, transcribe=not args.no_transcript),
            channels=args.channels,
            progress=not args.no_progress,
            max_seconds=max_seconds,
        )
    print(
        f"{summary['done']} recordings analysed ({summary['segments']} segments), {summary['failed']} could not be "
        f"read (noted in {args.out}), {summary['skipped']} already done",
        file=sys.stderr,
    )
    if args.csv:
        rows = write_csv(args.out, args.csv)
        print(f"{rows} segments -> {args.csv}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handler = {
        "check": _check,
        "train": _train,
        "evaluate": _evaluate,
        "calibrate": _calibrate,
        "gate": _gate,
        "cv-as-served": _cv_as_served,
        "pair": _pair,
        "recalibrate": _recalibrate,
        "predict": _predict,
        "merge": _merge,
        "reproduce": _reproduce,
        "timeline": _timeline,
    }[args.command]
    try:
        return handler(args)
    except (FileNotFoundError, ValueError) as err:  # dataset/asset/input problems: a message, not a trace
        print(f"error: {err}", file=sys.stderr)
        return 2
