"""A small, realistic aggregator database for the publishing tests, written with plain SQL.

Times are relative to now, so "the last 24 hours" holds whenever the tests run. Story 1 is a
quake first reported in Japanese; story 4 carries hostile markup in every field a feed controls.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from aggregator import store
from aggregator.timeutil import from_iso, to_iso, utcnow

XSS_TITLE = '<script>window.__xss = "title"</script>Rally <b>downtown</b>'
XSS_SUMMARY_HTML = (
    '<p>Crowds</p><img src="x" onerror="window.__xss = \'img\'"><script>window.__xss = 1</script>'
)
XSS_URL = "javascript:window.__xss='link'"

FEEDS = [  # id, name, language, country, state, last_status, error_count
    (1, "NHK News", "ja", "JP", "active", "ok", 0),
    (2, "BBC News", "en", "GB", "active", "ok", 0),
    (3, "Le Monde", "fr", "FR", "active", "ok", 0),
    (4, "Der Spiegel", "de", "DE", "active", "ok", 0),
    (5, "RIA Novosti", "ru", "RU", "backoff", "HTTP 503 Service Unavailable", 3),
    (6, "Al Jazeera", "ar", "QA", "active", "ok", 0),
    (7, "El País", "es", "ES", "dead", "DNS error", 12),
]

# story, feed, minutes after the story began, title, title_en, backend, model
ARTICLES = [
    (1, 1, 0, "東京で強い地震", "Strong earthquake in Tokyo", "argos", "argos ja-en 1.9"),
    (1, 2, 60, "Strong earthquake hits Tokyo", "Strong earthquake hits Tokyo", "copy", None),
    (1, 3, 120, "Fort séisme à Tokyo", "Strong earthquake in Tokyo", "argos", "argos fr-en 1.9"),
    (
        1,
        4,
        130,
        "Starkes Erdbeben erschüttert Tokio",
        "Strong earthquake shakes Tokyo",
        "argos",
        "argos de-en 1.9",
    ),
    (
        1,
        5,
        300,
        "Сильное землетрясение в Токио",
        "Strong earthquake in Tokyo",
        "argos",
        "argos ru-en 1.9",
    ),
    (
        1,
        6,
        360,
        "زلزال قوي يضرب طوكيو",
        "A strong earthquake hits Tokyo",
        "argos",
        "argos ar-en 1.9",
    ),
    (1, 1, 400, "地震の被害状況", None, "none:no-model-for-ja", None),
    (
        2,
        3,
        0,
        "Le Parlement adopte la réforme des retraites",
        "Parliament adopts pension reform",
        "argos",
        "argos fr-en 1.9",
    ),
    (
        2,
        4,
        45,
        "Frankreich: Parlament beschließt Rentenreform",
        "France: Parliament passes pension reform",
        "argos",
        "argos de-en 1.9",
    ),
    (
        2,
        7,
        200,
        "Francia aprueba la reforma de las pensiones",
        "France approves pension reform",
        "apertium",
        "apertium spa-eng 1.4",
    ),
    (
        3,
        7,
        0,
        "La Liga: el Betis gana el derbi",
        "La Liga: Betis wins the derby",
        "apertium",
        "apertium spa-eng 1.4",
    ),
    (4, 2, 0, XSS_TITLE, XSS_TITLE, "copy", None),
    (
        4,
        3,
        30,
        "Manifestation au centre-ville",
        "Demonstration downtown",
        "argos",
        "argos fr-en 1.9",
    ),
    (5, 4, 0, "Zugunglück in Bayern", "Train accident in Bavaria", "argos", "argos de-en 1.9"),
    (5, 2, 180, "Train derails in Bavaria", "Train derails in Bavaria", "copy", None),
]
# story: hours ago its first article appeared
STORY_START = {1: 8, 2: 5, 3: 2, 4: 3, 5: 40}


def build(path: Path) -> Path:
    conn = store.connect(path)
    with store.transaction(conn):
        _insert(conn)
    conn.close()
    return path


def _insert(conn: sqlite3.Connection) -> None:
    now = utcnow()
    for feed_id, name, lang, country, state, status, errors in FEEDS:
        conn.execute(
            "INSERT INTO feeds (id, url, name, language, country, state, last_status, "
            "error_count, last_fetched_at, added_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                feed_id,
                f"https://feeds.example/{feed_id}.xml",
                name,
                lang,
                country,
                state,
                status,
                errors,
                to_iso(now),
                to_iso(now - timedelta(days=30)),
            ),
        )
        if errors:
            conn.execute(
                "INSERT INTO fetches (feed_id, fetched_at, status, error, duration_ms) "
                "VALUES (?, ?, ?, 'http', 120)",
                (feed_id, to_iso(now), status),
            )
    members: dict[int, list[tuple[str, int, str, int]]] = {}
    for index, (story, feed, minutes, title, title_en, backend, model) in enumerate(ARTICLES):
        when = now - timedelta(hours=STORY_START[story]) + timedelta(minutes=minutes)
        language = FEEDS[feed - 1][2]
        summary_html = XSS_SUMMARY_HTML if title == XSS_TITLE else None
        url = XSS_URL if title == XSS_TITLE else f"https://news.example/{feed}/{index}"
        article_id = conn.execute(
            "INSERT INTO articles (feed_id, guid, url, content_hash, title, summary, summary_html,"
            " language, language_source, published_at, fetched_at, title_en, summary_en,"
            " translation_backend, translation_model, translated_at)"
            " VALUES (?,?,?,?,?,?,?,?, 'config', ?,?,?,?,?,?,?)",
            (
                feed,
                f"guid-{index}",
                url,
                f"hash-{index}",
                title,
                f"Summary of: {title}",
                summary_html,
                language,
                to_iso(when),
                to_iso(when),
                title_en,
                f"Summary of: {title_en}" if title_en else None,
                backend,
                model,
                to_iso(when),
            ),
        ).lastrowid
        members.setdefault(story, []).append((to_iso(when), feed, language, article_id))
    for story, rows in members.items():
        _cluster(conn, story, sorted(rows), ARTICLES)


def _cluster(conn: sqlite3.Connection, story: int, rows: list, articles: list) -> None:
    first_at, first_feed, first_lang, first_article = rows[0]
    languages = list(dict.fromkeys(lang for _, _, lang, _ in rows))
    countries = list(dict.fromkeys(FEEDS[feed - 1][3] for _, feed, _, _ in rows))
    headline = next(a[4] for a in articles if a[0] == story)
    conn.execute(
        "INSERT INTO clusters (id, headline_en, first_seen_at, last_seen_at, article_count,"
        " language_count, languages, countries, first_language, first_feed_id,"
        " first_article_id, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            story,
            headline,
            first_at,
            rows[-1][0],
            len(rows),
            len(languages),
            json.dumps(languages),
            json.dumps(countries),
            first_lang,
            first_feed,
            first_article,
            rows[-1][0],
        ),
    )
    start = store_time(first_at)
    for language in languages:
        mine = [r for r in rows if r[2] == language]
        at, feed, _, article = mine[0]
        conn.execute(
            "INSERT INTO cluster_languages VALUES (?,?,?,?,?,?,?)",
            (story, language, at, article, feed, len(mine), int(store_time(at) - start)),
        )
    conn.executemany(
        "UPDATE articles SET cluster_id = ? WHERE id = ?", [(story, r[3]) for r in rows]
    )


def store_time(value: str) -> float:
    return from_iso(value).timestamp()


def test_sample_database_is_consistent(tmp_path: Path) -> None:
    conn = store.connect(build(tmp_path / "sample.db"))
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == len(ARTICLES)
    quake = conn.execute("SELECT * FROM clusters WHERE id = 1").fetchone()
    assert json.loads(quake["languages"]) == ["ja", "en", "fr", "de", "ru", "ar"]
    delays = dict(
        conn.execute(
            "SELECT language, delay_s FROM cluster_languages WHERE cluster_id = 1"
        ).fetchall()
    )
    assert delays == {"ja": 0, "en": 3600, "fr": 7200, "de": 7800, "ru": 18000, "ar": 21600}
