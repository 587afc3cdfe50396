"""Frame sampling, face detection and crops on videos generated at test time."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_dataset

from emodemo.inputs import video
from emodemo.inputs.video import VideoError

WIDTH, HEIGHT, FPS = 320, 240, 10
FACE_SIDE = 160
# A FER-2013 test face the frontal-face cascade finds once upscaled (checked by hand).
FACE_IMAGE = "test/happy/PublicTest_10248771.jpg"


def write_video(path: Path, frames_bgr: list[np.ndarray]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened(), "OpenCV cannot write mp4v video here"
    for frame in frames_bgr:
        writer.write(frame)
    writer.release()
    return path


def face_frame(face: np.ndarray, x: int) -> np.ndarray:
    """A grey 320x240 BGR frame with the face pasted at column ``x``."""
    frame = np.full((HEIGHT, WIDTH), 120, dtype=np.uint8)
    top = (HEIGHT - FACE_SIDE) // 2
    frame[top : top + FACE_SIDE, x : x + FACE_SIDE] = cv2.resize(
        face, (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_CUBIC
    )
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


@pytest.fixture(scope="module")
def face_video(tmp_path_factory) -> Path:
    """2 s at 10 fps of a real face sliding 4 px to the right every frame."""
    face = cv2.imread(str(shared_dataset("fer2013") / FACE_IMAGE), cv2.IMREAD_GRAYSCALE)
    assert face is not None
    frames = [face_frame(face, 40 + 4 * i) for i in range(2 * FPS)]
    return write_video(tmp_path_factory.mktemp("video") / "face.mp4", frames)


@pytest.fixture(scope="module")
def red_video(tmp_path_factory) -> Path:
    """3 s at 10 fps of a plain red picture with a moving bar: no face anywhere."""
    frames = []
    for i in range(3 * FPS):
        frame = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        frame[:, :, 2] = 220  # red in OpenCV's BGR order
        frame[:, 8 * i : 8 * i + 20] = 255
        frames.append(frame)
    return write_video(tmp_path_factory.mktemp("video") / "red.mp4", frames)


# ---------------------------------------------------------------------------------- sampling


def test_frames_are_rgb_uint8_at_the_asked_rate(red_video):
    frames, timestamps = video.sample_frames(red_video, fps=2)
    assert frames.dtype == np.uint8 and frames.shape == (6, HEIGHT, WIDTH, 3)
    np.testing.assert_allclose(timestamps, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    red, green, blue = frames[0, HEIGHT // 2, -1]
    assert red > 180 and green < 40 and blue < 40


def test_every_frame_and_max_frames(red_video):
    frames, timestamps = video.sample_frames(red_video, fps=None)
    assert len(frames) == 3 * FPS and np.all(np.diff(timestamps) > 0)
    frames, _ = video.sample_frames(red_video, fps=None, max_frames=4)
    assert len(frames) == 4


def test_rate_above_the_videos_own_gives_every_frame(red_video):
    frames, _ = video.sample_frames(red_video, fps=60)
    assert len(frames) == 3 * FPS


# ---------------------------------------------------------------------------------- faces


def test_face_track_follows_the_face(face_video):
    track = video.face_track(face_video, fps=5)
    assert track.n_frames == 10
    assert len(track.crops) >= 8, f"face found in only {len(track.crops)} of 10 frames"
    assert track.crops.shape[1:] == (48, 48) and track.crops.dtype == np.uint8
    np.testing.assert_allclose(track.timestamps, track.frame_indices / 5)
    top = (HEIGHT - FACE_SIDE) // 2
    for (x, y, w, h), t in zip(track.boxes, track.timestamps):
        face_x = 40 + 4 * round(t * FPS)
        overlap = max(0, min(x + w, face_x + FACE_SIDE) - max(x, face_x)) * max(
            0, min(y + h, top + FACE_SIDE) - max(y, top)
        )
        assert overlap / (FACE_SIDE * FACE_SIDE) > 0.5


def test_colour_crops_and_size(face_video):
    frames, _ = video.sample_frames(face_video, fps=2)
    crops, boxes, indices = video.face_crops(frames, size=64, grey=False)
    assert crops.shape[1:] == (64, 64, 3) and len(crops) == len(boxes) == len(indices) > 0
    assert np.all(boxes[:, 0] >= 0) and np.all(boxes[:, 0] + boxes[:, 2] <= WIDTH)


def test_detect_faces_accepts_grey_and_sorts_largest_first(face_video):
    frames, _ = video.sample_frames(face_video, fps=1, max_frames=1)
    grey = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY)
    faces = video.detect_faces(grey)
    assert faces and all(len(box) == 4 for box in faces)
    areas = [w * h for _, _, w, h in faces]
    assert areas == sorted(areas, reverse=True)


def test_video_without_a_face_gives_an_empty_track(red_video):
    track = video.face_track(red_video, fps=5)
    assert track.n_frames == 15
    assert track.crops.shape == (0, 48, 48) and track.boxes.shape == (0, 4) and len(track.timestamps) == 0


def test_blank_frame_has_no_face():
    assert video.detect_faces(np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)) == []


# ---------------------------------------------------------------------------------- errors


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
@pytest.mark.parametrize("name", ["voice.flac", "voice.mp3", "voice.m4a"])
def test_audio_only_file_is_a_clear_error(tmp_path, name):
    path = tmp_path / name
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=1", str(path)],
        check=True,
        timeout=60,
    )
    with pytest.raises(VideoError, match="no video stream"):
        video.sample_frames(path)


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        video.sample_frames(tmp_path / "nope.mp4")
    (tmp_path / "notes.mp4").write_text("not a video\n" * 50)
    with pytest.raises(VideoError, match="could not open"):
        video.sample_frames(tmp_path / "notes.mp4")


# ---------------------------------------------------------------------------------- limits


def test_frames_of_a_4k_video_are_shrunk_as_they_are_decoded(tmp_path):
    path = tmp_path / "uhd.mp4"
    subprocess.run(
        [
            shutil.which("ffmpeg") or "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=3840x2160:rate=5",
            "-t",
            "1",
            "-c:v",
            "mpeg4",
            str(path),
        ],
        check=True,
    )
    frames, _ = video.sample_frames(path, fps=5)
    assert frames.shape == (5, 360, video.MAX_SIDE, 3)


def test_a_video_that_decodes_too_slowly_is_abandoned(red_video, monkeypatch):
    monkeypatch.setattr(video, "SUBPROCESS_TIMEOUT_S", -1.0)
    with pytest.raises(VideoError, match="red.mp4 took more than"):
        video.sample_frames(red_video)


def test_a_playlist_disguised_as_a_video_is_not_followed(tmp_path, red_video):
    playlist = tmp_path / "clip.mp4"
    playlist.write_text(f"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\nfile://{red_video}\n#EXT-X-ENDLIST\n")
    with pytest.raises(VideoError) as caught:
        video.sample_frames(playlist)
    assert str(tmp_path) not in str(caught.value)
