"""Two CPU processes under torchrun (Gloo) train exactly like one process with twice the batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ddp_fit_worker import train_toy
from safetensors.torch import load_file

from emodemo.training.distributed import DistContext, gather_to_all, is_main_process, sum_across_processes

TESTS = Path(__file__).resolve().parent


def launch_two_processes(out: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS.parent), str(TESTS), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(TESTS / "ddp_fit_worker.py"),
        str(out),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    result = launch_two_processes(out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def test_both_ranks_end_with_identical_weights_and_history(ddp_run):
    rank0, rank1 = (load_file(str(ddp_run / f"weights_rank{r}.safetensors")) for r in (0, 1))
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)
    histories = [json.loads((ddp_run / f"history_rank{r}.json").read_text()) for r in (0, 1)]
    for history in histories:  # wall times differ; everything else (losses, metrics, lr) must not
        for epoch in history["epochs"]:
            epoch.pop("seconds")
    assert histories[0] == histories[1]


def test_two_processes_match_one_process_with_twice_the_batch(ddp_run):
    model, history = train_toy(batch_size=16)
    ddp_weights = load_file(str(ddp_run / "weights_rank0.safetensors"))
    for name, tensor in model.state_dict().items():
        assert torch.allclose(ddp_weights[name], tensor, atol=1e-5), name
    ddp_history = json.loads((ddp_run / "history_rank0.json").read_text())
    ddp_losses = [epoch["train_loss"] for epoch in ddp_history["epochs"]]
    assert ddp_losses[-1] < ddp_losses[0]
    assert ddp_losses == pytest.approx(history.series("train_loss"), rel=1e-4)
    assert ddp_history["epochs"][-1]["val_metrics"]["n"] == 30  # the two validation shards, each example once


def test_only_rank_zero_saves_the_checkpoint(ddp_run):
    assert (ddp_run / "checkpoint_rank0" / "model.safetensors").is_file()
    assert not (ddp_run / "checkpoint_rank1").exists()


def test_single_process_helpers_are_identities(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    ctx = DistContext()
    assert not ctx.enabled and ctx.is_main and is_main_process()
    assert gather_to_all("x", ctx) == ["x"]
    assert torch.equal(sum_across_processes(torch.ones(2), ctx), torch.ones(2))
