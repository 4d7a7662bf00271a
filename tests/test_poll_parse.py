"""Feed bytes → normalised entries: charsets, broken XML, hostile HTML, dates, languages."""

from datetime import UTC, datetime

import pytest

from aggregator.poll.parse import NotAFeed, parse
from tests.poll_helpers import fixture, item, rss

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def parse_bytes(body, url="https://news.example/feed.xml", **kw):
    return parse(body, url=url, now=kw.pop("now", NOW), **kw)


def test_windows_1251_declared_in_the_xml_is_decoded():
    feed = parse_bytes(fixture("windows-1251.xml"), headers={"Content-Type": "application/xml"})
    assert feed.title == "Невский обозреватель"
    assert [e.title for e in feed.entries] == [
        "Мост через Неву закроют на ремонт",
        "В Эрмитаже открылась выставка «Шёлковый путь»",
    ]
    assert feed.problem is None


def test_charset_from_http_header_wins_when_the_xml_declares_none():
    body = rss(item(1), encoding="utf-8").replace(b' encoding="utf-8"', b"")
    body = body.replace(b"Story number 1", "Новость дня".encode("cp1251"))
    feed = parse_bytes(body, headers={"Content-Type": "application/rss+xml; charset=windows-1251"})
    assert feed.entries[0].title == "Новость дня"


def test_iso_8859_1_and_escaped_html_summary():
    feed = parse_bytes(fixture("iso-8859-1.xml"))
    entry = feed.entries[0]
    assert feed.title == "Le Courrier de l'Été"
    assert entry.title == "Fête de la musique : élèves et professeurs sur scène"
    assert entry.summary == "Les élèves du conservatoire ont joué place de l'Hôtel-de-Ville."
    assert entry.published_at == "2026-11-21T17:00:00Z"  # +0100 normalised to UTC


def test_malformed_xml_keeps_the_entries_it_can_and_names_the_problem():
    feed = parse_bytes(fixture("malformed.xml"))
    assert feed.problem and feed.problem.startswith("malformed XML")
    assert [e.title for e in feed.entries][:1] == ["First story survives"]


@pytest.mark.parametrize(
    "body",
    [b"<html><head><title>Not found</title></head><body>Sorry</body></html>", b"", b"\x00\x01junk"],
)
def test_a_body_that_is_not_a_feed_raises(body):
    with pytest.raises(NotAFeed, match="not a feed"):
        parse_bytes(body, headers={"Content-Type": "text/html"})


def test_an_empty_but_valid_feed_has_no_entries_and_no_problem():
    feed = parse_bytes(rss(), headers={"Content-Type": "application/rss+xml"})
    assert feed.entries == [] and feed.problem is None


def test_scripts_and_event_handlers_never_survive():
    feed = parse_bytes(fixture("scripts.xml"))
    first, double = feed.entries
    for text in (first.title, first.summary, double.summary):
        assert "<" not in text and ">" not in text
        assert "alert" not in text
    assert first.title == "Council approves budget"
    assert first.summary == "The council approved the budget.\nmoredetails"
    html = first.summary_html
    for bad in ("script", "onclick", "onerror", "javascript:", "iframe", "style", "evil"):
        assert bad not in html
    assert '<img src="https://cdn.example/a.png">' in html
    assert 'href="https://news.example/budget"' in html  # relative link resolved to the feed
    assert first.url is None  # javascript: link is not stored
    assert double.summary == "Tags escaped twice still text"
    assert double.summary_html is None


def test_atom_languages_links_and_dates():
    feed = parse_bytes(fixture("atom-languages.xml"), url="https://voz.example/atom.xml")
    spanish, catalan, no_link = feed.entries
    assert (spanish.language, spanish.language_source) == ("es", "feed")
    assert (catalan.language, catalan.language_source) == ("ca", "entry")
    assert spanish.url == "https://voz.example/es/presupuestos"
    assert spanish.url_key == "voz.example/es/presupuestos"
    assert spanish.published_at == "2026-11-22T08:00:00Z"
    assert no_link.url is None  # a relative Atom id is not a link
    assert no_link.guid == "voz-3"
    assert no_link.published_at is None  # year 0 is not a date


def test_config_language_wins_over_everything_the_feed_declares():
    feed = parse_bytes(fixture("atom-languages.xml"), config_language="gl")
    assert {(e.language, e.language_source) for e in feed.entries} == {("gl", "config")}


def test_language_is_detected_when_nothing_declares_it_else_undetermined():
    body = rss(
        "<item><title>Le gouvernement annonce une réforme des retraites</title>"
        "<description>Le Premier ministre présentera le texte mercredi.</description></item>",
        "<item><title>OK 2-1</title></item>",
        channel="",
    )
    detected, short = parse_bytes(body).entries
    assert (detected.language, detected.language_source) == ("fr", "detected")
    assert (short.language, short.language_source) == (None, "undetermined")


def test_feed_language_is_normalised_to_iso_639_1():
    body = rss(item(1), channel="<language>pt-BR</language>")
    assert parse_bytes(body).entries[0].language == "pt"


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Sat, 21 Nov 2026 10:00:00 +0200", "2026-11-21T08:00:00Z"),
        ("Sun, 23 Nov 2026 23:00:00 GMT", "2026-11-23T23:00:00Z"),
        ("Fri, 01 Jan 2100 00:00:00 GMT", None),  # far future
        ("Thu, 01 Jan 1970 00:00:00 GMT", None),  # a generator's zero date
        ("yesterday-ish", None),
    ],
)
def test_published_dates_are_utc_or_null(date, expected):
    body = rss(
        f"<item><title>T</title><link>https://x.example/a</link><pubDate>{date}</pubDate></item>"
    )
    assert parse_bytes(body).entries[0].published_at == expected


def test_only_http_links_are_kept_and_relative_links_are_resolved():
    body = rss(
        item(1, link="mailto:desk@news.example"),
        item(2, link="ftp://files.example/x"),
        item(3, link="/relative/path?utm_source=rss"),
        item(4, link="HTTPS://News.Example:443/Upper#top"),
    )
    entries = parse_bytes(body, url="https://news.example/feeds/main.xml").entries
    assert [e.url for e in entries] == [
        None,
        None,
        "https://news.example/relative/path?utm_source=rss",
        "HTTPS://News.Example:443/Upper#top",  # stored as written; only the key is normalised
    ]
    assert [e.url_key for e in entries] == [
        None,
        None,
        "news.example/relative/path",
        "news.example/Upper",
    ]


def test_ttl_skip_hours_and_skip_days_are_read_from_the_raw_feed():
    feed = parse_bytes(fixture("schedule-hints.xml"))
    assert feed.ttl_minutes == 180
    assert feed.skip_hours == frozenset({0, 1, 2, 3})  # 24 means midnight
    assert feed.skip_days == frozenset({5, 6})


def test_external_entities_are_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<rss version='2.0'><channel><title>t</title><skipDays><day>Monday</day></skipDays>"
        "<item><title>a &x; b</title><description>&x;</description></item></channel></rss>"
    ).encode()
    feed = parse_bytes(body)
    assert all("TOP-SECRET" not in (e.title or "") + (e.summary or "") for e in feed.entries)
    assert feed.skip_days == frozenset()  # defusedxml refused the document: no hints from it


def test_entries_with_nothing_to_show_are_dropped():
    body = rss("<item><guid>only-a-guid</guid></item>", item(1))
    assert [e.title for e in parse_bytes(body).entries] == ["Story number 1"]


def test_a_title_spread_over_lines_is_stored_as_one_line():
    body = rss(
        "<item><title>Breaking:\n   storm\r\n\n hits   the coast</title>"
        "<link>https://news.example/a</link></item>"
    )
    assert [e.title for e in parse_bytes(body).entries] == ["Breaking: storm hits the coast"]


def _json_feed(items, **feed) -> bytes:
    import json

    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Die Lupe",
            "language": "de-DE",
            **feed,
            "items": items,
        }
    ).encode()


def test_a_json_feed_gives_the_same_entries_as_rss():
    feed = parse_bytes(
        _json_feed(
            [
                {
                    "id": "a1",
                    "url": "https://news.example/a1",
                    "title": "Brücke  gesperrt",
                    "content_html": "<p>Die <b>Brücke</b> bleibt zu.<script>alert(1)</script></p>",
                    "date_published": "2026-11-23T10:00:00+01:00",
                    "authors": [{"name": "K. Maier"}],
                },
                {
                    "id": 2,
                    "external_url": "https://other.example/b",
                    "title": "Zweite Meldung",
                    "content_text": "Tom & Jerry: 3 < 5",
                    "date_modified": "2026-11-22T08:00:00Z",
                    "language": "en",
                },
            ]
        ),
        headers={"Content-Type": "application/feed+json"},
    )
    assert feed.title == "Die Lupe" and feed.language == "de" and feed.problem is None
    first, second = feed.entries
    assert (first.guid, first.url, first.title) == (
        "a1",
        "https://news.example/a1",
        "Brücke gesperrt",
    )
    assert first.summary == "Die Brücke bleibt zu." and "script" not in (first.summary_html or "")
    assert first.published_at == "2026-11-23T09:00:00Z" and first.author == "K. Maier"
    assert (first.language, first.language_source) == ("de", "feed")
    assert second.guid == "2" and second.url == "https://other.example/b"
    assert second.summary == "Tom & Jerry: 3 < 5"  # plain text stays text
    assert second.published_at == "2026-11-22T08:00:00Z"
    assert (second.language, second.language_source) == ("en", "entry")


def test_a_json_feed_with_values_of_the_wrong_type_keeps_what_is_usable():
    feed = parse_bytes(
        _json_feed(
            [
                {"id": {"x": 1}, "url": ["https://news.example/x"], "title": 7, "summary": None},
                {
                    "id": True,
                    "url": "javascript:alert(1)",
                    "title": "Only a title",
                    "date_published": "31/12/2026",
                    "authors": "nobody",
                },
                "not an item",
            ],
            title=["no"],
            language=5,
        ),
        headers={"Content-Type": "application/json"},
    )
    assert feed.title is None and feed.language is None
    (entry,) = feed.entries  # the first has nothing a reader could see or follow
    assert (entry.guid, entry.url, entry.title, entry.published_at, entry.author) == (
        None,
        None,
        "Only a title",
        None,
        None,
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": "not found"}',
        b"[1, 2]",
        b"{broken",
        b'{"version": "https://example.org/v1", "items": []}',
    ],
)
def test_json_that_is_not_a_json_feed_is_not_a_feed(body):
    with pytest.raises(NotAFeed, match="not a JSON Feed"):
        parse_bytes(body, headers={"Content-Type": "application/json"})
