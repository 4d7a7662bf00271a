"""How values read on the pages, and the SQL twin of the delay format used by canned queries."""

from __future__ import annotations

import sqlite3

from hypothesis import example, given
from hypothesis import strategies as st

from aggregator.publish import display, queries


def test_delays_read_like_a_person_would_say_them():
    assert [display.format_delay(s) for s in (0, 29, 90, 3600, 7800, 35940, 50400, 400000)] == [
        "+0 min",
        "+0 min",
        "+2 min",
        "+1 h",
        "+2 h 10 min",
        "+9 h 59 min",
        "+14 h",
        "+5 d",
    ]
    assert display.format_delay(None) == ""


@example(734370)  # 8.5 days: both round half up
@given(st.integers(min_value=0, max_value=30 * 86400))
def test_sql_delay_format_matches_the_pages(seconds):
    conn = sqlite3.connect(":memory:")
    sql = f"SELECT {queries._delay('?')}".replace("?", ":s")
    assert "+" + conn.execute(sql, {"s": seconds}).fetchone()[0] == display.format_delay(seconds)


def test_only_http_links_survive():
    assert display.safe_url(" https://news.example/a ") == "https://news.example/a"
    for bad in (
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,x",
        "//x.example",
        "ftp://x.example/f",
        "",
        None,
        "http://",
    ):
        assert display.safe_url(bad) is None


def test_clean_html_keeps_markup_and_drops_script_handlers_and_images():
    cleaned = display.clean_html(
        '<p onclick="x()">Hi <a href="javascript:x()">a</a>'
        '<a href="https://n.example/">b</a><img src="https://t.example/p">'
        "<script>x()</script></p>"
    )
    assert "<p>Hi" in cleaned and "onclick" not in cleaned and "script" not in cleaned
    assert "javascript" not in cleaned and "<img" not in cleaned
    assert 'href="https://n.example/"' in cleaned
    assert 'rel="noopener noreferrer nofollow"' in cleaned


def test_json_code_lists_and_times_never_break_a_page():
    assert display.codes('["fr", "de"]') == ["fr", "de"]
    assert display.codes("not json") == [] and display.codes('{"a": 1}') == []
    assert display.codes(None) == []
    assert display.format_time("2026-03-14T06:10:00Z") == "14 Mar 06:10 UTC"
    assert display.format_time("yesterday") == "yesterday"
    assert display.format_time(None) == "unknown time"


def test_translation_notes():
    assert display.translation_note("copy", None) == "English original"
    assert display.translation_note("none:no-model-for-ja", None) == (
        "no English translation (no model for ja)"
    )
    assert display.translation_note("argos", "argos de-en 1.9") == (
        "machine translation: argos de-en 1.9"
    )
    assert display.translation_note(None, None) == "not translated yet"


def test_loopback_addresses_are_recognised():
    for url in (
        "http://127.0.0.1:8765/a.html",
        "http://127.8.0.1/",
        "http://localhost/",
        "http://LOCALHOST:80/",
        "http://x.localhost/",
        "http://[::1]:8001/",
        "http://0.0.0.0/",
    ):
        assert display.is_loopback(url), url
    for url in (
        "https://news.example/a",
        "http://10.0.0.1/",
        "http://127.example/",
        "",
        None,
        "http://[/",
    ):
        assert not display.is_loopback(url), url
    cleaned = display.clean_html('<a href="http://127.0.0.1/x">a</a><a href="https://n.example/">b')
    assert "127.0.0.1" not in cleaned and 'href="https://n.example/"' in cleaned
