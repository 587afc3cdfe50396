"""Timelines of a whole collection, to a JSON-lines file that a rerun resumes.

``timeline_to_jsonl(inputs, out, pipeline)`` writes, for each recording of a file, folder or
manifest (:func:`emodemo.serving.batch.list_inputs`), one line per speech segment
(:func:`emodemo.serving.timeline.analyse_recording`) and then one closing line::

    {"file": "call.wav", "done": true, "segments": 412, "seconds": 1843.2, "elapsed_s": 301.5}

or, for a recording that cannot be read, ``{"file": ..., "error": "..."}``: the run notes it and
goes on. A rerun on the same ``out`` skips every file with a closing line (done or failed) and
drops the partial lines of a file it was in the middle of, so an interrupted run picks up where it
stopped. :func:`write_csv` flattens the segments into a table.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from emodemo.core.labels import CANONICAL7
from emodemo.inputs.audio import AudioError, probe_duration
from emodemo.serving.batch import list_inputs


def finished_files(out: Path) -> set[str]:
    """Files with a closing line in ``out``; rewrites ``out`` without the lines of unfinished files."""
    if not out.is_file():
        return set()
    records = []
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short when the run was stopped
            continue
    closed = {r["file"] for r in records if r.get("done") or "error" in r}
    kept = [r for r in records if r.get("file") in closed]
    if len(kept) != len(records):
        partial = out.with_suffix(out.suffix + ".tmp")
        partial.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        os.replace(partial, out)
    return closed


def timeline_to_jsonl(
    inputs: str | Path,
    out: Path,
    pipeline,
    channels: str = "mix",
    max_seconds: float | None = None,
    progress: bool = True,
) -> dict:
    """Analyse every recording under ``inputs`` not yet finished in ``out`` (module doc); returns
    ``{"done": n, "failed": n, "skipped": n, "segments": n}`` for this run."""
    from tqdm.auto import tqdm

    files = list_inputs(inputs)
    names = display_names(files, Path(inputs))
    closed = finished_files(out)
    todo = [(f, n) for f, n in zip(files, names) if n not in closed]
    summary = {"done": 0, "failed": 0, "skipped": len(files) - len(todo), "segments": 0}
    total = sum(_seconds(f) for f, _ in todo)
    with (
        open(out, "a", encoding="utf-8") as sink,
        tqdm(total=round(total), unit="s", desc="timeline", **({} if progress else {"disable": True})) as bar,
    ):
        for file, name in todo:
            seen = [0.0]

            def advance(seconds: float) -> None:
                bar.update(round(seconds - seen[0]))
                seen[0] = seconds

            for record in file_records(pipeline, file, name, channels, max_seconds, on_progress=advance):
                sink.write(json.dumps(record) + "\n")
                if "segment" in record:
                    summary["segments"] += 1
                    continue
                sink.flush()
                summary["failed" if "error" in record else "done"] += 1
    return summary


def file_records(
    pipeline,
    file: Path,
    name: str,
    channels: str = "mix",
    max_seconds: float | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Iterator[dict]:
    """One recording's lines (module doc): a record per segment, then its closing line; or an error
    line when it cannot be read (after the segments read before the problem, e.g. a damaged tail)."""
    from emodemo.serving.timeline import analyse_recording

    started, segments, read = time.perf_counter(), 0, [0.0]

    def progress(seconds: float) -> None:
        read[0] = seconds
        if on_progress is not None:
            on_progress(seconds)

    try:
        for record in analyse_recording(
            pipeline, file, channels=channels, max_seconds=max_seconds, on_progress=progress, name=name
        ):
            segments += 1
            yield record
    except (AudioError, ValueError) as error:
        yield {"file": name, "error": str(error)}
        return
    yield {
        "file": name,
        "done": True,
        "segments": segments,
        "seconds": round(read[0], 3),
        "elapsed_s": round(time.perf_counter() - started, 3),
    }


def write_csv(jsonl: Path, out: Path) -> int:
    """The segments of ``jsonl`` as a CSV table (file, channel, start, end, words, fused answer,
    confidence, unsure, the fused probabilities, each model's answer); returns the rows written."""
    records = [r for r in map(json.loads, jsonl.read_text(encoding="utf-8").splitlines()) if "segment" in r]
    models = sorted({m for r in records for m in r["models"]})
    columns = [
        "file",
        "channel",
        "segment",
        "start",
        "end",
        "words",
        "emotion",
        "confidence",
        "unsure",
        *[f"p_{label}" for label in CANONICAL7],
        *models,
    ]
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for r in records:
            writer.writerow(
                [
                    r["file"],
                    "" if r["channel"] is None else r["channel"],
                    r["segment"],
                    r["start"],
                    r["end"],
                    r["words"] or "",
                    r["emotion"],
                    r["confidence"],
                    r["unsure"],
                    *[r["fused"][label] for label in CANONICAL7],
                    *[r["models"][m]["emotion"] if m in r["models"] else "" for m in models],
                ]
            )
    return len(records)


def display_names(files: Sequence[Path], inputs: Path) -> list[str]:
    """What the records call each file: its path under the input folder, else as given."""
    if inputs.is_dir():
        return [f.relative_to(inputs).as_posix() for f in files]
    return [str(f) for f in files]


def _seconds(file: Path) -> float:
    try:
        return probe_duration(file)
    except AudioError:
        return 0.0
