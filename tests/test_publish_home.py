"""The home page's ranking and freshness, the day-by-day archive and the Atom feed of the top
stories in English (issue 13 §7 and §14), through Datasette's test client on the publish sample
(tests/test_publish_sample), edited with SQL where a test needs other times."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import feedparser
import pytest
from datasette.app import Datasette

from aggregator import store
from aggregator.publish.serve import make_datasette
from aggregator.timeutil import from_iso, utcnow
from tests import test_publish_sample as sample
from tests.test_publish import edited_sample, get, page, visible

ATOM = "{http://www.w3.org/2005/Atom}"


def shifted(days: float, where: str = "1") -> tuple[str, ...]:
    """SQL moving the sample's articles and stories (those matching `where`, on clusters.id
    or articles.cluster_id) `days` days into the past."""
    move = f"'-{days * 24} hours'"
    return (
        f"UPDATE articles SET published_at = strftime('%Y-%m-%dT%H:%M:%SZ', published_at, {move}),"
        f" fetched_at = strftime('%Y-%m-%dT%H:%M:%SZ', fetched_at, {move})"
        f" WHERE {where.replace('id', 'cluster_id')}",
        "UPDATE clusters SET"
        f" first_seen_at = strftime('%Y-%m-%dT%H:%M:%SZ', first_seen_at, {move}),"
        f" last_seen_at = strftime('%Y-%m-%dT%H:%M:%SZ', last_seen_at, {move}) WHERE {where}",
        "UPDATE cluster_languages SET first_seen_at = strftime('%Y-%m-%dT%H:%M:%SZ',"
        f" first_seen_at, {move}) WHERE {where.replace('id', 'cluster_id')}",
    )


def news_db(tmp_path: Path, name: str) -> Path:
    """A path for an edited sample, named news.db like the shared sample (so its pages are
    under /news/)."""
    (tmp_path / name).mkdir()
    return tmp_path / name / "news.db"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample.build(tmp_path_factory.mktemp("home") / "news.db")


@pytest.fixture(scope="module")
def ds(sample_db: Path) -> Datasette:
    return make_datasette(sample_db)


def json_rows(ds: Datasette, path: str) -> list[dict]:
    response = get(ds, path)
    assert response.status_code == 200, response.text[:300]
    return response.json()["rows"]


def story_order(markup: str) -> list[int]:
    """The story ids of a page's ranked list, in order."""
    section = markup[markup.index('<ol class="story-list">') :]
    section = section[: section.index("</ol>")]
    return [int(n) for n in re.findall(r'class="headline" href="/-/story/(\d+)"', section)]


# --- Ranking --------------------------------------------------------------------------------


def test_home_ranks_the_last_72_hours_not_24(ds):
    # Story 5 (de, en) last had an article 37 hours ago: out of the old 24-hour home page.
    order = story_order(page(ds, "/"))
    assert order[:3] == [1, 2, 4]
    assert 5 in order and 3 in order
    text = visible(page(ds, "/"))
    assert "The biggest stories of the 72 hours up to" in text
    assert "weight halving every 24 hours since its latest article" in text


def test_score_is_languages_and_half_the_outlets_halving_every_24_hours(ds):
    rows = json_rows(ds, "/news/top_stories.json?_shape=objects")
    ranked_at = from_iso(rows[0]["ranked_at"])
    for row in rows:
        age = (ranked_at - from_iso(row["last_seen_at"])).total_seconds() / 3600
        expected = (row["language_count"] + 0.5 * row["outlet_count"]) * 0.5 ** (age / 24)
        assert row["score"] == pytest.approx(expected, abs=0.002), row["story"]
    assert [row["score"] for row in rows] == sorted((row["score"] for row in rows), reverse=True)
    story1 = next(row for row in rows if row["story"] == 1)
    assert (story1["language_count"], story1["outlet_count"]) == (6, 6)  # NHK twice


def test_a_big_old_story_fades_below_a_small_fresh_one_and_leaves_after_72_hours(tmp_path):
    # Story 1 (6 languages) pushed back 2.5 days: 9 × 0.5^(~2.6) ≈ 1.5 < story 2's 4.5 (3 + 1.5).
    ds = make_datasette(edited_sample(news_db(tmp_path, "old"), *shifted(2.5, "id = 1")))
    order = story_order(page(ds, "/"))
    assert order.index(2) < order.index(1)
    ds = make_datasette(edited_sample(news_db(tmp_path, "older"), *shifted(3.2, "id = 1")))
    assert 1 not in story_order(page(ds, "/"))


def test_the_window_slides_to_the_newest_story_on_a_stale_database(tmp_path):
    # Everything 9 days old: the same stories, in the same order, counted back from the newest.
    fresh = story_order(page(make_datasette(sample.build(tmp_path / "fresh.db")), "/"))
    ds = make_datasette(edited_sample(news_db(tmp_path, "stale"), *shifted(9)))
    assert story_order(page(ds, "/")) == fresh
    assert 5 in fresh  # 37 hours before the newest story: in the window, stale or not


# --- Freshness --------------------------------------------------------------------------------


def freshness(markup: str) -> str:
    start = markup.index('<p class="freshness')
    return markup[start : markup.index("</p>", start)]


def test_home_says_when_the_newest_article_arrived(ds):
    line = freshness(page(ds, "/"))
    # The newest sample article is story 1's last, 8 h - 400 min = 1 h 20 min ago.
    assert "Newest article 1 hour ago" in visible(line)
    assert "stale" not in line and "not from now" not in line


def test_the_newest_article_may_be_undated_in_a_story_or_not_yet_in_one(tmp_path):
    # An article without a publication time counts when it was fetched, clustered or not.
    clustered = edited_sample(
        news_db(tmp_path, "clustered"),
        *shifted(1),
        "UPDATE articles SET published_at = NULL, fetched_at = strftime('%Y-%m-%dT%H:%M:%SZ',"
        " 'now', '-3 hours') WHERE id = 15",
        "UPDATE clusters SET last_seen_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-3 hours')"
        " WHERE id = 5",
    )
    assert "Newest article 3 hours ago" in visible(freshness(page(make_datasette(clustered), "/")))
    pending = edited_sample(
        news_db(tmp_path, "pending"),
        *shifted(1),
        "INSERT INTO articles (feed_id, guid, url_key, content_hash, title, language,"
        " language_source, fetched_at) VALUES (2, 'new', 'https://news.example/new', 'h-new',"
        " 'Undated news', 'en', 'config', strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-10 minutes'))",
    )
    text = visible(freshness(page(make_datasette(pending), "/")))
    assert "Newest article 10 minutes ago" in text


def test_a_stale_database_says_so_and_links_feed_health(tmp_path):
    ds = make_datasette(edited_sample(news_db(tmp_path, "stale"), *shifted(9)))
    markup = page(ds, "/")
    line = freshness(markup)
    text = visible(line)
    assert 'class="freshness stale"' in line
    assert "Newest article 9 days ago" in text
    assert "the ranking counts back from the newest story" in text and "not from now" in text
    # El País is dead, RIA Novosti in backoff: 2 of the 7 active feeds.
    assert "2 of 7 feeds failing: feed health" in text
    assert 'href="/news/feed_health"' in line


def test_a_stale_database_with_healthy_feeds_says_when_they_were_polled(tmp_path):
    ds = make_datasette(
        edited_sample(
            news_db(tmp_path, "healthy"),
            *shifted(9),
            "UPDATE feeds SET state = 'active', error_count = 0",
        )
    )
    text = visible(freshness(page(ds, "/")))
    assert "Newest article 9 days ago" in text
    assert "Feeds last polled just now, none failing: feed health" in text


def test_an_empty_database_says_there_are_no_articles(tmp_path):
    store.connect(tmp_path / "empty.db").close()
    ds = make_datasette(tmp_path / "empty.db")
    text = visible(freshness(page(ds, "/")))
    assert "No articles yet" in text and "No feed polled yet" in text


def test_ago_reads_like_a_person_would_say_it():
    from aggregator.publish.display import format_ago

    assert [format_ago(s) for s in (-5, 30, 60, 3599, 3600, 86399, 86400, 9 * 86400 + 7)] == [
        "just now",
        "just now",
        "1 minute ago",
        "59 minutes ago",
        "1 hour ago",
        "23 hours ago",
        "1 day ago",
        "9 days ago",
    ]


# --- Day by day -------------------------------------------------------------------------------

OLD_DAY = "2026-11-10"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Datasette, str]:
    """The sample with story 5 moved to OLD_DAY, leaving empty days before the others' day."""
    path = edited_sample(
        tmp_path_factory.mktemp("archive") / "news.db",
        "UPDATE articles SET published_at = '2026-11-10T09:00:00Z',"
        " fetched_at = '2026-11-10T09:05:00Z' WHERE cluster_id = 5",
        "UPDATE clusters SET first_seen_at = '2026-11-10T09:00:00Z',"
        " last_seen_at = '2026-11-10T09:00:00Z' WHERE id = 5",
    )
    conn = sqlite3.connect(path)
    first = conn.execute(
        "SELECT substr(min(published_at), 1, 10) FROM articles WHERE cluster_id != 5"
    ).fetchone()[0]
    conn.close()
    return make_datasette(path), first


def test_home_links_each_recent_day(ds):
    markup = page(ds, "/")
    nav = markup[markup.index('<nav class="day-nav"') :]
    nav = nav[: nav.index("</nav>")]
    days = {d for d in re.findall(r'href="/-/day/(\d{4}-\d{2}-\d{2})"', nav)}
    today = utcnow().strftime("%Y-%m-%d")
    assert days and max(days) <= today
    assert "articles" in visible(nav) and 'href="/-/day"' in nav


def test_a_day_page_lists_that_days_stories_with_previous_and_next(archive):
    ds, first = archive
    markup = page(ds, f"/-/day/{OLD_DAY}")
    text = visible(markup)
    assert "Tuesday 10 November 2026" in text
    assert story_order(markup) == [5]
    assert "2 languages · 2 outlets · 2 articles (2 that day)" in text
    assert "1 story, 2 articles" in text
    assert "no earlier day" in text
    assert f'rel="next" href="/-/day/{first}"' in markup  # the empty days between are skipped
    later = page(ds, f"/-/day/{first}")
    assert f'rel="prev" href="/-/day/{OLD_DAY}"' in later
    assert 1 in story_order(later) and 5 not in story_order(later)


def test_an_empty_day_says_so_and_links_the_nearest_days(archive):
    ds, first = archive
    markup = page(ds, "/-/day/2026-11-11")
    assert "No article was published on this day" in visible(markup)
    assert f'rel="prev" href="/-/day/{OLD_DAY}"' in markup
    assert f'rel="next" href="/-/day/{first}"' in markup


def test_the_day_page_has_a_json_twin(archive):
    ds, _ = archive
    rows = json_rows(ds, f"/news/day_stories.json?day={OLD_DAY}&_shape=objects")
    assert [(r["story"], r["day_articles"], r["outlet_count"]) for r in rows] == [(5, 2, 2)]
    assert 'href="/news/day_stories.json?day=2026-11-10&amp;limit=100"' in page(
        ds, f"/-/day/{OLD_DAY}"
    )


def test_a_busy_day_shows_its_100_biggest_stories_and_links_all(tmp_path):
    many = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120) "
    path = edited_sample(
        news_db(tmp_path, "busy"),
        many + "INSERT INTO clusters (id, headline_en, first_seen_at, last_seen_at,"
        " article_count, language_count, languages, countries, first_language, first_feed_id,"
        " updated_at) SELECT 100 + i, 'Local story ' || i, '2026-11-05T10:00:00Z',"
        " '2026-11-05T10:00:00Z', 1, 1, '[\"en\"]', '[\"GB\"]', 'en', 2,"
        " '2026-11-05T10:00:00Z' FROM n",
        many + "INSERT INTO articles (feed_id, guid, url_key, content_hash, title, language,"
        " language_source, published_at, fetched_at, cluster_id) SELECT 2, 'l' || i,"
        " 'https://news.example/l' || i, 'hl' || i, 'Local story ' || i, 'en', 'config',"
        " '2026-11-05T10:00:00Z', '2026-11-05T10:05:00Z', 100 + i FROM n",
        "UPDATE articles SET published_at = '2026-11-05T09:00:00Z' WHERE cluster_id = 5",
        "UPDATE clusters SET last_seen_at = '2026-11-05T09:00:00Z' WHERE id = 5",
    )
    ds = make_datasette(path)
    markup = page(ds, "/-/day/2026-11-05")
    order = story_order(markup)
    assert len(order) == 100 and order[0] == 5  # two languages before one
    text = visible(markup)
    assert "121 stories, 122 articles" in text
    assert "The 100 biggest are shown; all 121" in text
    assert 'href="/news/day_stories?day=2026-11-05&amp;limit=10000"' in markup
    rows = json_rows(ds, "/news/day_stories.json?day=2026-11-05&limit=1&_shape=objects")
    assert [(r["story"], r["stories_that_day"], r["articles_that_day"]) for r in rows] == [
        (5, 121, 122)
    ]


def test_the_archive_opens_on_the_newest_day(archive):
    ds, _ = archive
    response = get(ds, "/-/day")
    assert response.status_code == 302
    newest = max(
        from_iso(row["last_seen_at"]) for row in json_rows(ds, "/news/clusters.json?_shape=objects")
    )
    assert response.headers["location"] == f"/-/day/{newest.strftime('%Y-%m-%d')}"


@pytest.mark.parametrize("day", ["2026-02-30", "yesterday", "2026-1-1", "20261110"])
def test_a_day_that_is_not_a_date_is_404_saying_how_to_write_one(ds, day):
    response = get(ds, f"/-/day/{day}")
    assert response.status_code == 404
    assert "days are written /-/day/2026-11-21" in response.text


# --- Atom feed --------------------------------------------------------------------------------


def test_home_advertises_the_atom_feed(ds):
    markup = page(ds, "/")
    head = markup[: markup.index("</head>")]
    assert re.search(
        r'<link rel="alternate" type="application/atom\+xml" title="[^"]+" '
        r'href="/-/top-stories\.atom">',
        head,
    )


def atom(ds: Datasette) -> tuple[bytes, feedparser.FeedParserDict]:
    response = get(ds, "/-/top-stories.atom")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    return response.content, feedparser.parse(response.content)


def required_elements(body: bytes) -> ET.Element:
    """Well-formed Atom with what RFC 4287 requires of a feed and of each entry."""
    root = ET.fromstring(body)
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated", "author/" + ATOM + "name"):
        assert (root.findtext(ATOM + tag) or "").strip(), tag
    assert root.find(f"{ATOM}link[@rel='self']") is not None
    for entry in root.findall(f"{ATOM}entry"):
        for tag in ("id", "title", "updated"):
            assert (entry.findtext(ATOM + tag) or "").strip(), tag
        assert entry.find(f"{ATOM}link[@rel='alternate']").get("href")
        assert from_iso(entry.findtext(f"{ATOM}updated"))  # RFC 3339
    return root


def test_atom_feed_has_one_entry_per_top_story_in_english(ds):
    body, parsed = atom(ds)
    required_elements(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "News across languages: top stories in English"
    assert parsed.feed.id == "http://localhost/-/top-stories.atom"
    assert parsed.feed.updated
    assert {link.rel: link.href for link in parsed.feed.links} == {
        "self": "http://localhost/-/top-stories.atom",
        "alternate": "http://localhost/",
    }
    top = json_rows(ds, "/news/top_stories.json?_shape=objects")
    assert [e.link for e in parsed.entries] == [
        f"http://localhost/-/story/{r['story']}" for r in top
    ]
    assert all(re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", e.id) for e in parsed.entries)
    assert len({e.id for e in parsed.entries}) == len(top)
    quake = parsed.entries[0]
    assert quake.title == "Strong earthquake in Tokyo"
    assert quake.link == "http://localhost/-/story/1"
    assert quake.updated == top[0]["last_seen_at"] and quake.published == top[0]["first_seen_at"]
    assert [tag.term for tag in quake.tags] == ["ja", "en", "fr", "de", "ru", "ar"]
    summary = quake.summary
    assert "Covered in 6 languages (Japanese, English, French, German, Russian, Arabic)" in summary
    assert "by 6 outlets, 7 articles" in summary
    for outlet in ("Japanese: NHK News (JP)", "Arabic: Al Jazeera (QA)", "Russian: RIA Novosti"):
        assert outlet in summary
    content = quake.content[0]
    assert content.type == "text/html"
    assert "<li>Arabic: Al Jazeera (QA)</li>" in content.value  # feedparser drops <bdi>
    assert b"&lt;li&gt;Arabic: &lt;bdi&gt;Al Jazeera&lt;/bdi&gt; (QA)&lt;/li&gt;" in body
    assert '<a href="http://localhost/-/story/1">' in content.value


def test_atom_entry_ids_stay_the_same_through_another_host_and_a_renumbering(tmp_path):
    # The second walkthrough of issue 13: entry ids were the story page's address, so they
    # changed with the Host header (another port, a proxy) and with the story's number, which
    # `cluster --rebuild` reassigns; a feed reader then shows every story again as new.
    db = sample.build(news_db(tmp_path, "renumbered"))
    entries = {e.title: e.id for e in atom(make_datasette(db))[1].entries}
    via_proxy = asyncio.run(
        make_datasette(db).client.get("/-/top-stories.atom", headers={"host": "news.example:8080"})
    )
    moved = feedparser.parse(via_proxy.content).entries
    assert moved[0].link.startswith("http://news.example:8080/-/story/")
    assert {e.title: e.id for e in moved} == entries
    conn = sqlite3.connect(db)
    with conn:  # every story renumbered, as a rebuild may do
        conn.execute("PRAGMA foreign_keys = OFF")
        for table, column in (
            ("clusters", "id"),
            ("articles", "cluster_id"),
            ("cluster_languages", "cluster_id"),
        ):
            conn.execute(f"UPDATE {table} SET {column} = {column} + 1000")
    conn.close()
    renumbered = atom(make_datasette(db))[1].entries
    assert renumbered[0].link.startswith("http://localhost/-/story/100")
    assert {e.title: e.id for e in renumbered} == entries
    # The third walkthrough: an article dated before the story's first, stored late, became
    # the story's first article; the entry keeps its id.
    conn = sqlite3.connect(db)
    with conn:
        cursor = conn.execute(
            "INSERT INTO articles (feed_id, guid, content_hash, title, language, language_source,"
            " published_at, fetched_at, cluster_id) SELECT 4, 'late', 'late', 'Spät', 'de',"
            " 'config', strftime('%Y-%m-%dT%H:%M:%SZ', first_seen_at, '-1 hours'),"
            " last_seen_at, id FROM clusters WHERE id = 1001"
        )
        assert cursor.rowcount == 1
        conn.execute(
            "UPDATE clusters SET first_article_id = ? WHERE id = 1001", (cursor.lastrowid,)
        )
    conn.close()
    late = atom(make_datasette(db))[1].entries
    assert {e.title: e.id for e in late} == entries


def test_atom_feed_leaves_out_stories_without_an_english_headline(tmp_path):
    ds = make_datasette(
        edited_sample(
            news_db(tmp_path, "no-english"),
            "UPDATE clusters SET headline = '東京で強い地震', headline_en = NULL WHERE id = 1",
        )
    )
    _, parsed = atom(ds)
    assert "http://localhost/-/story/1" not in [entry.id for entry in parsed.entries]
    assert 1 in story_order(page(ds, "/"))  # still a top story on the home page
    assert len(parsed.entries) == len(json_rows(ds, "/news/top_stories_en.json"))


def test_atom_feed_keeps_hostile_text_as_text(ds, tmp_path):
    body, parsed = atom(ds)
    rally = next(e for e in parsed.entries if "Rally" in e.title)
    assert rally.title == sample.XSS_TITLE  # text, shown as written, never markup
    assert b"<script>" not in body
    ds = make_datasette(
        edited_sample(
            news_db(tmp_path, "control"),
            "UPDATE clusters SET headline_en = 'Quake' || char(1) || ' hits' || char(65534)"
            " WHERE id = 1",
            "UPDATE feeds SET name = 'NHK' || char(27) WHERE id = 1",
        )
    )
    body, parsed = atom(ds)
    required_elements(body)  # characters XML cannot carry are replaced, so it still parses
    assert parsed.bozo == 0 and parsed.entries[0].title == "Quake\ufffd hits\ufffd"


def test_atom_feed_of_an_empty_database_is_valid(tmp_path):
    store.connect(tmp_path / "empty.db").close()
    body, parsed = atom(make_datasette(tmp_path / "empty.db"))
    required_elements(body)
    assert parsed.bozo == 0 and parsed.entries == [] and parsed.feed.updated


def test_atom_feed_is_valid_on_the_stale_sample(tmp_path):
    ds = make_datasette(edited_sample(news_db(tmp_path, "stale"), *shifted(9)))
    body, parsed = atom(ds)
    required_elements(body)
    newest = max(from_iso(e.updated) for e in parsed.entries)
    assert from_iso(parsed.feed.updated) == newest
    assert utcnow() - newest > timedelta(days=8)
    assert len(parsed.entries) == 5  # every sample story has an English headline
