"""Start ``python app.py`` as a Space would and have it answer one real clip (``make space-check``).

Run with the Python of the environment under test: the app runs in a child process on a free port
(:func:`running_app`, also used by ``bench/browser.py``); this process sends
``examples/happy_words.wav`` through ``gradio_client`` and checks the transcript and that the voice
models answered, then the same clip in white noise, which the voice models must hear through the
noise gate (its library is the app's too). Exits non-zero, with the app's output, when it does not.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "examples" / "happy_words.wav"  # espeak-ng: "I just got the job ... I am so happy"
START_LIMIT_S = 300  # start-up on a busy 2-core CPU takes well under this


class AppFailed(RuntimeError):
    """The app did not start, or did not answer as it should; the message holds its output."""


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, app: subprocess.Popen, limit_s: float) -> float:
    """Seconds until ``url`` answers; raises when ``app`` dies or ``limit_s`` passes."""
    import urllib.request

    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        if app.poll() is not None:
            raise RuntimeError(f"the app exited with status {app.returncode} before it answered")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return time.monotonic() - start
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"the app did not answer within {limit_s} s")


@contextmanager
def running_app(env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """``python app.py`` (this interpreter, ``env`` added to ours) serving on a free local port:
    ``(url, process, seconds it took to answer)``; stopped on exit. Any error inside is re-raised
    as :class:`AppFailed` with the app's output."""
    port = free_port()
    env = {**os.environ, **(env or {}), "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    with tempfile.TemporaryFile("w+") as log:
        app = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/"
            yield url, app, wait_for(url, app, START_LIMIT_S)
        except Exception as error:
            log.seek(0)
            raise AppFailed(f"{error}\n--- the app's output ---\n{log.read()}") from error
        finally:
            app.terminate()
            app.wait(timeout=30)


def in_white_noise(clip: Path, out: Path) -> Path:
    """``clip`` with white noise at 10 dB SNR (one fixed draw), written as a wav at ``out``."""
    import numpy as np
    import soundfile as sf

    wave, rate = sf.read(clip, dtype="float64")
    noise = np.random.default_rng(0).normal(size=wave.shape) * np.sqrt(np.mean(wave**2) / 10)
    sf.write(out, np.clip(wave + noise, -1, 1), rate)
    return out


def main() -> int:
    from gradio_client import Client, handle_file

    try:
        with running_app() as (url, _, started_s):
            print(f"space-probe: the app started in {started_s:.0f} s")
            start = time.monotonic()
            transcript, _, details, *answers = Client(url, verbose=False).predict(
                handle_file(str(CLIP)), None, api_name="/analyse"
            )
            labels = [a for a in answers if isinstance(a, dict) and a.get("label")]
            print(f"space-probe: answered in {time.monotonic() - start:.1f} s: {transcript!r}, {len(labels)} answers")
            if "happy" not in transcript.lower() or not labels:
                raise RuntimeError(f"unexpected answer: {transcript!r}, {details}")
            with tempfile.TemporaryDirectory() as folder:  # the noise gate's library is installed too
                noisy = in_white_noise(CLIP, Path(folder) / "noisy.wav")
                client = Client(url, verbose=False)
                _, _, details, *answers = client.predict(handle_file(str(noisy)), None, api_name="/analyse")
            labels = [a for a in answers if isinstance(a, dict) and a.get("label")]
            if "gated out" not in str(details) or not labels:
                raise RuntimeError(f"the clip in white noise was not answered through the noise gate: {details}")
            print("space-probe: the same clip in white noise was heard through the noise gate")
    except AppFailed as error:
        print(f"space-probe: FAILED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
