"""Same numbers: every committed checkpoint answers a fixed set of clips as it did when they were recorded.

Recorded (``tests/data/same_numbers.json``) before the package was regrouped into layer folders
(issue 19), so that the move is checked rather than assumed to change nothing. Three RAVDESS clips
go through :meth:`Pipeline.analyse` (Whisper's transcript included) for every voice and words
checkpoint, served or not (cross-validation folds, variants); the served pipeline's fused answer
is recorded too. The face model answers three FER-2013 test faces through the path a video's face
crops take (``face_inputs``, its calibration temperature, softmax).

A checkpoint retrained after the recording has other weights: its fingerprint no longer matches
and the test says so. Record again on the commit that changed it, code unchanged:
``OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tests/test_same_numbers.py --record``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import torch

from emodemo.recipes import names
from emodemo.serving.pipeline import CHECKPOINTS, Pipeline, discover, temperature
from emodemo.training.checkpoint import read_checkpoint_config

RECORD = Path(__file__).resolve().parent / "data" / "same_numbers.json"
CLIPS = (
    "Actor_01/03-01-05-02-01-01-01.flac",  # angry, "Kids are talking by the door"
    "Actor_12/03-01-03-01-02-01-12.flac",  # happy, "Dogs are sitting by the door"
    "Actor_20/03-01-04-02-01-02-20.flac",
)  # sad, strong
FACES = ("test/happy/PublicTest_10248771.jpg", "test/sad/PublicTest_10404299.jpg", "test/angry/PublicTest_10116449.jpg")
ATOL = 1e-4  # fp32 sums in another order (1 or 2 threads) move a probability by ~1e-5; a real change moves it far more
# what a checkpoint's answers depend on (its weights aside)
ANSWERING = ("model_name", "model_kwargs", "labels", "input_spec", "calibration")


def committed(checkpoints: Path = CHECKPOINTS) -> list[str]:
    """Every checkpoint folder under ``checkpoints`` whose model this version knows, folds included."""
    known = set(names())
    return sorted(
        config.parent.relative_to(checkpoints).as_posix()
        for config in checkpoints.glob("**/config.json")
        if read_checkpoint_config(config.parent).get("model_name") in known
    )


def fingerprint(name: str, checkpoints: Path = CHECKPOINTS) -> str:
    """A digest of what a checkpoint's answers depend on: its weights and the answering part of its config."""
    folder = checkpoints / name
    config = read_checkpoint_config(folder)
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes())
    digest.update(json.dumps({k: config.get(k) for k in ANSWERING}, sort_keys=True).encode())
    return digest.hexdigest()


def fusion_fingerprint(checkpoints: Path = CHECKPOINTS) -> str:
    """The fused answer depends on the served checkpoints (their answers, and the scores their cards
    store: those choose the experts) and on the learned fusion's weights. A card's new scores rarely
    change which model is a modality's expert, so only the answering parts are digested here: a card
    update that does change an expert shows as a fused answer that differs."""
    digest = hashlib.sha256()
    for name in discover(checkpoints):
        digest.update(f"{name}:{fingerprint(name, checkpoints)};".encode())
    stacker = checkpoints / "fusion" / "stacker.json"
    if stacker.is_file():
        digest.update(stacker.read_bytes())
    return digest.hexdigest()


def _probabilities(prediction) -> dict[str, float]:
    return {label: p for label, p in sorted(prediction.ranking)}


def voice_answers(pipeline: Pipeline, ravdess_root: Path, fused: bool) -> dict[str, dict]:
    """Per clip: Whisper's transcript, every voice / words model's probabilities and, when ``fused``,
    the fused answer (every expert's weight 1)."""
    out = {}
    for clip in CLIPS:
        analysis = pipeline.analyse(ravdess_root / clip)
        out[clip] = {
            "transcript": analysis.transcript.text,
            "models": {name: _probabilities(p) for name, p in sorted(analysis.predictions.items())},
        }
        if fused:
            weights = {modality: 1.0 for modality in pipeline.experts}
            out[clip]["fused"] = dict(sorted(pipeline.fused(pipeline.modalities_alone(analysis), weights).items()))
    return out


def face_answers(pipeline: Pipeline, fer_root: Path) -> dict[str, dict]:
    """Per face model and face image: the probabilities a video's crop of that face would get."""
    out = {}
    for m in pipeline.face_models:
        crops = m.recipe.read_faces([fer_root / face for face in FACES]).numpy()
        with torch.inference_mode():
            logits = m.model(**{k: v.to(pipeline.device) for k, v in m.recipe.face_inputs(crops).items()}).float()
        probs = (logits / temperature(m.meta)).softmax(-1).cpu().numpy()
        out[m.name] = {face: dict(sorted(zip(m.labels, map(float, row)))) for face, row in zip(FACES, probs)}
    return out


def record(ravdess_root: Path, fer_root: Path) -> dict:
    served = discover()
    others = [name for name in committed() if name not in served]
    result = {
        "clips": list(CLIPS),
        "faces": list(FACES),
        "fingerprints": {name: fingerprint(name) for name in committed()},
        "fusion_fingerprint": fusion_fingerprint(),
        "served": voice_answers(Pipeline(), ravdess_root, fused=True),
        "unserved": voice_answers(Pipeline(models=others), ravdess_root, fused=False),
        "faces_answers": face_answers(
            Pipeline(models=[n for n in served + others if n.startswith("fer_cnn")], transcribe=False), fer_root
        ),
    }
    return result


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(RECORD.read_text())


@pytest.fixture(scope="module")
def now(recorded, ravdess_root) -> dict:
    from conftest import shared_dataset

    fer_root = shared_dataset("fer2013")
    changed = [
        name
        for name, digest in recorded["fingerprints"].items()
        if (CHECKPOINTS / name).is_dir() and fingerprint(name) != digest
    ]
    if changed:
        pytest.fail(
            f"checkpoints {changed} changed after their answers were recorded: record again on the commit "
            "that changed them (PYTHONPATH=. python tests/test_same_numbers.py --record)"
        )
    return record(ravdess_root, fer_root)


def _close(then: dict, now: dict, where: str) -> None:
    assert set(now) == set(then), where
    for key, value in then.items():
        if isinstance(value, dict):
            _close(value, now[key], f"{where}/{key}")
        elif isinstance(value, str):
            assert now[key] == value, f"{where}/{key}"
        else:
            assert abs(now[key] - value) <= ATOL, f"{where}/{key}: {now[key]} != {value}"


def test_every_committed_checkpoint_is_recorded(recorded):
    assert set(recorded["fingerprints"]) == set(committed()), "a checkpoint was added or removed: record again"


def test_committed_checkpoints_answer_the_recorded_clips_with_the_recorded_numbers(recorded, now):
    if now["fusion_fingerprint"] != recorded["fusion_fingerprint"]:
        for clip in recorded["served"]:
            recorded["served"][clip].pop("fused")
            now["served"][clip].pop("fused")
    for part in ("served", "unserved", "faces_answers"):
        _close(recorded[part], now[part], part)


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_same_numbers.py --record   (writes tests/data/same_numbers.json)")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import SHARED_DATA

    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(json.dumps(record(SHARED_DATA / "ravdess_speech", SHARED_DATA / "fer2013"), indent=1) + "\n")
    print(f"wrote {RECORD}")
