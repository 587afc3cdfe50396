"""Talk 003's face model: the VGG-style CNN on 48x48 faces, its training recipe, and the committed weights."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_dataset

from emodemo.data import layouts
from emodemo.models.fer_cnn import FerCNN, erase, jitter
from emodemo.recipes import fer_cnn as recipe

REPO = Path(__file__).resolve().parents[1]


def _faces(n=4, seed=0):
    return torch.randint(0, 256, (n, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_raw_pixels_in_logits_out_and_eval_is_deterministic():
    torch.manual_seed(0)
    model = FerCNN(n_classes=7, widths=(8, 16, 16, 32)).eval()
    faces = _faces()
    with torch.inference_mode():
        first, second = model(faces), model(faces.float())  # uint8 or float pixels alike
    assert first.shape == (4, 7) and torch.equal(first, second)
    assert model.features(faces).shape == (4, 32)


def test_training_jitters_each_face_and_eval_does_not():
    torch.manual_seed(0)
    model = FerCNN(n_classes=7, widths=(8, 16, 16, 32))
    faces = _faces(2)
    model.train()
    with torch.no_grad():
        a, b = model.features(faces), model.features(faces)
    assert not torch.allclose(a, b)  # random flips / rotations / erasing differ


def test_jitter_keeps_shape_and_a_flip_only_jitter_mirrors_or_keeps_each_face():
    images = torch.arange(48.0).repeat(3, 1, 48, 1)  # [3, 1, 48, 48]: brightness grows left to right
    out = jitter(images, rotate=0.0, scale=0.0, shift=0.0)
    assert out.shape == images.shape
    for face, moved in zip(images, out):
        assert torch.allclose(moved, face, atol=1e-3) or torch.allclose(moved, face.flip(-1), atol=1e-3)


def test_erasing_blanks_one_rectangle_of_bounded_area_or_nothing():
    images = torch.ones(64, 1, 48, 48)
    blanked = (erase(images, p=1.0, max_area=0.25) == 0).float().mean(dim=(1, 2, 3))
    assert (blanked > 0.005).all() and (blanked <= 0.27).all()
    assert torch.equal(erase(images, p=0.0), images)


def test_validation_tenth_is_fixed_by_name_and_a_val_folder_wins(tmp_path):
    from emodemo import data

    samples = data.load("fer2013", layouts.make_fer(tmp_path / "fer", train_per_class=30, test_per_class=2))
    train, val, test = recipe.split(samples)
    assert {s.split for s in train} == {"train"} and {s.split for s in test} == {"test"}
    assert not {s.id for s in train} & {s.id for s in val}
    assert 0.03 < len(val) / (len(train) + len(val)) < 0.2  # about a tenth
    assert [s.id for s in recipe.split(samples)[1]] == [s.id for s in val]  # the same every time
    with_val = [s if s.split != "test" else type(s)(**{**s.__dict__, "split": "val"}) for s in samples]
    assert {s.split for s in recipe.split(with_val)[1]} == {"val"}


def test_face_inputs_take_crops_and_a_voice_clip_is_refused_clearly():
    crops = np.zeros((5, 48, 48), dtype=np.uint8)
    assert recipe.face_inputs(crops)["image"].shape == (5, 48, 48)
    with pytest.raises(ValueError, match="48x48"):
        recipe.face_inputs(np.zeros((5, 64, 64), dtype=np.uint8))
    with pytest.raises(ValueError, match="faces, not sound"):
        recipe.clip_inputs(np.zeros(16000, dtype=np.float32))


def test_cli_trains_saves_and_evaluates_on_a_fer_tree(tmp_path):
    root = layouts.make_fer(tmp_path / "fer", train_per_class=12, test_per_class=2)
    out = tmp_path / "ckpt"
    run = lambda *args: subprocess.run(
        [sys.executable, "-m", "emodemo", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    trained = run("train", "fer_cnn", "--dataset", "fer2013", "--root", str(root), "--out", str(out), "--epochs", "1")
    assert trained.returncode == 0, trained.stderr
    assert (out / "model.safetensors").stat().st_size < 20e6 and "test" in (out / "MODEL_CARD.md").read_text()
    scored = run("evaluate", str(out), "--dataset", "fer2013", "--root", str(root), "--split", "test")
    assert scored.returncode == 0 and "WA:" in scored.stdout, scored.stderr
    refused = run("train", "fer_cnn", "--dataset", "fer2013", "--root", str(root), "--cv")
    assert refused.returncode == 2 and "no speakers" in refused.stderr


def test_a_voice_clip_skips_the_face_model_in_the_pipeline():
    from emodemo.serving.pipeline import Pipeline

    pipeline = Pipeline(models=[str(REPO / "checkpoints" / "fer_cnn")], transcribe=False)
    wave = np.sin(np.linspace(0, 2000, 16000)).astype(np.float32) * 0.3
    analysis = pipeline.analyse_wave(wave)
    assert analysis.predictions == {}


def test_committed_checkpoint_reads_real_fer_test_faces_well_above_chance():
    from emodemo import data
    from emodemo.models import REGISTRY
    from emodemo.training.checkpoint import load_checkpoint

    test = data.load("fer2013", shared_dataset("fer2013"), split="test")[::10]  # 330 real faces
    model, meta = load_checkpoint(REPO / "checkpoints" / "fer_cnn", REGISTRY)
    with torch.inference_mode():
        predicted = model(recipe.read_faces([s.image for s in test])).argmax(-1)
    accuracy = float((predicted == torch.tensor([meta["labels"].index(s.label) for s in test])).float().mean())
    assert accuracy > 0.55  # chance is 0.14-0.25; the card says 0.659
    assert meta["metrics"]["test"]["WA"] > 0.6


def test_video_path_finds_the_face_in_each_frame_and_averages_the_cnns_answers(tmp_path):
    import cv2
    from test_video import FACE_IMAGE, FPS, face_frame, write_video

    from emodemo.models import REGISTRY
    from emodemo.training.checkpoint import load_checkpoint

    face = cv2.imread(str(shared_dataset("fer2013") / FACE_IMAGE), cv2.IMREAD_GRAYSCALE)  # a real happy face
    clip = write_video(tmp_path / "happy.mp4", [face_frame(face, 40 + 4 * i) for i in range(2 * FPS)])
    model, meta = load_checkpoint(REPO / "checkpoints" / "fer_cnn", REGISTRY)
    result = recipe.video_emotion(model, meta["labels"], clip, fps=5.0)
    assert result["n_frames"] == 10 and result["n_faces"] >= 8  # 2 s at 5 frames per second
    assert result["per_face"].shape == (result["n_faces"], 7)
    np.testing.assert_allclose(result["mean"], result["per_face"].mean(axis=0), rtol=1e-6)
    assert result["prediction"] == "happy"
    # served with the checkpoint's temperature (fitted on FER-2013's validation images): softer, same answer
    calibrated = recipe.video_emotion(
        model, meta["labels"], clip, fps=5.0, temperature=meta["calibration"]["temperature"]
    )
    assert meta["calibration"]["temperature"] > 1 and calibrated["prediction"] == "happy"
    assert calibrated["per_face"].max(axis=1).mean() < result["per_face"].max(axis=1).mean()

    blank = write_video(tmp_path / "blank.mp4", [np.full((240, 320, 3), 90, dtype=np.uint8)] * FPS)
    with pytest.raises(ValueError, match="no face found"):
        recipe.video_emotion(model, meta["labels"], blank)
