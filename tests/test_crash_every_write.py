"""Crash safety by construction: every stage killed at every one of its writes to the database.

tests/crash_at_write.py runs a stage's command (`aggregator poll`, `translate`, `embed`,
`cluster`) once uninterrupted, watching its writes to the database file (each INSERT, UPDATE,
DELETE, REPLACE, COMMIT, CREATE... SQLite starts, one per row of an executemany): before each
write N it copies the database files, which is what a SIGKILL there leaves on disk. The copies
are grouped by content (with writes in transactions, one group per transaction; a write
outside one is a group of its own); for each group one run of the command on the same starting
database SIGKILLs itself as the group's first write is about to start, is checked to leave the
group's content, and is resumed by running the command again. Each test here compares every
resumed file with the uninterrupted run's, table by table (wall-clock columns aside): the same
articles, fetches, translations and translation cache, vectors and keyword signatures,
stories, members, languages, versions, merges, language means and cluster state; integrity,
foreign-key and consistency checks clean; each kill landed on the write it was meant to (the
runs are deterministic: one fetch at a time, fixed batches). So every write from the first to
the last is covered, every time.

The stages run as a chain on a tiny set (five articles of tests/fixtures/cluster/events.json
in en, es, fr, de: Apertium translations, a German gloss, a translation recorded as a version;
batches of two so translate and embed commit more than once), each starting from the previous
stage's uninterrupted result; the poll stage starts from no file at all (so the schema's
migrations are killed too). The merge path runs on its own case (a bridging article that
merges two stories, as in tests/test_cluster_merge.py).

Cost: one uninterrupted run per stage, then one killed and one resumed run per crash image
(2 to 9 per stage), each a fork of a process that loaded the modules and models once: 241
writes in all, 2 min 28 s on the project's 2-core machine at load average ~8 (embed, with its
model load, is most of it); marked slow (`make test` runs it; `pytest -m "not slow"` skips it).
docs/testing.md lists the bugs it was checked against.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from aggregator import store
from aggregator.cluster import stage as cluster_stage
from tests import cluster_helpers as helpers
from tests.crash_at_write import WALL_CLOCK
from tests.loopback import LoopbackServer
from tests.reliability_helpers import REPO, child_env, consistency_problems

pytestmark = pytest.mark.slow

# Virtual full-text tables are checked through their content tables (and integrity_check).
SKIPPED = ("articles_fts", "sqlite_")
STORIES = ("peru-quake", "museum-strike")


def tables(conn: sqlite3.Connection, skip: set[str] = WALL_CLOCK) -> dict[str, list[tuple]]:
    """Every table's rows, sorted, without the `skip` columns (by default the wall clock's)."""
    names = [
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not row[0].startswith(SKIPPED)
    ]
    dump = {}
    for name in names:
        columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')]
        kept = [c for c in columns if c not in skip]
        rows = conn.execute(f'SELECT {", ".join(kept)} FROM "{name}"').fetchall()
        dump[name] = sorted((tuple(row) for row in rows), key=repr)
    return dump


def same_content(clean: dict[str, list[tuple]], got: dict[str, list[tuple]]) -> list[str]:
    """What differs between two dumps (vectors compared as float32 within 1e-5)."""
    problems = []
    for name in sorted(set(clean) | set(got)):
        want, have = clean.get(name, []), got.get(name, [])
        if name == "embeddings":
            want, have = _vectors(want), _vectors(have)
            if want.keys() != have.keys() or any(
                not np.allclose(want[k][1], have[k][1], atol=1e-5) or want[k][0] != have[k][0]
                for k in want
            ):
                problems.append(f"embeddings differ: {sorted(want)} vs {sorted(have)}")
        elif want != have:
            extra = [r for r in have if r not in want][:3]
            missing = [r for r in want if r not in have][:3]
            problems.append(
                f"{name}: {len(have)} rows vs {len(want)}; extra {extra}, missing {missing}"
            )
    return problems


def _vectors(rows: list[tuple]) -> dict[tuple, tuple]:
    # article_id, space, model, dim, vector, text_hash
    return {row[:3]: ((row[3], row[5]), np.frombuffer(row[4], dtype=np.float32)) for row in rows}


def open_copy(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


def kill_everywhere(
    start: Path, work: Path, args: list[str], preload: str | None = None
) -> tuple[list[str], list[dict]]:
    """Run tests/crash_at_write.py; return the clean run's write statements and one record
    per kill."""
    command = [
        sys.executable, "-m", "tests.crash_at_write", "--start", str(start), "--work", str(work),
        *(["--preload", preload] if preload else []), "--", *args,
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=900
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, (" ".join(command), lines[-1:], done.stderr[-3000:])
    head, kills = lines[0], lines[1:]
    return head["statements"], kills


def check_every_kill(work: Path, statements: list[str], kills: list[dict]) -> None:
    assert statements, "the command wrote nothing"
    covered = sorted(n for kill in kills for n in kill["same_writes"])
    assert covered == list(range(1, len(statements) + 1))
    clean_conn = open_copy(work / "clean.db")
    clean_conn.row_factory = sqlite3.Row
    assert consistency_problems(clean_conn) == []
    clean_conn.row_factory = None
    clean = tables(clean_conn)
    clean_conn.close()
    failures = []
    for kill in kills:
        n = kill["n"]
        where = f"killed at write {n} ({statements[n - 1]}; same content at {kill['same_writes']})"
        if kill["statement"] != statements[n - 1]:
            failures.append(f"{where}: the kill landed on {kill['statement']!r}")
        if not kill["image_matches"]:
            failures.append(f"{where}: a real kill left other content than the image")
        if kill["resumed"] != 0:
            failures.append(f"{where}: the resumed run exited {kill['resumed']}")
            continue
        conn = open_copy(work / f"killed-{n}.db")
        conn.row_factory = sqlite3.Row
        problems = consistency_problems(conn)
        conn.row_factory = None
        problems += same_content(clean, tables(conn))
        conn.close()
        if problems:
            failures.append(f"{where}: {problems}")
    assert not failures, "\n".join(failures[:10])


# --- the chain: poll, translate, embed, cluster on five articles ----------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crash-every-write")
    server = LoopbackServer().start()
    items = [
        item
        for item in json.loads((helpers.FIXTURES / "events.json").read_text(encoding="utf-8"))
        if item["story"] in STORIES
    ]
    names = sorted({item["feed"] for item in items})
    feeds = helpers.serve(server, items, feed_order=names)
    settings = {
        "allow_private_addresses": True,
        "per_host_interval_s": 0.0,
        "concurrency": 1,  # one fetch at a time: the same writes in the same order every run
        "translation": {"order": ["apertium"], "articles_per_batch": 2},
        "embedding": {"batch_size": 2},
    }
    path = folder / "feeds.yaml"
    path.write_text(yaml.safe_dump({"settings": settings, "feeds": feeds}), encoding="utf-8")
    yield {"folder": folder, "feeds": str(path)}
    server.stop()


def stage_kills(chain: dict, stage: str, previous: str | None, preload: str | None = None):
    folder = chain["folder"]
    start = folder / previous / "clean.db" if previous else folder / "none.db"
    if previous:
        assert start.exists(), f"the {previous} test did not run first"
    work = folder / stage
    statements, kills = kill_everywhere(start, work, [stage, "--feeds", chain["feeds"]], preload)
    print(f"\n{stage}: {len(statements)} writes, {len(kills)} distinct crash images")
    check_every_kill(work, statements, kills)
    return work


def test_poll_killed_at_every_write(chain):
    work = stage_kills(chain, "poll", None)
    conn = open_copy(work / "clean.db")
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 5
    assert conn.execute("SELECT count(*) FROM fetches").fetchone()[0] == 4


def test_translate_killed_at_every_write(chain):
    work = stage_kills(chain, "translate", "poll")
    conn = open_copy(work / "clean.db")
    backends = dict(conn.execute("SELECT language, translation_backend FROM articles"))
    assert backends == {
        "en": "copy",
        "es": "apertium",
        "fr": "apertium",
        "de": "none:no-model-for-de",
    }


def test_embed_killed_at_every_write(chain):
    work = stage_kills(chain, "embed", "translate", preload="embed")
    conn = open_copy(work / "clean.db")
    assert (
        conn.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 5 + 4
    )  # no English for de
    assert conn.execute("SELECT count(*) FROM article_keywords").fetchone()[0] == 5


def test_cluster_killed_at_every_write(chain):
    work = stage_kills(chain, "cluster", "embed", preload="cluster")
    conn = open_copy(work / "clean.db")
    assert conn.execute("SELECT count(*) FROM articles WHERE cluster_id IS NULL").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM article_versions").fetchone()[0] >= 1
    assert conn.execute("SELECT count(*) FROM language_means").fetchone()[0] >= 1


# --- the cluster stage's merge ---------------------------------------------------------------


def test_a_merging_cluster_run_killed_at_every_write(tmp_path):
    """Two stories and an article like both (tests/test_cluster_merge.py's case, written as the
    embed stage would): the run that merges them, killed at each of its writes."""
    from tests import test_cluster_merge as merge

    db = tmp_path / "start.db"
    conn = store.connect(db)
    store.sync_feeds(conn, merge.CONFIG.feeds, "2026-03-20T00:00:00Z")
    rng = np.random.default_rng(7)
    east, west = np.eye(merge.DIM)[0], np.eye(merge.DIM)[1]
    with store.transaction(conn):
        for index in range(300):
            merge._add(conn, 1000 + index, rng.standard_normal(merge.DIM), 24 * 8 * index / 300)
        merge._add(conn, 1, east, hours=24 * 10)
        merge._add(conn, 2, west, hours=24 * 10 + 1)
    cluster_stage.run(conn, merge.CONFIG)
    with store.transaction(conn):
        merge._add(conn, 3, east + west, hours=24 * 10 + 2)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        yaml.safe_dump({"feeds": [{"url": f.url, "name": f.name, "language": f.language}
                                  for f in merge.CONFIG.feeds]})
    )  # fmt: skip
    work = tmp_path / "work"
    statements, kills = kill_everywhere(
        db, work, ["cluster", "--feeds", str(feeds)], preload="cluster"
    )
    print(f"\nmerging cluster run: {len(statements)} writes, {len(kills)} distinct images")
    check_every_kill(work, statements, kills)
    clean = open_copy(work / "clean.db")
    assert clean.execute("SELECT count(*) FROM cluster_merges").fetchone()[0] == 1
