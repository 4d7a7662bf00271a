"""The search page's matches by meaning in a real browser (headless Chromium, as
tests/test_browser.py): beside the words' results on a wide window, below them at phone width,
each marked "matched by meaning"."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.test_browser import (
    ARTIFACTS,
    CHROMEDRIVER,
    CHROMIUM,
    FLAGS,
    PHONE_CHECK,
    free_port,
    screenshot,
    wait_until_up,
)
from tests.test_publish_semantic import ENGLISH, LANGUAGES, OTHERS, QUAKE, add
from tests.translate_helpers import open_db, write_config

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)",
)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("meaning")
    cfg = write_config(folder / "feeds.yaml", folder / "models", {k: k for k in LANGUAGES})
    conn = open_db(folder / "news.db", cfg)
    for language, title in [("en", ENGLISH), *QUAKE.items(), *OTHERS]:
        add(conn, language, title)
    conn.close()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator.cli", "serve", "--db", str(folder / "news.db")]
        + ["--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1280,1400")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(5)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


@pytest.mark.parametrize("width", [1280, 400])
def test_matches_by_meaning_are_shown_marked_beside_the_words(browser, base_url, width):
    try:
        browser.set_window_size(width, 1400)
        browser.get(base_url + "/-/find?q=earthquake")
        words = browser.find_element("css selector", "section.results:not(.meaning)")
        meaning = browser.find_element("css selector", "section.results.meaning")
        assert ENGLISH in words.text and "1 article for “earthquake”" in words.text
        assert "2 more matched by meaning" in meaning.text
        for title in QUAKE.values():
            assert title in meaning.text and title not in words.text
        marks = meaning.find_elements("css selector", "li.by-meaning .meaning-mark")
        assert [mark.text for mark in marks] == ["matched by meaning"] * 2
        assert all(mark.is_displayed() for mark in marks)
        left, right = words.rect, meaning.rect
        if width >= 1000:  # two columns: side by side, tops aligned
            assert right["x"] >= left["x"] + left["width"] - 1
            assert abs(right["y"] - left["y"]) < 5
        else:  # one column: below, nothing wider than the window
            assert right["y"] >= left["y"] + left["height"] - 1
            found = browser.execute_script(PHONE_CHECK)
            assert found == {"wide": [], "small": 0, "cut": [], "scroll": 0}, found
        screenshot(browser, f"search-by-meaning-{width}")
    finally:
        browser.set_window_size(1280, 1400)
