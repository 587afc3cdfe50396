"""The training engine learns, keeps its best epoch, stops early, schedules the lr, and fails clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight
from torch import nn
from toy_training import DIM, N_CLASSES, ToyClassifier, blobs

from emodemo.core.device import pick_device
from emodemo.core.metrics import classification_report
from emodemo.training.datasets import DictDataset
from emodemo.training.engine import TrainConfig, autocast_dtype, class_weights, evaluate, fit, predict, seed_everything
from emodemo.training.history import History

LABELS = ["neutral", "happy", "sad"]


def quick(**overrides) -> TrainConfig:
    settings = dict(epochs=8, batch_size=16, lr=1e-2, progress=False, device="cpu")
    return TrainConfig(**{**settings, **overrides})


def trained(cfg: TrainConfig, seed: int = 0, train=None, val=None):
    seed_everything(seed)
    model = ToyClassifier()
    history = fit(model, train or blobs(120, seed=1), val or blobs(60, seed=2), cfg, labels=LABELS)
    return model, history


def test_fit_learns_a_separable_task_and_records_every_epoch():
    model, history = trained(quick())
    assert len(history.epochs) == 8 and history.monitor == "UF1"
    assert history.series("train_loss")[-1] < 0.5 * history.series("train_loss")[0]
    assert history.best_score > 0.9
    assert all(r.seconds > 0 and r.lr >= 0 and r.val_metrics["labels"] == LABELS for r in history.epochs)
    assert not model.training  # left ready for inference


def test_fit_restores_the_weights_of_the_best_epoch():
    # Random labels: the model overfits, so validation loss bottoms out early and then rises.
    noise_train = DictDataset(features=torch.randn(64, DIM), label=torch.randint(0, 3, (64,)))
    noise_val = DictDataset(features=torch.randn(64, DIM), label=torch.randint(0, 3, (64,)))
    model, history = trained(
        quick(epochs=15, lr=3e-2, monitor="val_loss", patience=None, scheduler="none"), train=noise_train, val=noise_val
    )
    assert history.best_epoch < len(history.epochs)
    assert history.best_score == min(history.series("val_loss"))
    assert evaluate(model, noise_val, LABELS) == history.best.val_metrics


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    _, history = trained(quick(epochs=10, lr=0.0, patience=2))  # lr 0: nothing ever improves
    assert history.stopped_early and len(history.epochs) == 3 and history.best_epoch == 1


def test_min_epochs_keeps_training_past_an_early_best():
    _, history = trained(quick(epochs=10, lr=0.0, patience=2, min_epochs=6))
    assert history.stopped_early and len(history.epochs) == 6 and history.best_epoch == 1


def test_cosine_schedule_warms_up_then_decays_and_plateau_schedule_cuts_the_lr():
    _, history = trained(quick(epochs=6, warmup_ratio=0.3))
    lrs = history.series("lr")
    assert lrs.index(max(lrs)) in (1, 2) and lrs[-1] < 0.05 * max(lrs)

    constant_loss = lambda logits, labels: 0.0 * logits.sum() + 1.0  # never improves
    model = ToyClassifier()
    cfg = quick(epochs=6, scheduler="plateau", plateau_patience=1, patience=None)
    history = fit(model, blobs(32, seed=1), None, cfg, loss_fn=constant_loss)
    assert history.monitor == "train_loss"
    assert history.series("lr")[0] == pytest.approx(1e-2) and history.series("lr")[-1] < 1e-2


def test_same_seed_gives_the_same_weights():
    first, _ = trained(quick(epochs=2), seed=5)
    second, _ = trained(quick(epochs=2), seed=5)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


def test_class_weights_are_sklearn_balanced_and_multilabel_pos_weights_are_neg_over_pos():
    targets = torch.tensor([0, 0, 0, 1, 2, 2])
    expected = compute_class_weight("balanced", classes=np.arange(3), y=targets.numpy())
    assert class_weights(targets, 3).numpy() == pytest.approx(expected)
    assert class_weights(targets, 4)[3] == 0  # a class absent from training gets no weight
    multi = torch.tensor([[1, 0], [0, 0], [0, 0], [1, 0]])
    assert class_weights(multi, 2, multilabel=True).tolist() == [1.0, 1.0]  # 2/2, and 1 when no positives


def test_class_weighted_training_runs_through_fit():
    _, history = trained(quick(epochs=2, class_weights=True))
    assert len(history.epochs) == 2


def test_multilabel_training_with_bce_reports_mesm_metrics():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(160, DIM, generator=generator)
    label = torch.stack([features[:, 0] > 0, features[:, 1] > 0.5], dim=1).long()  # two learnable "emotions"
    data = DictDataset(features=features, label=label)
    model = ToyClassifier(n_classes=2)
    history = fit(model, data, data, quick(epochs=15, multilabel=True), labels=["happy", "sad"])
    assert history.monitor == "mean_f1" and history.best_score > 0.8
    assert set(history.best.val_metrics["per_class"]["sad"]) >= {"wacc", "f1", "accuracy"}
    probs, targets = predict(model, data, multilabel=True)
    assert probs.shape == (160, 2) and ((probs >= 0) & (probs <= 1)).all() and targets.shape == (160, 2)


def test_predict_gives_probabilities_and_evaluate_scores_their_argmax():
    model, _ = trained(quick(epochs=2))
    val = blobs(30, seed=3)
    probs, targets = predict(model, val, batch_size=7)
    assert probs.shape == (30, N_CLASSES) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert torch.equal(torch.as_tensor(targets), val.targets)
    assert evaluate(model, val, LABELS) == classification_report(targets, probs.argmax(axis=1), LABELS)


def test_models_may_return_a_dict_with_logits():
    class WithAttention(ToyClassifier):
        def forward(self, features):
            return {"logits": super().forward(features), "attention": torch.ones(len(features), 4)}

    history = fit(WithAttention(), blobs(40, seed=1), blobs(20, seed=2), quick(epochs=1))
    assert len(history.epochs) == 1


def test_an_aux_loss_returned_beside_the_logits_is_trained_on_and_left_out_of_validation():
    class Penalised(ToyClassifier):
        """Its aux loss (at least 10) pulls a spare weight, which the logits ignore, towards 0.5."""

        def __init__(self):
            super().__init__()
            self.spare = nn.Parameter(torch.zeros(()))

        def forward(self, features):
            return {"logits": super().forward(features), "aux_loss": 10.0 + (self.spare - 0.5) ** 2}

    cfg = quick(epochs=8, monitor="train_loss")
    seed_everything(0)
    model = Penalised()
    history = fit(model, blobs(120, seed=1), blobs(60, seed=2), cfg, labels=LABELS)
    assert 0.25 < float(model.spare.detach()) <= 0.55  # moved from 0 towards 0.5: learnt from the aux loss alone
    losses = np.array([(r.train_loss, r.val_loss) for r in history.epochs])
    assert (losses[:, 0] > 10).all()  # training adds the aux loss
    assert (losses[:, 1] < 1).all() and history.best_score > 0.9  # validation scores the logits alone


def test_history_round_trips_through_json():
    _, history = trained(quick(epochs=2))
    again = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert again == history


def test_bad_setups_fail_with_clear_messages():
    with pytest.raises(ValueError, match="scheduler must be one of"):
        TrainConfig(scheduler="linear")
    with pytest.raises(ValueError, match="monitor must be one of"):
        TrainConfig(monitor="UF1", multilabel=True)
    with pytest.raises(ValueError, match="needs validation data"):
        fit(ToyClassifier(), blobs(8, seed=1), None, quick(monitor="UA"))

    class TupleData(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return torch.zeros(DIM), 0

    with pytest.raises(TypeError, match="dicts of tensors with a 'label' key"):
        fit(ToyClassifier(), TupleData(), None, quick(epochs=1))

    class OneScorePerExample(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(DIM, 1)

        def forward(self, features):
            return self.linear(features).squeeze(1)  # [B], not [B, C]

    with pytest.raises(TypeError, match=r"logits \[batch, classes\]"):
        fit(OneScorePerExample(), blobs(8, seed=1), None, quick(epochs=1), loss_fn=lambda logits, labels: logits.sum())


def test_device_and_precision_choices(monkeypatch):
    assert autocast_dtype("auto", torch.device("cpu")) is None
    assert autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16
    with pytest.raises(ValueError, match="fp16 training needs CUDA"):
        autocast_dtype("fp16", torch.device("cpu"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device().type == "cpu"


def test_bf16_autocast_trains_on_cpu():
    _, history = trained(quick(epochs=3, precision="bf16"))
    assert history.best_score > 0.8


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_cuda(precision):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    model, history = trained(quick(epochs=4, precision=precision, device="cuda"))
    assert history.best_score > 0.8 and next(model.parameters()).device.type == "cuda"


def test_single_label_bce_is_one_sigmoid_per_class_against_the_one_hot_target():
    """Talk 001 trains its classifier with binary cross-entropy; weighted like cross-entropy."""
    from emodemo.training.engine import _DefaultLoss

    logits, labels = torch.randn(5, 3), torch.tensor([0, 2, 1, 2, 2])
    one_hot = nn.functional.one_hot(labels, 3).float()
    plain = _DefaultLoss(False, None, one_hot_bce=True)(logits, labels)
    assert plain == pytest.approx(float(nn.functional.binary_cross_entropy_with_logits(logits, one_hot)), rel=1e-6)
    weight = torch.tensor([1.0, 2.0, 0.5])
    per_example = nn.functional.binary_cross_entropy_with_logits(logits, one_hot, reduction="none").mean(dim=1)
    expected = (per_example * weight[labels]).sum() / weight[labels].sum()
    assert _DefaultLoss(False, weight, one_hot_bce=True)(logits, labels) == pytest.approx(float(expected), rel=1e-6)
    history = fit(
        ToyClassifier(),
        blobs(200, seed=1),
        blobs(100, seed=2),
        TrainConfig(epochs=8, lr=0.05, loss="bce", class_weights=True, progress=False, patience=None),
    )
    assert history.best_score > 0.9
    with pytest.raises(ValueError, match="loss must be one of"):
        TrainConfig(loss="hinge")
