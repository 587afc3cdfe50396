"""Shared test fixtures: where the real datasets are, and skipping clearly when they are not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EMODEMO_DATA", REPO.parent / "shared" / "datasets"))


def shared_dataset(name: str) -> Path:
    """Path of a dataset folder under ../shared/datasets, or skip the test saying what is missing."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name!r} not found at {path} (set EMODEMO_DATA to its parent folder)")
    return path


@pytest.fixture(scope="session")
def ravdess_root() -> Path:
    return shared_dataset("ravdess_speech")


@pytest.fixture(scope="session")
def ravdess_clip(ravdess_root: Path) -> Path:
    """One real RAVDESS clip: actor 01, angry, strong, statement 1 ("Kids are talking by the door")."""
    return ravdess_root / "Actor_01" / "03-01-05-02-01-01-01.flac"


@pytest.fixture()
def tiny_hub_encoders(tmp_path: Path) -> tuple[Path, Path]:
    """Folders of a small random wav2vec2 (2 layers, 32-d) and a small random BERT (2 layers, 32-d,
    MiniLM's tokenizer), saved as a Hub download would be: the online encoder path, tested offline."""
    from transformers import BertConfig, BertModel, Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    from emodemo.inputs import text

    speech_dir, text_dir = tmp_path / "w2v", tmp_path / "bert"
    Wav2Vec2Model(
        Wav2Vec2Config(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            conv_dim=(16, 16),
            conv_kernel=(10, 3),
            conv_stride=(5, 2),
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
            feat_extract_norm="layer",
        )
    ).save_pretrained(speech_dir)
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(speech_dir)
    tokenizer, _ = text.load_text_encoder(text.MINILM)
    BertModel(
        BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
        )
    ).save_pretrained(text_dir)
    tokenizer.save_pretrained(text_dir)
    return speech_dir, text_dir


def voice_models() -> list[str]:
    """The committed models that answer for a voice clip (every one but the face models)."""
    from emodemo.recipes import get_recipe
    from emodemo.serving.pipeline import CHECKPOINTS, SOUND_AND_WORDS, discover
    from emodemo.training.checkpoint import read_checkpoint_config

    return [
        name
        for name in discover()
        if set(get_recipe(read_checkpoint_config(CHECKPOINTS / name)["model_name"]).MODALITIES) <= SOUND_AND_WORDS
    ]


@pytest.fixture(scope="module")
def face_videos(tmp_path_factory, ravdess_root):
    """Three mp4s: the happy FER face sliding over 3 s with a RAVDESS clip's sound; the same without
    sound; a grey picture (no face) with the sound."""
    import shutil
    import subprocess

    import cv2
    import numpy as np
    from test_video import FACE_IMAGE, FPS, face_frame, write_video

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    folder = tmp_path_factory.mktemp("videos")
    face = cv2.imread(str(shared_dataset("fer2013") / FACE_IMAGE), cv2.IMREAD_GRAYSCALE)
    silent_face = write_video(folder / "face_silent.mp4", [face_frame(face, 40 + 3 * i) for i in range(3 * FPS)])
    grey = write_video(folder / "grey_silent.mp4", [np.full((240, 320, 3), 90, dtype=np.uint8)] * (3 * FPS))
    voice = ravdess_root / "Actor_01" / "03-01-05-02-01-01-01.flac"
    out = {"face_silent": silent_face}
    for name, picture in (("face_voice", silent_face), ("grey_voice", grey)):
        out[name] = folder / f"{name}.mp4"
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-v",
                "error",
                "-i",
                str(picture),
                "-i",
                str(voice),
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-c:v",
                "copy",
                "-c:a",
                "aac",
                "-shortest",
                str(out[name]),
            ],
            check=True,
            timeout=120,
        )
    out["grey_silent"] = grey
    return out
