"""A real browser (Debian's headless Chromium through Selenium) against `aggregator serve`.

Screenshots land in test-artifacts/ (git-ignored) so a person can look at what a reader sees.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import test_publish_sample as sample

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"aggregator serve exited: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = sample.build(tmp_path_factory.mktemp("browser") / "news.db")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator.cli", "serve", "--db", str(db), "--port", str(port)],
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
    # Both paths given: Selenium never looks for (or downloads) a browser or driver of its own.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(5)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def text_of(browser) -> str:
    return browser.find_element("tag name", "body").text


def screenshot(browser, name: str) -> None:
    assert browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def loaded_from_elsewhere(browser, base_url: str) -> list[str]:
    urls = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    return [url for url in urls if not url.startswith(base_url)]


def test_home_page_shows_top_stories_and_chart(browser, base_url):
    browser.get(base_url + "/")
    body = text_of(browser)
    assert "News across languages" in body
    assert body.index("Strong earthquake in Tokyo") < body.index("Parliament adopts pension")
    assert "6 languages · 6 outlets · 7 articles" in body
    chart = browser.find_element("css selector", "svg[aria-label='Articles per language and day']")
    assert chart.size["height"] > 100 and chart.size["width"] > 400
    assert loaded_from_elsewhere(browser, base_url) == []  # works offline: no CDN
    screenshot(browser, "home")


def test_open_a_story_from_the_home_page(browser, base_url):
    browser.get(base_url + "/")
    browser.find_element("link text", "Strong earthquake in Tokyo").click()
    assert browser.current_url == base_url + "/-/story/1"
    body = text_of(browser)
    assert "Who picked it up, and when" in body
    pickup = browser.find_element("css selector", ".pickup-list").text
    assert "JA\nfirst at" in pickup or "ja first at" in pickup.lower()
    assert "+1 h" in pickup and "+5 h" in pickup
    assert len(browser.find_elements("css selector", ".article-grid .card")) == 7
    assert "Сильное землетрясение в Токио" in body
    assert "no English translation (no model for ja)" in body
    timeline = browser.find_element(
        "css selector", "svg[aria-label='When each language covered the story']"
    )
    assert len(timeline.find_elements("css selector", "circle")) == 7
    screenshot(browser, "story")


def test_story_page_shows_the_languages_that_did_not_cover_it(browser, base_url):
    # Issue 13 §9, at desktop and phone width: El País (es) published while story 1 was news.
    try:
        for width in (1280, 400):
            browser.set_window_size(width, 1400)
            browser.get(base_url + "/-/story/1")
            section = browser.find_element("css selector", "section.blindspots")
            assert "Who did not cover it" in section.text
            (spot,) = section.find_elements("css selector", ".blindspot-list li")
            badge = spot.find_element("css selector", ".badge.lang.missing")
            assert badge.is_displayed() and badge.text == "ES"
            assert "Spanish" in spot.text and "2 other articles from 1 outlet" in spot.text
            right = browser.execute_script(
                "return arguments[0].getBoundingClientRect().right", spot
            )
            assert right <= browser.execute_script("return window.innerWidth"), width
            screenshot(browser, f"story-blindspots-{width}")
    finally:
        browser.set_window_size(1280, 1400)


def test_search_from_the_home_page(browser, base_url):
    browser.get(base_url + "/")
    box = browser.find_element("css selector", "form.story-search input[name=q]")
    box.send_keys("землетрясение")
    box.submit()
    assert "/-/find?q=" in browser.current_url
    body = text_of(browser)
    assert "1 article for “землетрясение”" in body
    assert "Сильное землетрясение в Токио" in body
    assert "Story: Strong earthquake in Tokyo" in body
    screenshot(browser, "search")


@pytest.mark.parametrize(
    "path",
    [
        "/-/story/4",
        "/-/find?q=rally",
        "/news/articles?summary_html__notblank=1",
        "/news/articles/12",
        "/news/clusters",
        "/news/search?q=rally",
        "/",
    ],
)
def test_feed_payloads_render_inert(browser, base_url, path):
    browser.get(base_url + path)
    assert "Rally" in text_of(browser)  # the hostile row is on the page...
    assert browser.execute_script("return window.__xss") is None  # ...and none of it ran
    links = browser.execute_script(
        "return [...document.querySelectorAll('a')].map(a => a.getAttribute('href') || '')"
    )
    assert not [href for href in links if href.strip().lower().startswith("javascript:")]
    if path == "/-/story/4":
        assert '<script>window.__xss = "title"</script>Rally' in text_of(browser)
        screenshot(browser, "hostile-story")


def test_the_payloads_do_run_when_not_neutralised(browser):
    """The inertness check above can fail: unsanitised, the same payloads set the flag."""
    from urllib.parse import quote

    browser.get("data:text/html," + quote(sample.XSS_SUMMARY_HTML))
    assert browser.execute_script("return window.__xss") is not None
