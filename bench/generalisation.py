"""Does each served model recognise emotion, or RAVDESS? Every served model on RAVDESS CV (the
committed results), TESS (choose half; report half apart) and the robustness set, per gender,
with the collapse (:mod:`emodemo.serving.cross_corpus` has the protocol).

Usage::

    make generalisation                                   # the same as:
    python bench/generalisation.py --tess ../shared/datasets/tess --ravdess ../shared/datasets/ravdess_speech
    python bench/generalisation.py --models speech_probe  # score some models again, keep the others' scores
    python bench/generalisation.py --models speech_probe --cards   # and write its TESS halves into its card
    python bench/generalisation.py --render-only          # re-render the tables from the saved JSON (the
                                                          # in-corpus rows read again from the committed results)
    python bench/generalisation.py --models MODEL \
        --fold-models MODEL=runs/MODEL/RUN/folds   # fold models kept outside checkpoints/ (too large to commit)
    python bench/generalisation.py --render-only --report # print the TESS report half too (scored once
                                                          # per final choice: do not choose on it)

Writes ``bench/results/generalisation.json``, rewrites the block of docs/results.md between the
``generalisation`` markers (choose half only) and the README's headline table (``bench/headline.py``).
Features and transcripts come from emodemo's caches; a first run transcribes TESS (700 clips) and,
for the words models with fold models, the perturbed clips (1,200 per fold) with Whisper tiny.en:
3-14 s per clip on this shared 2-core CPU under load (about 1 hour for TESS with two single-thread
processes), a few minutes when the caches are warm.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAVED = REPO / "bench" / "results" / "generalisation.json"
BLOCK_START, BLOCK_END = "<!-- generalisation:start -->", "<!-- generalisation:end -->"  # in docs/results.md


def render_results(result: dict, page: Path | None = None) -> None:
    """Rewrite the block of ``page`` (default docs/results.md) between the generalisation markers
    (the choose half only)."""
    from headline import RESULTS_PAGE

    from emodemo.core import replace_marked_block
    from emodemo.serving import cross_corpus

    replace_marked_block(page or RESULTS_PAGE, BLOCK_START, BLOCK_END, cross_corpus.markdown_table(result))


CARD_KEYS = {
    "tess_choose": "TESS choose half (words 1-25, 350 clips; never trained on; the half models were chosen on)",
    "tess_report": "TESS report half (words 26-50, 350 clips; scored once, for this final choice)",
}


def write_cards(scored: list[dict]) -> None:
    """Each scored model's TESS halves into its checkpoint's metrics and card (replacing older ones)."""
    from emodemo.serving import CHECKPOINTS
    from emodemo.training import add_metrics

    for model in scored:
        halves = {
            CARD_KEYS[k]: {
                m: model[k][m]
                for m in (
                    "labels",
                    "n",
                    "WA",
                    "UA",
                    "WF1",
                    "UF1",
                    "per_class",
                    "confusion_matrix",
                    "collapse",
                    "most_frequent_answer",
                )
            }
            for k in CARD_KEYS
            if "confusion_matrix" in (model.get(k) or {})  # a half scored (not left out: --halves)
        }
        if halves:
            add_metrics(CHECKPOINTS / model["model"], halves, overwrite=True)


def fold_folders(options: list[str]) -> dict[str, Path]:
    """``["coattention=runs/x/folds"]`` -> ``{"coattention": Path("runs/x/folds")}``."""
    folders = {}
    for option in options:
        name, sep, folder = option.partition("=")
        if not sep or not Path(folder).is_dir():
            sys.exit(f"--fold-models takes MODEL=DIR with DIR a folder of fold models, not {option!r}")
        folders[name] = Path(folder)
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data = REPO.parent / "shared" / "datasets"
    parser.add_argument("--tess", type=Path, default=data / "tess")
    parser.add_argument("--ravdess", type=Path, default=data / "ravdess_speech")
    parser.add_argument("--models", help="comma-separated served models (default: every one)")
    parser.add_argument(
        "--halves",
        default="choose",
        help="TESS halves to score: the choose half by default; add the report half (choose,report) only for a "
        "final choice, once",
    )
    parser.add_argument("--skip-robustness", action="store_true", help="score no robustness set (faster)")
    parser.add_argument(
        "--keep-robustness",
        action="store_true",
        help="with --skip-robustness and --models: the re-scored models keep their saved robustness rows (only for "
        "a change that leaves every robustness clip's input as it was: check that first)",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="re-render docs/results.md's table and the README's headline from the saved JSON, its in-corpus rows "
        "read again from the committed results (and saved back into it)",
    )
    parser.add_argument("--report", action="store_true", help="also print the TESS report half's scores")
    parser.add_argument("--cards", action="store_true", help="write the scored models' TESS halves into their cards")
    parser.add_argument(
        "--fold-models",
        action="append",
        default=[],
        metavar="MODEL=DIR",
        help="a served model's fold models kept outside checkpoints/ (DIR/fold<k>, e.g. MODEL=runs/MODEL/RUN/folds: "
        "too large to commit), for its robustness set",
    )
    args = parser.parse_args()
    if args.keep_robustness and not (args.skip_robustness and args.models):
        parser.error("--keep-robustness is for models scored again with --models and --skip-robustness")
    from emodemo.serving import cross_corpus

    if args.render_only:  # the in-corpus rows are read again from the committed results: they are not scored here
        result = cross_corpus.with_fresh_in_corpus(json.loads(SAVED.read_text(encoding="utf-8")))
        SAVED.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    else:
        models = args.models.split(",") if args.models else None
        if models and SAVED.exists():  # before scoring: kept scores must have read the transcripts this run reads
            from emodemo.speech import asr

            saved = json.loads(SAVED.read_text(encoding="utf-8"))
            stale = cross_corpus.stale_words_models(saved, models, cross_corpus.served_models(), asr.described())
            if stale:
                sys.exit(f"the saved results read other transcripts than {asr.described()}: add {','.join(stale)} too")
        result = cross_corpus.run(
            args.tess,
            args.ravdess,
            models,
            with_robustness=not args.skip_robustness,
            halves=args.halves.split(","),
            fold_folders=fold_folders(args.fold_models),
        )
        if args.cards:
            write_cards(result["models"])
        if models and SAVED.exists():  # some models scored again: the others' saved scores stay
            saved = json.loads(SAVED.read_text(encoding="utf-8"))
            result = cross_corpus.merged(saved, result, cross_corpus.served_models(), args.keep_robustness)
        SAVED.parent.mkdir(parents=True, exist_ok=True)
        SAVED.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    render_results(result)
    from headline import render_headline

    render_headline()
    print(cross_corpus.markdown_table(result, report_half=args.report))


if __name__ == "__main__":
    main()
