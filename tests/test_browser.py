"""A real browser (Debian's headless Chromium through Selenium) against `aggregator serve`.

Screenshots land in test-artifacts/ (git-ignored) so a person can look at what a reader sees.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
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
    with serving(sample.build(tmp_path_factory.mktemp("browser") / "news.db")) as url:
        yield url


@contextmanager
def serving(db: Path) -> Iterator[str]:
    """`aggregator serve` on the database, on a free loopback port; its address."""
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
    assert pickup.startswith(("ja\nfirst at", "ja first at"))
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
            assert badge.is_displayed() and badge.text == "es"
            assert "Spanish" in spot.text and "2 other articles from 1 outlet" in spot.text
            right = browser.execute_script(
                "return arguments[0].getBoundingClientRect().right", spot
            )
            assert right <= browser.execute_script("return window.innerWidth"), width
            screenshot(browser, f"story-blindspots-{width}")
    finally:
        browser.set_window_size(1280, 1400)


def test_language_and_country_badges_are_told_apart(browser, base_url):
    # Issue 13 §8: "uk" (Ukrainian) beside "GB", "ca" (Catalan), "ES AR" read as Arabic: each
    # kind has its own case, shape and flag, its name on hover and as its accessible name.
    browser.get(base_url + "/")
    story = browser.find_element("css selector", ".story-item")
    langs = story.find_elements("css selector", ".badge.lang")
    countries = story.find_elements("css selector", ".badge.country")
    assert [b.text for b in langs] == ["ja", "en", "fr", "de", "ru", "ar"]
    assert [b.accessible_name for b in langs[:2]] == [
        "language: Japanese, carried it first",
        "language: English",
    ]
    assert [b.get_attribute("title") for b in langs[1:3]] == ["English", "French"]
    assert [b.text[-2:] for b in countries] == ["JP", "GB", "FR", "DE", "RU", "QA"]
    assert countries[1].accessible_name == "country: United Kingdom"
    assert countries[1].get_attribute("title") == "United Kingdom (GB)"
    assert countries[1].find_element("css selector", ".flag").get_attribute("textContent") == (
        "\U0001f1ec\U0001f1e7"
    )

    def style(element, name):
        return browser.execute_script(
            "return getComputedStyle(arguments[0])[arguments[1]]", element, name
        )

    assert style(langs[1], "borderTopLeftRadius") != style(countries[1], "borderTopLeftRadius")
    assert style(countries[1], "borderTopLeftRadius") == "0px"
    assert style(langs[1], "textTransform") == "lowercase"
    assert style(countries[1], "textTransform") == "uppercase"
    assert style(langs[1], "backgroundColor") != style(countries[1], "backgroundColor")
    # The legend, on every page's footer.
    for path in ("/", "/-/story/1", "/news/clusters", "/news/stories"):
        browser.get(base_url + path)
        legend = browser.find_element("css selector", "footer .badge-legend")
        assert "a language: its ISO 639-1 code in lower case" in legend.text
        assert "an outlet's country: its flag and ISO 3166 code" in legend.text
        legend.find_element("tag name", "summary").click()
        assert "Qatar" in legend.text and "Arabic" in legend.text
    screenshot(browser, "badge-legend")


PHONE_PAGES = [
    "/",
    "/-/story/1",
    "/-/find?q=earthquake",
    "/-/day",
    "/news",
    "/news/stories",
    "/news/blindspots?language=ru",
    "/news/first_movers?language=ja",
    "/news/feed_health",
    "/news/translation_coverage",
    "/news/story_blindspots?id=1",
    "/news/articles",
    "/news/articles/1",
    "/news/clusters",
    "/news/feeds",
]

# What a 400 px page must not have: anything wider than the window (a page that scrolls
# sideways), text in a chart under 10 px tall, a form label cut or running under its box.
PHONE_CHECK = """
const width = document.documentElement.clientWidth;
const shown = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility != 'hidden';
const wide = [...document.querySelectorAll('body *')].filter(e => shown(e)
    && !e.closest('.table-wrapper, pre, .CodeMirror, .cm-editor')
    && e.getBoundingClientRect().right > width + 1).map(e => e.tagName + '.' + e.className);
const small = [...document.querySelectorAll('svg text')].filter(shown)
    .map(t => t.getBoundingClientRect().height).filter(h => h < 10);
const cut = [...document.querySelectorAll('form label')].filter(shown).filter(label => {
    const box = document.getElementById(label.htmlFor);
    const l = label.getBoundingClientRect();
    const overlaps = box && (() => { const b = box.getBoundingClientRect();
        return l.right > b.left + 1 && l.left < b.right - 1
            && l.bottom > b.top + 1 && l.top < b.bottom - 1; })();
    return label.scrollWidth > label.clientWidth + 1 || l.right > width + 1 || overlaps;
}).map(label => label.textContent);
return {wide: wide.slice(0, 5), small: small.length, cut: cut,
        scroll: document.documentElement.scrollWidth - width};
"""


@pytest.mark.parametrize("path", PHONE_PAGES)
def test_every_page_is_usable_at_phone_width(browser, base_url, path):
    # Issue 13 §10: at 400 px the story timeline's text was ~5 px (the wide drawing scaled to
    # half) and the query forms' labels were cut at 15% of the width.
    try:
        browser.set_window_size(400, 900)
        browser.get(base_url + path)
        found = browser.execute_script(PHONE_CHECK)
        assert found == {"wide": [], "small": 0, "cut": [], "scroll": 0}, found
        screenshot(browser, "phone" + path.replace("/", "-").replace("?", "-"))
    finally:
        browser.set_window_size(1280, 1400)


def test_charts_are_drawn_for_the_width_they_are_read_at(browser, base_url):
    try:
        for width, shown in ((1280, "chart-wide"), (400, "chart-narrow")):
            browser.set_window_size(width, 1400)
            browser.get(base_url + "/-/story/1")
            (timeline,) = [
                svg
                for svg in browser.find_elements(
                    "css selector", "svg[aria-label='When each language covered the story']"
                )
                if svg.is_displayed()
            ]
            assert timeline.get_attribute("class") == shown
            assert len(timeline.find_elements("css selector", "circle")) == 7
            sizes = browser.execute_script(
                "return [...arguments[0].querySelectorAll('text')]"
                ".map(t => t.getBoundingClientRect().height)",
                timeline,
            )
            assert min(sizes) >= 12, (width, sizes)
    finally:
        browser.set_window_size(1280, 1400)


def test_canned_query_forms_show_their_defaults_and_dates_read_as_elsewhere(browser, base_url):
    # Issue 13 §10: blank boxes although the query has defaults; raw ISO dates.
    try:
        browser.set_window_size(400, 900)
        browser.get(base_url + "/news/stories")
        boxes = {
            box.get_attribute("name"): box
            for box in browser.find_elements("css selector", "form.sql input[type=text]")
        }
        assert {name: box.get_attribute("value") for name, box in boxes.items()} == {
            "languages": "2",
            "hours": "24",
            "limit": "100",
        }
        assert boxes["languages"].accessible_name == "languages"
        hint = browser.find_element("id", boxes["languages"].get_attribute("aria-describedby"))
        assert hint.text == "at least this many languages; default 2"
        cell = browser.find_element("css selector", "td.col-first_seen_at")
        assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d\d:\d\d UTC", cell.text), cell.text
        stamp = cell.find_element("tag name", "time").get_attribute("datetime")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
        browser.get(base_url + "/news/blindspots?days=5")
        values = {
            box.get_attribute("name"): (
                box.get_attribute("value"),
                box.get_attribute("placeholder"),
            )
            for box in browser.find_elements("css selector", "form.sql input[type=text]")
        }
        assert values == {
            "language": ("", "e.g. fr"),
            "min_languages": ("3", ""),
            "days": ("5", ""),
        }
        screenshot(browser, "phone-query-form")
    finally:
        browser.set_window_size(1280, 1400)


def test_right_to_left_text_is_aligned_on_its_own_side(browser, base_url):
    # The third walkthrough of issue 13: an Arabic headline marked dir="rtl" sat on the left,
    # since Datasette's body sets text-align: left and every element inherited it.
    browser.get(base_url + "/-/story/1")
    title = browser.find_element("css selector", 'h3.original[dir="rtl"]')
    edges = browser.execute_script(
        "const range = document.createRange(); range.selectNodeContents(arguments[0]);"
        "const text = range.getBoundingClientRect(), box = arguments[0].getBoundingClientRect();"
        "return [text.left - box.left, box.right - text.right];",
        title,
    )
    assert edges[1] < 2 < edges[0], edges  # flush right, with room on the left


# Where each facet value's count is drawn, relative to its label: the count must follow the
# label on its right in a left-to-right page, whatever the label's script.
FACET_SIDES = """
return [...document.querySelectorAll('#facet-feed_id li')].map(li => {
    const label = li.querySelector('a').getBoundingClientRect();
    // the count: its own element, or (Datasette's template) the text after the link
    const range = document.createRange();
    range.selectNodeContents(li.querySelector('.facet-count') || li.querySelector('a').nextSibling);
    const count = range.getBoundingClientRect();
    return [li.querySelector('a').textContent.trim(), count.left >= label.right - 1];
});
"""


def test_an_arabic_outlet_keeps_its_count_on_the_right_in_facet_lists(browser, tmp_path):
    # Issue 13 §3, found again by the second walkthrough in Datasette's facet lists: an Arabic
    # label pulled the number after it into its right-to-left run, drawing it on the left.
    db = sample.build(tmp_path / "news.db")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE feeds SET name = 'الجزيرة', name_en = 'Al Jazeera' WHERE id = 6")
    conn.close()
    with serving(db) as url:
        browser.get(url + "/news/articles")  # feed_id is a default facet
        sides = dict(browser.execute_script(FACET_SIDES))
        screenshot(browser, "facet-lists")
        # Values break between words, not inside them ("(The Coast Toda|y)").
        item = browser.find_element("css selector", "#facet-feed_id li")
        assert browser.execute_script("return getComputedStyle(arguments[0]).wordBreak", item) == (
            "normal"
        )
    arabic = [right for label, right in sides.items() if label.startswith("الجزيرة")]
    assert arabic == [True], sides
    assert all(sides.values()), sides
    assert "الجزيرة (Al Jazeera)" in sides  # and its English name beside it


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
