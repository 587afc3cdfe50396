"""The app end to end through gradio_client: a real clip in, transcript and prediction out."""
import socket

import numpy as np
import pytest
import soundfile as sf

from conftest import voice_models

gradio_client = pytest.importorskip("gradio_client")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client():
    import app
    port = _free_port()
    app.demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        app.demo.close()


def test_real_speech_clip_returns_transcript_and_prediction(client, ravdess_clip):
    transcript, words, details, *outputs = client.predict(gradio_client.handle_file(str(ravdess_clip)),
                                                          api_name="/analyse")
    labels, plots = outputs[:len(voice_models())], outputs[len(voice_models()):]
    assert "door" in transcript.lower()
    assert len(labels) == len(voice_models()) >= 1               # one answer per trained voice/words model
    assert plots and all(plot is not None for plot in plots)      # every attention model drew its map
    for label in labels:
        assert label["label"] in {"neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"}
    assert "transcribe" in details and "Device" in details
    assert len(words["data"]) >= 4


def test_silent_clip_returns_a_message_not_a_trace(client, tmp_path):
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros(16000 * 2, np.float32), 16000)
    with pytest.raises(Exception, match="silent"):
        client.predict(gradio_client.handle_file(str(silent)), api_name="/analyse")
