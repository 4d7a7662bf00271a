"""The home page's freshness line, its day-by-day links, the day pages and the Atom feed in a
real browser (headless Chromium, as tests/test_browser.py), at desktop and phone width
(issue 13 §7 and §14)."""

from __future__ import annotations

import urllib.request

import feedparser
import pytest

from tests import test_browser
from tests.test_browser import screenshot, text_of

# The same fixtures (a served publish sample, one Chromium) and skip rule as test_browser.py.
base_url = test_browser.base_url
browser = test_browser.browser
pytestmark = test_browser.pytestmark

WIDTHS = (1280, 400)


def fits(browser, element) -> bool:
    """The element is shown and ends inside the window: nothing to scroll sideways for."""
    right = browser.execute_script("return arguments[0].getBoundingClientRect().right", element)
    return element.is_displayed() and right <= browser.execute_script("return window.innerWidth")


@pytest.fixture
def widths(browser):
    yield WIDTHS
    browser.set_window_size(1280, 1400)


def test_home_says_how_fresh_it_is_and_links_failing_feeds(browser, base_url, widths):
    for width in widths:
        browser.set_window_size(width, 1400)
        browser.get(base_url + "/")
        line = browser.find_element("css selector", "p.freshness")
        # The sample's newest article is 1 h 20 min old; two of its feeds are failing.
        assert line.text.startswith("Newest article 1 hour ago ("), line.text
        link = line.find_element("link text", "2 of 7 feeds failing: feed health")
        assert fits(browser, line) and fits(browser, link)
        for item in browser.find_elements("css selector", ".story-item"):
            assert fits(browser, item), width
        assert "6 languages · 6 outlets · 7 articles" in text_of(browser)
        screenshot(browser, f"home-freshness-{width}")
    link.click()
    assert browser.current_url == base_url + "/news/feed_health"
    assert "El País" in text_of(browser)


def test_home_advertises_an_atom_feed_a_reader_can_follow(browser, base_url):
    browser.get(base_url + "/")
    href = browser.execute_script(
        "const link = document.querySelector('link[rel=alternate][type=\"application/atom+xml\"]');"
        "return link && link.href"
    )
    assert href == base_url + "/-/top-stories.atom"
    with urllib.request.urlopen(href, timeout=10) as response:
        assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
        parsed = feedparser.parse(response.read())
    assert parsed.bozo == 0 and parsed.version == "atom10"
    assert parsed.feed.title == "News across languages: top stories in English"
    entry = parsed.entries[0]
    assert entry.title == "Strong earthquake in Tokyo"
    assert entry.link == base_url + "/-/story/1"
    browser.get(entry.link)  # the entry's link opens its story page
    assert "Who picked it up, and when" in text_of(browser)


def test_day_by_day_from_the_home_page(browser, base_url, widths):
    for width in widths:
        browser.set_window_size(width, 1400)
        browser.get(base_url + "/")
        days = browser.find_elements("css selector", ".day-list a")
        assert days and all(fits(browser, day) for day in days)
        newest = days[0].get_attribute("href")
        days[0].click()
        assert browser.current_url == newest
        title = browser.find_element("css selector", "h1").text
        assert title.split()[1] == newest.rsplit("-", 1)[1].lstrip("0")  # "Wednesday 2 ..."
        assert browser.find_elements("css selector", ".story-list .story-item")
        assert browser.find_elements("css selector", ".day-pager .next.none")  # no later day
        previous = browser.find_element("css selector", ".day-pager a[rel=prev]")
        assert fits(browser, previous)
        screenshot(browser, f"day-{width}")
        previous.click()
        # Story 5 began 40 hours ago: some earlier day has it, and "next" leads back.
        assert browser.current_url != newest and "/-/day/" in browser.current_url
        assert browser.find_elements("css selector", ".story-list .story-item")
        browser.find_element("css selector", ".day-pager a[rel=next]").click()
        assert browser.current_url == newest
