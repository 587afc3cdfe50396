"""The one comparison of every model: the rows read from the committed results, the saved bench
results, the docs/results.md tables rendered from them, and the README's headline table."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from emodemo.reports import comparison
from emodemo.serving import served_cv
from emodemo.serving.pipeline import discover

REPO = Path(__file__).resolve().parents[1]
SAVED = REPO / "bench" / "results" / "compare.json"
RESULTS_PAGE = REPO / "docs" / "results.md"


@pytest.fixture(scope="module")
def rows():
    return comparison.rows()


def test_every_row_reads_a_complete_report(rows):
    assert len(rows) == len(comparison.ENTRIES)
    for row in rows:
        cm = np.asarray(row["confusion_matrix"])
        assert cm.shape == (len(row["labels"]),) * 2, row["model"]
        assert set(row["per_class_f1"]) == set(row["labels"])
        assert all(0 <= row[m]["mean"] <= 1 for m in comparison.METRICS)
        # the pooled matrix's diagonal is the accuracy of every test item together
        if row["benchmark"].startswith("ravdess"):
            assert cm.sum() == 1200 and row["folds"] == 5 == len(row["fold_WA"])
            assert row["fold_names"] == [f"fold{k}" for k in range(5)]  # rows pair up by fold
            assert np.trace(cm) / cm.sum() == pytest.approx(row["WA"]["mean"], abs=1e-9)  # equal-sized folds
            assert np.mean(row["fold_WA"]) == pytest.approx(row["WA"]["mean"])
        else:
            assert row["WA"]["std"] is None and row["folds"] == 1
            assert np.trace(cm) / cm.sum() == pytest.approx(row["WA"]["mean"])


def test_rows_come_grouped_by_benchmark_best_first(rows):
    order = list(comparison.BENCHMARKS)
    keys = [(order.index(r["benchmark"]), -r["WA"]["mean"]) for r in rows]
    assert keys == sorted(keys)
    assert {r["benchmark"] for r in rows} == set(comparison.BENCHMARKS)


def test_every_architecture_and_every_dataset_at_hand_is_in_the_table(rows):
    recipes = {r["source"].split("/")[0] for r in rows}
    assert recipes == {name.split("/")[0] for name in discover()}
    readers = {r["reads"] for r in rows}
    assert {"voice", "words", "voice + words", "face", "face AUs", "voice + face AUs"} <= readers


def test_every_marked_checkpoint_is_served_and_scored_on_its_rows_protocol(rows):
    """A row names a served checkpoint only when the checkpoint's own card reports that row's score."""
    from emodemo.training.checkpoint import read_checkpoint_config

    served = set(discover())
    marked = [r for r in rows if r["checkpoint"]]
    assert len({r["checkpoint"] for r in marked}) >= 8
    for row in marked:
        assert row["checkpoint"] in served
        if row["source"] == f"{row['checkpoint']}/config.json":  # read from the card itself
            continue
        metrics = read_checkpoint_config(comparison.CHECKPOINTS / row["checkpoint"])["metrics"]
        halves = "by_pairing" in metrics  # a card scored per pairing: mixed pairs, or pairs and no words
        as_served = row["source"] == f"{row['checkpoint']}/cv/{served_cv.AS_SERVED}"  # its fold models re-scored
        if (
            halves
            and row["benchmark"] in ("ravdess_real", "ravdess_no_words")
            or row["benchmark"].startswith("ravdess_mixed_")
        ):
            half = "none" if row["benchmark"] == "ravdess_no_words" else row["benchmark"].rsplit("_", 1)[1]
            card = metrics[served_cv.CARD_KEY if as_served else "by_pairing"][half]["summary"]["WA"]["mean"]
        elif "cross_validation" in metrics:
            cv = metrics["cross_validation"]
            card = cv.get("fusion", cv)["WA"]["mean"]
        else:
            card = metrics["test"]["WA"]
        assert card == pytest.approx(row["WA"]["mean"]), (row["model"], row["benchmark"])


def test_the_served_ensemble_is_marked_on_what_a_voice_clip_gets(rows):
    """The app has no face action units for a voice clip: the ensemble answers with its voice-alone SVM."""
    (marked,) = [r for r in rows if r["checkpoint"] == "handcrafted_ensemble"]
    assert marked["reads"] == "voice" and "(served)" in marked["model"]
    assert next(e for e in comparison.ENTRIES if e.checkpoint == "handcrafted_ensemble").key[-1] == "voice"


def test_markdown_table_bolds_the_best_of_each_benchmark(rows):
    shuffled = rows[::-1]  # the best is found, not assumed first
    assert comparison.markdown_table(shuffled).count("**") == comparison.markdown_table(rows).count("**")
    table = comparison.markdown_table(rows, {"fer_cnn": {"ms_per_clip": 12.3}})
    lines = table.splitlines()[2:]
    assert len(lines) == len(rows)
    assert sum("**" in line for line in lines) == len(comparison.BENCHMARKS)
    assert "`fer_cnn`: 12" in table
    assert "70.4 ± 3.1" in table  # speech_probe, 7 classes, 5 folds


def test_a_missing_results_file_says_how_to_make_it(tmp_path):
    entry = comparison.Entry("ravdess_real", "some model", "000", "voice + words", "nope/cv/x.json")
    with pytest.raises(FileNotFoundError, match="python -m emodemo reproduce nope"):
        comparison.read(entry, tmp_path)


def test_training_time_is_read_from_the_runs_own_epoch_timings(rows):
    by_source = {r["source"]: r for r in rows}
    staged = json.loads((comparison.CHECKPOINTS / "coattention/cv/fusion_constructed.json").read_text())
    fold0 = sum(e["seconds"] for stage in staged["stages"].values() for e in stage["folds"][0]["history"]["epochs"])
    training = by_source["coattention/cv/fusion_constructed.json"]["training"]
    assert training["runs"] == 5 and training["seconds"] > fold0 / 5
    assert by_source["handcrafted_ensemble/config.json"]["training"] is None  # SVMs: no epochs


def test_the_saved_comparison_is_the_committed_results_and_covers_every_served_model(rows):
    saved = json.loads(SAVED.read_text())
    assert saved["accuracy"] == json.loads(json.dumps(rows)), "re-run `python bench/compare.py --render-only`"
    assert {r["checkpoint"] for r in saved["cost"]["models"]} == set(discover()), "re-run bench/compare.py"
    for r in saved["cost"]["models"]:
        assert r["ms_per_clip"] > r["ms_batch1"] * 0.5 > 0 and r["peak_rss_mb"] > saved["cost"]["base_rss_mb"] * 0.9
        assert r["share_of_hub"] == pytest.approx(r["ms_per_clip"] / saved["cost"]["hub_baseline"]["ms_per_clip"])


def test_the_results_page_shows_the_saved_comparison(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    import compare

    page = tmp_path / "results.md"
    page.write_text(f"intro\n{compare.BLOCK_START}\nSTALE TABLE\n{compare.BLOCK_END}\nrest\n")
    compare.render_results(json.loads(SAVED.read_text()), page)
    block = page.read_text()
    assert block.startswith("intro\n") and block.endswith("rest\n") and "STALE TABLE" not in block
    table = block.split(compare.BLOCK_START)[1].split(compare.BLOCK_END)[0]
    assert "| `coattention` |" in table and "Hub baseline" in table
    assert table in RESULTS_PAGE.read_text(), (
        "docs/results.md's table is stale: run `python bench/compare.py --render-only`"
    )


def saved(name: str) -> dict:
    return json.loads((REPO / "bench" / "results" / name).read_text())


def test_the_readme_headline_is_the_saved_results_the_fused_answer_then_every_served_model(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    import headline

    table = headline.headline()
    generalisation, fusion = saved("generalisation.json"), saved("fusion.json")
    assert table == comparison.headline_table(
        saved("compare.json"), generalisation, fusion, saved("fusion_tess_report.json")
    )
    fused, *body = table.splitlines()[2:]
    assert fused.startswith(f"| {comparison.FUSED_ANSWER} |")
    choose, report = fusion["as served, TESS choose"], saved("fusion_tess_report.json")["as served, TESS report"]
    folds = {half: fusion[half][choose["cross-validated as"]] for half in ("real", "constructed")}
    cost = {c["checkpoint"]: c for c in saved("compare.json")["cost"]["models"]}
    experts = (choose["voice"], fusion["words"])
    cells = fused.strip("| ").split(" | ")
    # the clip's own words first, then a GoEmotions line, as the voice + words models' rows
    assert cells[4:] == [
        " · ".join(f"{100 * folds[half]['WA']:.1f}" for half in ("real", "constructed")),
        " · ".join(f"{100 * folds[half]['UA']:.1f}" for half in ("real", "constructed")),
        f"{100 * choose['UA']:.1f} / {100 * report['UA']:.1f}",
        f"{cost[experts[0]]['ms_per_clip'] + cost[experts[1]]['ms_per_clip']:.0f}",
        f"{cost[experts[0]]['checkpoint_mb'] + cost[experts[1]]['checkpoint_mb']:.1f}",
    ]
    assert sorted(line.split(" | ")[0].strip("| `") for line in body) == sorted(discover())
    speech = next(line for line in body if line.startswith("| `speech_probe` |"))
    tess = next(m for m in generalisation["models"] if m["model"] == "speech_probe")
    assert f"| {100 * tess['tess_choose']['UA']:.1f} / {100 * tess['tess_report']['UA']:.1f} |" in speech
    readme = (REPO / "README.md").read_text()
    block = readme.split(headline.HEADLINE_START + "\n")[1].split("\n" + headline.HEADLINE_END)[0]
    assert block == table, "README.md's headline table is stale: run `python bench/headline.py`"
    copy = tmp_path / "README.md"
    copy.write_text(f"intro\n{headline.HEADLINE_START}\nSTALE\n{headline.HEADLINE_END}\nrest\n")
    headline.render_headline(copy)
    assert copy.read_text() == f"intro\n{headline.HEADLINE_START}\n{table}\n{headline.HEADLINE_END}\nrest\n"


def test_the_fused_row_refuses_tess_halves_scored_for_two_rules():
    fusion, report = saved("fusion.json"), saved("fusion_tess_report.json")
    report["as served, TESS report"]["rule"] = "learned stacker"
    with pytest.raises(ValueError, match="two rules"):
        comparison.headline_table(saved("compare.json"), saved("generalisation.json"), fusion, report)


def test_the_app_shows_the_saved_comparison_and_says_when_there_is_none(tmp_path):
    sys.path.insert(0, str(REPO))
    from app import side_by_side_markdown

    shown = side_by_side_markdown()
    assert shown == comparison.side_by_side(json.loads(SAVED.read_text()))
    from app import headline_markdown_table

    readme = (REPO / "README.md").read_text()
    assert headline_markdown_table() in readme  # the Compare tab opens with the README's headline table
    assert "bench/fusion.py" in headline_markdown_table(tmp_path / "fusion.json")
    assert shown in RESULTS_PAGE.read_text()
    assert "bench/compare.py" in side_by_side_markdown(tmp_path / "missing.json")
    (tmp_path / "old.json").write_text(json.dumps({"accuracy": [], "cost": {}}))
    assert "another version" in side_by_side_markdown(tmp_path / "old.json")
