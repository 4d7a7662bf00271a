import sqlite3

import pytest

from aggregator import config, store
from aggregator.errors import UserError


def test_new_database_gets_every_migration_and_wal(db_path):
    conn = store.connect(db_path)
    assert store.schema_version(conn) == len(store.MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"feeds", "fetches", "articles", "clusters", "cluster_languages"} <= tables


def test_reconnecting_applies_nothing_twice(db_path):
    store.connect(db_path).close()
    conn = store.connect(db_path)
    assert store.schema_version(conn) == len(store.MIGRATIONS)


def test_a_pending_migration_is_applied_to_an_older_database(db_path, monkeypatch):
    store.connect(db_path).close()
    added = store._script("CREATE TABLE later_table (x INTEGER)")
    monkeypatch.setattr(store, "MIGRATIONS", [*store.MIGRATIONS, added])
    conn = store.connect(db_path)
    assert store.schema_version(conn) == len(store.MIGRATIONS)
    assert conn.execute("SELECT count(*) FROM later_table").fetchone()[0] == 0


def test_a_failing_migration_leaves_the_database_as_it_was(db_path, monkeypatch):
    store.connect(db_path).close()
    broken = store._script("CREATE TABLE half_done (x INTEGER);\nTHIS IS NOT SQL")
    monkeypatch.setattr(store, "MIGRATIONS", [*store.MIGRATIONS, broken])
    with pytest.raises(UserError):
        store.connect(db_path)
    monkeypatch.undo()
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == len(store.MIGRATIONS)
    assert not raw.execute("SELECT 1 FROM sqlite_master WHERE name='half_done'").fetchall()


def test_a_newer_database_is_refused_with_one_line(db_path):
    conn = store.connect(db_path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(UserError, match="newer than this program knows"):
        store.connect(db_path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database " * 100)
    with pytest.raises(UserError, match="cannot open database"):
        store.connect(path)


def test_sync_feeds_adds_updates_and_deactivates(conn):
    first = config.parse(
        "feeds:\n  - {url: 'http://a.example/rss', name: A, language: fr}\n"
        "  - {url: 'http://b.example/rss', name: B}\n"
    )
    store.sync_feeds(conn, first.feeds, "2026-11-24T00:00:00Z")
    second = config.parse("feeds:\n  - {url: 'http://a.example/rss', name: A2, language: de}\n")
    store.sync_feeds(conn, second.feeds, "2026-11-25T00:00:00Z")
    rows = {r["url"]: r for r in conn.execute("SELECT * FROM feeds")}
    assert rows["http://a.example/rss"]["name"] == "A2"
    assert rows["http://a.example/rss"]["language"] == "de"
    assert rows["http://a.example/rss"]["added_at"] == "2026-11-24T00:00:00Z"
    assert rows["http://b.example/rss"]["active"] == 0
