"""JSON Feed (https://jsonfeed.org, versions 1 and 1.1) → the shape feedparser gives RSS and
Atom, so one normalisation (aggregator/poll/parse.py) serves every format.

Everything in the document is untrusted: a value of the wrong type (a number where a string
belongs, an object where a list belongs) is ignored rather than trusted, ids may be numbers,
and `content_text` is escaped so it is never read as markup.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

from aggregator.sanitize import valid_text

VERSION_PREFIX = "https://jsonfeed.org/version/"


def looks_like_json(body: bytes, content_type: str) -> bool:
    return "json" in content_type.lower() or body.lstrip()[:1] == b"{"


def load(body: bytes) -> dict | None:
    """The JSON Feed document in `body`, or None when it is JSON of another kind (or not
    JSON at all)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    version = document.get("version")
    if not isinstance(version, str) or not version.startswith(VERSION_PREFIX):
        return None
    return document


def feed_fields(document: dict) -> dict:
    """The feed's own title and language (either may be None)."""
    return {"title": _text(document.get("title")), "language": _text(document.get("language"))}


def entries(document: dict) -> list[dict]:
    """Each item as a feedparser-style entry dict."""
    items = document.get("items")
    if not isinstance(items, list):
        return []
    return [_entry(item) for item in items if isinstance(item, dict)]


def _entry(item: dict) -> dict:
    identifier = item.get("id")
    if isinstance(identifier, bool) or not isinstance(identifier, str | int | float):
        identifier = None
    content = _text(item.get("content_html"))
    text = _text(item.get("content_text"))
    if content is None and text is not None:
        content = html.escape(text)
    summary = _text(item.get("summary"))
    entry: dict[str, Any] = {
        "id": valid_text(str(identifier)) if identifier is not None else None,
        "title": _text(item.get("title")),
        "link": _text(item.get("url")) or _text(item.get("external_url")),
        "summary": html.escape(summary) if summary else None,
        "content": [{"value": content}] if content else [],
        "author": _author(item),
        "language": _text(item.get("language")),
    }
    for key, name in (("published", "date_published"), ("updated", "date_modified")):
        entry[key] = _text(item.get(name))
        entry[f"{key}_parsed"] = _moment(entry[key])
    return entry


def _author(item: dict) -> str | None:
    authors = item.get("authors")
    if not isinstance(authors, list):
        authors = [item.get("author")]  # JSON Feed 1
    for author in authors:
        name = _text(author.get("name")) if isinstance(author, dict) else None
        if name:
            return name
    return None


def _moment(text: str | None):
    """An RFC 3339 date as a UTC struct_time (one without an offset is taken as UTC, as
    feedparser takes an ISO 8601 date without one), or None."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).timetuple()
    except (OverflowError, ValueError):
        return None


def _text(value: Any) -> str | None:
    """A string value (lone surrogates, which JSON's "\\ud800" escapes can make, as U+FFFD)."""
    return valid_text(value) if isinstance(value, str) and value.strip() else None
