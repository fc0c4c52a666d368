"""Draw docs/service.png: the service's page after a song was chosen, in headless chromium.

    python docs/service_screenshot.py    # needs the serve extra, Playwright for Python and Debian's chromium

Starts `musicnn-lite serve` on a free loopback port with a catalog of the reference clips,
chooses one of them on the page (Playwright driving /usr/bin/chromium; nothing is downloaded),
waits for its tags, taggram and similar songs, and saves the whole page.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
CLIPS = REPO / "tests" / "data" / "audio"
SONG = CLIPS / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        catalog = Path(scratch) / "catalog.parquet"
        subprocess.run([sys.executable, "-m", "musicnn_lite", "tests/data/audio", "-o", str(catalog),
                        "--features", "penultimate", "--quiet"], cwd=REPO, env=ENV, check=True)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "musicnn_lite", "serve", "--port", str(port),
                                   "--catalog", str(catalog)], env=ENV, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{port}/v1/health")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--no-first-run"])
                page = browser.new_page(viewport={"width": 1180, "height": 900}, device_scale_factor=1)
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector("#model option", state="attached")
                page.set_input_files("#file", str(SONG))
                page.wait_for_selector("#similar:not([hidden])", timeout=60_000)
                page.mouse.move(760, 520)  # a tooltip over the taggram
                page.screenshot(path=REPO / "docs" / "service.png", full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer at {url}")


if __name__ == "__main__":
    main()
