"""The app in a real browser: Playwright drives Debian's Chromium, uploads a real clip, presses
Analyse, and finds the transcript, every model's prediction, the fused answer with its bars and the
attention plots on the page.
It saves the screenshot the README shows (docs/app.jpg)."""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import pytest
from conftest import voice_models

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "app.jpg"
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")


@pytest.fixture(scope="module")
def app_url():
    import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.demo.close()


def test_upload_analyse_and_see_transcript_predictions_and_attention(app_url, ravdess_clip):
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(app_url)
        page.locator("#clip input[type=file]").set_input_files(str(ravdess_clip))
        page.get_by_role("button", name="Analyse").click()
        transcript = page.locator("#transcript textarea")
        playwright.expect(transcript).to_have_value(re.compile("door", re.IGNORECASE), timeout=120_000)
        answered = page.locator(".prediction").filter(has_text="%")  # a ranked list with shares
        playwright.expect(answered).to_have_count(len(voice_models()), timeout=30_000)
        import app

        drawing = [m.name for m in app.EXPLAINED if m.name in voice_models()]  # a sound clip: no face track
        drawn = page.locator(".attention img")  # a drawn figure (an empty plot shows an icon, not an image)
        playwright.expect(drawn).to_have_count(len(drawing), timeout=60_000)  # every one, before the screenshot
        playwright.expect(page.locator("#fusion-bars .js-plotly-plot")).to_be_visible(
            timeout=30_000
        )  # interactive bars
        playwright.expect(page.locator("#fused")).to_contain_text("%")
        playwright.expect(page.locator("#fused-note")).to_contain_text("line chosen on held-out actors")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True, type="jpeg", quality=70)
        browser.close()
    assert SCREENSHOT.stat().st_size > 30_000


def test_compare_tab_shows_the_fused_answer_and_every_model_side_by_side(app_url, tmp_path):
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(app_url)
        page.get_by_role("tab", name="Compare models").click()
        fused = page.locator("#headline-table tr").filter(has_text="the fused answer")
        playwright.expect(fused).to_contain_text("voice + words", timeout=30_000)
        page.get_by_text("Every model on every benchmark, and what each costs").click()
        table = page.locator("table").filter(has_text="share of the Hub pipeline's time")
        playwright.expect(table).to_be_visible(timeout=30_000)
        playwright.expect(page.locator("table").filter(has_text="FER-2013 PublicTest")).to_be_visible()
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=False)
        browser.close()
    assert (tmp_path / "compare.png").stat().st_size > 10_000


def _joined_takes(ravdess_root, folder: Path, takes: tuple[str, ...], rate: int | None = None) -> Path:
    """Real RAVDESS takes of actor 01 joined into one 16-bit wav (at ``rate``, default 16 kHz)."""
    import numpy as np
    import soundfile as sf

    from emodemo.inputs.audio import load_audio, resample

    wave = np.concatenate([load_audio(ravdess_root / "Actor_01" / f"{t}.flac") for t in takes])
    path = folder / "joined.wav"
    sf.write(path, resample(wave, 16000, rate) if rate else wave, rate or 16000, subtype="PCM_16")
    return path


def test_a_user_behind_others_sees_their_place_in_the_queue(app_url, ravdess_root, tmp_path):
    takes = ("03-01-01-01-01-01-01", "03-01-05-02-01-01-01", "03-01-04-01-02-02-01") * 3  # about 30 s
    long_clip = _joined_takes(ravdess_root, tmp_path, takes)
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        pages = [browser.new_context().new_page() for _ in range(3)]  # three users, each with a session
        for page in pages:
            page.goto(app_url)
            page.locator("#clip input[type=file]").set_input_files(str(long_clip))
        for page in pages:
            playwright.expect(page.get_by_role("button", name="Analyse")).to_be_enabled(timeout=30_000)
        for page in pages:
            page.get_by_role("button", name="Analyse").click()
        playwright.expect(pages[-1].locator("#transcript")).to_contain_text(
            re.compile(r"queue: [12]/2"), timeout=10_000
        )
        for page in pages:  # everyone is answered in turn
            playwright.expect(page.locator("#transcript textarea")).to_have_value(
                re.compile("door", re.I), timeout=120_000
            )
        browser.close()


def test_timeline_tab_draws_the_timeline_and_a_selected_segment_plays(app_url, ravdess_root, tmp_path):
    recording = _joined_takes(
        ravdess_root, tmp_path, ("03-01-01-01-01-01-01", "03-01-05-02-01-01-01", "03-01-04-01-02-02-01")
    )
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(app_url)
        page.get_by_role("tab", name="Timeline (long recordings)").click()
        page.locator("#recording input[type=file]").set_input_files(str(recording))
        page.get_by_role("button", name="Build the timeline").click()
        playwright.expect(page.locator("#timeline .js-plotly-plot")).to_be_visible(timeout=120_000)
        rows = page.locator("#segments [role=row]")  # the header, then one row per segment
        playwright.expect(rows).to_have_count(4, timeout=30_000)
        rows.nth(2).locator("[role=gridcell], td").nth(3).click()  # select the second segment
        playwright.expect(page.locator("#segment-sound button[aria-label=Play]")).to_be_visible(timeout=60_000)
        playwright.expect(page.locator("#segment-answers")).to_contain_text("speech_probe")
        browser.close()


def test_live_microphone_answers_while_the_user_speaks(app_url, ravdess_root, tmp_path):
    microphone = _joined_takes(ravdess_root, tmp_path, ("03-01-05-02-01-01-01", "03-01-04-02-01-01-01"), rate=48000)
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={microphone}",
            ],
        )
        page = browser.new_context(permissions=["microphone"]).new_page()
        page.goto(app_url)
        page.get_by_role("tab", name="Live microphone").click()
        page.locator("#live-mic").get_by_role("button", name="Record").click()
        # an emotion within a few seconds of speech (the take opens with room noise: "no speech" first)
        playwright.expect(page.locator("#live-now")).to_contain_text(
            re.compile("neutral|happy|sad|angry|fearful|disgust|surprised"), timeout=30_000
        )
        playwright.expect(page.locator("#live-track .js-plotly-plot")).to_be_visible(timeout=30_000)
        browser.close()
