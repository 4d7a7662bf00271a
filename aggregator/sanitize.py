"""HTML from feeds → safe plain text, or sanitised HTML (nh3, an allowlist sanitiser).

Feed summaries are untrusted HTML from the whole internet. The plain text is what every later
stage uses (translation, embeddings, display); the sanitised HTML is kept only for display.
"""

from __future__ import annotations

import html
import re
from typing import Any, Literal, TypeGuard

import nh3

# fmt: off
# Tags whose *contents* are never text a reader should see.
DROPPED_CONTENT = {
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math",
    "head", "title", "textarea", "select",
}
# Block-level tags become line breaks in the plain text, so "<p>a</p><p>b</p>" is not "ab".
BREAKS = {
    "p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr",
    "td", "th", "table", "section", "article", "header", "footer", "figure", "figcaption", "dd",
    "dt", "dl", "hr", "pre",
}
# What may survive in summary_html: presentational markup and http(s) links and images; no
# styles, event handlers, ids or classes.
HTML_TAGS = {
    "p", "br", "a", "b", "strong", "i", "em", "u", "s", "sub", "sup", "small", "q", "blockquote",
    "cite", "code", "pre", "ul", "ol", "li", "dl", "dt", "dd", "h2", "h3", "h4", "h5", "h6", "img",
    "figure", "figcaption", "table", "thead", "tbody", "tr", "td", "th", "caption", "abbr", "time",
    "span", "div", "hr", "h1", "section", "article", "header", "footer",
}
HTML_ATTRIBUTES = {
    "a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"}, "time": {"datetime"}, "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
# fmt: on
assert BREAKS <= HTML_TAGS  # text_and_html reads line breaks off the sanitised HTML
URL_SCHEMES = {"http", "https"}

_BREAK_TAG = re.compile(r"</?(?:" + "|".join(sorted(BREAKS)) + r")\b[^>]*>", re.IGNORECASE)
# Any tag in nh3's output, where attribute values are quoted and may contain ">".
_ANY_TAG = re.compile(r"<(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")
# Text that still looks like markup after one pass: feeds that escape their HTML twice.
_LOOKS_LIKE_MARKUP = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>|<!--")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_BLANK_LINES = re.compile(r"\s*\n\s*")
_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def valid_text(text: str) -> str:
    """`text` with every lone surrogate (U+D800-U+DFFF) replaced by U+FFFD.

    No UTF-8 can carry a surrogate, but a JSON escape ("\\ud800") or a feed parser can put one
    in a str; then SQLite, hashing and nh3 all fail to encode it."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def scrub(value: Any) -> Any:
    """`value` with `valid_text` applied to every string in it, through dicts and lists (changed
    in place, so a parsed feed's tree is not copied)."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        for key, item in value.items():
            cleaned = scrub(item)
            if cleaned is not item:
                dict.__setitem__(value, key, cleaned)  # not a subclass's key aliasing
    elif isinstance(value, list):
        for index, item in enumerate(value):
            cleaned = scrub(item)
            if cleaned is not item:
                value[index] = cleaned
    return value


def to_text(markup: str | None) -> str:
    """Visible text of an HTML fragment: no tags, no scripts, entities decoded, spaces tidied."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return _tidy(markup)  # plain text already (most titles): nothing to parse
    text = _strip_once(markup)
    if _LOOKS_LIKE_MARKUP.search(text):
        # Double-escaped HTML ("&lt;p&gt;") decodes to markup on the first pass; a second pass
        # removes it. Two passes at most, so literal text like "a <b> c" can't loop.
        text = _strip_once(text)
    return _tidy(text)


def _strip_once(markup: str) -> str:
    kept = nh3.clean(
        markup,
        tags=BREAKS,
        clean_content_tags=DROPPED_CONTENT,
        attributes={},
        strip_comments=True,
        link_rel=None,
    )
    return _text_of_clean(kept)


def _text_of_clean(cleaned: str) -> str:
    """Text of nh3 output (well-formed: every "<" in it starts a tag)."""
    return html.unescape(_ANY_TAG.sub("", _BREAK_TAG.sub("\n", cleaned)))


def _tidy(text: str) -> str:
    text = _SPACES.sub(" ", text)
    return _BLANK_LINES.sub("\n", text).strip()


def clean_html(markup: str | None, base_url: str | None = None) -> str | None:
    """Sanitised HTML for display, or None when the fragment has no markup worth keeping.

    Relative links are resolved against `base_url` (or dropped without one); only http(s) URLs
    survive, links get rel="noopener noreferrer nofollow".
    """
    if not markup or not _LOOKS_LIKE_MARKUP.search(markup):
        return None
    cleaned = _clean(markup, base_url)
    return cleaned if _LOOKS_LIKE_MARKUP.search(cleaned) else None


def text_and_html(markup: str | None, base_url: str | None = None) -> tuple[str, str | None]:
    """`(to_text(markup), clean_html(markup, base_url))` with one sanitiser pass, not two."""
    if not markup or not _LOOKS_LIKE_MARKUP.search(markup):
        return to_text(markup), None
    cleaned = _clean(markup, base_url)
    text = _text_of_clean(cleaned)
    if _LOOKS_LIKE_MARKUP.search(text):
        text = _strip_once(text)  # escaped markup inside real markup: as in to_text
    kept = cleaned if _LOOKS_LIKE_MARKUP.search(cleaned) else None
    return _tidy(text), kept


def _clean(markup: str, base_url: str | None) -> str:
    relative: tuple[Literal["rewrite_with_base"], str] | Literal["deny"] = "deny"
    if _is_http(base_url):
        relative = ("rewrite_with_base", base_url)
    return nh3.clean(
        markup,
        tags=HTML_TAGS,
        clean_content_tags=DROPPED_CONTENT,
        attributes=HTML_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        url_relative=relative,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()


def _is_http(url: str | None) -> TypeGuard[str]:
    return url is not None and re.match(r"https?://[^/?#\s]+", url, re.IGNORECASE) is not None
