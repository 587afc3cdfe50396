"""The datasets :func:`emodemo.training.engine.fit` eats: items are ``dict``s of tensors with a ``"label"`` key."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset


class DictDataset(Dataset):
    """Named tensors that share their first dimension, served as ``{name: tensor[i]}`` items.

    The simplest dataset for :func:`~emodemo.training.engine.fit` (pre-computed features, tests). ``targets`` (the
    torchvision convention) lets :func:`~emodemo.training.engine.fit` read the labels without loading every item.
    """

    def __init__(self, **tensors: torch.Tensor) -> None:
        lengths = {name: len(t) for name, t in tensors.items()}
        if not tensors or len(set(lengths.values())) != 1:
            raise ValueError(f"DictDataset needs tensors of one common length, got {lengths}")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {name: t[index] for name, t in self.tensors.items()}

    @property
    def targets(self) -> torch.Tensor:
        return self.tensors["label"]


class PaddedClips(Dataset):
    """Per clip, named tensors of different lengths (and a label); :meth:`collate` zero-pads each
    along its time axis (``TIME_AXIS[name]``) into ``[B, ...]`` and adds ``<name>_mask [B, T]``.
    A field that is None is left out (a model that does not read that modality)."""

    TIME_AXIS: dict[str, int] = {}

    def __init__(self, labels: Sequence[int] | None = None, **fields: Sequence[torch.Tensor] | None) -> None:
        self.fields = {name: values for name, values in fields.items() if values is not None}
        self.labels = None if labels is None else torch.as_tensor(labels)
        sizes = {len(values) for values in self.fields.values()}
        if len(sizes) != 1:
            raise ValueError(f"a dataset of clips needs at least one field, all of one length; got {sizes or 'none'}")

    def __len__(self) -> int:
        return len(next(iter(self.fields.values())))

    @property
    def targets(self) -> torch.Tensor | None:
        return self.labels

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {name: values[i] for name, values in self.fields.items()}
        if self.labels is not None:
            item["label"] = self.labels[i]
        return item

    @classmethod
    def collate(cls, items: list[dict]) -> dict[str, torch.Tensor]:
        batch = {}
        for name, axis in cls.TIME_AXIS.items():
            if name not in items[0]:
                continue
            longest = max(it[name].shape[axis] for it in items)
            shape = list(items[0][name].shape)
            shape[axis] = longest
            values = torch.zeros(len(items), *shape)
            mask = torch.zeros(len(items), longest, dtype=torch.bool)
            for i, it in enumerate(items):
                length = it[name].shape[axis]
                values[i].narrow(axis, 0, length).copy_(it[name].float())
                mask[i, :length] = True
            batch[name], batch[f"{name}_mask"] = values, mask
        if "label" in items[0]:
            batch["label"] = torch.stack([it["label"] for it in items])
        return batch
