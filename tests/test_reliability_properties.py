"""Property-based tests (hypothesis) of the rules every untrusted feed passes through: URL
normalisation, deduplication keys, date parsing and the scheduling rules.

tests/test_poll_dedupe.py and tests/test_poll_schedule.py hold the poll stage's own properties
(equivalent URL spellings share a key, backoff grows to its ceiling, skipHours...). These add
what holds for *any* input, hostile or garbage: what comes out is safe, well-formed and stable.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from urllib.parse import urlsplit

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from aggregator import store
from aggregator.config import Config, Feed, Settings
from aggregator.poll import schedule, stage
from aggregator.poll.dedupe import content_hash, http_url, url_key
from aggregator.poll.parse import ParsedFeed, parse
from aggregator.timeutil import now_iso
from tests.corpus.checks import plausible_published_at

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
# Text a feed could carry in an element (XML 1.0 forbids most control characters).
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=60)
SCHEMES = st.sampled_from(
    [
        "javascript",
        "JaVaScRiPt",
        "vbscript",
        "data",
        "file",
        "ftp",
        "mailto",
        "jar",
        "view-source",
        "about",
        "chrome",
        "blob",
    ]
)
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
    for spelling in (
        f"{before}{scheme}:{rest}",
        f"{before}{scheme[:cut]}{inside}{scheme[cut:]}:{rest}",
    ):
        url = http_url(spelling)
        assert url is None or is_http(url), spelling
        url = http_url(spelling, "https://news.example/feed.xml")
        assert url is None or is_http(url), spelling


@given(
    st.text(max_size=120),
    st.sampled_from(["https://news.example/world/feed.xml", "http://[2001:db8::1]:8080/rss", None]),
)
@example("//\x850", "https://news.example/world/feed.xml")  # NEL in a host (found in CI)
@example("//a\u3000b/", "https://news.example/world/feed.xml")  # ideographic space
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
    assert re.fullmatch("[0-9a-f]{64}", digest), digest  # lower-case hex, 256 bits
    assert content_hash(title, text) == digest  # stable: the same input, the same key
    assert content_hash(f"  {title.upper()}\n", f"{text.upper()}  ") == content_hash(
        title.upper(), text.upper()
    )


STORIES = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 6)),  # guid, link, text
    min_size=1,
    max_size=12,
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
        items.append(
            f"<item><guid isPermaLink='false'>g{guid}</guid><link>{escape(url)}</link>"
            f"<title>Story {text}</title><description>Body {text}.</description></item>"
        )
    if variant is not None:
        variant.shuffle(items)
    return f"<rss version='2.0'><channel><title>t</title>{''.join(items)}</channel></rss>".encode()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(STORIES, st.integers(0, 2**32 - 1))
def test_every_entry_is_stored_once_and_a_respelt_reordered_repoll_adds_nothing(
    server, tmp_path_factory, stories, seed
):
    conn = store.connect(tmp_path_factory.mktemp("dedupe") / "news.db")
    url = server.route("/feed.xml", feed_body(stories, None))
    config = Config(
        feeds=(Feed(url=url, name="news", language="en"),),
        settings=Settings(allow_private_addresses=True, per_host_interval_s=0.0),
    )
    store.sync_feeds(conn, config.feeds, now_iso())
    stage.run(conn, config, force=True)
    rows = conn.execute("SELECT guid, url_key, content_hash FROM articles").fetchall()
    for column in range(3):  # no two stored articles share any key
        values = [row[column] for row in rows if row[column] is not None]
        assert len(values) == len(set(values))
    for guid, link, text in stories:  # every entry is one of the stored articles
        assert any(
            row[0] == f"g{guid}"
            or row[1] == f"news.example/story/{link}"
            or row[2] == content_hash(f"Story {text}", f"Body {text}.")
            for row in rows
        )
    server.route("/feed.xml", feed_body(stories, random.Random(seed)))
    report = stage.run(conn, config, force=True)
    assert report.details["new articles"] == 0
    conn.close()


# --- date parsing ----------------------------------------------------------------------------

MOMENTS = st.datetimes(
    min_value=datetime(1991, 1, 2), max_value=datetime(2026, 11, 23), timezones=st.just(UTC)
)
OFFSETS = st.integers(-12 * 4, 14 * 4).map(lambda quarters: timedelta(minutes=15 * quarters))


def published(element: str, value: str, atom: bool = False) -> str | None:
    if atom:
        body = (
            "<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title><entry><title>Story"
            f"</title><id>urn:x:1</id><{element}>{escape(value)}</{element}></entry></feed>"
        )
    else:
        body = (
            f"<rss version='2.0'><channel><title>t</title><item><title>Story</title>"
            f"<{element}>{escape(value)}</{element}></item></channel></rss>"
        )
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


@given(
    st.integers(1991, 2026),
    st.integers(1, 12),
    st.integers(1, 40),
    st.integers(0, 30),
    st.integers(0, 70),
    st.integers(0, 70),
    st.integers(0, 30),
)
def test_impossible_iso_dates_are_not_stored(year, month, day, hour, minute, second, zone):
    try:
        datetime(year, month, day, hour, minute, second)
        assume(zone > 14)  # only an impossible offset left
    except ValueError:
        pass
    value = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}+{zone:02d}:00"
    assert published("updated", value, atom=True) is None


# --- scheduling rules ------------------------------------------------------------------------

HEADER = st.one_of(
    st.none(), XML_TEXT, st.integers(-(10**12), 10**12).map(str), MOMENTS.map(format_datetime)
)


@given(
    HEADER,
    HEADER,
    HEADER,
    st.none() | st.integers(0, 10**9),
    st.integers(60, 7 * 86400),
    st.integers(1, 40),
    st.frozensets(st.integers(0, 23)),
    st.frozensets(st.integers(0, 6)),
)
def test_whatever_a_server_says_the_next_poll_is_in_the_future_and_within_bounds(
    cache_control, expires, retry, ttl, interval, errors, hours, days
):
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
    ceiling = max(
        timedelta(seconds=max(interval, 6 * 3600)), schedule.MAX_HINT, schedule.DEAD_CHECK_EVERY
    )
    assert NOW < plan.next_poll_at <= NOW + ceiling + week
    assert plan.state in ("backoff", "dead") and plan.error_count == errors


# --- any Unicode, any integer (issue 10: one feed's header or element used to abort the poll) --

# All of Unicode, surrogates included, with the characters that broke parsing made frequent:
# superscript and other non-ASCII digits (str.isdigit() is true for "²", int() refuses it; int()
# takes "٣"), signs, underscores, and the separators headers use.
TRICKY = st.sampled_from(
    [
        "\ud800",
        "\udfff",
        "\u00b2",
        "\u00b3",
        "\u00b9",
        "\u0663",
        "\u07c1",
        "\uff10",
        "\U0001d7d8",
        "\u216b",
        "\u00bd",
        "-",
        "+",
        "_",
        " ",
        ",",
        "=",
        '"',
        "0",
        "9",
        "\x00",
    ]
)
# st.text() never yields a surrogate, whatever its alphabet: characters are joined by hand.
ANY_CHAR = st.characters() | st.characters(categories=["Cs"]) | TRICKY
ANY_TEXT = st.lists(ANY_CHAR, max_size=40).map("".join)
ANY_INT = st.integers()  # unbounded: hypothesis draws past 2**64 and negatives
# An integer written out in ASCII, in another script's digits, or as thousands of nines.
DIGIT_SCRIPTS = {
    "ascii": "0123456789",
    "arabic-indic": "٠١٢٣٤٥٦٧٨٩",
    "fullwidth": "０１２３４５６７８９",
    "superscript": "⁰¹²³⁴⁵⁶⁷⁸⁹",
}
NUMERALS = st.one_of(
    st.tuples(st.integers(min_value=0), st.sampled_from(sorted(DIGIT_SCRIPTS))).map(
        lambda pair: (
            pair[1],
            str(pair[0]).translate(str.maketrans("0123456789", DIGIT_SCRIPTS[pair[1]])),
        )
    ),
    st.integers(1, 6000).map(lambda n: ("ascii", "9" * n)),
)
ANY_MOMENT = st.datetimes(timezones=st.just(UTC))  # datetime.min to datetime.max
DAY_S = int(schedule.MAX_HINT.total_seconds())


def header_values() -> st.SearchStrategy[str]:
    return st.one_of(
        ANY_TEXT,
        NUMERALS.map(lambda pair: pair[1]),
        st.builds(lambda a, b: a + b, ANY_TEXT, NUMERALS.map(lambda p: p[1])),
        ANY_INT.map(str),
    )


@given(header_values())
def test_header_parsers_take_any_text_and_return_a_value_or_none(value):
    age = schedule.max_age(value)
    assert age is None or 0 <= age <= DAY_S
    for prefixed in ("max-age=" + value, 'public, max-age="' + value):
        age = schedule.max_age(prefixed)
        assert age is None or 0 <= age <= DAY_S
    retry = schedule.retry_after(value, NOW)
    assert retry is None or retry.tzinfo is not None
    moment = schedule.http_date(value)
    assert moment is None or moment.utcoffset() == timedelta(0)
    assert schedule.skip_hours([value, " " + value]) <= frozenset(range(24))
    assert schedule.skip_days([value]) <= frozenset(range(7))


@given(NUMERALS)
def test_numbers_in_headers_count_only_in_ascii_digits_and_are_capped(numeral):
    script, text = numeral
    number = int(text) if script == "ascii" and len(text) < 4000 else None
    expected = None if script != "ascii" else min(number, DAY_S) if number is not None else DAY_S
    assert schedule.max_age(f"max-age={text}") == expected
    retry = schedule.retry_after(text, NOW)
    assert retry == (None if expected is None else NOW + timedelta(seconds=expected))
    hours = schedule.skip_hours([text])
    assert hours == (
        frozenset({number % 24}) if number is not None and number <= 24 else frozenset()
    )


@given(ANY_MOMENT, header_values())
def test_any_date_header_parses_to_a_utc_moment_or_none(now, value):
    for text in (value, f"Fri, 31 Dec 9999 23:00:00 {value}", f"Mon, 01 Jan 0001 00:00:00 {value}"):
        moment = schedule.http_date(text)
        assert moment is None or moment.utcoffset() == timedelta(0)
    retry = schedule.retry_after(value, now.replace(year=min(now.year, 9998)))
    assert retry is None or retry.tzinfo is not None


WEEK = timedelta(days=7)


@given(
    MOMENTS,
    ANY_INT,
    st.none() | ANY_INT,
    st.none() | ANY_INT,
    st.none() | ANY_MOMENT,
    st.none() | ANY_MOMENT,
    st.frozensets(st.integers(0, 23)),
    st.frozensets(st.integers(0, 6)),
    ANY_INT,
    ANY_INT,
    ANY_INT,
)
def test_schedules_from_numbers_of_any_size_stay_within_bounds(
    now, interval, ttl, age, expires, retry, hours, days, errors, ceiling, dead_after
):
    hints = schedule.Hints(
        ttl_minutes=ttl,
        max_age_s=age,
        expires=expires,
        retry_after=retry,
        skip_hours=hours,
        skip_days=days,
    )
    ok = schedule.after_success(now, interval, hints)
    assert now <= ok <= now + schedule.MAX_WAIT + WEEK
    assert timedelta(0) <= schedule.backoff_delay(errors, interval, ceiling) <= schedule.MAX_WAIT
    plan = schedule.after_error(now, errors, interval, ceiling, dead_after, hints)
    assert now <= plan.next_poll_at <= now + schedule.MAX_WAIT + WEEK
    assert plan.state in ("backoff", "dead") and plan.error_count == errors


def rss_with(title: str = "Story", channel: str = "", extra: str = "") -> bytes:
    return (
        f"<rss version='2.0'><channel><title>t</title><language>en</language>{channel}"
        f"<item><title>{title}</title><link>https://news.example/1</link>{extra}</item>"
        "</channel></rss>"
    ).encode()


def storable(parsed: ParsedFeed) -> None:
    """Every text a parsed feed would store encodes as UTF-8 (what SQLite needs)."""
    texts = [parsed.title, parsed.problem]
    for entry in parsed.entries:
        texts += [
            entry.guid,
            entry.url,
            entry.title,
            entry.summary,
            entry.summary_html,
            entry.author,
            entry.published_at,
        ]
    for text in texts:
        if text is not None:
            text.encode("utf-8")


@given(ANY_INT, st.booleans())
def test_a_character_reference_to_any_number_parses_to_valid_text(number, hexadecimal):
    reference = f"&#x{number:x};" if hexadecimal else f"&#{number};"
    if number < 0:
        reference = reference.replace("-", "")  # "&#-5;" is no reference: its number then
    parsed = parse(
        rss_with(f"A {reference} B", extra=f"<author>{reference}</author>"),
        url="https://news.example/feed",
        now=NOW,
    )
    storable(parsed)


@given(ANY_TEXT, ANY_TEXT)
def test_json_feed_text_and_dates_of_any_unicode_parse_to_valid_text(title, date):
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": title,
            "items": [
                {
                    "id": title or "1",
                    "url": "https://news.example/1",
                    "title": title + "x",
                    "summary": title,
                    "date_published": date,
                    "authors": [{"name": title}],
                }
            ],
        }
    ).encode()
    parsed = parse(body, url="https://news.example/feed", config_language="en", now=NOW)
    storable(parsed)
    assert plausible_published_at(parsed.entries[0].published_at, NOW)


@given(header_values())
def test_any_ttl_or_skip_hour_text_gives_a_bounded_schedule(value):
    text = escape(
        value.encode("utf-8", "replace").decode("utf-8").translate({c: None for c in range(32)})
    )  # what XML can carry
    parsed = parse(
        rss_with(channel=f"<ttl>{text}</ttl><skipHours><hour>{text}</hour></skipHours>"),
        url="https://news.example/feed",
        now=NOW,
    )
    assert parsed.ttl_minutes is None or 1 <= parsed.ttl_minutes <= DAY_S // 60
    assert parsed.skip_hours <= frozenset(range(24))
