"""Timelines of a collection too large for one machine, on Ray Data (an optional extra:
``pip install -r requirements-ray.txt``).

The plain ``python -m emodemo timeline`` stays the default; this path runs the same
:func:`emodemo.serving.timeline.analyse_recording` in a pool of Ray actors, each holding the loaded
models (a :class:`emodemo.serving.pipeline.Pipeline`, loaded once per actor), fed one recording at a time by
``Dataset.map_batches``. The driver writes the same JSON lines as the plain path (segments, then a
closing line per file, or an error line), so the two outputs can be compared line for line.

On one machine ``ray.init()`` starts a local instance; on a cluster, submit the same command as a
job (``ray job submit --address http://HEAD:8265 --working-dir . -- python -m emodemo timeline
DIR --out segments.jsonl --ray --workers 16``), with the recordings on storage every node reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emodemo.serving.batch import list_inputs
from emodemo.serving.timeline_files import display_names


class TimelineActor:
    """One Ray actor: the models loaded once; each call analyses a batch of recordings."""

    def __init__(self, models: Sequence[str] | None, transcribe: bool, channels: str, max_seconds: float | None):
        from emodemo.serving.pipeline import Pipeline

        self.pipeline = Pipeline(models, transcribe=transcribe)
        self.channels, self.max_seconds = channels, max_seconds

    def __call__(self, batch: dict) -> dict:
        """``{"path": [...], "name": [...]}`` -> ``{"name": [...], "lines": [...]}``: each
        recording's JSON lines (:func:`emodemo.serving.timeline_files.file_records`) as one string."""
        from emodemo.serving.timeline_files import file_records

        lines = [
            "\n".join(
                json.dumps(r)
                for r in file_records(self.pipeline, Path(path), str(name), self.channels, self.max_seconds)
            )
            for path, name in zip(batch["path"], batch["name"])
        ]
        return {"name": np.array([str(n) for n in batch["name"]], dtype=object), "lines": np.array(lines, dtype=object)}


def timeline_with_ray(
    inputs: str | Path,
    out: Path,
    models: Sequence[str] | None = None,
    transcribe: bool = True,
    channels: str = "mix",
    max_seconds: float | None = None,
    workers: int = 2,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
) -> dict:
    """Every recording under ``inputs`` through ``workers`` Ray actors; writes ``out`` (JSON lines,
    in the order of the inputs) and returns ``{"done", "failed", "segments"}``."""
    import ray

    files = list_inputs(inputs)
    names = display_names(files, Path(inputs))
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    dataset = ray.data.from_items(
        [{"path": str(f.resolve()), "name": n} for f, n in zip(files, names)], override_num_blocks=max(1, len(files))
    )
    results = dataset.map_batches(
        TimelineActor,
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=workers),
        fn_constructor_kwargs={
            "models": models,
            "transcribe": transcribe,
            "channels": channels,
            "max_seconds": max_seconds,
        },
        num_cpus=cpus_per_worker,
        num_gpus=gpus_per_worker,
    )
    by_name = {row["name"]: row["lines"] for row in results.iter_rows()}
    summary = {"done": 0, "failed": 0, "segments": 0}
    with open(out, "w", encoding="utf-8") as sink:
        for name in names:
            lines = by_name[name]
            sink.write(lines + "\n")
            closing = json.loads(lines.rsplit("\n", 1)[-1])
            summary["failed" if "error" in closing else "done"] += 1
            summary["segments"] += closing.get("segments", 0)
    return summary
