"""File helpers: the repository's folders, emodemo's cache folder, writes that a reader never sees half
done, content digests, marked blocks of a text file."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the repository (emodemo/ sits in it)
CHECKPOINTS = REPO / "checkpoints"  # the committed models, one folder each
SPLITS = REPO / "splits"  # the committed speaker-independent folds and word halves


def cache_dir() -> Path:
    """emodemo's own cache folder: ``$EMODEMO_CACHE`` or ``~/.cache/emodemo``."""
    return Path(os.environ.get("EMODEMO_CACHE") or Path.home() / ".cache" / "emodemo").expanduser()


def write_atomically(path: str | Path, write: Callable[[str], None]) -> Path:
    """Let ``write(temporary_path)`` fill a uniquely named file beside ``path``, then rename it into place.

    The rename is atomic on one file system, so concurrent readers see the old file or the new one,
    and two concurrent writers never interleave (the last rename wins). On any error the
    temporary file is removed and the error raised.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def content_digest(path: str | Path) -> str:
    """128-bit BLAKE2b hex digest of a file's bytes, read in 1 MB blocks (any file size)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def replace_marked_block(path: str | Path, start: str, end: str, body: str) -> None:
    """Rewrite the text between the marker lines ``start`` and ``end`` of file ``path`` (a Markdown
    page's generated table) with ``body``; the rest of the file is left as it was."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise ValueError(f"{path} has no {start} ... {end} block to fill")
    block = f"{start}\n{body}\n{end}"
    path.write_text(
        re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S), encoding="utf-8"
    )
