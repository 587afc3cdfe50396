"""The served Self-MHA and Cross-MHA pairs (emodemo.serving.pairs): per fold a calibrated model of Whisper base's
layers 0-3 beside one of every layer, averaged; built from its members' checkpoints, checked before anything is
written, and read through the real encoder."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from emodemo.models import REGISTRY
from emodemo.serving import load_models
from emodemo.serving.pairs import joined, layer_range
from emodemo.serving.pipeline import CHECKPOINTS
from emodemo.training.checkpoint import load_checkpoint, read_checkpoint_config, save_checkpoint

SERVED = CHECKPOINTS / "ssl_mha"


def members_of(pair: Path, into: Path) -> list[Path]:
    """Each member of a saved pair as its own ``ssl_mha`` checkpoint, as its run saved it: its layers, its
    temperature."""
    model, meta = load_checkpoint(pair, REGISTRY)
    kwargs, folders = meta["model_kwargs"], []
    for k, (member, read) in enumerate(zip(model.members, kwargs["member_layers"])):
        spec = dict(meta["input_spec"], **({"layers": list(range(read[0], read[1] + 1))} if read else {}))
        folders.append(
            save_checkpoint(
                into / f"member{k}",
                member,
                model_name="ssl_mha",
                model_kwargs=kwargs["members"][k],
                labels=meta["labels"],
                data_card=meta["data_card"],
                metrics={},
                input_spec=spec,
                calibration={"temperature": kwargs["temperatures"][k]},
            )
        )
    return folders


def edited(folder: Path, change) -> Path:
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("name", ["ssl_mha", "ssl_mha/cross"])
def test_the_served_model_is_every_fold_pairs_members_averaged(name):
    """Per fold a calibrated model of layers 0-3 beside one of every layer (Self-MHA, Cross-MHA); served, the mean of
    all ten, each at its own temperature, at the mean of the fold pairs' temperatures."""
    served_folder = CHECKPOINTS / name
    pairs = sorted((served_folder / "folds").glob("fold*"))
    metas = [read_checkpoint_config(p) for p in pairs]
    assert len(pairs) == 5
    readings = [[0, 3], None]
    for folder, meta in zip(pairs, metas):
        assert meta["model_name"] == read_checkpoint_config(served_folder)["model_name"], folder
        assert meta["model_kwargs"]["member_layers"] == readings and meta["input_spec"] == metas[0]["input_spec"]
        assert meta["calibration"]["temperature"] > 0 and meta["calibration"]["unsure"]["threshold"] > 0, folder
        # Cross-MHA's fold pairs are fitted with their clean clips weighing half (pair --clean-half), Self-MHA's not
        assert meta["calibration"].get("clean_share") == (None if name == "ssl_mha" else 0.5), folder
        assert "perturbed" in meta["calibration"], folder
    served = read_checkpoint_config(served_folder)
    assert served["model_kwargs"]["member_layers"] == readings * 5 and layer_range(served) is None
    assert served["input_spec"] == metas[0]["input_spec"]  # every member reads the same words and states
    assert served["model_kwargs"]["temperatures"] == [t for m in metas for t in m["model_kwargs"]["temperatures"]]
    assert served["calibration"]["temperature"] == pytest.approx(
        np.mean([m["calibration"]["temperature"] for m in metas])
    )
    mean = load_checkpoint(served_folder, REGISTRY)[0]
    members = [member for p in pairs for member in load_checkpoint(p, REGISTRY)[0].members]
    for ours, theirs in zip(mean.members, members):
        assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()))
    assert not set(served["data_card"].get("test_speakers") or []) and len(served["data_card"]["train_speakers"]) == 20


@pytest.mark.parametrize("name", ["nmt_attention", "coattention", "mesm"])
def test_a_served_one_run_mean_is_its_calibrated_fold_models_at_their_own_temperatures(name):
    """``nmt_attention``, co-attention and ``mesm`` serve one run's 5 calibrated fold models averaged: the served
    weights are theirs, each member at its fold model's temperature, the mean at temperature 1, reading one input."""
    folds = sorted((CHECKPOINTS / name / "folds").glob("fold[0-9]*"))
    metas = [read_checkpoint_config(p) for p in folds]
    served = read_checkpoint_config(CHECKPOINTS / name)
    assert len(folds) == 5 and all(m["model_name"] == name for m in metas)
    assert served["model_kwargs"]["temperatures"] == [m["calibration"]["temperature"] for m in metas]
    assert served["calibration"]["temperature"] == 1.0 and served["model_kwargs"]["member_layers"] == [None] * 5
    assert all(m["input_spec"] == served["input_spec"] for m in metas)  # one vocabulary, one reading of the sound
    mean, stored = load_checkpoint(CHECKPOINTS / name, REGISTRY)[0], getattr(torch, served["weights_dtype"])
    assert len(mean.members) == len(folds)
    for ours, fold in zip(mean.members, folds):  # the fold model's weights, as the served checkpoint stores them
        theirs = load_checkpoint(fold, REGISTRY)[0].state_dict()
        assert ours.state_dict().keys() == theirs.keys()
        as_stored = [b.to(stored).to(b.dtype) if b.is_floating_point() else b for b in theirs.values()]  # ints kept
        assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), as_stored))


@pytest.mark.parametrize("name", ["ssl_mha", "ssl_mha/cross", "nmt_attention", "coattention", "mesm"])
def test_a_served_means_card_says_what_its_folds_temperatures_were_fitted_on(name):
    """Every served mean's members were calibrated on their fold's validation actors and the same clips changed (the
    robustness set's five conditions); all but Self-MHA's with the clean clips weighing half. Its card says so, as
    :func:`~emodemo.serving.pairs.averaged` writes it, not only its folds' configs."""
    from emodemo.serving.pairs import fitted_on

    folds = [read_checkpoint_config(p) for p in sorted((CHECKPOINTS / name / "folds").glob("fold[0-9]*"))]
    served = read_checkpoint_config(CHECKPOINTS / name)
    said = served["calibration"]["fitted_on"]
    paired = name.startswith("ssl_mha")  # the MHA models: two runs' fold models per fold
    assert said == [fitted_on(folds, paired=paired)]
    assert (
        "the same clips changed (level -20 dB, level +20 dB, white noise 10 dB, babble 5 dB, telephone band)" in said[0]
    )
    assert ("the clean clips weighing 50% of each fit" in said[0]) == (name != "ssl_mha")
    assert said[0] in (CHECKPOINTS / name / "MODEL_CARD.md").read_text()
    members = served["data_card"]["members"]
    assert members.startswith("the 10 models of the 5 fold pairs" if paired else "the 5 fold models,")


def test_joining_the_served_pairs_members_again_gives_the_served_pair(tmp_path):
    fold = SERVED / "folds" / "fold0"
    again = joined(tmp_path / "again", members_of(fold, tmp_path))
    served, rebuilt = read_checkpoint_config(fold), read_checkpoint_config(again)
    assert rebuilt["model_kwargs"] == served["model_kwargs"] and rebuilt["input_spec"] == served["input_spec"]
    assert rebuilt["data_card"]["variant"]["layers"] == "layers 0-3 + every layer"
    a, b = load_checkpoint(fold, REGISTRY)[0].state_dict(), load_checkpoint(again, REGISTRY)[0].state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.update(calibration=None), "calibrate it first"),
        (lambda c: c["data_card"].update(train_speakers=["Actor_01"]), "train_speakers differ"),
        (lambda c: c["data_card"].update(pairing="real"), "different pairings"),
        (lambda c: c["input_spec"].update(normalise=False), "different inputs"),
        (lambda c: c.update(model_name="speech_probe"), "a pair is of coattention or mesm or nmt_attention or ssl_mha"),
    ],
)
def test_members_that_cannot_share_their_inputs_or_were_never_calibrated_are_refused(tmp_path, change, message):
    lower, every = members_of(SERVED / "folds" / "fold0", tmp_path)
    with pytest.raises(ValueError, match=message):
        joined(tmp_path / "pair", [lower, edited(every, change)])


def test_runs_built_alike_but_for_what_their_heads_read_are_joined_and_no_others():
    """Two co-attention runs whose heads differ only in reading the frames' statistics (``speech_plain``) attend the
    same frames and words: their fold models may be averaged. Any other difference in how they are built is refused."""
    from emodemo.serving.pairs import _checked

    config = read_checkpoint_config(CHECKPOINTS / "coattention" / "folds" / "fold0")
    plain = dict(config, model_kwargs=dict(config["model_kwargs"], speech_plain=True))
    assert _checked([config, plain], ["served", "plain"]) == config["input_spec"]
    other = dict(config, model_kwargs=dict(config["model_kwargs"], utterance_norm=True))  # the frames it attends change
    with pytest.raises(ValueError, match="built differently"):
        _checked([config, other], ["served", "utterance_norm"])


def test_mesm_runs_that_differ_only_in_a_training_setting_are_built_alike():
    """Two ``mesm`` runs, one of which hid the voice from its head for 30 % of its training clips (``voice_dropout``,
    which the eval forward never reads), answer from the same maps: their fold models may be averaged. A setting that
    changes the maps (``chunk_norm``) is still refused."""
    from emodemo.models import MesmMean

    config = {"n_classes": 7, "modalities": "TA", "sparse": True, "speech_plain": True, "chunk_norm": "group"}
    assert MesmMean.built_alike([config, dict(config, voice_dropout=0.3)])
    assert not MesmMean.built_alike([config, dict(config, voice_dropout=0.3, chunk_norm="batch")])


def test_a_pair_of_members_whose_heads_read_differently_keeps_each_members_weights_and_names_its_options(tmp_path):
    """Joined and loaded again, a pair of a ``mesm`` fold model and one whose head also reads the frames' statistics (a
    wider head) holds each member's own weights, and its card names each member's options."""
    from emodemo.models import Mesm

    card = {"dataset": "ravdess", "pairing": "mixed", "train_speakers": ["Actor_01"], "licence": "none"}
    card.update(validation_speakers=["Actor_02"], test_speakers=["Actor_03"])
    members = []
    for seed, plain in enumerate((False, True)):
        torch.manual_seed(seed)
        kwargs = dict(n_classes=7, modalities="TA", top_p=0.7, speech_layers=4, speech_dim=16)
        kwargs.update({"speech_plain": True} if plain else {})
        members.append(
            save_checkpoint(
                tmp_path / f"run{seed}" / "fold0",
                Mesm(**kwargs),
                model_name="mesm",
                model_kwargs=kwargs,
                labels=list("abcdefg"),
                data_card=card,
                metrics={},
                input_spec={"modalities": "TA", "speech_layers": [0, 1, 2, 3]},
                calibration={"temperature": 1.5 + seed, "fitted_on": ["Actor_02"]},
                half=True,  # as fold models are kept, and the pair
            )
        )
    pair = joined(tmp_path / "pair", members, runs=["chunks", "plain"])
    loaded = load_checkpoint(pair, REGISTRY)[0]
    for member, path in zip(loaded.members, members):
        alone = load_checkpoint(path, REGISTRY)[0].state_dict()
        assert all(torch.equal(member.state_dict()[k], alone[k]) for k in alone)
    lines = read_checkpoint_config(pair)["data_card"]["members"]
    assert "options none" in lines[0] and "options speech_plain=True" in lines[1]


def test_a_pair_needs_a_member_that_reads_every_layer(tmp_path):
    lower, _ = members_of(SERVED / "folds" / "fold0", tmp_path)
    with pytest.raises(ValueError, match="one member must read every layer"):
        joined(tmp_path / "pair", [lower, lower])


def test_each_member_of_the_served_pair_answers_a_clip_as_it_does_alone(ravdess_clip, tmp_path):
    """Real clip, real Whisper base, real MiniLM: the pair reads every layer's states once, and its lower member
    answers from them as it does when it is fed its own layers 0-3 alone; the app shows the members' mean."""
    from emodemo.inputs.audio import load_audio
    from emodemo.recipes import ssl_mha as recipe
    from emodemo.speech.asr import Transcript
    from emodemo.training.calibration import softmax

    wave = load_audio(ravdess_clip)
    transcript = Transcript("Kids are talking by the door.", [], "en", "x", 0.1, 4.0, "tiny.en")
    answers = []
    for member in members_of(SERVED, tmp_path):
        model, meta = load_checkpoint(member, REGISTRY)
        inputs = recipe.clip_inputs(wave, transcript, meta["input_spec"])
        with torch.no_grad():
            logits = model(**inputs)["logits"].numpy()  # [1, C]
        answers.append(softmax(logits, meta["calibration"]["temperature"]))
    pair = load_models(["ssl_mha"])[0]
    inputs = recipe.clip_inputs(wave, transcript, pair.meta["input_spec"])
    with torch.no_grad():
        mean = pair.model(**inputs)["logits"].exp().numpy()  # [1, C], before the pair's own temperature
    np.testing.assert_allclose(mean, np.mean(answers, axis=0), atol=2e-3)


def test_runs_missing_a_fold_or_a_mixed_run_without_its_lines_are_refused_before_anything_is_written(tmp_path):
    from emodemo.serving.pairs import write_pair

    lower, every = members_of(SERVED / "folds" / "fold0", tmp_path / "members")
    runs = [tmp_path / "lower", tmp_path / "every"]
    for run, member in zip(runs, (lower, every)):
        (run / "fold0").parent.mkdir(parents=True)
        member.rename(run / "fold0")
    (runs[1] / "fold0").rename(runs[1] / "fold1")  # the every-layer run has fold 1, not fold 0
    out = tmp_path / "served"
    with pytest.raises(FileNotFoundError, match="lower: fold1.*every: fold0"):
        write_pair(out, runs, root=tmp_path)
    (runs[1] / "fold1").rename(runs[1] / "fold0")
    with pytest.raises(ValueError, match="give text_root"):
        write_pair(out, runs, root=tmp_path)
    assert not out.exists()


def test_one_runs_fold_models_are_checked_before_anything_is_written(tmp_path):
    """With one run, its fold models are the folds: each must be of a model with a served mean and calibrated,
    and a mixed run still needs its lines; nothing is written before."""
    import shutil

    from emodemo.serving.pairs import write_pair

    run, out = tmp_path / "run", tmp_path / "served"
    shutil.copytree(CHECKPOINTS / "coattention" / "folds" / "fold0", run / "fold0")
    with pytest.raises(ValueError, match="give text_root"):
        write_pair(out, [run], root=tmp_path)
    edited(run / "fold0", lambda config: config.pop("calibration"))
    with pytest.raises(ValueError, match="no temperature"):
        write_pair(out, [run], root=tmp_path, text_root=tmp_path)
    edited(run / "fold0", lambda config: config.update(model_name="fer_cnn"))
    with pytest.raises(ValueError, match="a served mean is of"):
        write_pair(out, [run], root=tmp_path, text_root=tmp_path)
    with pytest.raises(ValueError, match="not 3"):
        write_pair(out, [run, run, run], root=tmp_path)
    with pytest.raises(ValueError, match="clean_half calibrates fold pairs"):  # a fold model keeps its own
        write_pair(out, [run], root=tmp_path, text_root=tmp_path, clean_half=True)
    edited(run / "fold0", lambda config: config.update(model_name="coattention", calibration={"temperature": 2.0}))
    shutil.copytree(CHECKPOINTS / "coattention" / "folds" / "fold1", run / "fold1")
    edited(run / "fold1", lambda config: config["input_spec"].update(normalise=False))
    with pytest.raises(ValueError, match="fold1: not the model, inputs"):
        write_pair(out, [run], root=tmp_path, text_root=tmp_path)
    assert not out.exists()


def test_a_mean_of_plain_fold_models_finds_them_as_its_folds(tmp_path):
    """A served mean of one run's fold models (``coattention_mean``) is scored through those fold models: each is
    one of its members; a fold model of other settings is another run's."""
    from emodemo.serving import cross_corpus

    fold = read_checkpoint_config(CHECKPOINTS / "coattention" / "folds" / "fold0")
    mean = dict(fold, model_name="coattention_mean")
    mean["model_kwargs"] = {"members": [fold["model_kwargs"]] * 5, "temperatures": [1.0] * 5, "member_layers": None}
    assert cross_corpus._same_run(mean, fold)
    other = dict(fold, model_kwargs=dict(fold["model_kwargs"], speech_layers=7))
    assert not cross_corpus._same_run(mean, other)
    # a pair's member alone is not a fold model of the pair (its folds are the fold pairs)
    pair, (member, _) = read_checkpoint_config(SERVED), members_of(SERVED / "folds" / "fold0", tmp_path)
    assert not cross_corpus._same_run(pair, read_checkpoint_config(member))


def test_the_served_pair_is_rebuilt_from_its_fold_pairs(tmp_path, monkeypatch):
    """``averaged``: the served Self-MHA again from its committed fold pairs, its members, temperatures, card and
    metrics as committed (the validation actors' answers, which only its "unsure" line reads, stubbed)."""
    from emodemo import data
    from emodemo.serving import evaluation
    from emodemo.serving.pairs import averaged

    monkeypatch.setattr(data, "load", lambda *args, **kwargs: [])
    monkeypatch.setattr(evaluation, "readable", lambda loaded, clips, *args, **kwargs: ([],))
    answers = (np.full((4, 7), 1 / 7), np.array([0, 1, 2, 3]))
    monkeypatch.setattr(evaluation, "calibrated", lambda loaded, clips: answers)
    out = averaged(tmp_path / "served", sorted((SERVED / "folds").glob("fold*")), tmp_path)
    rebuilt, served = read_checkpoint_config(out), read_checkpoint_config(SERVED)
    assert rebuilt["model_name"] == served["model_name"] and rebuilt["model_kwargs"] == served["model_kwargs"]
    assert {k: v for k, v in rebuilt["calibration"].items() if k != "unsure"} == {
        k: v for k, v in served["calibration"].items() if k != "unsure"
    }
    assert rebuilt["data_card"] == served["data_card"]
    assert rebuilt["metrics"]["members_note"] == served["metrics"]["members_note"]
    a, b = load_checkpoint(out, REGISTRY)[0].state_dict(), load_checkpoint(SERVED, REGISTRY)[0].state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_clean_half_reaches_each_fold_pairs_calibration_from_the_command_line(tmp_path, monkeypatch):
    """``reproduce``'s pair step -> ``python -m emodemo pair --clean-half`` -> :func:`write_pair` -> each fold pair's
    ``calibrate_checkpoint(clean_half=True)`` (the served Cross-MHA pair's fit), link by link; the served members are
    joined again for real, the fitting, averaging and scoring after it are stubbed and recorded."""
    from emodemo import cli
    from emodemo.recipes import reproduce
    from emodemo.serving import pairs

    commands = []
    monkeypatch.setattr(reproduce, "_call", lambda command, *args, **kwargs: commands.append(command))
    reproduce.pair("OUT", ["A", "B"], "R", text_root="G", clean_half=True)
    reproduce.pair("OUT", ["A", "B"], "R", text_root="G")
    assert commands[0][-1] == "--clean-half" and "--clean-half" not in commands[1]

    asked = []

    def fake_write_pair(out, fold_models, root, text_root=None, clean_half=False):
        asked.append(clean_half)
        Path(out).mkdir(parents=True, exist_ok=True)
        by_pairing = {"real": {"summary": {"WA": {"mean": 0.7}}}}
        (Path(out) / "config.json").write_text(json.dumps({"metrics": {"by_pairing": by_pairing}}))
        return Path(out)

    monkeypatch.setattr(pairs, "write_pair", fake_write_pair)
    line = ["pair", str(tmp_path / "cli"), "--fold-models", "A", "B", "--root", "R"]
    for extra in (["--clean-half"], []):
        assert cli._pair(cli._parser().parse_args(line + extra)) == 0
    assert asked == [True, False]
    monkeypatch.undo()

    runs = [tmp_path / "lower", tmp_path / "every"]
    for run, member in zip(runs, members_of(SERVED / "cross" / "folds" / "fold0", tmp_path / "members")):
        run.mkdir()
        member.rename(run / "fold0")
    fitted = []
    scored = tmp_path / "as_served.json"
    scored.write_text(json.dumps({"by_pairing": {"real": {"summary": {}}}}))
    monkeypatch.setattr(pairs, "calibrate_checkpoint", lambda target, *args, **kwargs: fitted.append(kwargs))
    monkeypatch.setattr(pairs, "averaged", lambda *args, **kwargs: None)
    monkeypatch.setattr(pairs, "write_as_served", lambda *args, **kwargs: scored)
    monkeypatch.setattr(pairs, "add_metrics", lambda *args, **kwargs: None)
    monkeypatch.setattr(pairs, "run_pairing", lambda config: {"pairing": "real"})
    for clean_half in (True, False):
        pairs.write_pair(tmp_path / f"served_{clean_half}", runs, root=tmp_path, clean_half=clean_half)
    assert [kwargs["clean_half"] for kwargs in fitted] == [True, False]
    assert all(kwargs["perturbed"] is not None for kwargs in fitted)  # fitted on the changed clips too
    assert (tmp_path / "served_True" / "folds" / "fold0" / "config.json").exists()  # the fold pair was joined


def tiny_nmt_run(folder: Path, vocab: list[str], seed: int, temperature: float, fold: int = 0) -> Path:
    """A calibrated words-only ``nmt_attention`` fold model of ``vocab`` (fold ``fold``, mixed pairs) under
    ``folder``."""
    from emodemo.models import NMTAttention

    torch.manual_seed(seed)
    kwargs = dict(n_classes=4, mode="text", vocab_size=len(vocab), hidden=8, dropout=0.0)
    card = {"dataset": "ravdess", "pairing": "mixed", "train_speakers": ["Actor_01"]}
    card["validation_speakers"] = ["Actor_02"]
    return save_checkpoint(
        folder / f"fold{fold}",
        NMTAttention(**kwargs),
        model_name="nmt_attention",
        model_kwargs=kwargs,
        labels=list("abcd"),
        data_card=dict(card, test_speakers=["Actor_03"], licence="none"),
        metrics={},
        input_spec={"vocab": vocab},
        calibration={"temperature": temperature, "fitted_on": ["Actor_02"]},
    )


def test_two_nmt_attention_runs_are_joined_per_fold_on_one_vocabulary(tmp_path, monkeypatch):
    """Two runs of a recipe with a served mean (``nmt_attention``'s: one whose words side started from the words
    expert's beside one learnt from scratch) are joined per fold into its mean of two, each member at its own
    temperature. Each run drew its own lines, so their vocabularies differ: both are re-indexed onto one first (the
    recipe's ``one_input`` hook), and each member answers every line as its run's model did alone; the card names
    the runs. The fold pair's fitting, the averaging and the scoring after it are stubbed."""
    from emodemo.recipes.nmt_attention import PAD, UNK
    from emodemo.serving import pairs

    vocabularies = [[PAD, UNK, "happy", "sad"], [PAD, UNK, "sad", "door", "kids"]]
    runs = [tmp_path / "scratch_run" / "folds", tmp_path / "expert_run" / "folds"]
    for seed, (run, vocab) in enumerate(zip(runs, vocabularies)):
        tiny_nmt_run(run, vocab, seed, temperature=1.5 + seed)
    monkeypatch.setattr(pairs, "calibrate_checkpoint", lambda *args, **kwargs: None)
    monkeypatch.setattr(pairs, "averaged", lambda *args, **kwargs: None)
    scored = tmp_path / "as_served.json"
    scored.write_text(json.dumps({"by_pairing": {"real": {"summary": {}}}}))
    monkeypatch.setattr(pairs, "write_as_served", lambda *args, **kwargs: scored)
    monkeypatch.setattr(pairs, "add_metrics", lambda *args, **kwargs: None)
    pairs.write_pair(tmp_path / "served", runs, root=tmp_path, text_root=tmp_path)

    pair, meta = load_checkpoint(tmp_path / "served" / "folds" / "fold0", REGISTRY)
    assert meta["model_name"] == "nmt_attention_mean" and len(pair.members) == 2
    assert meta["model_kwargs"]["temperatures"] == [1.5, 2.5]
    assert meta["input_spec"]["vocab"] == [PAD, UNK, "happy", "sad", "door", "kids"]
    assert meta["data_card"]["variant"]["runs"] == "scratch_run + expert_run"
    assert meta["data_card"]["members"][1].startswith("expert_run: temperature 2.500")
    lines = [["happy", "door"], ["sad"], ["kids", "are", "sad"]]
    ids = lambda vocab: torch.tensor(  # noqa: E731
        [[vocab.index(w) if w in vocab else 1 for w in line] + [0] * (3 - len(line)) for line in lines]
    )
    for member, run, vocab in zip(pair.members, runs, vocabularies):
        alone = load_checkpoint(run / "fold0", REGISTRY)[0]
        with torch.no_grad():
            before = alone(tokens=ids(vocab))["logits"]
            after = member(tokens=ids(meta["input_spec"]["vocab"]))["logits"]
        assert torch.allclose(before, after, atol=1e-3)  # the pair is saved in half precision


def test_two_runs_of_other_recipes_or_other_actors_are_not_joined(tmp_path):
    """Every fold's pair is checked before any is written: a mismatch in fold 1 leaves fold 0 unwritten too."""
    from emodemo.recipes.nmt_attention import PAD, UNK
    from emodemo.serving.pairs import write_pair

    vocab = [PAD, UNK, "sad"]
    runs = [tmp_path / name for name in ("a", "b")]
    for run in runs:
        for fold in (0, 1):
            tiny_nmt_run(run, vocab, fold, 1.0, fold=fold)
    edited(runs[1] / "fold1", lambda c: c["data_card"].update(validation_speakers=["Actor_04"]))
    with pytest.raises(ValueError, match="validation_speakers differ"):
        write_pair(tmp_path / "served", runs, root=tmp_path, text_root=tmp_path)
    shutil.rmtree(runs[1] / "fold1")
    shutil.rmtree(runs[0] / "fold1")
    shutil.copytree(CHECKPOINTS / "coattention" / "folds" / "fold0", tmp_path / "c" / "fold0")
    with pytest.raises(ValueError, match="coattention and nmt_attention: a served mean is of one recipe's"):
        write_pair(tmp_path / "served", [runs[0], tmp_path / "c"], root=tmp_path, text_root=tmp_path)
    edited(runs[1] / "fold0", lambda c: c.pop("calibration"))
    with pytest.raises(ValueError, match="no temperature"):
        write_pair(tmp_path / "served", runs, root=tmp_path, text_root=tmp_path)
    assert not (tmp_path / "served").exists()
    out = tmp_path / "served"  # a run whose fold models lie where the pairs would be written
    shutil.copytree(runs[0], out / "folds")
    with pytest.raises(ValueError, match="would be written over"):
        write_pair(out, [out / "folds", runs[0]], root=tmp_path, text_root=tmp_path)


@pytest.mark.parametrize(
    "name, clean_half, paired", [("ssl_mha", False, True), ("ssl_mha/cross", True, True), ("coattention", True, False)]
)
def test_refitting_a_served_mean_fits_each_fold_again_as_it_was_fitted(
    tmp_path, monkeypatch, capsys, name, clean_half, paired
):
    """``recalibrate`` (:func:`refit`): each of the served checkpoint's folds calibrated again on its validation actors
    of ``root``, on their changed clips too where its committed fit was (every committed fold; here fold0 made one that
    was not), with its clean clips weighing half where its fit had them so (Self-MHA's fold pairs not), every fold
    before the mean is built, then the mean scored as fold pairs or fold models; the committed folds' configs, the
    corpus, the fitting, averaging and scoring stubbed and recorded."""
    from types import SimpleNamespace

    from emodemo import cli, data
    from emodemo.serving import pairs

    out = tmp_path / "served"
    for fold in sorted((CHECKPOINTS / name / "folds").glob("fold*")):
        (out / "folds" / fold.name).mkdir(parents=True)
        shutil.copy(fold / "config.json", out / "folds" / fold.name / "config.json")
    edited(out / "folds" / "fold0", lambda config: config["calibration"].pop("perturbed"))
    events = []
    scored = tmp_path / "as_served.json"
    scored.write_text(json.dumps({"by_pairing": {"real": {"summary": {"WA": {"mean": 0.7}}}}}))
    actors = [SimpleNamespace(speaker=f"Actor_{k:02d}") for k in range(1, 25)]
    monkeypatch.setattr(data, "load", lambda dataset, root, **options: actors)
    record = lambda step: lambda target, *args, **kwargs: events.append((step, target, args, kwargs))
    monkeypatch.setattr(pairs, "calibrate_checkpoint", record("fit"))
    monkeypatch.setattr(pairs, "averaged", record("mean"))
    monkeypatch.setattr(pairs, "write_as_served", lambda *args, **kwargs: scored)
    monkeypatch.setattr(pairs, "add_metrics", record("card"))
    with pytest.raises(ValueError, match="constructed half needs the lines"):  # a mixed-pairs run: before any fit
        pairs.refit(out, root=tmp_path)
    assert not events
    assert pairs.refit(out, root=tmp_path, text_root=tmp_path) == out
    assert [step for step, *_ in events] == ["fit"] * 5 + ["mean", "card"]  # every fold fitted before the mean
    fits = [(target, args, kwargs) for step, target, args, kwargs in events if step == "fit"]
    assert [target.name for target, *_ in fits] == [f"fold{k}" for k in range(5)]
    assert events[5][2][0] == [target for target, *_ in fits]  # the mean of the refitted folds
    assert all(args == ("ravdess", tmp_path) for _, args, _ in fits)  # on RAVDESS under root
    assert [kwargs["perturbed"] for *_, kwargs in fits] == [None] + [pairs.perturbed_answers] * 4
    assert [kwargs["clean_half"] for *_, kwargs in fits] == [clean_half] * 5
    assert events[6][2][0]["cross_validation_is"].startswith(f"its fold {'pairs' if paired else 'models'} on their")
    monkeypatch.setattr(pairs, "refit", lambda out, root, text_root: out)
    shutil.copy(CHECKPOINTS / name / "config.json", out / "config.json")
    args = cli._parser().parse_args(["recalibrate", str(out), "--root", "R", "--text-root", "G"])
    assert cli._recalibrate(args) == 0
    first = read_checkpoint_config(out / "folds" / "fold0")["calibration"]["temperature"]
    assert f"fold temperatures {first:.3f}, " in capsys.readouterr().out  # what the command says it fitted


def test_refitting_is_refused_before_any_fold_is_written_when_a_folds_actors_are_missing(tmp_path, monkeypatch):
    """A corpus folder without some fold's validation actors: named, and no fold fitted (none left half done)."""
    from types import SimpleNamespace

    from emodemo import data
    from emodemo.serving import pairs

    out = tmp_path / "served"
    for fold in sorted((CHECKPOINTS / "mesm" / "folds").glob("fold*")):
        (out / "folds" / fold.name).mkdir(parents=True)
        shutil.copy(fold / "config.json", out / "folds" / fold.name / "config.json")
    missing = read_checkpoint_config(out / "folds" / "fold3")["data_card"]["validation_speakers"][0]
    actors = [SimpleNamespace(speaker=f"Actor_{k:02d}") for k in range(1, 25)]
    monkeypatch.setattr(data, "load", lambda *args, **kwargs: [a for a in actors if a.speaker != missing])
    fitted = []
    monkeypatch.setattr(pairs, "calibrate_checkpoint", lambda *args, **kwargs: fitted.append(args))
    with pytest.raises(FileNotFoundError, match=f"fold3 \\({missing}\\): nothing was fitted"):
        pairs.refit(out, root=tmp_path, text_root=tmp_path)
    assert not fitted


def test_refitting_a_folder_without_folds_says_so(tmp_path):
    from emodemo.serving.pairs import refit

    with pytest.raises(FileNotFoundError, match="no fold models or fold pairs"):
        refit(tmp_path, root=tmp_path, text_root=tmp_path)
