"""An on-disk cache of features computed by frozen encoders.

A frozen encoder (Whisper, MiniLM, a face model) gives the same features for the same file every
time, so they are computed once and read back in every later epoch, fold and run. One cached value
is identified by

- the feature's ``name``, which should include the encoder and a version you bump when the code
  changes (``"whisper-tiny.en-encoder-layer-stats-v1"``);
- the extractor ``config`` (any JSON data: sample rate, layers, pooling ...);
- the source file: a digest of its bytes (the default), so that entries survive copies, ``touch``
  and a data folder restored to another place; each file is read once per process (the digest is
  remembered per path, size and modification time). ``hash_content=False`` keys by resolved path,
  size and modification time instead, for files too big to read again.

Values are tensors (or dicts of named tensors) stored as safetensors files under
``$EMODEMO_CACHE/features/<name>/<config digest>/`` (default ``~/.cache/emodemo/features``), next to a
``config.json`` that says which config the folder holds. Each file is written to a temporary name
and renamed into place, so concurrent writers (several processes, data-loader workers) never leave
a half-written entry: the last rename wins, and every version is complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from emodemo.core.files import cache_dir, content_digest, write_atomically

log = logging.getLogger(__name__)

Value = torch.Tensor | dict[str, torch.Tensor]
_SINGLE = "__tensor__"  # the entry name of a value that is one tensor


def cache_root() -> Path:
    """``features/`` in emodemo's cache folder (``$EMODEMO_CACHE`` or ``~/.cache/emodemo``)."""
    return cache_dir() / "features"


def _digest(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


_CONTENT_DIGESTS: dict[str, str] = {}  # "path|size|mtime" -> digest of the bytes, for this process


def _remembered_digest(identity: str, path: Path) -> str:
    if identity not in _CONTENT_DIGESTS:
        _CONTENT_DIGESTS[identity] = content_digest(path)
    return _CONTENT_DIGESTS[identity]


def _as_tensors(value: Any) -> dict[str, torch.Tensor]:
    """A value as named CPU tensors, contiguous, as safetensors needs them."""
    items = value.items() if isinstance(value, Mapping) else [(_SINGLE, value)]
    tensors = {}
    for key, item in items:
        if isinstance(item, np.ndarray):
            item = torch.from_numpy(item)
        if not torch.is_tensor(item):
            raise TypeError(f"the cache stores tensors or dicts of tensors, got {type(item).__name__} for {key!r}")
        tensors[str(key)] = item.detach().to("cpu").contiguous()
    return tensors


def _unpack(tensors: dict[str, torch.Tensor]) -> Value:
    return tensors[_SINGLE] if set(tensors) == {_SINGLE} else tensors


class FeatureCache:
    """Features of files, keyed by (feature name, extractor config, file identity).

    >>> cache = FeatureCache("whisper-tiny.en-mean-v1", {"sr": 16000})      # doctest: +SKIP
    >>> features = cache.get_or_compute("clip.wav", extract)                # doctest: +SKIP

    ``get``/``put`` serve callers that compute in batches; ``get_or_compute`` the simple case.
    Values come back as CPU tensors (numpy arrays are stored as tensors).
    """

    def __init__(
        self,
        name: str,
        config: Mapping[str, Any] | None = None,
        *,
        root: str | Path | None = None,
        hash_content: bool = True,
    ) -> None:
        if not name or not re.fullmatch(r"[A-Za-z0-9._+-]+", name) or name.startswith("."):
            raise ValueError(f"feature name {name!r} must be a plain folder name (letters, digits, . _ + -)")
        try:
            config_text = json.dumps(dict(config or {}), sort_keys=True)
        except TypeError as error:
            raise TypeError(f"the extractor config of {name!r} must be JSON data: {error}") from None
        self.name = name
        self.config = json.loads(config_text)
        self.hash_content = hash_content
        self.folder = Path(root) if root is not None else cache_root()
        self.folder = self.folder / name / _digest(config_text)[:16]

    def key(self, path: str | Path) -> str:
        """The cache key of a file: changes when the file (size, mtime, or content) changes."""
        path = Path(path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"cannot cache features of {path}: no such file")
        stat = path.stat()
        identity = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
        if self.hash_content:
            identity = "content:" + _remembered_digest(identity, path)
        return _digest(identity)

    def entry_path(self, path: str | Path) -> Path:
        """Where the features of ``path`` are (or would be) stored."""
        return self.folder / f"{self.key(path)}.safetensors"

    def get(self, path: str | Path) -> Value | None:
        """The cached features of ``path``, or ``None`` when there are none yet."""
        entry = self.entry_path(path)
        if not entry.is_file():
            return None
        try:
            tensors = load_file(str(entry))
        except (SafetensorError, OSError) as error:  # e.g. a file damaged outside our control
            log.warning("ignoring unreadable cache entry %s (%s); it will be recomputed", entry, error)
            return None
        return _unpack(tensors)

    def put(self, path: str | Path, value: Value) -> Value:
        """Store the features of ``path`` (a tensor, an array, or a dict of them); returns them as stored."""
        tensors = _as_tensors(value)
        entry = self.entry_path(path)
        self._ensure_folder()
        metadata = {"source": str(Path(path).resolve()), "feature": self.name}
        write_atomically(entry, lambda temporary: save_file(tensors, temporary, metadata=metadata))
        return _unpack(tensors)

    def get_or_compute(self, path: str | Path, compute: Callable[[Path], Value]) -> Value:
        """Cached features of ``path``, calling ``compute(path)`` and storing its result on a miss."""
        cached = self.get(path)
        return cached if cached is not None else self.put(path, compute(Path(path)))

    def get_many(
        self, paths, compute: Callable[[list], list], batch: int = 16, progress: bool = True, desc: str | None = None
    ) -> list[Value]:
        """Features of every path: cached ones read back, the missing ones computed ``batch`` at a
        time by ``compute(paths) -> [value per path]`` (a progress bar counts the batches) and stored."""
        from emodemo.core.progress import bar

        paths = list(paths)
        result = [self.get(path) for path in paths]
        todo = [i for i, value in enumerate(result) if value is None]
        for start in bar(range(0, len(todo), batch), show=progress and bool(todo), desc=desc or self.name):
            chunk = todo[start : start + batch]
            for i, value in zip(chunk, compute([paths[i] for i in chunk])):
                result[i] = self.put(paths[i], value)
        return result

    def _ensure_folder(self) -> None:
        if (self.folder / "config.json").is_file():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        description = json.dumps({"feature": self.name, "config": self.config}, indent=2, sort_keys=True)
        write_atomically(self.folder / "config.json", lambda temporary: Path(temporary).write_text(description))
