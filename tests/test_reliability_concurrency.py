"""Concurrent use: readers (plain sqlite3 processes and Datasette, through its test client) query
while writers write. Readers never see an error or a partial story; writers never fail with
"database is locked"."""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.synchronize
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from aggregator import store
from aggregator.publish import queries
from aggregator.publish.serve import make_datasette
from tests.reliability_helpers import (
    aggregator_command,
    child_env,
    consistency_problems,
    demo_feeds,
    start_run,
)

# Checked inside one read transaction (one snapshot): a story is never seen half-written.
SNAPSHOT_CHECKS = {
    "cluster count differs from its articles":
        "SELECT count(*) FROM clusters c WHERE c.article_count != "
        "(SELECT count(*) FROM articles a WHERE a.cluster_id = c.id)",
    "cluster language count differs": "SELECT count(*) FROM clusters c WHERE c.language_count "
        "!= (SELECT count(*) FROM cluster_languages l WHERE l.cluster_id = c.id)",
    "article in a missing cluster": "SELECT count(*) FROM articles a WHERE a.cluster_id IS NOT "
        "NULL AND NOT EXISTS (SELECT 1 FROM clusters c WHERE c.id = a.cluster_id)",
    # Titles are translated first (translated_at stays NULL until the summary pass): a summary
    # in English, or a finished translation, is always complete with its provenance.
    "English summary without translated_at": "SELECT count(*) FROM articles WHERE summary_en "
        "IS NOT NULL AND translated_at IS NULL",
    "translated without provenance": "SELECT count(*) FROM articles WHERE translated_at IS NOT "
        "NULL AND translation_backend IS NULL",
    "search index out of step": "SELECT (SELECT count(*) FROM articles) - "
        "(SELECT count(*) FROM articles_fts_original)",
}  # fmt: skip
LOAD_QUERIES = (
    "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'port OR fire OR satellite'",
    "SELECT a.title, f.name FROM articles a JOIN feeds f ON f.id = a.feed_id "
    "ORDER BY a.published_at DESC LIMIT 50",
    "SELECT language, count(*) FROM articles GROUP BY language",
)


def hammer(
    db: str,
    stop: multiprocessing.synchronize.Event,
    out: multiprocessing.Queue,
    started: multiprocessing.synchronize.Semaphore,
) -> None:
    """A reader process: read transactions back to back until `stop` is set, then a report."""
    reads, errors, partial = 0, [], []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5, isolation_level=None)
    while not stop.is_set():
        try:
            conn.execute("BEGIN")
            for name, sql in SNAPSHOT_CHECKS.items():
                if conn.execute(sql).fetchone()[0]:
                    partial.append(name)
            for sql in LOAD_QUERIES:
                conn.execute(sql).fetchall()
            conn.execute("COMMIT")
            reads += 1
            if reads == 1:
                started.release()
        except sqlite3.Error as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        time.sleep(0.01)
    conn.close()
    out.put({"reads": reads, "errors": errors[:10], "partial": partial[:10]})


class Readers:
    """Reader processes hammering the file for as long as the `with` block lasts."""

    def __init__(self, db: Path, count: int = 2) -> None:
        context = multiprocessing.get_context("spawn")
        self.stop = context.Event()
        self.out = context.Queue()
        self.started = context.Semaphore(0)
        self.procs = [
            context.Process(target=hammer, args=(str(db), self.stop, self.out, self.started))
            for _ in range(count)
        ]
        self.results: list[dict] = []

    def __enter__(self) -> Readers:
        for proc in self.procs:
            proc.start()
        for _ in self.procs:  # every reader is reading before the writers start
            assert self.started.acquire(timeout=60), "a reader process did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.results = [self.out.get(timeout=60) for _ in self.procs]
        for proc in self.procs:
            proc.join(timeout=30)

    def problems(self) -> list[str]:
        return [
            f"{r['errors']} {r['partial']}"
            for r in self.results
            if r["errors"] or r["partial"] or not r["reads"]
        ]


class DatasetteReader(threading.Thread):
    """Datasette's own test client requesting the site's pages and JSON, again and again."""

    def __init__(self, db: Path, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.db, self.stop = db, stop
        self.requests = 0
        self.failures: list[str] = []

    def run(self) -> None:
        asyncio.run(self.loop())

    async def loop(self) -> None:
        ds = make_datasette(self.db)
        name = ds.get_database().name
        paths = [
            "/",
            f"/{name}/clusters",
            f"/{name}/articles.json?_size=50",
            "/-/find?q=port",
            f"/{name}/feeds",
        ]
        paths += [f"/{name}/{query.name}.json" for query in queries.CANNED]
        while not self.stop.is_set():
            for path in paths + await self.story_paths(ds, name):
                response = await ds.client.get(path)
                self.requests += 1
                if response.status_code != 200 or "database is locked" in response.text:
                    self.failures.append(f"{path}: {response.status_code} {response.text[:200]}")
            await asyncio.sleep(0.05)

    async def story_paths(self, ds, name: str) -> list[str]:
        rows = (
            await ds.get_database(name).execute("SELECT id FROM clusters ORDER BY random() LIMIT 3")
        ).rows
        return [f"/-/story/{row[0]}" for row in rows]


@pytest.mark.slow
def test_readers_and_datasette_while_aggregator_run_writes(tmp_path):
    db = tmp_path / "news.db"
    store.connect(db).close()  # an empty database, so readers can open it from the start
    stop = threading.Event()
    site = DatasetteReader(db, stop)
    with demo_feeds(tmp_path) as feeds, Readers(db) as readers:
        writer = start_run(feeds, db)
        site.start()
        stdout, stderr = writer.communicate(timeout=600)
        stop.set()
        site.join(timeout=60)
    print(
        f"\nwriter: {stdout.strip()}\nDatasette: {site.requests} requests; plain readers: "
        f"{[r['reads'] for r in readers.results]} read transactions"
    )
    assert writer.returncode == 0, stderr[-2000:]
    assert "locked" not in stderr and "Traceback" not in stderr, stderr[-2000:]
    assert readers.problems() == []
    assert site.requests > 20 and site.failures == [], site.failures[:5]
    conn = sqlite3.connect(db)
    assert consistency_problems(conn) == []
    assert conn.execute("SELECT count(*) FROM articles WHERE cluster_id IS NULL").fetchone()[0] == 0


def rss(prefix: str, count: int) -> bytes:
    items = "".join(
        f"<item><title>{prefix} story {n}</title><link>https://{prefix}.example/{n}</link>"
        f"<guid>{prefix}-{n}</guid><description>Text of {prefix} story {n}.</description></item>"
        for n in range(count)
    )
    return f"<rss version='2.0'><channel><title>{prefix}</title>{items}</channel></rss>".encode()


def test_overlapping_poll_runs_under_reader_load_neither_fail_nor_duplicate(server, tmp_path):
    """Two `aggregator poll --force` at once (an overlapping cron job) on one file, with readers
    hammering it: both finish, every fetch is recorded, no article is stored twice."""
    urls = [server.route(f"/feed-{n}.xml", rss(f"outlet{n}", 30)) for n in range(12)]
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        yaml.safe_dump(
            {
                "settings": {
                    "allow_private_addresses": True,
                    "per_host_interval_s": 0.0,
                    "per_host_concurrency": 8,
                },
                "feeds": [
                    {"url": url, "name": f"outlet {n}", "language": "en"}
                    for n, url in enumerate(urls)
                ],
            }
        )
    )
    db = tmp_path / "news.db"
    store.connect(db).close()
    command = aggregator_command("poll", "--feeds", str(feeds), "--db", str(db), "--force")
    with Readers(db, count=3) as readers:
        writers = [
            subprocess.Popen(
                command, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outputs = [writer.communicate(timeout=120) for writer in writers]
    for writer, (_, stderr) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0 and "locked" not in stderr, stderr[-2000:]
    assert readers.problems() == []
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM fetches WHERE error IS NULL").fetchone()[0] == 24
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 12 * 30
    assert consistency_problems(conn) == []


def test_a_long_read_never_blocks_the_writer(db_path):
    """A reader holding one snapshot open (a slow Datasette page) does not hold up writes, and
    keeps seeing its snapshot until it ends."""
    writer = store.connect(db_path)
    reader = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)
    reader.execute("BEGIN")
    before = reader.execute("SELECT count(*) FROM feeds").fetchone()[0]
    started = time.monotonic()
    for n in range(50):
        with store.transaction(writer):
            writer.execute(
                "INSERT INTO feeds (url, name, added_at) VALUES (?, ?, ?)",
                (f"https://n{n}.example/rss", f"n{n}", "2026-11-24T00:00:00Z"),
            )
    assert time.monotonic() - started < 5
    assert reader.execute("SELECT count(*) FROM feeds").fetchone()[0] == before
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM feeds").fetchone()[0] == before + 50
    writer.close()
    reader.close()
