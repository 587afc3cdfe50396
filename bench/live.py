"""The live microphone in a real browser: how long after each 1 s chunk leaves the microphone its
answer is on screen (issue 21's live mode).

Protocol: the app in this process; Debian's Chromium (Playwright) with a fake microphone that
plays a file of real RAVDESS takes (actor 01: neutral, happy, sad, angry, fearful, strong; joined,
48 kHz 16-bit); the Live tab's Record pressed, ``--seconds`` of streaming. On the server, each call
of the live handler is timed (``received``: the chunk arrived; ``answered``: the answer returned); in
the page, a MutationObserver stamps each change of the "now" label. Both clocks are this machine's.
An update's latency is from its chunk's arrival to its label on screen (the chunk's own trip from the
browser, on one machine, is a few ms). Prints the median and 90th percentile; saves
``bench/results/live.json``.

    python bench/live.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULTS = REPO / "bench" / "results" / "live.json"
TAKES = (
    "03-01-01-01-01-01-01",
    "03-01-03-02-01-01-01",
    "03-01-04-02-01-01-01",
    "03-01-05-02-01-01-01",
    "03-01-06-02-01-01-01",
)
OBSERVER = """() => { window.liveChanges = []; const node = document.querySelector('#live-now');
  new MutationObserver(() => window.liveChanges.push([Date.now() / 1000, node.innerText]))
    .observe(node, {subtree: true, childList: true, characterData: true}); }"""


def microphone_file(root: Path, folder: Path) -> Path:
    import soundfile as sf

    waves = [sf.read(root / "Actor_01" / f"{take}.flac", dtype="int16") for take in TAKES]
    path = folder / "mic.wav"
    sf.write(path, np.concatenate([w for w, _ in waves]), waves[0][1], subtype="PCM_16")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets" / "ravdess_speech")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    import app

    calls = []
    handler = app.live_update

    def timed(chunk, state):
        received, before = time.time(), len(state.points) if state is not None else 0
        out = handler(chunk, state)
        calls.append(
            {
                "received": received,
                "answered": time.time(),
                "answer": out[2] is not None and len(out[2].points) > before and not out[2].points[-1]["silent"],
            }
        )
        return out

    for fn in app.demo.fns.values():
        if fn.fn is handler:
            fn.fn = timed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as driver:
        mic = microphone_file(args.root, Path(folder))
        browser = driver.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=[
                "--no-sandbox",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={mic}",
            ],
        )
        page = browser.new_context(permissions=["microphone"]).new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_role("tab", name="Live microphone").click()
        page.evaluate(OBSERVER)
        page.locator("#live-mic").get_by_role("button", name="Record").click()
        time.sleep(args.seconds)
        changes = page.evaluate("window.liveChanges")
        browser.close()
    app.demo.close()
    answers = [c for c in calls if c["answer"]]
    latencies = []
    for call in answers:  # the first change of the label after the answer was returned
        shown = next((t for t, text in changes if t >= call["answered"] - 0.005 and "%" in text), None)
        if shown is not None:
            latencies.append(shown - call["received"])
    result = {
        "seconds_streamed": args.seconds,
        "chunks": len(calls),
        "answers": len(answers),
        "latency_s": latencies,
        "median_s": float(np.median(latencies)) if latencies else None,
        "p90_s": float(np.percentile(latencies, 90)) if latencies else None,
        "server_s_median": float(np.median([c["answered"] - c["received"] for c in answers])) if answers else None,
        "target_s": 1.0,
    }
    RESULTS.write_text(json.dumps(result, indent=1))
    print(
        f"{len(calls)} chunks, {len(answers)} answers; chunk arrived -> label on screen: median "
        f"{result['median_s']:.2f} s, p90 {result['p90_s']:.2f} s (target <= 1.0); in the handler: "
        f"median {result['server_s_median']:.2f} s"
    )


if __name__ == "__main__":
    main()
