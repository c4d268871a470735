"""`mapper web` in a real browser: Debian's chromium driven by Playwright (no browser download).

Fills the form, starts a run on a 6 s song with a tiny model, sees the progress bar move, the
preview drawn and the .osz downloaded; keeps a screenshot (path printed) and measures the time from
"Generate" to the first progress update. Skipped where /usr/bin/chromium is absent (.ci/run installs it)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# Runs in the page before its own script: every value set on a <progress> is kept, with its max then.
PROGRESS_SPY = """
window.progressSeen = [];
const property = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, "value");
Object.defineProperty(HTMLProgressElement.prototype, "value", {
  get() { return property.get.call(this); },
  set(value) { property.set.call(this, value); window.progressSeen.push([Number(value), this.max]); },
});
"""


def test_generate_in_a_real_browser(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    import uvicorn

    from mapperator_cli.web.app import create_app
    from tests.web_helpers import REFERENCE, TOKEN, tiny_model_and_song

    model, song = tiny_model_and_song(tmp_path, seconds=12.0)  # three windows a pass: the bars move
    (tmp_path / "work").mkdir()
    (tmp_path / "out").mkdir()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(create_app(TOKEN, tmp_path / "work", tmp_path / "out"), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
            page.add_init_script(PROGRESS_SPY)
            page.goto(f"http://127.0.0.1:{port}/?token={TOKEN}")
            page.wait_for_selector("body[data-ready=yes]")
            page.set_input_files('input[type=file][data-upload-for="audio"]', str(song))  # the upload path
            page.wait_for_function("document.querySelector('#form-generate [name=audio]').value.includes('uploads')")
            page.set_input_files('input[type=file][data-upload-for="beatmap"]', str(song.parent / REFERENCE))
            page.wait_for_function("document.querySelector('#form-generate [name=beatmap]').value.includes('uploads')")
            assert page.is_visible("#eval-tab")  # the eval tab appears once a reference is given
            page.fill("#form-generate [name=model]", str(model))
            for group in ("Sampling", "Output", "Beatmap settings"):  # the groups folded at first
                page.click(f"#form-generate fieldset.closed > legend:text-is('{group}')")
            page.fill("#form-generate [name=seed]", "1")
            page.check("#form-generate [name=export_osz]")
            with page.expect_download() as settings:  # saved by the page itself, never on the server
                page.click("#form-generate button:text('Save settings')")
            saved_settings = json.loads(Path(settings.value.path()).read_text())
            assert saved_settings["values"]["seed"] == "1" and saved_settings["values"]["export_osz"] is True
            page.fill("#form-generate [name=hp]", "12")  # refused beside the field with the CLI's message
            page.click("#start-generate")
            page.wait_for_selector(".field[data-name=hp] .error:text('--hp must be between 0 and 10')")
            page.fill("#form-generate [name=hp]", "")
            clicked = time.perf_counter()
            page.click("#start-generate")
            page.wait_for_selector(".card .bar progress", timeout=120_000)
            first_progress = time.perf_counter() - clicked
            page.wait_for_selector(".card[data-status=done]", timeout=120_000)
            # a bar was set part-way (1 of 3 windows, say) before it was full: the progress moves as the run goes.
            # Every value the page gave a bar is kept (PROGRESS_SPY): a fast run can pass through its part-way
            # values between two looks at the page.
            part_way = page.evaluate("window.progressSeen.some(([value, max]) => value > 0 && value < max)")
            assert part_way, f"no progress bar was set part-way: {page.evaluate('window.progressSeen')}"
            assert page.eval_on_selector(".bar[data-pass=map] progress", "p => p.value == p.max")
            page.wait_for_selector(".preview[data-drawn=yes]", timeout=30_000)
            assert page.is_visible(".preview canvas.timeline") and page.is_visible(".preview audio")
            assert page.is_visible("table.eval")  # mapper eval's figures of the map against the reference
            page.evaluate("document.querySelector('.preview audio').currentTime = 4")  # the cursor follows the song
            page.wait_for_timeout(300)
            with page.expect_download() as download:
                page.click(".files a.osz")
            saved = tmp_path / download.value.suggested_filename
            download.value.save_as(saved)
            assert saved.suffix == ".osz" and saved.read_bytes()[:2] == b"PK"
            shot = tmp_path / "mapper-web.png"
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
    keep = os.environ.get("MAPPER_WEB_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
    print(f"\nscreenshot: {shot}\nfrom Generate to the first progress update: {first_progress:.2f} s")
