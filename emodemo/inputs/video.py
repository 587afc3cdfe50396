"""Faces in: sample frames from a video, find the face in each, crop it to the size a model eats.

Talk 003's face model runs on every frame where OpenCV's frontal-face Haar cascade finds a face;
this module is that front end. :func:`sample_frames` decodes a video with ``cv2.VideoCapture``
at a chosen rate (frames shrunk to a bounded size, within a time limit), :func:`detect_faces` returns face boxes in
one frame, :func:`face_crops` keeps
the largest face of each frame as a 48x48 crop (FER-2013's format) and :func:`face_track`
chains the three for a file.
"""

from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emodemo.inputs.audio import DEMUXERS, SUBPROCESS_TIMEOUT_S
from emodemo.weights.assets import face_cascade_path

Box = tuple[int, int, int, int]  # x, y, width, height in pixels
MAX_SIDE = 640  # sampled frames are shrunk to this long side as they are decoded (a face stays > 30 px)
# OpenCV's FFmpeg reader opens a user's file as ffmpeg does in emodemo.inputs.audio: local files and our
# containers only (a playlist disguised as .mp4 cannot make it read other files). A user's own
# setting of this variable wins.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", f"protocol_whitelist;file|format_whitelist;{DEMUXERS}")


class VideoError(ValueError):
    """A video could not be read; the message names the file and the reason."""


@dataclass(frozen=True)
class FaceTrack:
    """The largest face of each sampled frame that has one.

    ``crops`` [M, size, size] uint8 (grey) or [M, size, size, 3] (RGB), ``boxes`` [M, 4] (x, y, w, h
    in the frame, margin included), ``timestamps`` [M] seconds, ``frame_indices`` [M] positions
    among the ``n_frames`` sampled frames. M is 0 when no face was found.
    """

    crops: np.ndarray
    boxes: np.ndarray
    timestamps: np.ndarray
    frame_indices: np.ndarray
    n_frames: int


def sample_frames(
    path: str | os.PathLike, fps: float | None = 5.0, max_frames: int | None = None, max_side: int = MAX_SIDE
) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``path`` to ``(frames uint8 [N, H, W, 3] RGB, timestamps float [N] seconds)``.

    Keeps about ``fps`` frames per second of video (every frame when ``fps`` is None or above the
    video's own rate), each shrunk so that max(H, W) <= ``max_side``, and stops after ``max_frames``.
    Raises :class:`VideoError` for a missing file, a file OpenCV cannot open, one without a
    decodable video stream (e.g. audio only), or one that takes more than ``SUBPROCESS_TIMEOUT_S``
    to decode; messages name the file by its name alone.
    """
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    file = Path(path)
    if not file.is_file():
        raise VideoError(f"video file not found: {file.name}")
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT_S
    capture = cv2.VideoCapture(str(file))
    if not capture.isOpened():
        raise VideoError(
            f"could not open {file.name} as a video: it is not a video file, is corrupt, "
            "or has no video stream (an audio-only file?)"
        )
    native_fps = capture.get(cv2.CAP_PROP_FPS)
    frames, timestamps = [], []
    next_time, index = 0.0, 0
    try:
        while (max_frames is None or len(frames) < max_frames) and capture.grab():
            # The position is exact for constant-rate video; container timestamps serve the rest.
            seconds = index / native_fps if native_fps > 0 else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            index += 1
            if fps is not None and seconds + 1e-6 < next_time:
                continue
            if time.monotonic() > deadline:
                raise VideoError(f"decoding {file.name} took more than {SUBPROCESS_TIMEOUT_S:g} s; gave up")
            ok, frame = capture.retrieve()
            if not ok:
                break
            frames.append(cv2.cvtColor(shrunk(frame, max_side), cv2.COLOR_BGR2RGB))
            timestamps.append(seconds)
            if fps is not None:  # the next point of the 1/fps grid after this frame
                next_time = (math.floor(seconds * fps + 1e-6) + 1) / fps
    finally:
        capture.release()
    if not frames:
        raise VideoError(f"{file.name} has no video stream that OpenCV can decode (an audio-only file?)")
    return np.stack(frames), np.asarray(timestamps)


def shrunk(frame: np.ndarray, max_side: int) -> np.ndarray:
    """``frame`` [H, W, C] resized (area interpolation) so that max(H, W) <= ``max_side``; as it is when smaller."""
    height, width = frame.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return frame
    return cv2.resize(
        frame, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
    )


def detect_faces(frame: np.ndarray, min_size: int = 30) -> list[Box]:
    """Frontal faces in an RGB [H, W, 3] or grey [H, W] uint8 frame, largest first.

    ``min_size`` is the smallest face side in pixels worth reporting.
    """
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    grey = cv2.equalizeHist(np.ascontiguousarray(grey, dtype=np.uint8))
    found = _face_cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
    boxes = [tuple(int(v) for v in box) for box in found]
    return sorted(boxes, key=lambda box: box[2] * box[3], reverse=True)


def face_crops(
    frames: np.ndarray, size: int = 48, grey: bool = True, margin: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Largest face of each frame as a square crop: ``(crops, boxes [M, 4], frame indices [M])``.

    ``frames`` is [N, H, W, 3] RGB uint8. Each detected box grows by ``margin`` of its side on
    every edge (the cascade cuts close to the eyebrows and chin), is clipped to the frame and
    resized to ``size`` x ``size``. ``crops`` is [M, size, size] uint8 when ``grey`` (as FER-2013),
    else [M, size, size, 3] RGB. Frames without a face are skipped.
    """
    crops, boxes, indices = [], [], []
    for index, frame in enumerate(frames):
        faces = detect_faces(frame)
        if not faces:
            continue
        x0, y0, x1, y1 = _with_margin(faces[0], margin, frame.shape[1], frame.shape[0])
        face = frame[y0:y1, x0:x1]
        if grey:
            face = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
        crops.append(cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA))
        boxes.append((x0, y0, x1 - x0, y1 - y0))
        indices.append(index)
    crop_shape = (0, size, size) if grey else (0, size, size, 3)
    return (
        np.stack(crops) if crops else np.zeros(crop_shape, dtype=np.uint8),
        np.asarray(boxes, dtype=np.int64).reshape(-1, 4),
        np.asarray(indices, dtype=np.int64),
    )


def face_track(
    path: str | os.PathLike,
    fps: float | None = 5.0,
    max_frames: int | None = None,
    size: int = 48,
    grey: bool = True,
    margin: float = 0.1,
) -> FaceTrack:
    """Sample ``path`` at ``fps`` and keep the largest face of every frame (see :func:`face_crops`)."""
    frames, timestamps = sample_frames(path, fps=fps, max_frames=max_frames)
    crops, boxes, indices = face_crops(frames, size=size, grey=grey, margin=margin)
    return FaceTrack(
        crops=crops, boxes=boxes, timestamps=timestamps[indices], frame_indices=indices, n_frames=len(frames)
    )


@functools.lru_cache(maxsize=1)
def _face_cascade() -> cv2.CascadeClassifier:
    """The Haar cascade, loaded once per process."""
    path = face_cascade_path()
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise VideoError(f"OpenCV could not load the face cascade {path}")
    return cascade


def _with_margin(box: Box, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Box grown by ``margin`` of its side on each edge, clipped to the frame, as (x0, y0, x1, y1)."""
    x, y, w, h = box
    pad_x, pad_y = round(w * margin), round(h * margin)
    return max(0, x - pad_x), max(0, y - pad_y), min(width, x + w + pad_x), min(height, y + h + pad_y)
