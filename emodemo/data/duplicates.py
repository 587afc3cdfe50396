"""Finding duplicate media by content, for any loader.

Two tools:

* :func:`exact_duplicates` groups files whose bytes are identical (a BLAKE2b digest of each file).
  It is the right test for copies written by one encoder, such as the FER-2013 JPEGs, where equal
  pixels give equal bytes (checked: hashing decoded pixels finds the same 1,273 groups). Hashing
  the 32,298 FER-2013 files takes about a second.
* :func:`audio_duplicates` groups clips whose *decoded samples* are equal within a tolerance. A
  content hash of the file misses copies that went through a lossy or dithered conversion: in
  the 16 kHz FLAC copy of RAVDESS, the two byte-identical original WAVs of Actor_07 differ by up
  to 2 LSB after resampling. Clips are bucketed by length first, so only equal-length clips are
  decoded and compared.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

from emodemo.core.files import content_digest


def exact_duplicates(paths: Iterable[str | Path]) -> list[tuple[Path, ...]]:
    """Groups (of 2 or more) of files with identical bytes; each group and the list sorted."""
    paths = [Path(p) for p in paths]
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        groups[content_digest(path)].append(path)
    return sorted(tuple(sorted(g)) for g in groups.values() if len(g) > 1)


def audio_duplicates(paths: Iterable[str | Path], tolerance: int = 16) -> list[tuple[Path, ...]]:
    """Groups (of 2 or more) of clips whose samples match within ``tolerance``.

    ``tolerance`` is the largest absolute difference allowed between corresponding 16-bit samples
    (16 LSB is about -66 dBFS: far below any audible difference, far above dither noise);
    ``tolerance=0`` asks for identical decoded audio whatever the container (a WAV and a FLAC of the
    same PCM match). Clips of different length or channel count never match.
    """
    buckets: dict[tuple[int, int], list[Path]] = defaultdict(list)
    for path in map(Path, paths):
        info = sf.info(str(path))
        buckets[(info.frames, info.channels)].append(path)
    groups: list[tuple[Path, ...]] = []
    for (frames, _), same_shape in buckets.items():
        if len(same_shape) < 2:
            continue
        # Cheap pass on a window from the middle (speech, not leading silence), then full decode.
        window = {"start": frames // 2, "frames": _WINDOW}
        for candidates in _cluster_equal_audio(sorted(same_shape), tolerance, window):
            groups.extend(_cluster_equal_audio(list(candidates), tolerance, {}))
    return sorted(groups)


_WINDOW = 2048


def _cluster_equal_audio(paths: list[Path], tolerance: int, read_args: dict) -> list[tuple[Path, ...]]:
    """Greedy clustering of equal-length clips: each clip joins the first cluster whose first
    member it matches (matching within a small tolerance is transitive enough in practice)."""
    clusters: list[tuple[np.ndarray, list[Path]]] = []
    for path in paths:
        samples = sf.read(str(path), dtype="int16", always_2d=True, **read_args)[0].astype(np.int32)  # [T, C]
        for reference, members in clusters:
            if np.abs(samples - reference).max() <= tolerance:
                members.append(path)
                break
        else:
            clusters.append((samples, [path]))
    return [tuple(members) for _, members in clusters if len(members) > 1]
