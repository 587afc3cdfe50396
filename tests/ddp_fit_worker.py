"""Trains the toy classifier; run by tests/test_distributed.py under torchrun with 2 CPU processes.

Usage: python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_fit_worker.py OUT_DIR
Each process writes its final weights and history to OUT_DIR; each asks to save a checkpoint into
its own folder, and only rank 0's may appear.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from safetensors.torch import save_file
from toy_training import ToyClassifier, blobs

from emodemo.training.checkpoint import save_checkpoint
from emodemo.training.engine import TrainConfig, fit, seed_everything
from emodemo.training.history import History

LABELS = ["neutral", "happy", "sad"]


def train_toy(batch_size: int) -> tuple[ToyClassifier, History]:
    """The same run for one process (batch 2B) and for two (batch B each): 64 examples, 4 epochs."""
    seed_everything(0)
    model = ToyClassifier()
    cfg = TrainConfig(epochs=4, batch_size=batch_size, lr=1e-2, patience=None, device="cpu", progress=False)
    history = fit(model, blobs(64, seed=1), blobs(30, seed=2), cfg, labels=LABELS)
    return model, history


def main(out: Path) -> None:
    rank = int(os.environ["RANK"])
    model, history = train_toy(batch_size=8)
    save_file(model.state_dict(), str(out / f"weights_rank{rank}.safetensors"))
    (out / f"history_rank{rank}.json").write_text(json.dumps(history.to_dict()))
    save_checkpoint(
        out / f"checkpoint_rank{rank}",
        model,
        model_name="toy",
        model_kwargs={},
        labels=LABELS,
        data_card={"dataset": "synthetic blobs", "licence": "CC0"},
        metrics=history.best.val_metrics,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
