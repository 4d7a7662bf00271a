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


# --- recognising our files (issue 10, section 3) -----------------------------------------------


def at_version(path, version):
    """One of ours as the program that had `version` migrations left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in store.MIGRATIONS[:version]:
        migration(conn)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    return path


def foreign(path, *statements):
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("version", range(1, len(store.MIGRATIONS) + 1))
def test_every_version_of_our_schema_is_recognised(tmp_path, version):
    found = store.inspect(at_version(tmp_path / "ours.db", version))
    assert (found.kind, found.version) == ("ours", version)


def test_new_and_empty_files_can_be_created_and_others_are_foreign(tmp_path):
    assert store.inspect(tmp_path / "none.db").kind == "missing"
    assert store.inspect(tmp_path / "no-folder" / "none.db").kind == "missing"
    (tmp_path / "zero.db").write_bytes(b"")
    assert store.inspect(tmp_path / "zero.db").kind == "empty"
    blank = foreign(tmp_path / "blank.db", "CREATE TABLE t (x)", "DROP TABLE t")
    assert store.inspect(blank).kind == "empty"
    cases = {
        "tables.db": (("CREATE TABLE notes (x)",), "user_version 0, has notes"),
        "numbered.db": (("PRAGMA user_version = 7",), "user_version 7, no tables"),
        "claimed.db": (("PRAGMA application_id = 42",), "application_id 0x2a"),
        "lookalike.db": (
            ("CREATE TABLE feeds (url)", "PRAGMA user_version = 1"),
            "its table 'feeds' has no column",
        ),
    }
    for name, (statements, reason) in cases.items():
        found = store.inspect(foreign(tmp_path / name, *statements))
        assert found.kind == "foreign" and reason in found.reason, (name, found)
    (tmp_path / "text.db").write_text("not a database " * 20)
    assert "file is not a database" in store.inspect(tmp_path / "text.db").reason


def test_a_newer_database_of_ours_is_recognised_and_refused(tmp_path):
    db = at_version(tmp_path / "ours.db", len(store.MIGRATIONS))
    sqlite3.connect(db, isolation_level=None).execute("PRAGMA user_version = 99").connection.close()
    assert store.inspect(db).kind == "ours"
    for opener in (store.connect, store.connect_readonly):
        with pytest.raises(UserError, match="newer than this program knows"):
            opener(db)


def test_inspecting_and_refusing_change_nothing(tmp_path):
    db = foreign(tmp_path / "other.db", "PRAGMA journal_mode = WAL", "CREATE TABLE notes (x)")
    before = db.read_bytes()
    assert store.inspect(db).kind == "foreign"
    for opener in (store.connect, store.connect_readonly):
        with pytest.raises(UserError, match="not an aggregator database"):
            opener(db)
    assert db.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["other.db"]  # no -wal, -shm, -journal


def test_a_read_only_connection_cannot_write(db_path):
    store.connect(db_path).close()
    before = db_path.read_bytes()
    conn = store.connect_readonly(db_path)
    assert store.schema_version(conn) == len(store.MIGRATIONS)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("INSERT INTO cluster_state VALUES ('k', 'v')")
    conn.close()
    assert db_path.read_bytes() == before


def test_reading_an_older_database_says_how_to_upgrade_it(tmp_path):
    db = at_version(tmp_path / "ours.db", 1)
    before = db.read_bytes()
    with pytest.raises(UserError, match="older than this program's"):
        store.connect_readonly(db)
    assert db.read_bytes() == before
    assert store.schema_version(store.connect(db)) == len(store.MIGRATIONS)


def test_english_names_are_synced_and_an_older_database_gains_the_column(tmp_path):
    # Issue 13 §12: feeds.yaml's name_en reaches feeds.name_en and the articles_by_outlet view;
    # a database made before the column existed gets it from its first filling command.
    path = at_version(tmp_path / "v3.db", 3)
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO feeds (url, name, added_at) VALUES ('http://n.example/rss', 'N', 'x')")
    raw.commit()
    raw.close()
    conn = store.connect(path)
    assert store.schema_version(conn) == len(store.MIGRATIONS)
    assert conn.execute("SELECT name_en FROM feeds").fetchone()[0] is None  # kept, no guess
    parsed = config.parse(
        "feeds:\n  - {url: 'http://n.example/rss', name: Невский обозреватель,"
        " name_en: Nevsky Observer, language: ru}\n"
    )
    store.sync_feeds(conn, parsed.feeds, "2026-11-24T00:00:00Z")
    assert conn.execute("SELECT name, name_en FROM feeds").fetchone()[:] == (
        "Невский обозреватель",
        "Nevsky Observer",
    )
    conn.execute(
        "INSERT INTO articles (feed_id, guid, url_key, content_hash, title, language_source,"
        " fetched_at) VALUES (1, 'g', 'k', 'h', 't', 'config', '2026-11-24T00:00:00Z')"
    )
    assert conn.execute("SELECT outlet, outlet_en FROM articles_by_outlet").fetchone()[:] == (
        "Невский обозреватель",
        "Nevsky Observer",
    )
    unnamed = config.parse("feeds:\n  - {url: 'http://n.example/rss', name: N}\n")
    store.sync_feeds(conn, unnamed.feeds, "2026-11-25T00:00:00Z")  # name_en deleted
    assert conn.execute("SELECT name_en FROM feeds").fetchone()[0] is None
