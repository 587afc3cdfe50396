"""Checkpoints round-trip, describe themselves, and never run code found in the folder."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from toy_training import ToyClassifier

from emodemo.core.metrics import classification_report, mean_std
from emodemo.training.checkpoint import load_checkpoint, model_card, save_checkpoint
from emodemo.training.engine import TrainConfig

LABELS = ["neutral", "happy", "sad"]
REGISTRY = {"toy": ToyClassifier}
DATA_CARD = {"dataset": "synthetic blobs", "split": "seed 1 train, seed 2 test", "licence": "CC0"}


class WritesAFileWhenUnpickled:
    """A stand-in for a malicious pickle: unpickling it calls ``open(marker, "w")``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = ToyClassifier(hidden=5)
    report = classification_report([0, 1, 2, 2], [0, 1, 1, 2], LABELS)
    folder = save_checkpoint(
        tmp_path / "toy",
        model,
        model_name="toy",
        model_kwargs={"hidden": 5},
        labels=LABELS,
        data_card=DATA_CARD,
        metrics=report,
        train_cfg=TrainConfig(epochs=3),
    )
    return folder, model, report


def test_round_trip_restores_weights_and_metadata(saved):
    folder, model, report = saved
    assert sorted(p.name for p in folder.iterdir()) == ["MODEL_CARD.md", "config.json", "model.safetensors"]
    loaded, meta = load_checkpoint(folder, REGISTRY)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)
    assert not loaded.training
    assert meta["labels"] == LABELS and meta["metrics"] == report and meta["data_card"] == DATA_CARD
    assert meta["train_config"]["epochs"] == 3 and meta["model_kwargs"] == {"hidden": 5}
    assert meta["parameters"]["total"] == sum(p.numel() for p in model.parameters())
    assert meta["created"] and meta["torch_version"] == torch.__version__ and meta["emodemo_version"]


def test_half_precision_weights_are_stored_as_fp16_and_load_as_fp32(saved, tmp_path):
    folder, model, report = saved
    half = save_checkpoint(
        tmp_path / "half",
        model,
        model_name="toy",
        model_kwargs={"hidden": 5},
        labels=LABELS,
        data_card=DATA_CARD,
        metrics=report,
        half=True,
    )
    from safetensors import safe_open

    with safe_open(str(half / "model.safetensors"), "pt") as stored:
        assert {stored.get_slice(key).get_dtype() for key in stored.keys()} == {"F16"}
    loaded, meta = load_checkpoint(half, REGISTRY)
    assert meta["weights_dtype"] == "float16"
    for name, tensor in model.state_dict().items():
        assert loaded.state_dict()[name].dtype == torch.float32
        assert torch.allclose(loaded.state_dict()[name], tensor, rtol=1e-3, atol=1e-4)


def test_loading_never_unpickles_files_in_the_folder(saved, tmp_path, monkeypatch):
    folder, _, _ = saved
    marker = tmp_path / "pwned"
    for name in ("pytorch_model.bin", "model.pkl", "model.pt"):
        (folder / name).write_bytes(pickle.dumps(WritesAFileWhenUnpickled(marker)))

    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load_checkpoint(folder, REGISTRY)
    (folder / "model.safetensors").write_bytes(pickle.dumps(WritesAFileWhenUnpickled(marker)))
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_checkpoint(folder, REGISTRY)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "Toy", None])
def test_only_registry_names_are_accepted(saved, name):
    folder, _, _ = saved
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_name": name}))
    with pytest.raises(ValueError, match="not in the registry"):
        load_checkpoint(folder, REGISTRY)


def test_mismatched_or_missing_parts_fail_clearly(saved, tmp_path):
    folder, _, _ = saved
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_kwargs": {"hidden": 6}}))
    with pytest.raises(ValueError, match="does not fit toy"):
        load_checkpoint(folder, REGISTRY)
    with pytest.raises(FileNotFoundError, match="not an emodemo checkpoint folder"):
        load_checkpoint(tmp_path / "nowhere", REGISTRY)


def test_saving_requires_a_licence_and_json_kwargs(tmp_path):
    model = ToyClassifier()
    common = dict(model_name="toy", labels=LABELS, metrics={})
    with pytest.raises(ValueError, match="licence"):
        save_checkpoint(tmp_path / "a", model, model_kwargs={}, data_card={"dataset": "x"}, **common)
    with pytest.raises(TypeError, match="JSON data"):
        save_checkpoint(tmp_path / "b", model, model_kwargs={"act": torch.nn.ReLU()}, data_card=DATA_CARD, **common)


def test_only_rank_zero_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    assert (
        save_checkpoint(
            tmp_path / "c",
            ToyClassifier(),
            model_name="toy",
            model_kwargs={},
            labels=LABELS,
            data_card=DATA_CARD,
            metrics={},
        )
        is None
    )
    assert not (tmp_path / "c").exists()


def test_model_card_shows_data_licence_metrics_and_confusion_matrix(saved):
    folder, _, report = saved
    card = (folder / "MODEL_CARD.md").read_text()
    assert "# toy" in card and "licence: CC0" in card
    assert f"| UF1 | {report['UF1']:.4f} |" in card
    assert "| sad | " in card
    assert "true \\ pred" in card
    matrix_line = next(line for line in card.splitlines() if line.startswith("sad") and "|" not in line)
    assert matrix_line.split()[1:] == [str(v) for v in report["confusion_matrix"][2]]


def test_model_card_renders_named_fold_summaries_as_mean_and_std():
    folds = [classification_report([0, 1], [0, 1], LABELS), classification_report([0, 1], [0, 0], LABELS)]
    meta = {"model_name": "toy", "labels": LABELS, "data_card": DATA_CARD, "metrics": {"5-fold CV": mean_std(folds)}}
    card = model_card(meta)
    assert "### 5-fold CV" in card and "| WA | 0.7500 ± 0.3536 |" in card


def test_model_card_lists_settings_and_draws_the_summary_of_a_chance_row():
    chance = {"summary": mean_std([classification_report([0, 1], [1, 1], LABELS)] * 2), "folds": [{}, {}]}
    meta = {
        "model_name": "toy",
        "labels": LABELS,
        "data_card": DATA_CARD,
        "metrics": {"pairing": "real", "variant": {"fusion": "self"}, "chance": chance},
    }
    card = model_card(meta)
    assert "- pairing: real" in card and "- variant: {'fusion': 'self'}" in card
    assert "### variant" not in card
    assert "### chance" in card and "| WA | 0.5000 ± 0.0000 |" in card
    history = {"epochs": [{"epoch": i, "train_loss": 0.5} for i in range(30)]}
    assert "epochs" not in model_card({**meta, "metrics": {**meta["metrics"], "history": history}})


def test_a_later_cross_validation_joins_the_final_checkpoints_metrics_and_card(tmp_path):
    from emodemo.training.checkpoint import attach_cross_validation, read_checkpoint_config

    model = ToyClassifier(hidden=5)
    final = {
        "pairing": "mixed",
        "variant": {"p": 0.7},
        "final_validation_not_a_test_score": classification_report([0, 1, 2], [0, 1, 1], LABELS),
    }
    folder = save_checkpoint(
        tmp_path / "toy",
        model,
        model_name="toy",
        model_kwargs={"hidden": 5},
        labels=LABELS,
        data_card=DATA_CARD,
        metrics=final,
    )
    folds = [classification_report([0, 1, 2, 2], guess, LABELS) for guess in ([0, 1, 1, 2], [0, 0, 2, 2])]
    results = tmp_path / "cv.json"
    results.write_text(
        json.dumps({"pairing": "mixed", "variant": {"p": 0.7}, "cross_validation": mean_std(folds), "folds": folds})
    )
    attach_cross_validation(folder, results)
    metrics = read_checkpoint_config(folder)["metrics"]
    assert metrics["cross_validation"]["WA"]["mean"] == pytest.approx(0.75) and "folds" not in metrics
    assert metrics["cross_validation_from"] == "cv.json" and "final_validation_not_a_test_score" in metrics
    assert "0.750" in (folder / "MODEL_CARD.md").read_text()
    results.write_text(json.dumps({"pairing": "real", "variant": {"p": 0.7}, "cross_validation": mean_std(folds)}))
    with pytest.raises(ValueError, match="pairing"):
        attach_cross_validation(folder, results)


def test_model_card_opens_groups_of_named_reports_such_as_scores_per_pairing():
    report = classification_report([0, 1, 2], [0, 1, 1], LABELS)
    card = model_card(
        {
            "model_name": "toy",
            "labels": LABELS,
            "data_card": DATA_CARD,
            "metrics": {"by_pairing": {"constructed": report, "real": report}, "pairing": "mixed"},
        }
    )
    assert "### by_pairing: constructed" in card and "### by_pairing: real" in card and "- pairing: mixed" in card
