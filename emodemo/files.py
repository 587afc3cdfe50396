"""Writing files so that a reader never sees half of one (several processes may share a cache)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


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
