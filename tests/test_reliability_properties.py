"""Property-based tests (hypothesis) of the rules every untrusted feed passes through: URL
normalisation, deduplication keys, date parsing and the scheduling rules.

tests/test_poll_dedupe.py and tests/test_poll_schedule.py hold the poll stage's own properties
(equivalent URL spellings share a key, backoff grows to its ceiling, skipHours...). These add
what holds for *any* input, hostile or garbage: what comes out is safe, well-formed and stable.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from urllib.parse import urlsplit

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aggregator import store
from aggregator.config import Config, Feed, Settings
from aggregator.poll import schedule, stage
from aggregator.poll.dedupe import content_hash, http_url, url_key
from aggregator.poll.parse import parse
from aggregator.timeutil import now_iso
from tests.corpus.checks import plausible_published_at

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
# Text a feed could carry in an element (XML 1.0 forbids most control characters).
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=60)
SCHEMES = st.sampled_from(["javascript", "JaVaScRiPt", "vbscript", "data", "file", "ftp",
                           "mailto", "jar", "view-source", "about", "chrome", "blob"])
JUNK = st.sampled_from(["", " ", "\t", "\n", "\x00", "\x0b", "\u00a0", "%20", "&#x09;"])


# --- URL normalisation -----------------------------------------------------------------------


def is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@given(st.text(max_size=200))
def test_any_text_is_either_refused_or_an_http_url(text):
    url = http_url(text)
    assert url is None or is_http(url)


@given(JUNK, SCHEMES, JUNK, st.text(max_size=40))
def test_dangerous_schemes_never_pass_whatever_the_spelling(before, scheme, inside, rest):
    cut = len(scheme) // 2
    for spelling in (f"{before}{scheme}:{rest}", f"{before}{scheme[:cut]}{inside}{scheme[cut:]}:"
                     f"{rest}"):
        url = http_url(spelling)
        assert url is None or is_http(url), spelling
        url = http_url(spelling, "https://news.example/feed.xml")
        assert url is None or is_http(url), spelling


@given(st.text(max_size=120), st.sampled_from(["https://news.example/world/feed.xml",
                                                "http://[2001:db8::1]:8080/rss", None]))
def test_url_keys_never_fail_and_are_single_tokens(text, base):
    url = http_url(text, base)
    key = url_key(url)
    if key is not None:
        assert url is not None and key == key.strip() and not any(c.isspace() for c in key)
        assert not any(ord(c) < 32 or ord(c) == 127 for c in key)
        scheme = urlsplit(url).scheme.lower()
        assert url_key(f"{scheme}://{key}") == key  # a key is its own normal form


# --- deduplication keys ----------------------------------------------------------------------


@given(XML_TEXT, XML_TEXT)
def test_content_hash_is_a_stable_hex_key(title, text):
    digest = content_hash(title, text)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert content_hash(f"  {title.upper()}\n", f"{text.upper()}  ") == content_hash(
        title.upper(), text.upper())


STORIES = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 6)),  # guid, link, text
    min_size=1, max_size=12,
)


def feed_body(stories: list[tuple[int, int, int]], variant: random.Random | None) -> bytes:
    """An RSS feed; `variant` reorders items and respells each link (tracking parameters, host
    case, default port, fragment), as a feed does from one poll to the next."""
    items = []
    for guid, link, text in stories:
        url = f"https://news.example/story/{link}"
        if variant is not None:
            host = variant.choice(["NEWS.example", "news.example:443", "www.news.example"])
            url = f"https://{host}/story/{link}?utm_source=rss&fbclid={variant.random()}#top"
        items.append(f"<item><guid isPermaLink='false'>g{guid}</guid><link>{escape(url)}</link>"
                     f"<title>Story {text}</title><description>Body {text}.</description></item>")
    if variant is not None:
        variant.shuffle(items)
    return f"<rss version='2.0'><channel><title>t</title>{''.join(items)}</channel></rss>".encode()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(STORIES, st.integers(0, 2**32 - 1))
def test_every_entry_is_stored_once_and_a_respelt_reordered_repoll_adds_nothing(
        server, tmp_path_factory, stories, seed):
    conn = store.connect(tmp_path_factory.mktemp("dedupe") / "news.db")
    url = server.route("/feed.xml", feed_body(stories, None))
    config = Config(feeds=(Feed(url=url, name="news", language="en"),),
                    settings=Settings(allow_private_addresses=True, per_host_interval_s=0.0))
    store.sync_feeds(conn, config.feeds, now_iso())
    stage.run(conn, config, force=True)
    rows = conn.execute("SELECT guid, url_key, content_hash FROM articles").fetchall()
    for column in range(3):  # no two stored articles share any key
        values = [row[column] for row in rows if row[column] is not None]
        assert len(values) == len(set(values))
    for guid, link, text in stories:  # every entry is one of the stored articles
        assert any(row[0] == f"g{guid}" or row[1] == f"news.example/story/{link}"
                   or row[2] == content_hash(f"Story {text}", f"Body {text}.") for row in rows)
    server.route("/feed.xml", feed_body(stories, random.Random(seed)))
    report = stage.run(conn, config, force=True)
    assert report.details["new articles"] == 0
    conn.close()


# --- date parsing ----------------------------------------------------------------------------

MOMENTS = st.datetimes(min_value=datetime(1991, 1, 2), max_value=datetime(2026, 11, 23),
                       timezones=st.just(UTC))
OFFSETS = st.integers(-12 * 4, 14 * 4).map(lambda quarters: timedelta(minutes=15 * quarters))


def published(element: str, value: str, atom: bool = False) -> str | None:
    if atom:
        body = ("<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title><entry><title>Story"
                f"</title><id>urn:x:1</id><{element}>{escape(value)}</{element}></entry></feed>")
    else:
        body = (f"<rss version='2.0'><channel><title>t</title><item><title>Story</title>"
                f"<{element}>{escape(value)}</{element}></item></channel></rss>")
    return parse(body.encode(), url="https://news.example/feed", now=NOW).entries[0].published_at


def to_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@given(MOMENTS, OFFSETS)
def test_rfc822_and_rfc3339_dates_in_any_zone_are_stored_as_the_same_utc_instant(moment, off):
    moment = moment.replace(microsecond=0)
    local = moment.astimezone(timezone(off))
    assert published("pubDate", format_datetime(local)) == to_z(moment)
    assert published("updated", local.isoformat(), atom=True) == to_z(moment)


@given(XML_TEXT)
def test_any_date_text_is_stored_as_a_plausible_utc_time_or_not_at_all(text):
    for element, atom in (("pubDate", False), ("updated", True)):
        assert plausible_published_at(published(element, text, atom), NOW), text


@given(st.integers(1991, 2026), st.integers(1, 12), st.integers(1, 40), st.integers(0, 30),
       st.integers(0, 70), st.integers(0, 70), st.integers(0, 30))
def test_impossible_iso_dates_are_not_stored(year, month, day, hour, minute, second, zone):
    try:
        datetime(year, month, day, hour, minute, second)
        assume(zone > 14)  # only an impossible offset left
    except ValueError:
        pass
    value = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}+{zone:02d}:00"
    assert published("updated", value, atom=True) is None


# --- scheduling rules ------------------------------------------------------------------------

HEADER = st.one_of(st.none(), XML_TEXT, st.integers(-10**12, 10**12).map(str),
                   MOMENTS.map(format_datetime))


@given(HEADER, HEADER, HEADER, st.none() | st.integers(0, 10**9), st.integers(60, 7 * 86400),
       st.integers(1, 40), st.frozensets(st.integers(0, 23)), st.frozensets(st.integers(0, 6)))
def test_whatever_a_server_says_the_next_poll_is_in_the_future_and_within_bounds(
        cache_control, expires, retry, ttl, interval, errors, hours, days):
    hints = schedule.Hints(
        ttl_minutes=ttl or None,
        max_age_s=schedule.max_age(cache_control),
        expires=schedule.http_date(expires),
        retry_after=schedule.retry_after(retry, NOW),
        skip_hours=hours,
        skip_days=days,
    )
    week = timedelta(days=7)
    ok = schedule.after_success(NOW, interval, hints)
    assert NOW < ok <= NOW + max(timedelta(seconds=interval), schedule.MAX_HINT) + week
    plan = schedule.after_error(NOW, errors, interval, 6 * 3600, 10, hints)
    ceiling = max(timedelta(seconds=max(interval, 6 * 3600)), schedule.MAX_HINT,
                  schedule.DEAD_CHECK_EVERY)
    assert NOW < plan.next_poll_at <= NOW + ceiling + week
    assert plan.state in ("backoff", "dead") and plan.error_count == errors
