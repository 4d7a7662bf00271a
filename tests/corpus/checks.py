"""Checks on what the poller stored, shared by the reliability tests.

`script_hazards` reads stored text as a browser would read it if a template ever rendered it
unescaped, and lists anything that could run script or load active content.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

# Elements that run script, load active content, or change how the page or its links behave.
ACTIVE_TAGS = frozenset({
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math", "style",
    "link", "meta", "base", "form", "button", "input", "textarea", "select", "template",
    "noscript", "portal", "xml", "import",
})  # fmt: skip
URL_ATTRIBUTES = frozenset({
    "href", "src", "action", "formaction", "xlink:href", "data", "background", "poster",
    "srcset", "dynsrc", "lowsrc", "codebase", "cite", "longdesc", "usemap", "ping", "manifest",
})  # fmt: skip
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
# Browsers ignore these inside a URL scheme ("jav\tascript:" is javascript:).
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]")


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hazards: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ACTIVE_TAGS:
            self.hazards.append(f"<{tag}> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.hazards.append(f"{name} handler on <{tag}>")
            elif name in ("style", "srcdoc"):
                self.hazards.append(f"{name} attribute on <{tag}>")
            elif name in URL_ATTRIBUTES and value is not None and not safe_url(value):
                self.hazards.append(f"{name}={value[:40]!r} on <{tag}>")

    handle_startendtag = handle_starttag


def safe_url(value: str) -> bool:
    """True for http(s) URLs and relative references; false for javascript:, data: and kin."""
    cleaned = _IGNORED_IN_SCHEME.sub("", value).lower()
    scheme = cleaned.split(":", 1)[0] if ":" in cleaned.split("/", 1)[0] else ""
    return scheme in ("", "http", "https")


def script_hazards(text: str | None) -> list[str]:
    """What in `text` could run script if it were inserted into a page as HTML."""
    if not text:
        return []
    scanner = _Scanner()
    scanner.feed(text)
    scanner.close()
    return scanner.hazards


def is_http_url(url: str | None) -> bool:
    if url is None:
        return True
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def plausible_published_at(value: str | None, now: datetime) -> bool:
    """NULL, or ISO 8601 UTC with a Z between the web's birth and two days from now."""
    if value is None:
        return True
    if not ISO_Z.match(value):
        return False
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return datetime(1991, 1, 1, tzinfo=UTC) <= moment <= now + timedelta(days=2)


def article_problems(conn: sqlite3.Connection, now: datetime) -> list[str]:
    """Every stored article checked for script, non-http URLs, implausible dates, duplicates."""
    problems = []
    for row in conn.execute(
        "SELECT id, feed_id, title, summary, summary_html, author, url, published_at FROM articles"
    ):
        where = f"article {row['id']} (feed {row['feed_id']})"
        for column in ("title", "summary", "summary_html", "author"):
            problems += [f"{where} {column}: {h}" for h in script_hazards(row[column])]
        if not is_http_url(row["url"]):
            problems.append(f"{where} url is not http(s): {row['url']!r}")
        if not plausible_published_at(row["published_at"], now):
            problems.append(f"{where} published_at implausible: {row['published_at']!r}")
    duplicates = conn.execute(
        "SELECT feed_id, guid, count(*) FROM articles WHERE guid IS NOT NULL "
        "GROUP BY feed_id, guid HAVING count(*) > 1"
    ).fetchall()
    problems += [f"duplicate guid {tuple(row)}" for row in duplicates]
    return problems


class _PageScanner(HTMLParser):
    """Finds feed payloads (they all call alert() or set __xss) in an executable place."""

    MARKERS = ("alert(", "__xss", "msgbox(")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_script = tag == "script"
        if tag in ("iframe", "frame", "object", "embed", "applet", "base"):
            self.found.append(f"<{tag}> element")
        for name, value in attrs:
            value = value or ""
            handler = name.startswith("on") and any(m in value for m in self.MARKERS)
            if handler or (name in URL_ATTRIBUTES and not safe_url(value)):
                self.found.append(f"{name}={value[:40]!r} on <{tag}>")
            elif tag == "meta" and name == "http-equiv" and value.lower() == "refresh":
                self.found.append("<meta http-equiv=refresh>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script and any(marker in data for marker in self.MARKERS):
            self.found.append(f"script runs {data.strip()[:60]!r}")


def executable_payloads(page: str) -> list[str]:
    """Feed payloads a browser would execute in a rendered page (a page's own scripts are
    fine; a script, handler or javascript: URL carrying a payload marker is not)."""
    scanner = _PageScanner()
    scanner.feed(page)
    scanner.close()
    return scanner.found
