"""Same numbers when training: a quick cross-validation of the speech probe, retrained with today's code,
gives the fold metrics the code gave before the package was regrouped into layer folders (issue 19).

The reference (``tests/data/same_training.json``) was recorded at commit 16101bb, the last one before the
move, with that commit's command line:
``OMP_NUM_THREADS=1 python -m emodemo train speech_probe --dataset ravdess --root RAVDESS --cv --quick
--option classes=7 --option normalise=1`` (its ``--quick`` then meant two folds, three epochs). Today's
command names those folds and epochs. On this machine the two agree exactly; the tolerance (two clips of a
fold's 240) leaves room for another CPU's floating-point order, not for a change in the protocol, the data,
the features or the training loop, each of which moves a fold by far more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).resolve().parent / "data" / "same_training.json"
TOLERANCE = 2 / 240


def test_a_quick_speech_probe_cross_validation_gives_the_numbers_of_the_code_before_the_move(ravdess_root, tmp_path):
    reference = json.loads(REFERENCE.read_text())
    done = subprocess.run(
        [sys.executable, "-m", "emodemo", "train", "speech_probe", "--dataset", "ravdess", "--root", str(ravdess_root)]
        + reference["arguments"]
        + ["--out", str(tmp_path / "probe")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    folds = json.loads((tmp_path / "probe" / "config.json").read_text())["metrics"]["folds"]
    assert [f["fold"] for f in folds] == [f["fold"] for f in reference["folds"]]
    for now, then in zip(folds, reference["folds"]):
        assert now["n"] == then["n"]
        for metric in ("WA", "UA", "UF1"):
            assert now[metric] == pytest.approx(then[metric], abs=TOLERANCE), (now["fold"], metric)
