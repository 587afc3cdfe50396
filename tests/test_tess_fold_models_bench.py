"""bench/tess_fold_models.py: each fold model's answers on TESS's choose half, summed up per speaker."""

import bench_scripts
import numpy as np
import pytest

BENCH = bench_scripts.load("tess_fold_models")


def test_a_fold_models_row_gives_its_ua_and_collapse_and_its_shares_each_speakers_answers():
    labels = ["neutral", "sad", "disgust"]
    truth = np.array([0, 0, 1, 1, 2, 2])
    answers = np.array([0, 2, 1, 2, 2, 2])  # right: neutral 1/2, sad 1/2, disgust 2/2; "disgust" 4 of 6
    speakers = np.array(["OAF", "YAF", "OAF", "YAF", "OAF", "YAF"])
    row = BENCH.answer_row(answers, truth, labels)
    assert row == {"UA": pytest.approx(100 * (0.5 + 0.5 + 1.0) / 3, abs=0.05), "collapse": 66.7, "answer": "disgust"}
    shares = BENCH.answer_shares(answers, labels, speakers)
    assert shares["all"] == {"neutral": 16.7, "sad": 16.7, "disgust": 66.7}
    assert shares["OAF"] == {"neutral": 33.3, "sad": 33.3, "disgust": 33.3} and shares["YAF"]["disgust"] == 100.0


def test_a_run_folder_without_fold_models_is_refused_with_where_they_were_looked_for(tmp_path):
    for name in ("fold10", "fold2", "fold1_old"):  # fold1_old: a checkpoint, but not a fold's name
        (tmp_path / "folds" / name).mkdir(parents=True)
        (tmp_path / "folds" / name / "config.json").write_text("{}")  # a checkpoint's folder
    (tmp_path / "folds" / "fold3").write_text("not a model folder")
    (tmp_path / "folds" / "fold4").mkdir()  # no checkpoint in it: not read
    assert [p.name for p in BENCH.fold_folders(tmp_path)] == ["fold2", "fold10"]
    with pytest.raises(SystemExit, match="no fold models under"):
        BENCH.fold_folders(tmp_path / "elsewhere")
