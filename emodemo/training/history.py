"""What a training run did, epoch by epoch: the record :func:`emodemo.training.engine.fit` returns, plain data
that reports draw (:func:`emodemo.reports.viz.training_curves`) and experiments save as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from emodemo.core.metrics import Report


@dataclass
class EpochRecord:
    """What one epoch did: losses, validation report, learning rate at its end, wall time."""

    epoch: int
    train_loss: float
    val_loss: float | None
    val_metrics: Report | None
    lr: float
    seconds: float


@dataclass
class History:
    """Per-epoch records of a :func:`~emodemo.training.engine.fit` run and which epoch's weights were kept."""

    monitor: str
    epochs: list[EpochRecord] = field(default_factory=list)
    best_epoch: int | None = None
    best_score: float | None = None
    stopped_early: bool = False

    def series(self, key: str) -> list[float | None]:
        """One number per epoch: ``"train_loss"``, ``"val_loss"``, ``"lr"``, ``"seconds"`` or a report key."""
        if key in ("train_loss", "val_loss", "lr", "seconds"):
            return [getattr(record, key) for record in self.epochs]
        return [record.val_metrics.get(key) if record.val_metrics else None for record in self.epochs]

    @property
    def best(self) -> EpochRecord:
        return next(record for record in self.epochs if record.epoch == self.best_epoch)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        records = [EpochRecord(**record) for record in data["epochs"]]
        return cls(**{**data, "epochs": records})
