"""The frozen Whisper encoder without 30 s padding: shapes, agreement with Whisper's own padded
run, batch independence, speed, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emodemo.inputs.audio import load_audio, log_mel
from emodemo.speech.speech_encoder import WhisperSpeechEncoder


@pytest.fixture(scope="module")
def encoder():
    return WhisperSpeechEncoder("tiny.en")


@pytest.fixture(scope="module")
def wave(ravdess_clip):
    return load_audio(ravdess_clip)  # 4.10 s


def test_shapes_for_a_4s_clip(encoder, wave):
    frames = len(wave) // 160  # 410 mel frames of 10 ms
    out = encoder.encode([wave], all_layers=True)
    expected = (frames + 1) // 2  # 205 states, 50 per second
    assert out.states.shape == (1, expected, 384) and encoder.dim == 384 and encoder.n_layers == 4
    assert out.layers.shape == (1, 5, expected, 384)
    assert torch.equal(out.layers[:, -1], out.states)
    assert out.mask.all() and out.lengths.tolist() == [expected]


def test_states_agree_with_whispers_padded_30s_run(encoder, wave):
    out = encoder.encode([wave])
    with torch.no_grad():
        padded = encoder.encoder(log_mel(torch.from_numpy(wave), pad_to_30s=True)[None])  # [1, 1500, 384]
    length = int(out.lengths[0])
    cosine = torch.nn.functional.cosine_similarity(out.states[0], padded[0, :length], dim=-1)
    # Measured on this clip: mean 0.960, median 0.985; lowest (0.74) on the trailing silence,
    # where the padded run attends over 26 s more of it.
    assert cosine.mean() > 0.93 and cosine.median() > 0.97
    assert cosine[: length // 2].min() > 0.9  # the speech part agrees closely everywhere


def test_the_encoder_is_the_transcribers_weights_without_a_decoder_it_never_reads(encoder):
    from emodemo.speech import asr

    assert asr.DEFAULT_BACKEND == "faster-whisper"  # the app transcribes with CTranslate2's own copy
    held = asr.encoder_model("tiny.en")
    assert encoder.encoder is held.encoder and not hasattr(held, "decoder")
    whole = asr.load_model("openai-whisper", "tiny.en").engine  # what a user of that backend loads
    for (name, mine), (_, theirs) in zip(held.encoder.state_dict().items(), whole.encoder.state_dict().items()):
        assert torch.equal(mine, theirs), name


def test_batched_clips_do_not_see_each_other(encoder, wave, ravdess_root):
    other = load_audio(ravdess_root / "Actor_02" / "03-01-01-01-01-01-02.flac")  # 3.64 s: shorter
    alone = encoder.encode([other])
    batch = encoder.encode([wave, other], all_layers=True)
    length = int(alone.lengths[0])
    assert batch.lengths.tolist() == [205, length] and batch.mask[1].sum() == length
    torch.testing.assert_close(batch.states[1, :length], alone.states[0], atol=1e-4, rtol=1e-4)
    assert batch.states[1, length:].abs().max() == 0 and batch.layers[1, :, length:].abs().max() == 0


def test_encoder_is_frozen(encoder):
    assert not any(p.requires_grad for p in encoder.parameters())


@pytest.mark.parametrize("seconds, message", [(31, "at most 30 s"), (0.005, "at least 160 samples")])
def test_too_long_or_too_short_is_refused(encoder, seconds, message):
    with pytest.raises(ValueError, match=message):
        encoder.encode([np.zeros(int(seconds * 16000), np.float32)])
