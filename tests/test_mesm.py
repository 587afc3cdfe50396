"""Talk 004: nucleus sampling, submanifold sparse convolutions, FE2E vs MESM, and the recipe's inputs and reports."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from emodemo.core.metrics import multilabel_report
from emodemo.data import layouts
from emodemo.models.mesm import ChunkCNN, Mesm, neighbour_index, nucleus_mask, sparse_conv3x3
from emodemo.recipes import mesm as recipe

REPO = Path(__file__).resolve().parents[1]


def _inputs(b=2, s=5, n=7, seed=0, visual=False):
    g = torch.Generator().manual_seed(seed)
    audio_mask = torch.arange(s)[None, :] < torch.tensor([s, 2][:b])[:, None]
    batch = {
        "text": torch.randn(b, n, 384, generator=g),
        "text_mask": torch.arange(n)[None, :] < torch.tensor([n, 3][:b])[:, None],
        "audio": torch.randn(b, s, 64, 40, generator=g),
        "audio_mask": audio_mask,
    }
    if visual:
        batch["visual"] = torch.randint(0, 256, (b, 3, 48, 48), generator=g).float()
        batch["visual_mask"] = torch.ones(b, 3, dtype=torch.bool)
    return batch


def test_nucleus_keeps_the_smallest_set_reaching_p_largest_first():
    attention = torch.tensor([[0.05, 0.5, 0.15, 0.3], [0.25, 0.25, 0.25, 0.25]])
    assert nucleus_mask(attention, 0.7).tolist() == [[False, True, False, True], [True, True, True, False]]
    assert nucleus_mask(attention, 0.01).sum(dim=1).tolist() == [1, 1]  # the top one always stays
    assert nucleus_mask(attention, 1.0).all()
    kept = (attention * nucleus_mask(attention, 0.6)).sum(dim=1)
    assert (kept >= 0.6 - 1e-6).all()


def test_sparse_convolution_equals_the_dense_one_at_the_active_sites():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 16, 3, padding=1)
    maps = torch.randn(3, 8, 6, 5)
    active = torch.rand(3, 6, 5) < 0.4
    sites = active.nonzero()
    dense = conv(maps * active[:, None]).permute(0, 2, 3, 1)[sites[:, 0], sites[:, 1], sites[:, 2]]
    features = maps.permute(0, 2, 3, 1)[sites[:, 0], sites[:, 1], sites[:, 2]]
    assert torch.allclose(sparse_conv3x3(features, *neighbour_index(sites, (3, 6, 5)), conv), dense, atol=1e-5)


def test_mesm_flops_fall_with_p_and_fe2e_has_no_attention():
    torch.manual_seed(0)
    inputs = _inputs()
    fe2e = Mesm(7, "TA", sparse=False).eval()
    flops = []
    for p in (0.3, 0.5, 0.7, 0.9):
        model = Mesm(7, "TA", sparse=True, top_p=p).eval()
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            out = model(**inputs)
        flops.append(counter.get_total_flops())
        attention = out["audio_attention"]  # [B, S, H, W]
        assert attention.shape[:2] == (2, 5) and torch.all(attention[1, 2:] == 0)  # padded chunks: nothing kept
        kept = attention[inputs["audio_mask"]].flatten(1)
        assert (kept.sum(dim=1) >= p - 1e-5).all()  # each chunk keeps >= p of its attention
    assert flops == sorted(flops) and flops[0] < 0.6 * flops[-1]
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        out = fe2e(**inputs)
    assert set(out) == {"logits"} and counter.get_total_flops() > flops[-1]
    assert Mesm(7, "TA", sparse=True, top_p=0.5).eval()(**inputs)["logits"].shape == (2, 7)


def test_every_modality_subset_runs_and_bad_configs_are_refused():
    torch.manual_seed(0)
    inputs = _inputs(visual=True)
    for modalities in ("TAV", "TA", "TV", "AV", "T", "A", "V"):
        sparse = "T" in modalities
        logits = Mesm(7, modalities, sparse=sparse).eval()(**inputs)["logits"]
        assert logits.shape == (2, 7) and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match="queried by the text"):
        Mesm(7, "AV", sparse=True)
    with pytest.raises(ValueError, match="TAV"):
        Mesm(7, "TX")


def test_padding_another_clip_does_not_change_a_clips_answer():
    torch.manual_seed(0)
    model = Mesm(7, "TA", sparse=True, top_p=0.7).eval()
    batch = _inputs()
    alone = {k: v[1:2] for k, v in batch.items()}
    alone = {
        **alone,
        "audio": alone["audio"][:, :2],
        "audio_mask": alone["audio_mask"][:, :2],
        "text": alone["text"][:, :3],
        "text_mask": alone["text_mask"][:, :3],
    }
    with torch.inference_mode():
        assert torch.allclose(model(**batch)["logits"][1], model(**alone)["logits"][0], atol=1e-5)


def test_chunks_are_400_ms_of_64_band_log_mel_and_silence_is_refused():
    sr = 16000
    t = np.arange(int(2.5 * sr)) / sr
    wave = np.concatenate([np.zeros(sr // 2), 0.3 * np.sin(2 * np.pi * 220 * t), np.zeros(sr // 2)]).astype(np.float32)
    chunks = recipe.wave_chunks(wave)
    assert chunks.dtype == torch.float16 and chunks.shape[1:] == (64, 40)
    assert 6 <= len(chunks) <= 8  # ~2.5 s voiced -> 7 chunks of 0.4 s
    assert len(recipe.wave_chunks(np.tile(wave, 4))) == recipe.MAX_CHUNKS  # long clips: first 6.4 s
    with pytest.raises(ValueError, match="no sound"):
        recipe.wave_chunks(np.zeros(sr, dtype=np.float32))


def test_per_emotion_scores_are_one_vs_rest_of_the_arg_max():
    report = {"labels": ["a", "b", "c"], "confusion_matrix": [[5, 1, 0], [2, 3, 1], [0, 0, 4]]}
    ours = recipe.per_emotion(report)
    truth = np.repeat([0, 1, 2], [6, 6, 4])
    guess = np.array([0] * 5 + [1] + [0] * 2 + [1] * 3 + [2] + [2] * 4)
    expected = multilabel_report(np.eye(3, dtype=int)[truth], np.eye(3, dtype=int)[guess], ["a", "b", "c"])
    assert ours == expected
    assert ours["per_class"]["c"]["accuracy"] == pytest.approx(15 / 16)  # one false positive among 16 clips
    assert ours["per_class"]["c"]["wacc"] == pytest.approx((4 * 12 / 4 + 11) / 24)  # (TP N/P + TN) / 2N


def test_cli_trains_on_an_iemocap_fixture_tree(tmp_path):
    root = layouts.make_iemocap(tmp_path / "iemocap", sessions=(1, 2, 3))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "train",
            "mesm",
            "--dataset",
            "iemocap",
            "--root",
            str(root),
            "--cv",
            "--folds",
            "0",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "ckpt"),
            "--quick",
            "--option",
            f"fold_models={tmp_path / 'folds'}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    from emodemo.serving.cross_corpus import _same_run
    from emodemo.training.checkpoint import read_checkpoint_config

    meta = read_checkpoint_config(tmp_path / "ckpt")
    assert meta["labels"] == ["neutral", "happy", "sad", "angry"] and "per_emotion" in meta["metrics"]
    fold = meta["metrics"]["folds"][0]
    kept = read_checkpoint_config(tmp_path / "folds" / fold["fold"])  # the fold's model, for the robustness set
    assert kept["data_card"]["test_speakers"] == fold["test"] and _same_run(meta, kept)
    scored = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "evaluate",
            str(tmp_path / "ckpt"),
            "--dataset",
            "iemocap",
            "--root",
            str(root),
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["n_samples"] > 0


def test_visual_path_reads_a_face_every_400_ms_of_a_video_into_the_tav_model(tmp_path):
    import cv2
    from conftest import shared_dataset
    from test_video import FACE_IMAGE, FPS, face_frame, write_video

    face = cv2.imread(str(shared_dataset("fer2013") / FACE_IMAGE), cv2.IMREAD_GRAYSCALE)  # a real FER face
    clip = write_video(tmp_path / "face.mp4", [face_frame(face, 40 + 4 * i) for i in range(2 * FPS)])  # 2 s
    faces = recipe.video_faces(clip)
    assert faces.dtype == torch.uint8 and faces.shape[1:] == (48, 48) and 4 <= len(faces) <= 5  # 2 s / 400 ms
    wave = np.random.default_rng(0).normal(0, 0.1, 16000 * 2).astype(np.float32)
    batch = recipe.clip_inputs(wave, None, {"modalities": "TAV"}, video=clip)
    assert batch["visual"].shape == (1, len(faces), 48, 48) and batch["visual_mask"].all()
    torch.manual_seed(0)
    model = Mesm(7, modalities="TAV", top_p=0.5).eval()
    with torch.no_grad():
        out = model(**batch)
    assert out["logits"].shape == (1, 7) and out["visual_attention"].shape[:2] == (1, len(faces))
    kept = (out["visual_attention"][0] > 0).flatten(1).float().mean(1)  # share of positions kept
    assert (kept < 1).all()

    with pytest.raises(ValueError, match="give a video"):
        recipe.clip_inputs(wave, None, {"modalities": "TAV"})
    blank = write_video(tmp_path / "blank.mp4", [np.full((240, 320, 3), 90, dtype=np.uint8)] * FPS)
    with pytest.raises(ValueError, match="no face found"):
        recipe.video_faces(blank)


def test_training_on_faces_is_refused_when_the_clips_have_no_video(tmp_path):
    root = layouts.make_ravdess(tmp_path / "ravdess", actors=(1,), fmt="wav", seconds=0.1)
    with pytest.raises(ValueError, match="no video"):
        recipe.train("ravdess", root, tmp_path / "out", modalities="AV", sparse=False)


def test_cli_trains_multilabel_on_a_cmu_mosei_fixture_tree_and_reports_per_emotion_wacc(tmp_path):
    root = layouts.make_cmu_mosei(tmp_path / "mosei", videos=6, segments=4)
    env = {**os.environ, "EMODEMO_CACHE": str(tmp_path / "cache")}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodemo",
            "train",
            "mesm",
            "--dataset",
            "cmu_mosei",
            "--root",
            str(root),
            "--cv",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "ckpt"),
            "--quick",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    from emodemo.training.checkpoint import read_checkpoint_config

    meta = read_checkpoint_config(tmp_path / "ckpt")
    assert meta["labels"] == ["happy", "sad", "angry", "surprised", "disgust", "fearful"]
    test = meta["metrics"]["folds"][0]
    assert test["n"] == 4 and set(test["per_class"]["happy"]) >= {"accuracy", "f1", "wacc", "positives"}
    assert test["per_class"]["happy"]["positives"] + test["per_class"]["happy"]["negatives"] == 4
    assert 0 <= test["mean_wacc"] <= 1 and "chance" not in meta["metrics"]
    assert meta["input_spec"]["multilabel"] is True


def test_normalised_chunks_are_served_as_trained_and_cached_apart(ravdess_clip, tmp_path, monkeypatch):
    """With ``normalise``, training's cached chunks and the app's chunks of the same file are the
    same tensors; raw and normalised chunks never share a cache entry; the level is gone."""
    from emodemo.data.record import Sample
    from emodemo.inputs.audio import load_audio

    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path))
    sample = [Sample("clip", "ravdess", "angry", audio=ravdess_clip)]
    spec = {"modalities": "A", "normalise": True}
    trained = recipe.chunks_of_samples(sample, spec, progress=False)[0]
    cached = recipe.chunks_of_samples(sample, spec, progress=False)[0]
    raw = recipe.chunks_of_samples(sample, None, progress=False)[0]
    served = recipe.clip_inputs(load_audio(ravdess_clip), None, spec)["audio"][0]
    assert torch.equal(trained, cached) and torch.equal(served[: len(trained)], trained)
    assert raw.shape != trained.shape or not torch.allclose(raw.float(), trained.float())
    louder = recipe.clip_inputs(4 * load_audio(ravdess_clip), None, spec)["audio"][0]
    assert torch.allclose(louder.float(), served.float(), atol=0.05)  # 12 dB louder, same chunks


def test_band_norm_chunks_lose_gain_and_colouring_and_are_served_as_trained(ravdess_clip, tmp_path, monkeypatch):
    """With ``band_norm`` each band's mean over the clip is subtracted: a louder copy and a copy
    through a different microphone's constant tilt give (nearly) the same chunks, served as cached."""
    from emodemo.data.record import Sample
    from emodemo.inputs.audio import load_audio

    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path))
    spec = {"modalities": "A", "band_norm": True}
    wave = load_audio(ravdess_clip)
    trained = recipe.chunks_of_samples([Sample("clip", "ravdess", "angry", audio=ravdess_clip)], spec, progress=False)[
        0
    ]
    served = recipe.clip_inputs(wave, None, spec)["audio"][0]
    assert torch.equal(served[: len(trained)], trained)
    voiced = served.float()[:-1]  # the last chunk is padded
    assert abs(float(voiced.mean())) < 0.05  # each band centred on its clip mean
    louder = recipe.wave_chunks(4 * wave, spec).float()[:-1]
    raw_louder = recipe.wave_chunks(4 * wave).float()[:-1]
    raw = recipe.wave_chunks(wave).float()[:-1]
    assert (louder - voiced).abs().mean() < 0.25 * (raw_louder - raw).abs().mean()


def _state_inputs(frames=(95, 41), seed=0):
    g = torch.Generator().manual_seed(seed)
    b = len(frames)
    return {
        "text": torch.randn(b, 4, 384, generator=g),
        "text_mask": torch.ones(b, 4, dtype=torch.bool),
        "audio": torch.randn(b, 4, max(frames), 16, generator=g),
        "audio_mask": torch.arange(max(frames))[None, :] < torch.tensor(frames)[:, None],
    }


def test_frozen_states_become_400_ms_chunk_maps_and_padding_changes_no_answer():
    """With ``speech_layers`` the mixed states are projected to 64 channels and cut into chunks of 20 frames (400 ms):
    95 frames make 5 chunks, 41 make 3 (the last holding one real frame); a clip alone answers as in a padded batch."""
    torch.manual_seed(0)
    model = Mesm(7, "TA", sparse=True, top_p=0.7, speech_layers=4, speech_dim=16).eval()
    batch = _state_inputs()
    with torch.inference_mode():
        out = model(**batch)
        chunks, mask = model.state_chunks(model.speech_mix.normalised(batch["audio"]), batch["audio_mask"])
        alone = model(
            **{k: v[1:2, ..., :41, :] if k == "audio" else v[1:2] for k, v in batch.items() if k != "audio_mask"},
            audio_mask=batch["audio_mask"][1:2, :41],
        )
    assert out["audio_chunks"].shape == (2, 5, 64, 20) and out["audio_attention"].shape == (2, 5, 16, 5)
    assert mask.tolist() == [[True] * 5, [True, True, True, False, False]]
    assert (chunks[1, 2, :, 1:] == 0).all() and (chunks[1, 2, :, 0] != 0).any()  # frame 40 real, 41-59 padding
    assert torch.allclose(out["logits"][1], alone["logits"][0], atol=1e-5)


def test_the_frames_plain_statistics_reach_the_head_and_padding_still_changes_no_answer():
    """``speech_plain``: the head reads every real frame's mean and spread of the mixed states beside the chunk path, so
    a clip alone answers as in a padded batch, the head is 2 x 16 inputs wider, and it cannot be asked of log-mel."""
    torch.manual_seed(0)
    model = Mesm(7, "TA", sparse=True, top_p=0.7, speech_layers=4, speech_dim=16, speech_plain=True).eval()
    chunks_only = Mesm(7, "TA", sparse=True, top_p=0.7, speech_layers=4, speech_dim=16).eval()
    batch = _state_inputs()
    with torch.inference_mode():
        out = model(**batch)
        alone = model(
            **{k: v[1:2, ..., :41, :] if k == "audio" else v[1:2] for k, v in batch.items() if k != "audio_mask"},
            audio_mask=batch["audio_mask"][1:2, :41],
        )
    assert model.head[1].in_features == chunks_only.head[1].in_features + 2 * 16
    assert torch.allclose(out["logits"][1], alone["logits"][0], atol=1e-5)
    for modalities, layers in (("TA", 0), ("T", 4)):  # no states, or no audio to read them for
        with pytest.raises(ValueError, match="speech_layers, with the audio"):
            Mesm(7, modalities, sparse=False, speech_layers=layers, speech_dim=16, speech_plain=True)


def test_group_norm_normalises_each_chunk_by_its_own_kept_sites():
    """``chunk_norm="group"``: at the sparse sites, each chunk's statistics over its own kept sites (as ``nn.GroupNorm``
    over a map holding just those sites); in training, a clip's answer is the same alone as in a batch, where batch
    norm's statistics are the batch's; an unknown norm is refused, by the model and by the recipe."""
    torch.manual_seed(0)
    norm = torch.nn.GroupNorm(8, 32)
    torch.nn.init.normal_(norm.weight), torch.nn.init.normal_(norm.bias)
    maps = torch.randn(3, 32, 4, 5)  # [n, C, H, W]
    keep = torch.ones(3, 4, 5, dtype=torch.bool)
    keep[1, :2] = False  # chunk 1 keeps only its last two rows
    sites = keep.nonzero()
    features = maps.permute(0, 2, 3, 1)[sites[:, 0], sites[:, 1], sites[:, 2]]  # [K, C]
    normed = ChunkCNN._norm(features, norm, sites[:, 0], keep.flatten(1).sum(dim=1))
    owner = sites[:, 0]
    for chunk, rows in ((0, slice(None)), (1, slice(2, None)), (2, slice(None))):
        expected = norm(maps[chunk : chunk + 1, :, rows]).permute(0, 2, 3, 1).reshape(-1, 32)
        assert torch.allclose(normed[owner == chunk], expected, atol=1e-5)
    batch = _inputs()
    alone = {k: v[:1] for k, v in batch.items()}
    for chunk_norm, same in (("group", True), ("batch", False)):
        model = Mesm(7, "TA", sparse=True, top_p=0.7, dropout=0.0, chunk_norm=chunk_norm).train()
        with torch.no_grad():
            together, single = model(**batch)["logits"][0], model(**alone)["logits"][0]
        assert torch.allclose(together, single, atol=1e-5) == same
    with pytest.raises(ValueError, match="norm must be one of batch, group"):
        Mesm(7, "TA", chunk_norm="layer")
    with pytest.raises(ValueError, match="chunk_norm is one of batch, group"):
        recipe.train("ravdess", REPO, REPO / "unused", chunk_norm="layer")


def test_a_fold_mean_answers_its_members_calibrated_mean_and_averages_what_they_kept():
    """``MesmMean`` (a run's fold models served as one): the log of the members' mean probability, each at its own
    temperature; each chunk's kept positions the members' average; members of other settings are refused."""
    from emodemo.models import REGISTRY, MesmMean

    kwargs = dict(n_classes=7, modalities="TA", sparse=True, top_p=0.7, speech_layers=4, speech_dim=16)
    torch.manual_seed(0)
    mean = REGISTRY["mesm_mean"](members=[kwargs] * 3, temperatures=(0.5, 1.0, 3.0)).eval()
    assert isinstance(mean, MesmMean) and all(isinstance(m, Mesm) for m in mean.members)
    batch = _state_inputs()
    with torch.inference_mode():
        outs = [member(**batch) for member in mean.members]
        out = mean(**batch)
    probs = torch.stack([torch.softmax(o["logits"] / t, -1) for o, t in zip(outs, (0.5, 1.0, 3.0))]).mean(0)
    assert torch.allclose(out["logits"].exp(), probs, atol=1e-6)
    kept = torch.stack([o["audio_attention"] for o in outs]).mean(0)
    assert torch.allclose(out["audio_attention"], kept) and out["audio_attention"].shape == (2, 5, 16, 5)
    assert not torch.allclose(outs[0]["audio_attention"], outs[1]["audio_attention"])  # a real average
    for other in (dict(kwargs, top_p=0.5), dict(kwargs, chunk_norm="group")):  # the maps would mean other things
        with pytest.raises(ValueError, match="built differently"):
            MesmMean([kwargs, other], (1.0, 1.0))
    # a member whose head alone also reads the frames' statistics: the same maps, averaged; the answers' mean
    both = MesmMean([kwargs, dict(kwargs, speech_plain=True)], (2.0, 1.0)).eval()
    assert both.members[1].head[1].in_features == both.members[0].head[1].in_features + 2 * 16
    with torch.inference_mode():
        outs, out = [member(**batch) for member in both.members], both(**batch)
    probs = torch.stack([torch.softmax(o["logits"] / t, -1) for o, t in zip(outs, (2.0, 1.0))]).mean(0)
    assert torch.allclose(out["logits"].exp(), probs, atol=1e-6)
    assert torch.allclose(out["audio_attention"], (outs[0]["audio_attention"] + outs[1]["audio_attention"]) / 2)


def test_speech_layers_are_refused_where_they_mean_nothing(tmp_path):
    for options, message in (
        ({"speech_layers": "0,2"}, "contiguous"),
        ({"speech_layers": "0-3", "modalities": "T", "sparse": False}, "a model that hears"),
        ({"speech_layers": "0-3", "band_norm": True}, "no band_norm"),
        ({"denoise_below_db": 30.0}, "add speech_layers"),
        ({"speech_plain": "1"}, "pools frozen encoder states: add speech_layers"),
        ({"speech_layers": "0-3", "speech_encoder": "facebook/wav2vec2-base"}, "packaged Whisper"),
        ({"speech_layers": "0-7"}, "has no layer 7"),
        ({"speech_layers": "0-3", "steady_floor_below_db": 5.0}, "give denoise_below_db too"),
    ):
        with pytest.raises(ValueError, match=message):
            recipe.train("ravdess", tmp_path, tmp_path / "out", **options)


def test_a_mesm_of_frozen_states_reads_in_the_app_what_it_read_in_training(ravdess_clip, tmp_path, monkeypatch):
    """``speech_layers=0-3`` of Whisper base, normalised and gated as the served Whisper base models: through the
    feature cache (filled, then read back) a user's clip reaches the model as in training, the first 6.4 s of voice,
    the states co-attention's (one cache, one encoder pass per analysis); what MESM kept is drawn over them."""
    from emodemo.data.record import Sample
    from emodemo.inputs.audio import load_audio
    from emodemo.recipes import coattention, frozen_states

    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path))
    gate = {"normalise": True, "denoise_below_db": 30.0, "steady_floor_below_db": 5.0}
    spec = {"modalities": "TA", "speech_encoder": "whisper-base", "speech_layers": [0, 1, 2, 3], **gate}
    sample = Sample("clip", "ravdess", "angry", audio=ravdess_clip, text="Kids are talking by the door")
    recipe.make_dataset([sample], recipe.LABELS, spec)  # fills the cache
    trained = recipe.StateChunkClips.collate([recipe.make_dataset([sample], recipe.LABELS, spec)[0]])
    wave = load_audio(ravdess_clip)
    served = recipe.clip_inputs(wave, None, spec)
    assert served["audio"].shape[:2] == (1, 4) and served["audio"].shape[3] == 512
    assert torch.equal(served["audio_mask"], trained["audio_mask"])
    assert torch.allclose(served["audio"], trained["audio"], rtol=1e-2, atol=1e-2)  # fp16, batched vs alone
    co = {"mode": "fusion", "top_layers": 0, "speech_encoder": "whisper-base", "text_encoder": "minilm", **gate}
    assert frozen_states.mixed_speech(spec) == coattention._encoders({**co, "speech_layers": [0, 1, 2, 3]})[0]
    long = recipe.clip_inputs(np.tile(wave, 4), None, spec)["audio"]
    assert long.shape[2] == recipe.MAX_FRAMES  # a long clip: its first 6.4 s of voice
    model = Mesm(7, "TA", speech_layers=4, speech_dim=512).eval()
    with torch.inference_mode():
        out = model(**served)  # with no words heard
    extras = {k: v[0].numpy() for k, v in out.items() if k != "logits"}
    figure = recipe.explain(extras, wave, None, spec, recipe.LABELS, title="mesm")
    assert "projected speech states" in figure._suptitle.get_text() and figure.axes[0].get_ylabel() == "channel"


def test_voice_dropout_hides_the_voice_from_the_head_in_training_only():
    """``voice_dropout``: in training, a clip whose voice is hidden is answered from its words alone (another voice
    changes nothing); at evaluation the model is the one without it; shares outside (0, 1), or a model without both
    voice and words, are refused, by the model and by the recipe before any data is read."""
    kwargs = dict(n_classes=7, modalities="TA", sparse=True, top_p=0.7, speech_layers=4, speech_dim=16, dropout=0.0)
    kwargs.update(speech_plain=True, chunk_norm="group")
    torch.manual_seed(0)
    model = Mesm(**kwargs, voice_dropout=0.5)
    plain = Mesm(**kwargs)
    plain.load_state_dict(model.state_dict())
    batch = _state_inputs()
    other_voice = dict(batch, audio=torch.randn_like(batch["audio"]))
    model.train()
    hidden_seen = heard_seen = False
    for seed in range(20):
        with torch.no_grad():
            torch.manual_seed(seed)
            first = model(**batch)["logits"]
            torch.manual_seed(seed)  # the same clips hidden
            second = model(**other_voice)["logits"]
        same = torch.isclose(first, second, atol=1e-6).all(dim=-1)  # [B]
        hidden_seen, heard_seen = hidden_seen or bool(same.any()), heard_seen or bool((~same).any())
    assert hidden_seen and heard_seen  # some clips answered from the words alone, the others from both
    other_words = dict(batch, text=torch.randn_like(batch["text"]))
    for seed in range(20):  # the words are never hidden: other words change every clip's answer
        with torch.no_grad():
            torch.manual_seed(seed)
            first = model(**batch)["logits"]
            torch.manual_seed(seed)
            second = model(**other_words)["logits"]
        assert not torch.isclose(first, second, atol=1e-6).all(dim=-1).any()
    model.eval(), plain.eval()
    with torch.inference_mode():
        assert torch.equal(model(**batch)["logits"], plain(**batch)["logits"])
        assert not torch.allclose(model(**batch)["logits"], model(**other_voice)["logits"])
    for share, modalities in ((1.0, "TA"), (-0.2, "TA"), (0.3, "A")):
        with pytest.raises(ValueError, match="voice_dropout is the share of training clips"):
            Mesm(7, modalities, sparse=False, voice_dropout=share)
        with pytest.raises(ValueError, match="voice_dropout is the share of training clips"):
            recipe.train("ravdess", REPO, REPO / "unused", modalities=modalities, sparse=False, voice_dropout=share)


def test_text_from_starts_the_words_side_from_a_words_only_model_and_freezes_it(tmp_path):
    """``text_from``: the model's words encoder is the words-only FE2E checkpoint's, and so are the head's columns that
    read the words' vector (and its bias); the words encoder does not learn, the rest does; a checkpoint that is not a
    words-only MESM is refused, and the recipe refuses the option for a model without both voice and words."""
    from emodemo.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    words_kwargs = dict(n_classes=7, modalities="T", sparse=False, top_p=1.0)
    words = Mesm(**words_kwargs)
    common = dict(model_name="mesm", labels=list(recipe.LABELS), data_card={"licence": "CC0"}, metrics={})
    save_checkpoint(tmp_path / "words", words, model_kwargs=words_kwargs, **common)
    model = recipe.start_words_side(
        Mesm(7, "TA", sparse=True, top_p=0.7, speech_layers=4, speech_dim=16, speech_plain=True), tmp_path / "words"
    )
    assert all(torch.equal(a, b) for a, b in zip(model.text.state_dict().values(), words.text.state_dict().values()))
    assert torch.equal(model.head[1].weight[:, :64], words.head[1].weight)
    assert torch.equal(model.head[1].bias, words.head[1].bias)
    model.train()
    model(**_state_inputs())["logits"].sum().backward()
    assert all(p.grad is None for p in model.text.parameters())
    assert model.head[1].weight.grad is not None and model.speech_project.weight.grad is not None
    voice_kwargs = dict(n_classes=7, modalities="A", sparse=False)
    save_checkpoint(tmp_path / "voice", Mesm(**voice_kwargs), model_kwargs=voice_kwargs, **common)
    with pytest.raises(ValueError, match="not a words-only mesm checkpoint"):
        recipe.start_words_side(Mesm(7, "TA"), tmp_path / "voice")
    with pytest.raises(ValueError, match="text_from starts the words side"):
        recipe.train("ravdess", REPO, REPO / "unused", modalities="A", sparse=False, text_from=str(tmp_path / "words"))
