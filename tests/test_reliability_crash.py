"""Crash safety: `aggregator run` SIGKILLed at random points in every stage, then run to the end,
holds exactly what an uninterrupted run holds.

The test watches the database (as any reader may) to see which stage a run is in, waits a
random time inside that stage, and kills the process. Randomness is seeded; the seed is printed
and can be replayed with RELIABILITY_SEED=N. RELIABILITY_KILLS=N sets kills per stage (default
2) for a longer soak.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.loopback import Response
from tests.reliability_helpers import (
    REPO,
    SUBSET,
    aggregator_command,
    articles_by_key,
    child_env,
    cluster_partition,
    consistency_problems,
    demo_feeds,
    open_plain,
    run_to_completion,
    start_run,
)

PHASES = ("poll", "translate", "embed", "cluster", "done")
KILLS_PER_PHASE = int(os.environ.get("RELIABILITY_KILLS", "2"))
# A phase shorter than this (cluster, on ~40 articles) is still given this long to be hit in.
MIN_WINDOW_S = 0.2


def counts(db: Path) -> sqlite3.Row | None:
    """What the database holds so far, or None before its schema exists."""
    if not db.exists():
        return None
    try:
        conn = open_plain(db)
        try:
            return conn.execute(
                """SELECT (SELECT count(*) FROM fetches) AS fetches,
                   (SELECT count(DISTINCT feed_id) FROM fetches) AS polled,
                   (SELECT count(*) FROM articles WHERE translated_at IS NULL) AS untranslated,
                   (SELECT count(*) FROM articles a WHERE NOT EXISTS (SELECT 1 FROM embeddings e
                    WHERE e.article_id = a.id)) AS unembedded,
                   (SELECT count(*) FROM articles WHERE cluster_id IS NULL) AS unclustered"""
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # tables not created yet
        return None


class Watcher:
    """Tells which stage a run is in from what the database holds (as any reader may): it is
    polling until the feeds it will fetch have their fetch rows, then in the first stage with
    work left."""

    def __init__(self, db: Path, feed_count: int, force: bool) -> None:
        self.db = db
        now = counts(db)
        before, polled = (now["fetches"], now["polled"]) if now else (0, 0)
        self.polled_at = before + (feed_count if force else feed_count - polled)

    def phase(self) -> str:
        row = counts(self.db)
        if row is None or row["fetches"] < self.polled_at:
            return "poll"
        for name, waiting in (
            ("translate", "untranslated"),
            ("embed", "unembedded"),
            ("cluster", "unclustered"),
        ):
            if row[waiting]:
                return name
        return "done"

    def follow(self, proc: subprocess.Popen, until: str | None) -> dict[str, float]:
        """Watch until `until` is reached or the run ends; return when each phase was first
        seen, in seconds from now."""
        started = time.monotonic()
        seen: dict[str, float] = {}
        while proc.poll() is None:
            current = self.phase()
            seen.setdefault(current, round(time.monotonic() - started, 2))
            if until is not None and PHASES.index(current) >= PHASES.index(until):
                break
            time.sleep(0.02)
        return seen


def phase_windows(clean: dict[str, float], total: float) -> dict[str, float]:
    """How long each phase lasted in the clean run (kill delays are drawn within this)."""
    starts = {name: clean.get(name) for name in PHASES}
    windows = {}
    for index, name in enumerate(PHASES[:-1]):
        later = [s for n in PHASES[index + 1 :] if (s := starts[n]) is not None] + [total]
        windows[name] = max(min(later) - (starts[name] or 0.0), MIN_WINDOW_S)
    return windows


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("clean")
    db = folder / "clean.db"
    with demo_feeds(folder) as feeds:
        feed_count = len(SUBSET)
        watcher = Watcher(db, feed_count, force=False)
        proc = start_run(feeds, db)
        started = time.monotonic()
        seen = watcher.follow(proc, until=None)
        out, err = proc.communicate(timeout=600)
        total = time.monotonic() - started
    assert proc.returncode == 0, err[-2000:]
    return {"db": db, "seen": seen, "total": total, "feed_count": feed_count, "stdout": out}


@pytest.mark.slow
def test_killed_runs_resume_to_exactly_the_clean_result(clean, tmp_path):
    seed = int(os.environ.get("RELIABILITY_SEED", random.randrange(2**32)))
    print(
        f"\ncrash test seed {seed} (replay: RELIABILITY_SEED={seed}); clean run "
        f"{clean['total']:.1f} s, phases first seen at {clean['seen']}"
    )
    rng = random.Random(seed)
    windows = phase_windows(clean["seen"], clean["total"])
    db = tmp_path / "crashed.db"
    kills: list[tuple[str, float, str]] = []
    with demo_feeds(tmp_path) as feeds:
        for target in PHASES[:-1]:
            for _ in range(KILLS_PER_PHASE):
                kills += kill_inside(feeds, db, clean["feed_count"], target, windows[target], rng)
        print("kills (target, delay s, phase at the kill):", kills)
        final = run_to_completion(feeds, db)
    assert final.returncode == 0, final.stderr[-2000:]
    landed = [phase_at for _, _, phase_at in kills]
    assert all(landed.count(name) == KILLS_PER_PHASE for name in PHASES[:-1]), kills
    compare(open_plain(clean["db"]), open_plain(db))


def kill_inside(
    feeds: Path, db: Path, feed_count: int, target: str, window: float, rng: random.Random
) -> list[tuple[str, float, str]]:
    """Kill a run inside `target`. A kill that came too late (the phase had already finished)
    is undone by putting back the files as they were when the phase began (a crash image in
    itself) and tried again sooner; every try is reported."""
    tries = []
    for attempt in range(5):
        kill, at_start = kill_once(feeds, db, feed_count, target, window * 0.5 / 2**attempt, rng)
        tries.append(kill)
        if kill[2] == target or at_start is None:
            break
        restore(db, at_start)
    return tries


def kill_once(
    feeds: Path, db: Path, feed_count: int, target: str, window: float, rng: random.Random
) -> tuple[tuple[str, float, str], dict[str, bytes] | None]:
    """Start a run, wait for `target`, SIGKILL it a random time (up to `window`) later. Also
    return the database files as they were when the phase was first seen (the process paused
    for the copy), or None if the run never got there."""
    force = target == "poll"  # so there is polling to interrupt
    watcher = Watcher(db, feed_count, force)
    proc = start_run(feeds, db, *(["--force"] if force else []))
    at_start = None
    try:
        watcher.follow(proc, until=target)
        if proc.poll() is None and watcher.phase() == target:
            proc.send_signal(signal.SIGSTOP)
            at_start = snapshot(db)
            proc.send_signal(signal.SIGCONT)
        delay = rng.uniform(0, window)
        deadline = time.monotonic() + delay
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        landed = watcher.phase() if proc.poll() is None else "finished"
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    return (target, round(delay, 2), landed), at_start


def snapshot(db: Path) -> dict[str, bytes]:
    """The database files (the WAL and its index included), taken while no process writes or
    while the writer is paused: either way an image a crash could leave."""
    return {
        suffix: Path(f"{db}{suffix}").read_bytes()
        for suffix in ("", "-wal", "-shm")
        if Path(f"{db}{suffix}").exists()
    }


def restore(db: Path, saved: dict[str, bytes]) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
        if suffix in saved:
            Path(f"{db}{suffix}").write_bytes(saved[suffix])


def compare(clean: sqlite3.Connection, crashed: sqlite3.Connection) -> None:
    assert consistency_problems(crashed) == []
    want, got = articles_by_key(clean), articles_by_key(crashed)
    assert sorted(got) == sorted(want), "different articles"
    assert len(got) == crashed.execute("SELECT count(*) FROM articles").fetchone()[0]
    for key, row in got.items():
        expected = want[key]
        for column in (
            "title",
            "summary",
            "url",
            "published_at",
            "language",
            "title_en",
            "summary_en",
            "translation_backend",
            "translation_model",
        ):
            assert row[column] == expected[column], (key, column, row[column], expected[column])
        assert row["translated_at"] is not None, key
        assert row["cluster_id"] is not None, key
    assert vectors(crashed).keys() == vectors(clean).keys()
    for key, vector in vectors(crashed).items():
        assert np.allclose(vector, vectors(clean)[key], atol=1e-4), key
    assert cluster_partition(crashed) == cluster_partition(clean)


def vectors(conn: sqlite3.Connection) -> dict[tuple, np.ndarray]:
    rows = conn.execute(
        "SELECT f.name, COALESCE(a.guid, a.content_hash), e.space, e.model, e.vector "
        "FROM embeddings e JOIN articles a ON a.id = e.article_id JOIN feeds f ON f.id = a.feed_id"
    ).fetchall()
    return {tuple(row[:4]): np.frombuffer(row[4], dtype=np.float32) for row in rows}


POLL_FEEDS, POLL_ITEMS = 30, 25


@pytest.mark.slow
def test_polls_killed_many_times_store_every_feed_whole(server, tmp_path):
    """`aggregator poll --force` SIGKILLed ten times at random moments. Every run has new items
    to store (each feed grows by POLL_ITEMS items per run) and feeds answer after random delays,
    so kills land between and inside feed saves: after each kill every feed holds a whole
    version of itself, and a final run completes the set with nothing twice."""
    seed = int(os.environ.get("RELIABILITY_SEED", random.randrange(2**32)))
    print(f"\npoll kill seed {seed} (replay: RELIABILITY_SEED={seed})")
    rng = random.Random(seed)
    generation = [0]
    feeds = loopback_feeds(server, tmp_path, random.Random(seed + 1), generation)
    db = tmp_path / "news.db"
    command = aggregator_command("poll", "--feeds", str(feeds), "--db", str(db), "--force")
    kills = []
    for _ in range(int(os.environ.get("RELIABILITY_KILLS", "2")) * 5):
        proc = subprocess.Popen(
            command, cwd=REPO, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        delay = round(rng.uniform(0.3, 3.0), 2)
        try:
            proc.wait(timeout=delay)
            outcome = "finished"
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            outcome = "killed"
        current = whole_feeds(db, generation[0]) if db.exists() else 0
        kills.append((delay, outcome, f"{current}/{POLL_FEEDS} feeds up to date"))
        generation[0] += 1
    print("kills:", kills)
    assert sum(1 for _, _, state in kills if not state.startswith(("0/", f"{POLL_FEEDS}/"))) >= 2
    done = subprocess.run(
        command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert whole_feeds(db, generation[0]) == POLL_FEEDS
    conn = open_plain(db)
    assert consistency_problems(conn) == []
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == (
        POLL_FEEDS * POLL_ITEMS * (generation[0] + 1)
    )


def loopback_feeds(server, folder: Path, rng: random.Random, generation: list[int]) -> Path:
    """POLL_FEEDS feeds on the loopback server, each answering after its own random delay with
    POLL_ITEMS items per generation so far."""

    def feed(n: int, delay: float):
        def handler(request):
            time.sleep(delay)
            items = "".join(
                f"<item><title>Outlet {n} story {i}</title><guid>o{n}-{i}</guid>"
                f"<link>https://o{n}.example/{i}</link><description>Story {i} of outlet {n}."
                "</description></item>"
                for i in range(POLL_ITEMS * (generation[0] + 1))
            )
            body = f"<rss version='2.0'><channel><title>o{n}</title>{items}</channel></rss>"
            return Response(body.encode(), headers={"Content-Type": "application/rss+xml"})

        return handler

    urls = [
        server.route(f"/o{n}.xml", handler=feed(n, rng.uniform(0, 0.6))) for n in range(POLL_FEEDS)
    ]
    path = folder / "feeds.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "settings": {
                    "allow_private_addresses": True,
                    "per_host_interval_s": 0.0,
                    "per_host_concurrency": 4,
                },
                "feeds": [
                    {"url": u, "name": f"o{n}", "language": "en"} for n, u in enumerate(urls)
                ],
            }
        )
    )
    return path


def whole_feeds(db: Path, generation: int) -> int:
    """How many feeds hold every item of `generation`; fails if any feed holds a part of one
    (its article count is not a whole number of generations)."""
    conn = open_plain(db)
    try:
        counts = [
            row[0]
            for row in conn.execute(
                "SELECT count(a.id) FROM feeds f LEFT JOIN articles a ON a.feed_id = f.id "
                "GROUP BY f.id"
            )
        ]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    except sqlite3.OperationalError:  # killed before the schema was committed
        return 0
    finally:
        conn.close()
    assert all(count % POLL_ITEMS == 0 for count in counts), counts
    return sum(1 for count in counts if count == POLL_ITEMS * (generation + 1))
