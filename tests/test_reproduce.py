"""One way to reproduce every number (issue 19): configs/reproduce/<model>.toml read into typed
dataclasses and checked, the runner that makes their runs (idempotent, per-fold processes merged,
named steps after), and ``python -m emodemo reproduce MODEL --quick`` for every model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emodemo.recipes import get_recipe, names
from emodemo.recipes import reproduce as rp
from emodemo.recipes.contract import options_of, typed_option

REPO = Path(__file__).resolve().parents[1]


# --- the committed configs -------------------------------------------------------------------------


def test_every_model_has_one_config_and_every_config_parses():
    recipes = {get_recipe(name).NAME for name in names()}
    assert set(rp.models()) == recipes, "each recipe's measured runs are described in configs/reproduce/<model>.toml"
    for model in rp.models():
        config = rp.load(model)
        assert config.model == model and config.runs and config.quick
        assert any(run.served for run in config.runs), f"{model}: which runs make the served checkpoint?"


@pytest.mark.parametrize("model", rp.models())
def test_each_run_names_only_options_its_recipes_train_accepts_with_their_types(model):
    config = rp.load(model)
    recipe = get_recipe(model)
    accepted = options_of(recipe)
    for run in config.runs:
        assert set(run.options) <= set(accepted), (run.name, sorted(set(run.options) - set(accepted)))
        for name, value in run.options.items():
            assert typed_option(recipe, name, value) == value or isinstance(value, int), (run.name, name, value)
        places = rp.Places(data=Path("/data"), workspace=Path("/work"), model=model)
        for path in (run.results_path, run.root, run.out):
            assert path is None or Path(places.expand(path)).is_absolute()


def test_the_served_and_quick_runs_of_the_new_normalised_models():
    mesm = rp.load("mesm").run("mesm_p7_ta_mixed_normalised")  # measured, not served: it scored lower
    assert not mesm.served and mesm.cv and mesm.final and mesm.out == "{runs}/mesm_p7_ta_mixed_normalised"
    assert mesm.options == {
        "sparse": True,
        "top_p": 0.7,
        "modalities": "TA",
        "pairing": "mixed",
        "text_root": "{data}/goemotions",
        "normalise": True,
    }
    assert mesm.results == "{checkpoints}/mesm/cv/mesm_p7_ta_mixed_normalised.json"
    trained = rp.load("mesm").run("mesm_p7_ta_mixed_no_words")  # raw input, half the training clips without words
    assert not trained.served and trained.out == "{runs}/final_no_words" and "normalise" not in trained.options
    assert trained.options["no_words"] is True and trained.cv and trained.final
    assert [step.call for step in trained.after] == ["calibrate", "cv_as_served"]  # scored as the app reads it
    assert not rp.load("mesm").run("final").served
    before = rp.load("mesm").run("fold_mean")  # its fold models, calibrated clean-half, averaged: served until 12-07
    assert not before.served and before.args["out"] == "{runs}/fold_mean"  # never again into checkpoints/
    copies = rp.load("mesm").run("logmel_folds_clean_half")
    assert not copies.served and before.args["fold_models"] == ["{runs}/logmel_folds_clean_half/folds"]
    steps = [copies.args] + [s.args for s in copies.after if s.call == "copy_checkpoint"]
    assert [(a["source"], a["target"]) for a in steps] == [
        (f"{trained.options['fold_models']}/fold{k}", f"{before.args['fold_models'][0]}/fold{k}") for k in range(5)
    ]
    before = rp.load("mesm").run("served_group_fold_mean")  # group norm's run's fold models: served until 12-07
    assert not before.served and before.args["out"] == "{runs}/group_fold_mean" and before.results.startswith("{runs}/")
    words = rp.load("mesm").run("fe2e_t_goemotions_words")  # FE2E's words alone on GoEmotions, its model kept
    assert words.served and words.dataset == "goemotions" and words.final and words.out == "{runs}/fe2e_t_goemotions"
    run = rp.load("mesm").run("mesm_p7_ta_mixed_no_words_base_lower_pitch_tempo_plain_group_words_from")
    assert run.served and run.options["chunk_norm"] == "group" and run.options["speech_layers"] == "0-3"
    assert run.options["text_from"] == words.out and run.options["voice_dropout"] == 0.3 and run.needs == [words.name]
    assert [(s.call, s.args.get("clean_half")) for s in run.after] == [("calibrate_folds", True)]
    served = rp.load("mesm").run("served_words_from_fold_mean")  # that run's 5 calibrated fold models, averaged
    assert served.served and served.call == "pair" and served.args["out"] == "{checkpoints}/mesm"
    assert served.args["fold_models"] == [run.options["fold_models"]] and served.needs == [run.name]
    assert [r.name for r in rp.selected(rp.load("mesm"), served=True)] == [words.name, run.name, served.name]
    assert [s.args["folder"] for s in run.after if s.call == "calibrate_folds"] == served.args["fold_models"]
    nmt = rp.load("nmt_attention").run("served_pitch_tempo_words_expert_fold_mean")  # one run's 5 fold models
    assert nmt.served and nmt.call == "pair" and nmt.args["out"] == "{checkpoints}/nmt_attention"
    assert nmt.needs == ["fusion_pitch_tempo_words_expert"] and "clean_half" not in nmt.args
    demoted = [rp.load("nmt_attention").run(name) for name in ("served_two_runs_mean", "served_fold_mean")]
    assert not any(run.served for run in demoted) and all(run.args["out"].startswith("{runs}/") for run in demoted)
    assert all(run.results.startswith("{runs}/") for run in demoted)  # made again into runs/, not over checkpoints/
    expert = rp.load("nmt_attention").run("fusion_pitch_tempo_words_expert")
    assert expert.served and [step.call for step in expert.after] == ["calibrate_folds"]
    assert [f"{step.args['folder']}" for step in expert.after] == nmt.args["fold_models"]
    assert expert.after[0].args["clean_half"] and expert.options["text_from"].endswith("words_goemotions")
    assert {k: expert.options[k] for k in ("alignment", "no_words", "pitch_tempo_copies", "speech_layers")} == {
        "alignment": "forced",
        "no_words": True,
        "pitch_tempo_copies": True,
        "speech_layers": "0-3",
    }
    cross = rp.load("ssl_mha").run("cross_pair")  # its fold pairs calibrated with the clean clips weighing half
    assert cross.served and cross.call == "pair" and cross.args["clean_half"] is True
    assert "clean_half" not in rp.load("ssl_mha").run("self_pair").args
    before = rp.load("nmt_attention").run("fusion_forced_real_normalised_no_words")  # served until 2026-12-06
    assert not before.served and before.out == "{runs}/fusion_forced_real_normalised_no_words"
    hand = rp.load("handcrafted_ensemble").run("served")
    assert hand.cv and hand.options == {
        "au_root": "{data}/ravdess_facial_au",
        "normalise": True,
        "smooth": True,
        "fold_models": "{checkpoints}/handcrafted_ensemble/folds",
    }


def test_copying_a_checkpoint_that_is_not_there_says_which_run_makes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the variant that makes it first"):
        rp.copy_checkpoint(str(tmp_path / "runs" / "no_words_folds" / "fold0"), str(tmp_path / "copy"))
    assert not (tmp_path / "copy").exists()


# --- reading: what a config may not say -----------------------------------------------------------------

GOOD = """
model = "nmt_attention"
quick = ["a"]
[defaults]
root = "{data}/ravdess_speech"
cv = true
[[run]]
name = "a"
options = { alignment = "local", normalise = true }
"""


SCORES_AS_RESULTS = 'results = "{checkpoints}/x/cv/as_served.json"'


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "nmt_attention.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (("cv = true\n[[run]]", "cv = true\nepohcs = 3\n[[run]]"), "unknown key 'epohcs'"),
        (('name = "a"', 'name = "a"\nepochs = "3"'), "epochs must be an integer, got '3'"),
        (('name = "a"', 'name = "a"\ncv = 1'), "cv must be true or false"),
        (("normalise = true", "normalise = true, windw = 3"), r"has no setting \['windw'\]"),
        (("normalise = true", 'normalise = "1"'), "is a string: write it as a TOML bool"),
        (('alignment = "local"', "alignment = 3"), "setting alignment is str, got 3"),
        (('name = "a"', 'name = "a"\nfinal = true'), "needs out"),
        (('name = "a"', 'name = "a"\nresults = "cv/a.json"'), "results must start with"),
        (('name = "a"', 'name = "a"\nresults = "{checkpoint}/a.json"'), r"unknown placeholder \{checkpoint\}"),
        (('name = "a"', 'name = "a"\nafter = [{ call = "attach", checkpoint = "x" }]'), "unknown step 'attach'"),
        (
            ('name = "a"', 'name = "a"\nafter = [{ call = "copy_file", source = "{runs}/x" }]'),
            "step copy_file: missing a required argument: 'target'",
        ),
        (('name = "a"', 'name = "a"\nneeds = ["b"]'), "needs 'b', which is not an earlier run"),
        (('quick = ["a"]', 'quick = ["z"]'), "quick names 'z'"),
        (('model = "nmt_attention"', 'model = "nmt"'), "model 'nmt' is not registered"),
        (('name = "a"', 'name = "a"\ncall = "calibrate"'), "a call run takes no training keys"),
        (  # a pair step writes the checkpoint's cv/as_served.json: its record there would overwrite the scores
            ("normalise = true }", 'normalise = true }\n[[run]]\nname = "b"\ncall = "pair"\n' + SCORES_AS_RESULTS),
            "not as_served.json, which the step writes itself",
        ),
    ],
)
def test_a_config_error_names_the_file_the_run_and_what_is_wrong(tmp_path, change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(rp.ConfigError, match=message) as caught:
        rp.read(write(tmp_path, GOOD.replace(old, new, 1)))
    assert "nmt_attention.toml" in str(caught.value)


def test_only_a_served_run_writes_into_a_served_checkpoints_folder():
    """A mean no longer served (or never) is made again under runs/: its pair step would replace the served one."""
    for path in sorted(rp.CONFIGS.glob("*.toml")):
        for run in rp.read(path).runs:
            out = str(run.args.get("out", "")) if run.kind == "call" else ""
            assert run.served or not out.startswith("{checkpoints}"), (path.name, run.name, out)


def test_the_scores_a_step_writes_are_named_as_served_cv_names_them():
    from emodemo.serving.served_cv import AS_SERVED

    assert rp.SCORED_AS_SERVED == AS_SERVED


def test_a_good_config_reads_into_typed_runs(tmp_path):
    config = rp.read(write(tmp_path, GOOD))
    (run,) = config.runs
    assert run.kind == "train" and run.cv is True and run.options == {"alignment": "local", "normalise": True}
    assert run.results_path == "{runs}/a.json" and run.root == "{data}/ravdess_speech"


# --- running: a fake `python -m emodemo train` stands in for training -------------------------------------

FAKE = """#!{python}
import json, os, sys, time
from pathlib import Path
args = sys.argv[1:]
Path({calls!r}).open("a").write(json.dumps(args) + "\\n")
Path({calls!r} + ".threads").open("a").write(os.environ["OMP_NUM_THREADS"] + "\\n")
running = Path({calls!r} + ".running")  # made by whichever training runs; two at once leave a mark
try:
    os.close(os.open(running, os.O_CREAT | os.O_EXCL))
    time.sleep(0.2)
    running.unlink()
except FileExistsError:
    Path({calls!r} + ".overlapped").touch()
value = lambda flag: args[args.index(flag) + 1] if flag in args else None
options = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--option")
if options.get("alignment") == "local":
    sys.exit("training failed on purpose")
folds = value("--folds").split(",") if value("--folds") else (["0"] if "--quick" in args else ["0", "1", "2"])
history = {{"epochs": [{{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0, "lr": 0.1, "seconds": 1.0,
                       "val_metrics": {{"WA": 0.5, "UA": 0.5, "WF1": 0.5, "UF1": 0.5}}}}]}}
result = {{"pairing": "real", "folds": [{{"fold": "fold" + f, "WA": 0.4 + int(f) / 10, "UA": 0.5, "history": history}}
                                      for f in folds]}}
if "--no-final" not in args and value("--out"):
    Path(value("--out")).mkdir(parents=True, exist_ok=True)
    (Path(value("--out")) / "config.json").write_text("{{}}")
if value("--results"):  # a training (calibrate writes into the checkpoint it is given)
    Path(value("--results")).write_text(json.dumps(result))
"""

RUNS = """
model = "nmt_attention"
jobs = 2
quick = ["per_fold", "final"]

[defaults]
root = "{data}/ravdess_speech"
cv = true

[[run]]
name = "per_fold"
per_fold = [0, 1, 2]
seed = 5
options = { alignment = "forced", normalise = true }
results = "{checkpoints}/nmt_attention/cv/per_fold.json"
after = [{ call = "copy_file", source = "{runs}/per_fold_f0.json", target = "{checkpoints}/nmt_attention/f0.json" }]

[[run]]
name = "broken"
options = { alignment = "local" }

[[run]]
name = "after_broken"
needs = ["broken"]

[[run]]
name = "final"
cv = false
final = true
out = "{checkpoints}/nmt_attention"
seed = 3
epochs = 7
needs = ["per_fold"]
"""


@pytest.fixture()
def fake(tmp_path):
    calls = tmp_path / "calls.jsonl"
    script = tmp_path / "fake_python"
    script.write_text(FAKE.format(python=sys.executable, calls=str(calls)))
    script.chmod(0o755)
    config = rp.read(write(tmp_path / "configs", RUNS))
    places = rp.Places(data=tmp_path / "data", workspace=tmp_path / "work", model="nmt_attention")
    return config, places, str(script), calls


def calls_of(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def test_runs_are_made_in_order_merged_per_fold_and_followed_by_their_steps(fake):
    config, places, python, calls = fake
    lines = []
    status = rp.reproduce(config, places, rp.selected(config), python=python, say=lines.append)
    assert status == {
        "per_fold": "done",
        "broken": status["broken"],
        "after_broken": "not run: broken failed",
        "final": "done",
    }
    assert status["broken"].startswith("failed: exit 1") and "training failed on purpose" in status["broken"]
    cv = places.workspace / "checkpoints" / "nmt_attention" / "cv" / "per_fold.json"
    merged = json.loads(cv.read_text())
    assert [f["fold"] for f in merged["folds"]] == ["fold0", "fold1", "fold2"]
    assert merged["cross_validation"]["WA"]["mean"] == pytest.approx(0.5)
    assert (places.workspace / "checkpoints" / "nmt_attention" / "f0.json").is_file()  # the step after it
    per_fold = [c for c in calls_of(calls) if "forced" in " ".join(c)]
    assert sorted((c[c.index("--folds") + 1], c[c.index("--seed") + 1]) for c in per_fold) == [
        ("0", "5"),
        ("1", "6"),
        ("2", "7"),
    ]  # each fold its process, seed = the run's seed + fold: a second draw of the same folds
    assert all("normalise=true" in c and "--no-final" in c for c in per_fold)
    (final,) = [c for c in calls_of(calls) if "--out" in c and "--no-final" not in c]
    assert final[final.index("--seed") + 1] == "3" and final[final.index("--epochs") + 1] == "7"
    assert str(places.data / "ravdess_speech") in final
    assert not list(places.workspace.rglob("*.partial"))


def test_a_run_whose_results_exist_is_skipped_and_an_interrupted_one_is_not(fake):
    config, places, python, calls = fake
    chosen = [config.run("per_fold"), config.run("final")]
    rp.reproduce(config, places, chosen, python=python, say=lambda line: None)
    made = len(calls_of(calls))
    assert rp.reproduce(config, places, chosen, python=python, say=lambda line: None) == {
        "per_fold": "skipped",
        "final": "skipped",
    }
    assert len(calls_of(calls)) == made
    cv = places.workspace / "checkpoints" / "nmt_attention" / "cv" / "per_fold.json"
    cv.unlink()  # the merge lost: the folds' own results are kept, not retrained
    assert rp.reproduce(config, places, chosen[:1], python=python, say=lambda line: None) == {"per_fold": "done"}
    assert len(calls_of(calls)) == made and cv.is_file()
    assert rp.reproduce(config, places, chosen[:1], python=python, force=True, say=lambda line: None) == {
        "per_fold": "done"
    }
    assert len(calls_of(calls)) == made + 3


def test_a_run_needing_one_not_done_says_so(fake):
    config, places, python, calls = fake
    with pytest.raises(ValueError, match="needs 'per_fold', which is not done.*--variant per_fold"):
        rp.reproduce(config, places, [config.run("final")], python=python)


def threads_of(calls: Path) -> list[str]:
    """Each fake training's OMP_NUM_THREADS."""
    return Path(f"{calls}.threads").read_text().split()


def test_quick_runs_its_list_one_fold_each_and_skips_nothing(fake, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    config, places, python, calls = fake
    quick = rp.selected(config, quick=True)
    assert [r.name for r in quick] == ["per_fold", "final"]
    for _ in range(2):
        assert rp.reproduce(config, places, quick, quick=True, python=python, say=lambda line: None) == {
            "per_fold": "done",
            "final": "done",
        }
    made = calls_of(calls)
    assert len(made) == 4 and all("--quick" in c and "--epochs" not in c and "--folds" not in c for c in made)
    assert threads_of(calls) == [str(len(os.sched_getaffinity(0)))] * 4  # one at a time, on every core


def test_a_quick_run_trains_one_process_at_a_time_even_when_asked_for_more(fake):
    config, places, python, calls = fake
    independent = [config.run("per_fold"), config.run("broken")]  # neither waits for the other
    rp.reproduce(config, places, independent, quick=True, jobs=2, python=python, say=lambda line: None)
    assert len(calls_of(calls)) == 2 and not Path(f"{calls}.overlapped").exists()
    rp.reproduce(config, places, [config.run("per_fold")], force=True, jobs=2, python=python, say=lambda line: None)
    assert Path(f"{calls}.overlapped").exists()  # the measured runs' folds do run two at a time


def test_a_quick_runs_calibrate_step_waits_its_turn_too(fake, tmp_path):
    config, places, python, calls = fake
    copy = 'call = "copy_file", source = "{runs}/per_fold_f0.json", target = "{checkpoints}/nmt_attention/f0.json"'
    text = RUNS.replace(copy, 'call = "calibrate", checkpoint = "{runs}/c", dataset = "ravdess", root = "{data}/x"')
    config = rp.read(write(tmp_path / "with_calibrate", text))
    for _ in range(4):  # which of the two trainings the pool takes first varies: a step run beside it would show
        status = rp.reproduce(
            config,
            places,
            [config.run("per_fold"), config.run("broken")],
            quick=True,
            python=python,
            say=lambda _: None,
        )
        assert status["per_fold"] == "done"
    assert sum("calibrate" in c for c in calls_of(calls)) == 4 and not Path(f"{calls}.overlapped").exists()


def test_measured_runs_train_on_one_thread_each_unless_the_user_says_otherwise(fake, monkeypatch):
    config, places, python, calls = fake
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    rp.reproduce(config, places, [config.run("per_fold")], python=python, say=lambda line: None)
    assert threads_of(calls) == ["1"] * 3  # three folds, two at a time: the committed numbers' setting
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    rp.reproduce(config, places, [config.run("final")], quick=True, python=python, say=lambda line: None)
    assert threads_of(calls)[3:] == ["3"]


def test_the_listing_says_what_is_done(fake):
    config, places, python, calls = fake
    rp.reproduce(config, places, [config.run("per_fold")], python=python, say=lambda line: None)
    listing = rp.listing(config, places).splitlines()
    assert any(line.split()[:2] == ["per_fold", "yes"] for line in listing)
    assert any(line.split()[:2] == ["final", "no"] for line in listing)


# --- every model's quick run, for real ------------------------------------------------------------------


# Wall time of `reproduce MODEL --quick` in the default suite on this 2-core CPU, warm caches. A smoke run trains
# one process at a time on both cores (rp.threads), and the voice + words models on a quarter of RAVDESS
# (common.quick_share): speech_probe 18 s, words_minilm 24 s, coattention 31 s, mesm 36 s, nmt_attention 46 s,
# ssl_mha 47 s (two processes: the fold, then the final model), handcrafted_ensemble 53 s, fer_cnn 62 s; about
# 5 minutes together (on one thread each and every clip: 640 s). All eight run in the default suite.
@pytest.mark.parametrize("model", rp.models())
def test_reproduce_quick_runs_every_model_into_a_scratch_folder(model, tmp_path):
    from conftest import SHARED_DATA

    config = rp.load(model)
    places = rp.Places(data=SHARED_DATA, workspace=tmp_path, model=model)
    needed = {Path(places.expand(run.root)) for run in rp.selected(config, quick=True) if run.root}
    for folder in needed:
        if not folder.is_dir():
            pytest.skip(f"{folder} is not here")
    started = time.time()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "reproduce",
            model,
            "--quick",
            "--into",
            str(tmp_path),
            "--data",
            str(SHARED_DATA),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    for run in rp.selected(config, quick=True):
        assert Path(places.expand(run.results_path)).is_file(), run.name
        if run.out and run.final:
            assert (Path(places.expand(run.out)) / "config.json").is_file(), run.name
    assert not list(tmp_path.rglob("*.partial"))
    print(f"{model}: reproduce --quick took {time.time() - started:.0f} s")


def test_a_step_run_writes_its_output_or_a_record_and_steps_get_their_own_arguments(fake, monkeypatch, tmp_path):
    config, places, python, calls = fake
    seen = []
    monkeypatch.setitem(rp.STEPS, "record", lambda checkpoint, results: seen.append((checkpoint, results)))
    text = (
        RUNS
        + """
[[run]]
name = "noted"
call = "record"
args = { checkpoint = "{checkpoints}/nmt_attention", results = "{runs}/x.json" }
after = [{ call = "record", checkpoint = "c", results = "r" }]

[[run]]
name = "chosen"
call = "choose_words_minilm"
args = { variants = ["per_fold"], runs = "{runs}", out = "{checkpoints}/chosen", meld_root = "{data}/meld" }
"""
    )
    config = rp.read(write(tmp_path / "more", text))
    status = rp.reproduce(config, places, [config.run("noted")], python=python, say=lambda line: None)
    assert status == {"noted": "done"}
    assert seen == [
        (
            str(places.workspace / "checkpoints" / "nmt_attention"),
            str(places.workspace / "runs" / "nmt_attention" / "x.json"),
        ),
        ("c", "r"),
    ]
    record = json.loads((places.workspace / "runs" / "nmt_attention" / "noted.json").read_text())
    assert record["step"] == "record"
