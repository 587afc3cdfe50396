"""Batch prediction over a folder or a manifest: decoding in DataLoader workers, JSON lines out."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from torch.utils.data import DataLoader, Dataset

from emodemo.inputs.audio import AudioError, load_audio

MEDIA = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".mp4", ".mov", ".mkv"}


def list_inputs(inputs: str | Path) -> list[Path]:
    """A media file; every media file under a folder (sorted); or the paths of a manifest.

    A manifest is a ``.txt`` with one path per line or a ``.csv`` with a ``path`` (or ``file``)
    column; relative paths are taken from the manifest's folder.
    """
    inputs = Path(inputs)
    if inputs.is_dir():
        return sorted(p for p in inputs.rglob("*") if p.suffix.lower() in MEDIA)
    if not inputs.exists():
        raise FileNotFoundError(f"{inputs} does not exist")
    if inputs.suffix.lower() in {".txt", ".csv"}:
        if inputs.suffix.lower() == ".csv":
            with open(inputs, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            column = next((c for c in ("path", "file", "filename") if rows and c in rows[0]), None)
            if column is None:
                raise ValueError(f"{inputs}: a CSV manifest needs a 'path' or 'file' column")
            names = [r[column] for r in rows]
        else:
            names = [line.strip() for line in inputs.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [p if p.is_absolute() else inputs.parent / p for p in map(Path, names)]
    return [inputs]


class _Decoded(Dataset):
    """Decodes each clip in a worker; a clip that fails carries its error message instead."""

    def __init__(self, paths: Sequence[Path], max_seconds: float):
        self.paths, self.max_seconds = list(paths), max_seconds

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            return str(self.paths[i]), load_audio(self.paths[i], max_seconds=self.max_seconds), None
        except AudioError as err:
            return str(self.paths[i]), None, str(err)


def predict_to_jsonl(
    inputs: str | Path, out: IO[str], models: Sequence[str] | None = None, workers: int = 2, transcribe: bool = True
) -> int:
    """Write one JSON object per clip to ``out``; returns the number of clips."""
    from emodemo.serving.pipeline import ClipError, Pipeline

    paths = list_inputs(inputs)
    if not paths:
        raise ValueError(f"no media files found in {inputs} (looked for {', '.join(sorted(MEDIA))})")
    pipe = Pipeline(models=models, transcribe=transcribe)
    loader = DataLoader(_Decoded(paths, pipe.max_seconds + 0.01), batch_size=None, num_workers=workers)
    for path, wave, error in loader:
        record = {"path": path}
        if error is None:
            try:
                result = pipe.analyse_wave(wave)
                record.update(_as_json(result))
            except ClipError as err:
                error = str(err)
        if error is not None:
            record["error"] = error
        out.write(json.dumps(record) + "\n")
        out.flush()
    return len(paths)


def _as_json(result) -> dict:
    t = result.transcript
    return {
        "duration": round(result.duration, 3),
        "transcript": t.text.strip() if t else None,
        "words": t.word_rows() if t else None,
        "predictions": {
            name: {"top": p.top, "probs": {k: round(v, 4) for k, v in p.ranking}}
            for name, p in result.predictions.items()
        },
        "timings": {k: round(v, 4) for k, v in result.timings.items()},
        "notes": result.notes,
    }
