"""What users of the served app wait for, in a real browser and twenty at once, and its peak memory.

Protocol
--------
* The app runs as a Space runs it, ``python app.py`` in a child process (default threads; its
  concurrency from ``EMODEMO_CONCURRENCY``), started once.
* Browser: Debian's Chromium driven by Playwright loads the page, uploads the real 5 s clip of
  ``bench/app.py`` and clicks Analyse; from the click, the time until the page shows: every
  voice-only answer, the transcript, every voice and words answer, the first figure, every figure,
  timed by the page itself (its clock, checked every 25 ms: polling from Python through the
  DevTools protocol cost the shared 2-core CPU enough to slow what it measured).
  1 warm-up, then the median of 5 (the page reloaded each time).
* Twenty users: 20 ``gradio_client`` sessions submitting the same clip at once; for each, the
  seconds until its answers (the page with the transcript and every words answer) and until its
  last figure (the page's second event, ``/explain``, sent when the answers are out, as the
  browser does), and the queue position Gradio reported to it.
* Memory: the app process's peak resident set (``VmHWM``) after start-up, after the browser runs,
  after the 20 users, and after the probe sequence: a 10-minute clip, a 4K video with sound (ffmpeg's
  test sources), a silent clip, a file that is not audio, a zip of 20 clips (Evaluate tab).

Usage::

    python bench/browser.py --root ../shared/datasets/ravdess_speech

Writes ``bench/results/browser.json`` and prints a table. Run it on a quiet machine.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

from space_probe import running_app  # noqa: E402
from timing import arguments, five_second_clip, machine, save_and_print  # noqa: E402

USERS = 20
TARGETS = {"voice_s": 1.0, "words_s": 1.5, "figures_s": 2.5, "twenty_answers_s": 30.0, "peak_rss_mb": 1600.0}
# Installed in the page before the click: from the click on Analyse (its timestamp, in the page's own clock),
# the first time each stage is on screen, checked every 25 ms inside the page (no round trip to Python).
STAGE_WATCH = """([hearing, answers, figures]) => {
  const shown = () => {
    const ranked = [...document.querySelectorAll('.prediction')].filter(e => e.innerText.includes('%')).length;
    const transcript = (document.querySelector('#transcript textarea') || {value: ''}).value.length;
    const drawn = document.querySelectorAll('.attention img').length;
    return {voice_s: ranked >= hearing, transcript_s: transcript > 0, words_s: ranked >= answers,
            first_figure_s: drawn >= 1, figures_s: drawn >= figures};
  };
  window.stages = {};
  const button = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Analyse');
  button.addEventListener('click', () => {
    const start = performance.now();
    const timer = setInterval(() => {
      for (const [stage, reached] of Object.entries(shown())) {
        if (reached && !(stage in window.stages)) window.stages[stage] = (performance.now() - start) / 1000;
      }
      if (Object.keys(window.stages).length === 5) clearInterval(timer);
    }, 25);
  }, {capture: true, once: true});
}"""


def peak_rss_mb(pid: int) -> float:
    """The highest resident set process ``pid`` has had (``VmHWM``), MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024


def browser_runs(url: str, clip: Path, expected: dict[str, int], runs: int = 6) -> list[dict[str, float]]:
    """Per run, seconds from the click on Analyse to each stage on screen (see the module docstring)."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    timings = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        for _ in range(runs):
            page.goto(url)
            page.locator("#clip input[type=file]").set_input_files(str(clip))
            page.get_by_role("button", name="Analyse").wait_for()
            page.wait_for_timeout(1000)  # the upload settles
            timings.append(watch(page, expected))
        browser.close()
    return timings[1:]  # the first run warms up


def watch(page, expected: dict[str, int], limit_s: float = 180.0) -> dict[str, float]:
    """Click Analyse and wait until every figure is drawn: the seconds from the click to each stage on
    screen, timed inside the page (:data:`STAGE_WATCH`)."""
    page.evaluate(STAGE_WATCH, [expected["hearing"], expected["answers"], expected["figures"]])
    page.get_by_role("button", name="Analyse").click()
    page.wait_for_function("Object.keys(window.stages).length === 5", timeout=limit_s * 1000, polling=500)
    return page.evaluate("window.stages")


def twenty_users(url: str, clip: Path) -> list[dict[str, float]]:
    """``USERS`` users submitting at once, each with its own session as in a browser tab: per user,
    seconds to its answers (the page with the transcript and every words answer) and to its last
    figure (the ``/explain`` event its page sends once the answers are out), and the highest queue
    position Gradio reported to it."""
    from gradio_client import Client, handle_file

    clients = [Client(url, verbose=False) for _ in range(USERS)]
    start = time.perf_counter()
    jobs = [client.submit(handle_file(str(clip)), None, api_name="/analyse") for client in clients]
    figures: list = [None] * USERS
    users = [{"answers_s": None, "done_s": None, "queue_position": None} for _ in jobs]
    while not all(user["done_s"] for user in users):
        for i, (client, job, user) in enumerate(zip(clients, jobs, users)):
            now = time.perf_counter() - start
            for event in (job, figures[i]):
                rank = event.status().rank if event is not None else None
                if rank is not None:
                    user["queue_position"] = max(rank + 1, user["queue_position"] or 0)
            if user["answers_s"] is None and len(job.outputs()) >= 2:  # the page with transcript and words
                user["answers_s"] = now
            if figures[i] is None and job.done():
                job.result()
                figures[i] = client.submit(api_name="/explain")
            elif figures[i] is not None and figures[i].done() and user["done_s"] is None:
                figures[i].result()
                user["done_s"] = now
        time.sleep(0.1)
    return users


def probe_files(root: Path, clip: Path, folder: Path) -> list[tuple[str, Path]]:
    """The probe's sequence (see the module docstring), written into ``folder``."""
    import numpy as np
    import soundfile as sf

    wave, sr = sf.read(str(clip), dtype="float32")
    long = folder / "ten_minutes.wav"
    sf.write(long, np.tile(wave, 600 // 5), sr, subtype="PCM_16")
    uhd = folder / "uhd.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=3840x2160:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=220",
            "-t",
            "10",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            str(uhd),
        ],
        check=True,
    )
    silent = folder / "silent.wav"
    sf.write(silent, np.zeros(5 * sr, np.float32), sr)
    garbage = folder / "garbage.mp3"
    garbage.write_bytes(b"not audio at all " * 1000)
    archive = folder / "twenty.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for take in sorted(root.glob("Actor_0[12]/03-01-0*-01-01-01-*.*"))[:20]:
            handle.write(take, take.name)
    return [("analyse", long), ("analyse", uhd), ("analyse", silent), ("analyse", garbage), ("evaluate", archive)]


def probe(url: str, files: list[tuple[str, Path]]) -> None:
    """Send each probe file to its tab; failures (a silent clip, a non-audio file) are expected."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    for tab, path in files:
        try:
            if tab == "analyse":
                client.predict(handle_file(str(path)), None, api_name="/analyse")
                client.predict(api_name="/explain")  # its figures, as the page asks for them
            else:
                client.predict(handle_file(str(path)), api_name="/evaluate")
        except Exception as error:  # the app's message for a bad file
            print(f"{path.name}: {str(error)[:100]}")


def shown_for(clip: Path) -> dict[str, int]:
    """What the app's page shows for ``clip`` once it has answered: the voice-only answers, every voice
    and words answer, and the figures its models draw for this clip (a model that read no words, through
    the words gate, has no attention over words to draw)."""
    from emodemo.serving import Pipeline

    served = Pipeline()  # the app's models and transcriber, in this process
    analysis = served.analyse(clip)
    return {
        "hearing": sum(set(served.reads(m)) == {"audio"} for m in served.voice_models),
        "answers": len(served.voice_models),
        "figures": len(served.explain(analysis)),
    }


def main() -> None:
    args = arguments(__doc__, "browser")

    with tempfile.TemporaryDirectory() as folder, running_app() as (url, app, started_s):
        clip = five_second_clip(args.root, Path(folder))
        expected = shown_for(clip)
        memory = {"start": peak_rss_mb(app.pid)}
        runs = browser_runs(url, clip, expected)
        memory["browser"] = peak_rss_mb(app.pid)
        users = twenty_users(url, clip)
        memory["twenty_users"] = peak_rss_mb(app.pid)
        probe(url, probe_files(args.root, clip, Path(folder)))
        memory["probe"] = peak_rss_mb(app.pid)
    stages = {stage: statistics.median(run[stage] for run in runs) for stage in runs[0]}
    answers = [user["answers_s"] for user in users]
    result = {
        "machine": machine(),
        "startup_s": started_s,
        "expected": expected,
        "browser_runs": runs,
        "users": users,
        "peak_rss_mb": memory,
        "targets": TARGETS,
        "twenty_answers_s": max(answers),
        "twenty_done_s": max(user["done_s"] for user in users),
        "rows": [{"measure": f"browser: {k}", "value": v} for k, v in stages.items()]
        + [
            {"measure": "20 users: last answers_s", "value": max(answers)},
            {"measure": "20 users: last figure_s", "value": max(user["done_s"] for user in users)},
            {"measure": "20 users: shown a queue position", "value": sum(bool(u["queue_position"]) for u in users)},
        ]
        + [{"measure": f"peak RSS MB after {k}", "value": v} for k, v in memory.items()],
    }
    save_and_print(result, args.out, label="measure")


if __name__ == "__main__":
    main()
