"""What the bench scripts share: a median timer, real RAVDESS clips with their transcripts, 4 s cuts,
the training-epoch timer, the cost figure and the saved table."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from emodemo import data
from emodemo.inputs import SAMPLE_RATE, load_audio
from emodemo.speech import transcribe_samples


def median_ms(fn, repeats: int, warmup: int = 3, sync=None) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` calls after ``warmup`` calls;
    ``sync()`` (``torch.cuda.synchronize`` on a GPU) waits for queued work around each call."""
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def real_clips(root: Path, n: int) -> list[tuple[np.ndarray, object]]:
    """``n`` RAVDESS clips (actor 01's first takes) with their cached Whisper transcripts."""
    clips = sorted(data.load("ravdess", root, calm_as_neutral=True), key=lambda s: s.id)[:n]
    transcripts = transcribe_samples(clips)
    return [(load_audio(s.audio), transcripts[s.id]) for s in clips]


def exactly(wave: np.ndarray, seconds: float) -> np.ndarray:
    """The wave cut or zero-padded to ``seconds``."""
    n = int(seconds * SAMPLE_RATE)
    return np.pad(wave[:n], (0, max(0, n - wave.size)))


CLIP_SECONDS = 5.0  # the app benches' clip: two RAVDESS takes of actor 01 joined


def five_second_clip(root: Path, folder: Path) -> Path:
    """A real ``CLIP_SECONDS`` clip written as a 16-bit wav in ``folder`` (what a user would upload)."""
    import soundfile as sf

    path = folder / "five_seconds.wav"
    sf.write(
        path,
        exactly(np.concatenate([wave for wave, _ in real_clips(root, 2)]), CLIP_SECONDS),
        SAMPLE_RATE,
        subtype="PCM_16",
    )
    return path


def machine() -> dict:
    """What the numbers were measured on."""
    import os
    import platform

    import torch

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def seconds_per_epoch(model, make_batch, n_clips: int, batch_size: int, repeats: int = 5, sync=None) -> float:
    """Training seconds per epoch of ``n_clips``: the median step (collating with ``make_batch()``,
    forward, cross-entropy, backward, AdamW on the trainable parameters) x the steps per epoch. One
    CPU thread; ``sync`` as for :func:`median_ms`."""
    import math

    import torch

    torch.set_num_threads(1)
    model.train()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        batch = make_batch()
        out = model(**batch)
        logits = out["logits"] if isinstance(out, dict) else out  # some models return bare logits
        optimiser.zero_grad()
        target = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
        torch.nn.functional.cross_entropy(logits, target).backward()
        optimiser.step()

    seconds = median_ms(step, repeats, sync=sync) / 1000 * math.ceil(n_clips / batch_size)
    model.eval()
    return seconds


def cost_figure(
    title: str,
    names: list[str],
    inference: list[tuple[list[float], str, str]],
    train_seconds: list[float],
    train_label: str,
    path: Path,
) -> None:
    """Two bar charts saved to ``path``: ms per clip (``inference``: one (values, colour, label) per
    stacked part) and training seconds per epoch, one bar per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 1.6 + 0.35 * len(names)))
    left = np.zeros(len(names))
    for values, colour, label in inference:
        axes[0].barh(names, values, left=left, color=colour, label=label)
        left += np.asarray(values, dtype=float)
    axes[0].set_xlabel("ms per 4 s clip (batch 1, 1 thread)")
    if len(inference) > 1:
        axes[0].legend(fontsize=7)
    axes[1].barh(names, train_seconds, color="tab:orange")
    axes[1].set_xlabel(train_label)
    for ax in axes:
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    spec = machine()
    fig.suptitle(f"{title} on {spec['cpu']}, {spec['cores']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def save_and_print(result: dict, out: Path, label: str = "variant") -> None:
    """Write ``result`` (with its ``rows``) to ``out``.json and print the rows as a table."""
    import json

    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    rows = result["rows"]
    keys = [k for k in rows[0] if k != label]
    width = max(8, *(len(k) for k in keys)) + 2
    first = max(18, *(len(str(r[label])) + 2 for r in rows))
    print(f"{label:{first}s}" + "".join(f"{k:>{width}s}" for k in keys))
    for r in rows:
        print(f"{r[label]:{first}s}" + "".join(f"{_cell(r.get(k)):>{width}}" for k in keys))
    if result.get("checkpoint_bytes"):
        print(f"checkpoint: {result['checkpoint_bytes'] / 1e6:.2f} MB")


def _cell(value) -> str:
    """A table cell: floats to 3 significant figures, a missing value as '-'."""
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def arguments(doc: str, name: str):
    """The command line every bench script takes: ``--root`` (RAVDESS) and ``--out`` (results stem)."""
    import argparse

    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--root", type=Path, default=repo.parent / "shared" / "datasets" / "ravdess_speech")
    parser.add_argument("--out", type=Path, default=repo / "bench" / "results" / name)
    return parser.parse_args()
