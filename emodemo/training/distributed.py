"""Multi-process training: what changes when a script runs under ``torchrun``.

``torchrun --nproc_per_node N script.py`` starts N copies of the script and tells each one who it
is through environment variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` ...).
:func:`emodemo.training.engine.fit` reads them through this module, so the same script trains on one CPU,
one GPU or N GPUs unchanged:

- every process joins one process group (NCCL between GPUs, Gloo on CPU);
- each sees its own shard of the training data (``DistributedSampler``) and the model is wrapped in
  ``DistributedDataParallel``, which averages gradients across processes after each backward pass,
  so all copies of the weights stay identical;
- validation predictions are gathered onto every process, so every process computes the same
  metrics and takes the same early-stopping decision (a process that stopped alone would hang the
  others);
- only rank 0 writes files (see :func:`is_main_process`).

We use ``torch.distributed`` directly rather than Hugging Face Accelerate: it is a few lines, and
the notebooks can show every one of them.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Who this process is: its rank among ``world_size`` processes, and its rank on this machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def requested_world_size() -> int:
    """How many processes the launcher started (``WORLD_SIZE``; 1 when run as a plain script)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def process_device(device: torch.device) -> torch.device:
    """The device this process should use: with several processes on CUDA, GPU number ``LOCAL_RANK``."""
    if device.type == "cuda" and requested_world_size() > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device


def init_distributed(device: torch.device) -> DistContext:
    """Join the launcher's process group (once per process) and say who we are.

    Returns the single-process context when ``WORLD_SIZE`` is unset or 1. The group is left open
    for later calls (several folds, saving) and closed when the process exits.
    """
    if requested_world_size() <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        atexit.register(dist.destroy_process_group)
    return DistContext(
        rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0"))
    )


def is_main_process() -> bool:
    """True in the process that should write files and print summaries (rank 0, or the only one)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def gather_to_all(obj: Any, ctx: DistContext) -> list[Any]:
    """Every process's ``obj`` (any picklable value, e.g. CPU tensors), in rank order, on every process."""
    if not ctx.enabled:
        return [obj]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def sum_across_processes(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Element-wise sum of a small tensor over all processes (returned on every process)."""
    if ctx.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values
