"""Search helpers: whatever a reader types becomes a valid FTS5 query that means the words."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import store
from aggregator.publish import fts


def test_every_word_becomes_a_literal_phrase():
    assert fts.match_query('quake "Tokyo" AND (x') == '"quake" """Tokyo""" "AND" "(x"'
    assert fts.match_query("  ") == '""'
    assert fts.match_query(None) == '""'
    assert fts.match_query("a a b") == '"a" "b"'


def test_only_short_words_need_a_scan():
    assert fts.needs_scan("地震")
    assert fts.needs_scan("EU 地震")
    assert not fts.needs_scan("Tokyo EU"), "narrowed by Tokyo, then checked for EU"
    assert not fts.needs_scan("Tokyo earthquake")
    assert fts.has_short("Tokyo EU") and not fts.has_short("Tokyo earthquake")
    assert fts.trigram_query("地震") == '""'
    assert fts.trigram_query("Токио") == '"Токио"'
    assert fts.trigram_query("à Tokyo") == '"Tokyo"'


def test_a_short_word_beside_a_long_one_checks_only_the_rows_the_index_finds():
    """A search with "a" or "on" in it once scanned every article (a 500 at 3 s on 100,000):
    now the trigram index narrows it by the long words and only those rows are checked."""
    from aggregator.publish.queries import SEARCH

    conn = store.connect(":memory:")
    fts.register(conn)
    checked: list[str] = []

    def counting(haystack: str | None, text: str | None) -> bool:
        checked.append(haystack or "")
        return fts.contains_all(haystack, text)

    conn.create_function("fts_contains_all", 2, counting, deterministic=True)
    conn.execute("INSERT INTO feeds (url, name, added_at) VALUES ('https://x.example', 'X', 'now')")
    titles = [f"Nachricht Nummer {n}" for n in range(500)] + [
        "Erdbeben in Tokio",
        "Erdbeben bei Osaka",
    ]
    conn.executemany(
        "INSERT INTO articles (feed_id, content_hash, title, language_source, fetched_at) "
        "VALUES (1, ?, ?, 'config', 'now')",
        [(str(n), title) for n, title in enumerate(titles)],
    )
    found = conn.execute(SEARCH.sql, {"q": "Erdbeben in"}).fetchall()
    assert [row["title"] for row in found] == ["Erdbeben in Tokio"]
    assert len(checked) == 2, f"{len(checked)} rows checked for the short word"


def test_contains_all_is_case_insensitive_and_needs_every_word():
    assert fts.contains_all("Сильное землетрясение в Токио", "ТОКИО в")
    assert not fts.contains_all("東京で強い地震", "地震 大阪")
    assert not fts.contains_all(None, "x")
    assert not fts.contains_all("anything", "")


def test_query_length_is_bounded():
    assert len(fts.terms(" ".join(f"w{i}" for i in range(100)))) == fts.MAX_TERMS


def _db() -> sqlite3.Connection:
    conn = store.connect(":memory:")
    fts.register(conn)
    conn.execute("INSERT INTO feeds (url, name, added_at) VALUES ('https://x.example', 'X', 'now')")
    conn.execute(
        "INSERT INTO articles (feed_id, content_hash, title, summary, title_en, language_source,"
        " fetched_at) VALUES (1, 'h', 'Fort séisme à Tokyo', 'x', 'Strong quake', 'config', 'now')"
    )
    return conn


CONN = _db()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_no_input_breaks_the_search_sql(text):
    for table, function in (
        ("articles_fts", "fts_query"),
        ("articles_fts_original", "fts_trigram_query"),
    ):
        CONN.execute(
            f"SELECT rowid FROM {table} WHERE {table} MATCH {function}(?)", (text,)
        ).fetchall()


@given(st.sampled_from(["séisme", "Tokyo", "Fort", "quake", "strong"]))
def test_words_that_are_there_are_found(word):
    english = CONN.execute(
        "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH fts_query(?)", (word,)
    ).fetchone()[0]
    original = CONN.execute(
        "SELECT count(*) FROM articles_fts_original WHERE "
        "articles_fts_original MATCH fts_trigram_query(?)",
        (word,),
    ).fetchone()[0]
    assert english + original >= 1
