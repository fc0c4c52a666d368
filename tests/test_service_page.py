"""The service's page in a real headless browser: Debian's chromium, driven by Playwright for Python.

Playwright drives the system's chromium (`playwright install`, which downloads a browser, is
never run). Where the browser or Playwright cannot be had, the test says so and skips.
"""

import shutil

import numpy as np
import pytest

from musicnn_lite import Tagger, cli

from conftest import cut_clips
from service_client import running_server

pytest.importorskip("uvicorn", reason="the service needs the serve extra: pip install '.[serve]'")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-dev-shm-usage"]  # --no-sandbox: CI runs as root


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium); the page is not tested")
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        except sync_api.Error as error:
            pytest.skip(f"chromium would not start under Playwright: {str(error).splitlines()[0]}")
        yield browser  # a fresh profile in a temporary folder, which Playwright removes
        browser.close()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page")
    clips = cut_clips(folder / "library", seconds=10)
    catalog = folder / "catalog.parquet"
    assert cli.main([str(folder / "library"), "-o", str(catalog), "--features", "penultimate", "--quiet"]) == 0
    return folder, clips, catalog


def open_page(browser, server):
    page = browser.new_page(viewport={"width": 1180, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # blob: URLs are the player reading the chosen file, which headless chromium may cut short
    page.on("requestfailed", lambda request: request.url.startswith("blob:") or errors.append(f"{request.url} failed"))
    page.goto(f"http://127.0.0.1:{server.port}/")
    return page, errors


def test_a_chosen_clip_shows_its_top_tags_taggram_and_similar_songs(browser, clips, tmp_path):
    folder, songs, catalog = clips
    with running_server(["--catalog", str(catalog)], folder) as server:
        page, errors = open_page(browser, server)
        page.wait_for_selector("#model option", state="attached")
        assert page.locator("#status").inner_text().startswith("Ready.")
        page.set_input_files("#file", str(songs[0]))
        page.wait_for_selector("#similar:not([hidden])", timeout=60_000)

        expected = Tagger("MTT_musicnn").tag(songs[0])
        assert page.locator("#top-tags li").all_inner_texts() == expected.top(5)
        assert page.locator("#bars .bar").count() == 12
        assert page.locator("#song-name").inner_text() == songs[0].name
        # The taggram: a canvas of one row per tag shown, coloured from the likelihoods (not blank)
        colours = page.evaluate("""() => {
            const canvas = document.getElementById("taggram");
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            const seen = new Set();
            for (let i = 0; i < data.length; i += 4 * 7) seen.add(data.slice(i, i + 3).join());
            return {width: canvas.width, height: canvas.height, colours: seen.size};
        }""")
        assert colours["width"] > 300 and colours["height"] > 16 * 18 and colours["colours"] > 20, colours
        assert page.locator("#similar-list li span").first.inner_text() == str(songs[0])  # itself, first
        page.screenshot(path=tmp_path / "page.png", full_page=True)
        assert (tmp_path / "page.png").read_bytes()[:4] == b"\x89PNG"
        assert not errors, errors


def test_the_page_asks_for_the_token_and_then_tags(browser, clips):
    folder, songs, _ = clips
    with running_server([], folder, env={"MUSICNN_TOKEN": "page-token"}) as server:
        page, errors = open_page(browser, server)
        page.wait_for_selector("#token-form:not([hidden])")
        assert "token" in page.locator("#status").inner_text()
        page.fill("#token", "page-token")
        page.click("#token-form button")
        page.wait_for_selector("#model option", state="attached")
        page.set_input_files("#file", str(songs[1]))
        page.wait_for_selector("#top-tags li")
        likelihoods = Tagger("MTT_musicnn").tag(songs[1]).likelihoods
        shown = page.locator("#bars .bar b").all_inner_texts()
        assert shown == [f"{value:.2f}" for value in np.sort(likelihoods)[::-1][:12]]
        assert [error for error in errors if "401" not in error] == []
