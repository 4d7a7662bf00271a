"""Feed bytes → normalised entries (feedparser does the XML, encodings and date formats;
aggregator/poll/jsonfeed.py does JSON Feed).

Everything an entry says is untrusted: text is sanitised, links must be http(s), dates must be
plausible, and languages are normalised to ISO 639-1 with how they were obtained.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.sax import SAXParseException

import defusedxml.ElementTree as SafeXML
import feedparser
from defusedxml import DefusedXmlException

from aggregator import language, sanitize
from aggregator.poll import dedupe, jsonfeed, schedule
from aggregator.timeutil import to_iso

# A character reference that could name no character: a surrogate, or past U+10FFFF. Only refs
# of 4+ hex or 5+ decimal digits can be one, so the common ones (&#8217;) never reach _char_ref.
_SUSPECT_CHAR_REF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{4,})|0*([0-9]{5,}));")
# <ttl> and Cache-Control beyond this would be capped by schedule.after_success anyway.
MAX_TTL_MINUTES = int(schedule.MAX_HINT.total_seconds()) // 60
EARLIEST = datetime(1991, 1, 1, tzinfo=UTC)  # before the web: a generator's zero date, not news
FUTURE_SLACK = timedelta(days=2)


class NotAFeed(Exception):
    """The body is not a feed at all (an HTML page, an empty or broken document)."""


@dataclass(frozen=True, slots=True)  # slots: a feed's 60,000 entries take 22 MB, not 28 MB
class Entry:
    guid: str | None
    url: str | None
    url_key: str | None
    content_hash: str
    title: str | None
    summary: str | None
    summary_html: str | None
    author: str | None
    language: str | None
    language_source: str  # 'config', 'entry', 'feed', 'detected' or 'undetermined'
    published_at: str | None


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    language: str | None  # what the feed itself declares (normalised)
    entries: list[Entry]
    problem: str | None  # what was wrong with a feed whose entries were still kept
    ttl_minutes: int | None
    skip_hours: frozenset[int]
    skip_days: frozenset[int]


def parse(
    body: bytes,
    *,
    url: str,
    headers: dict[str, str] | None = None,
    config_language: str | None = None,
    now: datetime,
) -> ParsedFeed:
    """Parse a fetched body. Charset comes from the HTTP Content-Type and the XML declaration,
    as feedparser resolves them. Raise NotAFeed when nothing usable is in it."""
    # Content-Type (charset) only: no base URL, so feedparser leaves relative links and GUIDs as
    # written; links are resolved against `url` here, and a GUID never turns into a fake link.
    content_type = {k.lower(): v for k, v in (headers or {}).items() if k.lower() == "content-type"}
    if jsonfeed.looks_like_json(body, content_type.get("content-type", "")):
        document = jsonfeed.load(body)
        if document is not None:
            fields = jsonfeed.feed_fields(document)
            return _feed(
                fields["title"],
                fields["language"],
                jsonfeed.entries(document),
                url,
                config_language,
                now,
            )
        if "json" in content_type.get("content-type", "").lower():
            raise NotAFeed("not a feed: JSON, but not a JSON Feed")
    body = _valid_char_refs(body)
    parsed = feedparser.parse(
        body,
        response_headers=content_type or {"content-type": "application/xml"},
        # nh3 sanitises and resolves links below; feedparser's own passes would double the time
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    problem = _problem(parsed)
    if not parsed.entries and (problem or not parsed.get("version")):
        raise NotAFeed(f"not a feed: {problem or 'no feed elements found'}")
    hours, days = _skips(body)
    return _feed(
        parsed.feed.get("title"),
        parsed.feed.get("language"),
        parsed.entries,
        url,
        config_language,
        now,
        problem=problem,
        ttl_minutes=_ttl(parsed.feed.get("ttl")),
        skip_hours=hours,
        skip_days=days,
    )


def _feed(
    title: Any,
    declared_language: Any,
    raw_entries: list,
    url: str,
    config_language: str | None,
    now: datetime,
    *,
    problem: str | None = None,
    ttl_minutes: int | None = None,
    skip_hours: frozenset[int] = frozenset(),
    skip_days: frozenset[int] = frozenset(),
) -> ParsedFeed:
    """Normalise a feed's entries (feedparser's, or JSON Feed's in the same shape)."""
    # Valid Unicode first: every later step (hashing, nh3, lingua, SQLite) encodes to UTF-8.
    title, declared_language = sanitize.scrub(title), sanitize.scrub(declared_language)
    feed_language = language.normalise(declared_language)
    entries = []
    for raw in sanitize.scrub(raw_entries):
        entry = _entry(raw, url, config_language, feed_language, now)
        if entry is not None:
            entries.append(entry)
    return ParsedFeed(
        title=sanitize.to_text(title) or None,
        language=feed_language,
        entries=entries,
        problem=problem,
        ttl_minutes=ttl_minutes,
        skip_hours=skip_hours,
        skip_days=skip_days,
    )


def parse_or_reason(body: bytes, **options: Any) -> ParsedFeed | NotAFeed:
    """`parse`, returning NotAFeed instead of raising it (for a worker process to send back)."""
    try:
        return parse(body, **options)
    except NotAFeed as exc:
        return exc


def _problem(parsed: Any) -> str | None:
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    if isinstance(exc, SAXParseException):
        return f"malformed XML: {exc.getMessage()} at line {exc.getLineNumber()}"
    if isinstance(exc, feedparser.CharacterEncodingOverride):
        return f"declared encoding was wrong, read as {parsed.get('encoding')}"
    return str(exc) if exc else "malformed feed"


def _entry(
    raw: Any, base: str, config_language: str | None, feed_language: str | None, now: datetime
) -> Entry | None:
    title = " ".join(sanitize.to_text(raw.get("title")).split()) or None  # a title is one line
    summary_text, summary_html = sanitize.text_and_html(_summary_markup(raw), base)
    summary = summary_text or None
    url = _link(raw, base)
    if not (title or summary or url):
        return None  # nothing a reader could see or follow
    lang, source = _language(raw, title, summary, config_language, feed_language)
    guid = (raw.get("id") or "").strip() or None
    key = dedupe.url_key(url)
    return Entry(
        guid=guid,
        url=url,
        url_key=key,
        content_hash=dedupe.content_hash(title, summary or key),
        title=title,
        summary=summary,
        summary_html=summary_html,
        author=sanitize.to_text(raw.get("author")) or None,
        language=lang,
        language_source=source,
        published_at=_published(raw, now),
    )


def _summary_markup(raw: Any) -> str | None:
    """The entry's summary, else its first content block (feeds that only send full text)."""
    if raw.get("summary"):
        return raw["summary"]
    for content in raw.get("content") or []:
        if content.get("value"):
            return content["value"]
    return None


def _link(raw: Any, base: str) -> str | None:
    """The entry's http(s) link. A link feedparser derived from the GUID counts only when it is
    already absolute: a relative Atom id is not a page."""
    for link in raw.get("links") or []:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return dedupe.http_url(link["href"], base)
    return dedupe.http_url(raw.get("link"))


def _language(
    raw: Any,
    title: str | None,
    summary: str | None,
    config_language: str | None,
    feed_language: str | None,
) -> tuple[str | None, str]:
    """feeds.yaml wins, then what the entry itself declares, then the feed, then detection."""
    if config_language:
        return config_language, "config"
    declared = _entry_language(raw)
    if declared and declared != feed_language:
        return declared, "entry"
    if feed_language:
        return feed_language, "feed"
    if declared:
        return declared, "entry"
    detected = language.detect(" ".join(part for part in (title, summary) if part))
    return (detected, "detected") if detected else (None, "undetermined")


def _entry_language(raw: Any) -> str | None:
    """dc:language on the item, or xml:lang on the entry's title or summary."""
    for value in (
        raw.get("language"),
        (raw.get("title_detail") or {}).get("language"),
        (raw.get("summary_detail") or {}).get("language"),
    ):
        code = language.normalise(value)
        if code:
            return code
    return None


def _published(raw: Any, now: datetime) -> str | None:
    """Published (else updated) time as ISO UTC; None when missing or implausible."""
    for key in ("published_parsed", "updated_parsed"):
        # dict.get: FeedParserDict.get maps a missing key to the other one, with a warning.
        parsed: time.struct_time | None = dict.get(raw, key)
        if parsed is None or not _possible_iso_fields(dict.get(raw, key.removesuffix("_parsed"))):
            continue
        try:
            moment = datetime(*parsed[:6], tzinfo=UTC)
        except (ValueError, TypeError, OverflowError):
            continue
        if EARLIEST <= moment <= now + FUTURE_SLACK:
            return to_iso(moment)
    return None


ISO_DATE = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2}))?)?")
ISO_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})\s*$")


def _possible_iso_fields(text: Any) -> bool:
    """False for an ISO 8601 date whose fields cannot exist (day 31 of February, hour 25, an
    offset beyond +-14 h): feedparser rolls those over into a made-up moment."""
    match = ISO_DATE.match(text) if isinstance(text, str) else None
    if match is None:
        return True
    year, month, day, hour, minute, second = (int(value or 0) for value in match.groups())
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    offset = ISO_OFFSET.search(text[match.end() :])
    return offset is None or (int(offset[2]) <= 14 and int(offset[3]) < 60)


def _ttl(value: Any) -> int | None:
    """<ttl> minutes: ASCII digits, capped at MAX_TTL_MINUTES (it is stored as an integer)."""
    if not isinstance(value, str):
        return None
    return schedule.bounded_int(value.strip(), MAX_TTL_MINUTES) or None


def _valid_char_refs(body: bytes) -> bytes:
    """The body with character references to no character (&#xD800;, &#x110000;) as &#xFFFD;.

    Expat refuses them (so the feed falls to feedparser's loose parser), and the loose parser
    raises on them (chr() of a surrogate cannot be encoded). Only ASCII-compatible encodings
    are covered: in UTF-16 the reference is other bytes, and the stage records the failure."""
    if b"&#" not in body:
        return body
    return _SUSPECT_CHAR_REF.sub(_char_ref, body)


def _char_ref(match: re.Match[bytes]) -> bytes:
    hex_digits, decimal = match.groups()
    digits = hex_digits or decimal
    if len(digits) > 8:
        return b"&#xFFFD;"
    code = int(digits, 16 if hex_digits else 10)
    return b"&#xFFFD;" if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else match.group(0)


def _skips(body: bytes) -> tuple[frozenset[int], frozenset[int]]:
    """<skipHours>/<skipDays> (RSS 2.0), which feedparser does not expose. Parsed with defusedxml:
    no DTD entities, no external resources. A body that isn't well-formed XML has none."""
    if b"skipHours" not in body and b"skipDays" not in body:
        return frozenset(), frozenset()
    try:
        root = SafeXML.fromstring(body)
    except (ParseError, DefusedXmlException, ValueError, LookupError):
        return frozenset(), frozenset()
    hours: list[str] = []
    days: list[str] = []
    for element in root.iter():
        name = _local(element.tag)
        if name in ("skipHours", "skipDays"):
            values = [child.text or "" for child in element if _local(child.tag) in ("hour", "day")]
            (hours if name == "skipHours" else days).extend(values)
    return schedule.skip_hours(hours), schedule.skip_days(days)


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
