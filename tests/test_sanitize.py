"""HTML from feeds → plain text and sanitised HTML."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.sanitize import clean_html, text_and_html, to_text


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>Hello&nbsp;<b>world</b></p><p>Second<br/>line</p>", "Hello world\nSecond\nline"),
        ("Fish &amp; chips &lt;3", "Fish & chips <3"),
        ("<script>alert(1)</script>Safe<style>p{color:red}</style>", "Safe"),
        ("<!-- a comment -->Text<iframe src='x'>frame text</iframe>", "Text"),
        ("&lt;p&gt;Escaped &lt;b&gt;twice&lt;/b&gt;&lt;/p&gt;", "Escaped twice"),
        ("x < y and y > z", "x < y and y > z"),
        ("  lots   of\n\n\n spaces\t", "lots of\nspaces"),
        ("", ""),
        (None, ""),
    ],
)
def test_to_text(markup, text):
    assert to_text(markup) == text


def test_clean_html_keeps_presentation_and_drops_active_content():
    html = clean_html(
        '<p onclick="x()" style="color:red" class="c">A <b>bold</b> '
        '<a href="javascript:alert(1)">bad</a> <a href="/rel">rel</a> '
        '<img src="data:image/png;base64,AAA" onerror="y()"><img src="https://i.example/a.png">'
        "<script>z()</script><form><input></form></p>",
        base_url="https://site.example/feed",
    )
    assert html.startswith("<p>A <b>bold</b>")
    for bad in (
        "onclick",
        "style",
        "class",
        "javascript",
        "data:",
        "onerror",
        "script",
        "form",
        "input",
    ):
        assert bad not in html
    assert '<a href="https://site.example/rel" rel="noopener noreferrer nofollow">rel</a>' in html
    assert '<img src="https://i.example/a.png">' in html


def test_clean_html_returns_none_without_markup_worth_keeping():
    assert clean_html("just text") is None
    assert clean_html("<script>x()</script>text only") is None
    assert clean_html(None) is None


def test_relative_links_are_dropped_without_a_usable_base():
    assert clean_html('<b>x</b><a href="/a">a</a>', base_url="not a url") == (
        '<b>x</b><a rel="noopener noreferrer nofollow">a</a>'
    )


CHARS = list("<>/=\"' &;:abceijnoprstvx")
TOKENS = ["<script>", "</script>", "<a href=", "javascript:", " onerror=", "<img src=x", "&lt;"]
MARKUP = st.lists(st.sampled_from(CHARS) | st.sampled_from(TOKENS)).map("".join)


@given(MARKUP)
def test_plain_text_never_contains_a_script_tag(markup):
    assert "<script" not in to_text(markup).lower()


@given(MARKUP)
def test_sanitised_html_has_no_scripts_handlers_or_javascript_urls(markup):
    html = (clean_html(markup) or "").lower()
    assert "<script" not in html
    assert re.search(r"<[^>]*\son\w+\s*=", html) is None
    assert 'href="javascript' not in html and 'src="javascript' not in html


@given(MARKUP)
def test_text_and_html_is_to_text_and_clean_html_in_one_pass(markup):
    base = "https://site.example/feed"
    assert text_and_html(markup, base) == (to_text(markup), clean_html(markup, base))


def test_text_and_html_on_a_realistic_summary():
    text, html = text_and_html(
        '<h1>Head</h1><p title="a>b">Body <a href="/x">link</a></p><script>x()</script>',
        "https://site.example/",
    )
    assert text == "Head\nBody link"
    assert html == (
        '<h1>Head</h1><p title="a&gt;b">Body <a href="https://site.example/x" '
        'rel="noopener noreferrer nofollow">link</a></p>'
    )
