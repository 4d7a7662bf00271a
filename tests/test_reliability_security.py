"""Feed content never reaches a shell or SQL unescaped: shell and Apertium metacharacters go
through the real translation pipeline (Apertium runs as a shell pipeline of programs) as plain
text, SQL and FTS5 syntax go through storage and the published search as plain text.

The private-address guard is tested in tests/test_poll_fetch.py (every spelling, every redirect
hop, DNS rebinding) and at the level of a run in tests/test_reliability_hostile.py; script in
the published pages in tests/test_reliability_corpus.py and tests/test_publish*.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
from html import escape

import pytest

from aggregator import store
from aggregator.config import Config, Feed, Settings
from aggregator.poll import stage as poll_stage
from aggregator.publish.serve import make_datasette
from aggregator.timeutil import now_iso
from aggregator.translate import stage as translate_stage

# Shell syntax (the Apertium programs run in `bash -c`), Apertium's stream-format specials
# ([ ] ^ $ @ / < > { } \\ ~ and NUL-flush), and line breaks that could shift lines.
SHELL = [
    "$(touch {canary})",
    "`touch {canary}`",
    "; touch {canary} #",
    "| tee {canary}",
    "&& touch {canary}",
    "> {canary}",
    "'\"; touch {canary}; echo \"'",
    "[ ] ^ $ @ / < > {{ }} \\ ~ # * ?",
    "a\\nb\\rc\\x00d",
    "^un/known<n>$ ^word$",
]
SQL = [
    "'); DROP TABLE articles; --",
    '" OR "1"="1',
    "%' OR 1=1 --",
    "Robert'); DELETE FROM feeds WHERE ('1'='1",
    "title:secret OR summary:*",
    'NEAR("a" "b", 1) AND -x ^y',
    '"unbalanced',
    "*",
    "a OR",
    "x'||(SELECT sqlite_version())||'",
]


def rss(titles: list[str], language: str) -> bytes:
    items = "".join(
        f"<item><title>{escape(title)} número N{n}0{n}</title>"
        f"<link>https://esp.example/{language}/{n}</link><guid>{language}-{n}</guid>"
        f"<description>{escape(title)} artículo N{n}0{n}.</description>"
        f"<dc:language>{escape(title[:20])}</dc:language></item>"
        for n, title in enumerate(titles)
    )
    return (
        f"<rss version='2.0' xmlns:dc='http://purl.org/dc/elements/1.1/'><channel>"
        f"<title>t</title>{items}</channel></rss>"
    ).encode()


def poll(server, conn: sqlite3.Connection, titles: list[str], language: str) -> Config:
    url = server.route(f"/{language}.xml", rss(titles, language))
    config = Config(
        feeds=(Feed(url=url, name=f"{language} feed", language=language),),
        settings=Settings(allow_private_addresses=True, per_host_interval_s=0.0),
    )
    store.sync_feeds(conn, config.feeds, now_iso())
    poll_stage.run(conn, config, force=True)
    return config


def test_shell_and_apertium_syntax_are_translated_as_text(server, conn, tmp_path):
    canary = tmp_path / "canary"
    titles = [f"Ataque {text.format(canary=canary)} al puerto" for text in SHELL]
    config = poll(server, conn, titles, "es")
    translate_stage.run(conn, config)
    rows = conn.execute(
        "SELECT guid, title, title_en, summary_en, translation_backend, "
        "translation_error FROM articles ORDER BY id"
    ).fetchall()
    assert len(rows) == len(SHELL)
    assert not canary.exists()
    for row in rows:
        n = int(row["guid"].split("-")[1])
        assert row["translation_backend"] == "apertium" and row["translation_error"] is None
        # each English line belongs to its own article: nothing shifted or merged
        assert f"N{n}0{n}" in row["title_en"] and f"N{n}0{n}" in row["summary_en"], tuple(row)
        assert "\x00" not in row["title_en"]


def test_sql_and_search_syntax_are_stored_and_searched_as_text(server, conn, db_path):
    poll(server, conn, SQL, "en")
    stored = [row[0] for row in conn.execute("SELECT title FROM articles ORDER BY guid")]
    assert [title.rsplit(" número", 1)[0] for title in stored] == SQL
    assert conn.execute("SELECT count(*) FROM feeds").fetchone()[0] == 1
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    site = make_datasette(db_path)
    name = site.get_database().name

    async def search_all() -> list[tuple[str, int]]:
        results = []
        for text in SQL:
            for path in ("/-/find", f"/{name}/search.json", f"/{name}/articles"):
                response = await site.client.get(path, params={"q": text, "_search": text})
                results.append((f"{path} {text!r}", response.status_code))
        return results

    failures = [found for found in asyncio.run(search_all()) if found[1] != 200]
    assert not failures
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == len(SQL)


@pytest.mark.parametrize(
    "declared",
    ["es; touch {canary}", "../../../../{canary}", "es-ES$(touch {canary})", "x" * 300],
)
def test_a_declared_language_never_becomes_a_path_or_a_command(declared, server, conn, tmp_path):
    """A feed's <language> that would write the canary file if it reached a shell (the
    Apertium programs run in `bash -c`) or a path: it is never stored as a language, and
    neither polling nor translating writes the file."""
    canary = tmp_path / "canary"
    declared = declared.format(canary=canary)
    url = server.route(
        "/l.xml",
        (
            "<rss version='2.0'><channel><title>t</title>"
            f"<language>{escape(declared)}</language><item><title>El puerto de Gdansk sufre un "
            "ciberataque masivo este lunes</title><link>https://l.example/1</link></item>"
            "</channel></rss>"
        ).encode(),
    )
    config = Config(
        feeds=(Feed(url=url, name="l"),),
        settings=Settings(allow_private_addresses=True, per_host_interval_s=0.0),
    )
    store.sync_feeds(conn, config.feeds, now_iso())
    poll_stage.run(conn, config, force=True)
    language = conn.execute("SELECT language FROM articles").fetchone()[0]
    assert language is None or (len(language) == 2 and language.isalpha()), language
    translate_stage.run(conn, config)
    assert conn.execute("SELECT translated_at FROM articles").fetchone()[0] is not None
    assert not canary.exists()
