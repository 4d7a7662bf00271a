"""The SQLite file: schema, migrations and connections.

The schema is a public interface (documented in the README): people query it directly. Change
it only by appending a migration to MIGRATIONS; never edit a migration that has shipped.
`PRAGMA user_version` records how many migrations a database has had.

Two ways in. `connect` is for the commands that fill a database (poll, run, demo, translate,
embed, cluster): it creates a new file or upgrades one of ours. `connect_readonly` is for the
commands that only look (feeds list, models list, serve): it never writes. Both first
`inspect` the file without changing it, and refuse a file that is not recognisably ours
(docs/reliability.md, "Files that are not ours").
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from aggregator.config import Feed
from aggregator.errors import UserError

# Migration 1: the initial public schema.
SCHEMA_V1 = """
CREATE TABLE feeds (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    language TEXT,
    country TEXT,
    homepage TEXT,
    title TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    poll_interval_s INTEGER,
    etag TEXT,
    last_modified TEXT,
    content_hash TEXT,
    last_status TEXT,
    last_http_status INTEGER,
    last_fetched_at TEXT,
    last_success_at TEXT,
    last_unconditional_at TEXT,
    error_count INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'backoff', 'dead')),
    next_poll_at TEXT,
    ttl_minutes INTEGER,
    skip_hours TEXT,
    skip_days TEXT,
    added_at TEXT NOT NULL
);
CREATE INDEX idx_feeds_next_poll_at ON feeds(next_poll_at);
CREATE INDEX idx_feeds_language ON feeds(language);
CREATE INDEX idx_feeds_country ON feeds(country);
CREATE INDEX idx_feeds_state ON feeds(state);

CREATE TABLE fetches (
    id INTEGER PRIMARY KEY,
    feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    fetched_at TEXT NOT NULL,
    status TEXT NOT NULL,
    http_status INTEGER,
    error TEXT,
    new_articles INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL,
    bytes INTEGER,
    final_url TEXT
);
CREATE INDEX idx_fetches_feed_id ON fetches(feed_id, fetched_at);
CREATE INDEX idx_fetches_fetched_at ON fetches(fetched_at);
CREATE INDEX idx_fetches_error ON fetches(error);

CREATE TABLE clusters (
    id INTEGER PRIMARY KEY,
    headline_en TEXT,
    headline TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    article_count INTEGER NOT NULL DEFAULT 0,
    language_count INTEGER NOT NULL DEFAULT 0,
    languages TEXT NOT NULL DEFAULT '[]',
    countries TEXT NOT NULL DEFAULT '[]',
    first_language TEXT,
    first_feed_id INTEGER REFERENCES feeds(id) ON DELETE SET NULL,
    first_article_id INTEGER,
    updated_at TEXT
);
CREATE INDEX idx_clusters_last_seen_at ON clusters(last_seen_at);
CREATE INDEX idx_clusters_first_seen_at ON clusters(first_seen_at);
CREATE INDEX idx_clusters_language_count ON clusters(language_count, last_seen_at);
CREATE INDEX idx_clusters_first_language ON clusters(first_language);

CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    guid TEXT,
    url TEXT,
    url_key TEXT,
    content_hash TEXT NOT NULL,
    title TEXT,
    summary TEXT,
    summary_html TEXT,
    author TEXT,
    language TEXT,
    language_source TEXT NOT NULL,
    published_at TEXT,
    fetched_at TEXT NOT NULL,
    title_en TEXT,
    summary_en TEXT,
    translation_backend TEXT,
    translation_model TEXT,
    translated_at TEXT,
    translation_error TEXT,
    translation_attempts INTEGER NOT NULL DEFAULT 0,
    cluster_id INTEGER REFERENCES clusters(id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX idx_articles_feed_guid ON articles(feed_id, guid) WHERE guid IS NOT NULL;
CREATE UNIQUE INDEX idx_articles_url_key ON articles(url_key) WHERE url_key IS NOT NULL;
CREATE UNIQUE INDEX idx_articles_feed_content ON articles(feed_id, content_hash);
CREATE INDEX idx_articles_published_at ON articles(published_at);
CREATE INDEX idx_articles_fetched_at ON articles(fetched_at);
CREATE INDEX idx_articles_language ON articles(language);
CREATE INDEX idx_articles_cluster_id ON articles(cluster_id);
CREATE INDEX idx_articles_translation_backend ON articles(translation_backend);
CREATE INDEX idx_articles_untranslated
    ON articles((translation_backend IS NULL), translation_attempts, id)
    WHERE translated_at IS NULL;
CREATE INDEX idx_articles_unclustered ON articles(id) WHERE cluster_id IS NULL;

CREATE TABLE cluster_languages (
    cluster_id INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    language TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    first_article_id INTEGER REFERENCES articles(id) ON DELETE SET NULL,
    first_feed_id INTEGER REFERENCES feeds(id) ON DELETE SET NULL,
    article_count INTEGER NOT NULL,
    delay_s INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, language)
);
CREATE INDEX idx_cluster_languages_language ON cluster_languages(language, first_seen_at);

CREATE TABLE translation_cache (
    text_hash TEXT NOT NULL,
    source_language TEXT NOT NULL,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    text_en TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (text_hash, source_language, backend, model)
) WITHOUT ROWID;

CREATE TABLE embeddings (
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    space TEXT NOT NULL,
    model TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    text_hash TEXT NOT NULL,
    embedded_at TEXT NOT NULL,
    PRIMARY KEY (article_id, space)
);
CREATE INDEX idx_embeddings_model ON embeddings(space, model);

-- Clustering's working state (aggregator/keywords.py, aggregator/cluster): keyword signatures
-- as 64-bit hashes, each clustered article with the time the clustering used, and a
-- document-frequency sketch for keyword weights.
CREATE TABLE article_keywords (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    language TEXT NOT NULL,
    glossed INTEGER NOT NULL,
    ids BLOB NOT NULL,
    alts BLOB NOT NULL,
    owners BLOB NOT NULL,
    df_counted INTEGER NOT NULL DEFAULT 0,
    computed_at TEXT NOT NULL
);
CREATE TABLE cluster_members (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    cluster_id INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    at TEXT NOT NULL
);
CREATE INDEX idx_cluster_members_at ON cluster_members(at);
CREATE INDEX idx_cluster_members_cluster ON cluster_members(cluster_id);
CREATE TABLE cluster_state (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- Full-text search (aggregator/publish): English text with stemming, and the original text
-- with trigrams, which match any script (Cyrillic, CJK, Arabic...) without a word splitter.
-- Both index the articles table (external content), kept in sync by the triggers below.
-- content="articles" in double quotes is how Datasette recognises the table's search index.
CREATE VIRTUAL TABLE articles_fts USING fts5(
    title_en, summary_en, content="articles", content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE articles_fts_original USING fts5(
    title, summary, content='articles', content_rowid='id', tokenize='trigram'
);
CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, title_en, summary_en)
        VALUES (new.id, new.title_en, new.summary_en);
    INSERT INTO articles_fts_original (rowid, title, summary)
        VALUES (new.id, new.title, new.summary);
END;
CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title_en, summary_en)
        VALUES ('delete', old.id, old.title_en, old.summary_en);
    INSERT INTO articles_fts_original (articles_fts_original, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
END;
CREATE TRIGGER articles_fts_update_en AFTER UPDATE OF title_en, summary_en ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title_en, summary_en)
        VALUES ('delete', old.id, old.title_en, old.summary_en);
    INSERT INTO articles_fts (rowid, title_en, summary_en)
        VALUES (new.id, new.title_en, new.summary_en);
END;
CREATE TRIGGER articles_fts_update_original AFTER UPDATE OF title, summary ON articles BEGIN
    INSERT INTO articles_fts_original (articles_fts_original, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
    INSERT INTO articles_fts_original (rowid, title, summary)
        VALUES (new.id, new.title, new.summary);
END;

-- Articles with their outlet's name and country, so Datasette can facet on country and outlet.
CREATE VIEW articles_by_outlet AS
SELECT a.id, coalesce(a.published_at, a.fetched_at) AS seen_at, a.published_at, a.language,
       f.country, f.name AS outlet, a.feed_id, a.title, a.title_en, a.summary_en, a.url,
       a.translation_backend, a.cluster_id
FROM articles a JOIN feeds f ON f.id = a.feed_id;
"""

Migration = Callable[[sqlite3.Connection], None]


def _script(sql: str) -> Migration:
    def apply(conn: sqlite3.Connection) -> None:
        for statement in _statements(sql):
            conn.execute(statement)

    return apply


def _statements(sql: str) -> Iterator[str]:
    """Split a script into whole statements; a trigger's BEGIN ... END; block stays one.

    (executescript would COMMIT first and break the migration's transaction.)
    """
    statement = ""
    for line in sql.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement
            statement = ""
    if statement.strip():
        yield statement


# Which signatures the keyword-weight sketch has counted, in a narrow table of its own: a flag
# in article_keywords made every count rewrite each (kilobyte-sized) signature row.
SCHEMA_V2 = """
CREATE TABLE keywords_counted (
    article_id INTEGER PRIMARY KEY REFERENCES article_keywords(article_id) ON DELETE CASCADE
);
INSERT INTO keywords_counted (article_id)
    SELECT article_id FROM article_keywords WHERE df_counted = 1;
ALTER TABLE article_keywords DROP COLUMN df_counted;
"""

# Stories as events (docs/clustering.md): which articles are versions of which (translations,
# rewrites, wire copies), stories merged into older ones (a redirect, so links never break),
# and the per-language sums of multilingual vectors that clustering centres vectors with.
SCHEMA_V3 = """
CREATE TABLE article_versions (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    version_of_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    score REAL NOT NULL
);
CREATE INDEX idx_article_versions_of ON article_versions(version_of_id);
CREATE TABLE cluster_merges (
    cluster_id INTEGER PRIMARY KEY,
    merged_into INTEGER NOT NULL,
    merged_at TEXT NOT NULL
);
CREATE INDEX idx_cluster_merges_into ON cluster_merges(merged_into);
CREATE TABLE language_means (
    model TEXT NOT NULL,
    language TEXT NOT NULL,
    count INTEGER NOT NULL,
    sum BLOB NOT NULL,
    PRIMARY KEY (model, language)
);
"""

# An optional English name per outlet (feeds.yaml `name_en`), and the view that browses
# articles by outlet carries it beside the original name (issue 13 §12).
SCHEMA_V4 = """
ALTER TABLE feeds ADD COLUMN name_en TEXT;
DROP VIEW articles_by_outlet;
CREATE VIEW articles_by_outlet AS
SELECT a.id, coalesce(a.published_at, a.fetched_at) AS seen_at, a.published_at, a.language,
       f.country, f.name AS outlet, f.name_en AS outlet_en, a.feed_id, a.title, a.title_en,
       a.summary_en, a.url, a.translation_backend, a.cluster_id
FROM articles a JOIN feeds f ON f.id = a.feed_id;
"""

MIGRATIONS: list[Migration] = [
    _script(SCHEMA_V1),
    _script(SCHEMA_V2),
    _script(SCHEMA_V3),
    _script(SCHEMA_V4),
]


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations, each in its own transaction. Return the new version."""
    version = schema_version(conn)
    if version > len(MIGRATIONS):
        raise UserError(
            f"database schema version {version} is newer than this program knows "
            f"({len(MIGRATIONS)}); upgrade the aggregator"
        )
    for number in range(version, len(MIGRATIONS)):
        with transaction(conn):
            MIGRATIONS[number](conn)
            conn.execute(f"PRAGMA user_version = {number + 1}")
    return schema_version(conn)


SQLITE_MAGIC = b"SQLite format 3\x00"
FILLING_COMMANDS = "`aggregator run`, `poll`, `translate`, `embed`, `cluster` or `demo`"


@dataclass(frozen=True)
class Inspection:
    """What a database path holds, found without changing anything.

    kind: 'missing' (no file), 'empty' (0 bytes, or SQLite with no schema and user_version 0),
    'ours' (this program's schema at `version`, possibly newer than it knows) or 'foreign'
    (anything else; `reason` says why)."""

    kind: str
    version: int = 0
    reason: str = ""


def inspect(path: str | Path) -> Inspection:
    """Recognise the file at `path` without writing to it or creating anything beside it.

    The rule: a file is ours when its `user_version` N (the migrations it has had) is at least
    1, its SQLite `application_id` is 0 (we never set one: another program's claim is
    respected), and it has every table the first N migrations create, each with at least
    their columns (all of the newest schema's tables when N is beyond what this program
    knows). Extra tables and columns are allowed (a user's own additions)."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            header = file.read(100)
    except (FileNotFoundError, NotADirectoryError):
        return Inspection("missing")
    except IsADirectoryError:
        return Inspection("foreign", reason=f"cannot open database {path}: it is a directory")
    except OSError as exc:
        return Inspection("foreign", reason=f"cannot open database {path}: {exc.strerror}")
    if not header:
        return Inspection("empty")
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return Inspection("foreign", reason=f"cannot open database {path}: file is not a database")
    application_id = int.from_bytes(header[68:72], "big")
    if application_id:
        return Inspection(
            "foreign",
            reason=(
                f"{path} belongs to another program (SQLite application_id {application_id:#x}); "
                "left unchanged (pass --db with the aggregator's file or a new path)"
            ),
        )
    try:
        with closing(_open_for_inspection(path)) as conn:
            return _recognise(path, conn)
    except sqlite3.DatabaseError as exc:
        return Inspection("foreign", reason=f"cannot open database {path}: {exc}")


def _recognise(path: Path, conn: sqlite3.Connection) -> Inspection:
    version = schema_version(conn)
    names = {
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    }
    if not names:
        if version == 0:
            return Inspection("empty")
        return Inspection("foreign", reason=_not_ours(path, f"user_version {version}, no tables"))
    if version == 0:
        listed = ", ".join(sorted(names)[:5])
        return Inspection("foreign", reason=_not_ours(path, f"user_version 0, has {listed}"))
    known = min(version, len(MIGRATIONS))
    for table, columns in _schema_after(tuple(MIGRATIONS[:known])).items():
        if table not in names:
            return Inspection(
                "foreign", reason=_not_ours(path, f"user_version {version} but no table {table!r}")
            )
        lacking = columns - _columns(conn, table)
        if lacking and version <= len(MIGRATIONS):  # a newer program may have changed them
            return Inspection(
                "foreign",
                reason=_not_ours(path, f"its table {table!r} has no column {sorted(lacking)[0]!r}"),
            )
    return Inspection("ours", version)


def _not_ours(path: Path, why: str) -> str:
    return (
        f"{path} is not an aggregator database ({why}); left unchanged "
        "(pass --db with the aggregator's file or a new path)"
    )


def _open_for_inspection(path: Path) -> sqlite3.Connection:
    """A connection that cannot change the file nor create -wal/-shm beside it: read-only
    through the existing WAL when another connection has one open (so what it has committed is
    seen), else immutable (no WAL content exists to miss, and no lock file is needed)."""
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    live = wal.is_file() and wal.stat().st_size > 0 and shm.is_file()
    return _open_uri(path, "mode=ro" if live else "immutable=1")


def _open_uri(path: Path, mode: str) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.absolute()))}?{mode}"
    conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def _columns(conn: sqlite3.Connection, table: str) -> frozenset[str]:
    return frozenset(row[1] for row in conn.execute(f'PRAGMA table_info("{table}")'))


@functools.cache
def _schema_after(migrations: tuple[Migration, ...]) -> dict[str, frozenset[str]]:
    """Each table and its columns once `migrations` have run (built in memory: the schema is
    defined once, by the migrations themselves)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for migration in migrations:
            migration(conn)
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {name: _columns(conn, name) for name in names}
    finally:
        conn.close()


def _refuse_unless_fillable(path: Path, found: Inspection) -> None:
    if found.kind == "foreign":
        raise UserError(found.reason)
    if found.kind == "ours" and found.version > len(MIGRATIONS):
        raise UserError(_newer(path, found.version))


def _newer(path: Path, version: int) -> str:
    return (
        f"{path}: database schema version {version} is newer than this program knows "
        f"({len(MIGRATIONS)}); upgrade the aggregator"
    )


def connect(path: str | Path, *, migrate_schema: bool = True) -> sqlite3.Connection:
    """Open a database to fill it: create it when the path is new or the file empty, bring one
    of ours up to date (WAL mode: readers never block the writer). Anything else is refused
    with a UserError before the file is touched."""
    path = Path(path)
    if str(path) != ":memory:":
        found = inspect(path)
        _refuse_unless_fillable(path, found)
        if found.kind == "missing":
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise UserError(f"cannot create database folder {path.parent}: {reason}") from None
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if migrate_schema:
            migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise UserError(f"cannot open database {path}: {exc}") from None
    return conn


def readonly_mode(path: str | Path) -> str:
    """How to open one of our databases without writing: 'mode=ro', which sees what a writer
    commits (it uses the WAL's -shm, creating it when the folder allows, as SQLite needs), or
    'immutable=1' on read-only media, where -shm cannot exist and so neither can a writer."""
    path = Path(path)
    shm = Path(f"{path}-shm")
    if not shm.exists() and not os.access(path.absolute().parent, os.W_OK):
        return "immutable=1"
    return "mode=ro"


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """Open one of our databases, at this program's schema version, to read it only.

    Refused with a UserError (nothing created or changed): a missing or empty file, a file
    that is not ours, and one of ours at another schema version (an older one is upgraded by
    any command that fills it: the reading commands never migrate)."""
    path = Path(path)
    found = inspect(path)
    if found.kind in ("missing", "empty"):
        raise UserError(f"{path}: no database yet (run `aggregator run` or `aggregator demo`)")
    if found.kind == "foreign":
        raise UserError(found.reason)
    if found.version > len(MIGRATIONS):
        raise UserError(_newer(path, found.version))
    if found.version < len(MIGRATIONS):
        raise UserError(
            f"{path}: database schema version {found.version} is older than this program's "
            f"({len(MIGRATIONS)}); run one of {FILLING_COMMANDS} on it once to upgrade it "
            "(reading commands never change the file)"
        )
    try:
        conn = _open_uri(path, readonly_mode(path))
        conn.execute("PRAGMA query_only = 1")  # a second guard: no statement may write
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the file now
    except sqlite3.DatabaseError as exc:
        raise UserError(f"cannot open database {path}: {exc}") from None
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A short write transaction: all of it lands, or none of it.

    BEGIN IMMEDIATE takes the write lock up front, so a concurrent writer waits on busy_timeout
    instead of failing halfway with "database is locked".
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite itself rolls back on some errors (SQLITE_FULL...)
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def sync_feeds(conn: sqlite3.Connection, feeds: Iterable[Feed], now: str) -> None:
    """Make the feeds table match feeds.yaml: add new feeds, update names and metadata, and
    mark feeds no longer listed as inactive (their articles and history stay)."""
    feeds = list(feeds)
    with transaction(conn):
        for feed in feeds:
            conn.execute(
                """
                INSERT INTO feeds (url, name, name_en, language, country, homepage,
                                   poll_interval_s, active, added_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)
                ON CONFLICT(url) DO UPDATE SET
                    name = excluded.name, name_en = excluded.name_en,
                    language = excluded.language,
                    country = excluded.country, homepage = excluded.homepage,
                    poll_interval_s = excluded.poll_interval_s, active = 1
                """,
                (
                    feed.url,
                    feed.name,
                    feed.name_en,
                    feed.language,
                    feed.country,
                    feed.homepage,
                    feed.poll_interval_s,
                    now,
                ),
            )
        listed = [feed.url for feed in feeds]
        conn.execute(
            f"UPDATE feeds SET active = 0 WHERE url NOT IN ({','.join('?' * len(listed))})",
            listed,
        )
