"""The search page's matches by meaning in a real browser (headless Chromium, as
tests/test_browser.py): beside the words' results on a wide window, below them at phone width,
each marked "matched by meaning"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import test_browser
from tests.test_browser import PHONE_CHECK, screenshot
from tests.test_publish_semantic import ENGLISH, LANGUAGES, OTHERS, QUAKE, add
from tests.translate_helpers import open_db, write_config

# The same Chromium and skip rule as test_browser.py; a database of its own.
browser = test_browser.browser
pytestmark = test_browser.pytestmark


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("meaning")
    cfg = write_config(folder / "feeds.yaml", folder / "models", {k: k for k in LANGUAGES})
    conn = open_db(folder / "news.db", cfg)
    for language, title in [("en", ENGLISH), *QUAKE.items(), *OTHERS]:
        add(conn, language, title)
    conn.close()
    with test_browser.serving(folder / "news.db") as url:
        yield url


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
