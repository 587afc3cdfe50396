"""The text-only benchmarks: official splits, MELD's validation held out by dialogue, dev as test."""

import json
import subprocess
import sys

import pytest

from emodemo.core.labels import CANONICAL7
from emodemo.protocols.text_benchmarks import text_benchmark_parts
from tests.conftest import REPO, shared_dataset


def test_meld_validates_on_held_out_train_dialogues_and_tests_on_all_of_dev():
    train, val, test = text_benchmark_parts("meld", shared_dataset("meld_text"))
    assert len(train) + len(val) == 9989 and len(test) == 1109
    assert 0.05 < len(val) / 9989 < 0.15
    assert not {s.meta["dialogue_id"] for s in train} & {s.meta["dialogue_id"] for s in val}
    assert {s.split for s in test} == {"dev"} and {s.label for s in train + val + test} == set(CANONICAL7)
    assert text_benchmark_parts("meld", shared_dataset("meld_text"))[1] == val  # seeded


def test_goemotions_keeps_the_official_splits_and_single_label_rows():
    train, val, test = text_benchmark_parts("goemotions", shared_dataset("goemotions"))
    assert [{s.split for s in part} for part in (train, val, test)] == [{"train"}, {"dev"}, {"test"}]
    assert all(len(s.labels) == 1 for s in train + val + test) and {s.label for s in test} == set(CANONICAL7)
    assert len(test) < 5427  # multi-label rows dropped


def test_unknown_benchmark_is_named():
    with pytest.raises(ValueError, match="goemotions"):
        text_benchmark_parts("imdb", "x")


@pytest.mark.parametrize(
    "recipe, text_only", [("nmt_attention", "mode=text"), ("ssl_mha", "fusion=text"), ("mesm", "modalities=T")]
)
def test_a_words_models_text_side_trains_on_meld_through_the_cli(tmp_path, recipe, text_only):
    out = tmp_path / "results.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "train",
            recipe,
            "--dataset",
            "meld",
            "--root",
            str(shared_dataset("meld_text")),
            "--quick",
            "--no-final",
            "--option",
            text_only,
            "--results",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = json.loads(out.read_text())
    assert metrics["sizes"] == [200, 200, 200] and metrics["test"]["n"] == 200 and "dev as test" in metrics["protocol"]
    assert metrics["test"]["labels"] == list(CANONICAL7) and metrics["history"]["epochs"]
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "train",
            recipe,
            "--dataset",
            "meld",
            "--root",
            str(shared_dataset("meld_text")),
            "--quick",
            "--no-final",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert refused.returncode != 0 and text_only in refused.stderr and "Traceback" not in refused.stderr
