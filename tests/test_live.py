"""The live microphone: chunks as a browser sends them, a rolling window answered every second."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from emodemo.serving.live import WINDOW_SECONDS, listen


@pytest.fixture(scope="module")
def voice_pipeline():
    from emodemo.serving.pipeline import Pipeline

    return Pipeline(["speech_probe", "handcrafted_ensemble"], transcribe=False)


def test_a_browser_stream_gets_an_answer_every_second_and_none_for_room_noise(voice_pipeline, ravdess_clip):
    samples, rate = sf.read(ravdess_clip, dtype="int16")  # 48 kHz int16, as a browser's chunks
    stereo = np.stack([samples, samples], axis=1)  # a stereo microphone
    state, points = None, []
    for start in range(0, len(stereo), rate // 2):  # half-second chunks
        state, point = listen(voice_pipeline, state, rate, stereo[start : start + rate // 2])
        points += [point] if point else []
        assert len(state.window) <= WINDOW_SECONDS * 16000
    assert [p["time"] for p in points] == pytest.approx(np.arange(1, len(points) + 1), abs=0.01)
    assert points[0]["silent"]  # the take's first second is room noise
    spoken = [p for p in points if not p["silent"]]
    assert len(spoken) >= 2 and all(sum(p["fused"].values()) == pytest.approx(1, abs=1e-3) for p in spoken)
    assert spoken[-1]["emotion"] == "angry"  # a strong angry take of a training actor
    assert all(p["latency_s"] < 5 for p in points)
