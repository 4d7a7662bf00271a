"""Shared by the crash-safety and concurrency tests: a subset of the demo feeds served on
loopback, `aggregator run` as a real subprocess, and a snapshot of what a database holds."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from aggregator.demo import DEMO_FEEDS, PLACEHOLDER_BASE
from aggregator.demo.server import FeedServer

REPO = Path(__file__).resolve().parent.parent
# Six demo outlets, ~40 articles: English (with an XSS payload), French, Spanish, Italian with no
# declared language, Russian in windows-1251 and German Atom (no translation model for the last
# two, so "no model" is recorded). Every stage has real work, and a run stays short.
SUBSET = (
    "harbor-ledger", "courrier-du-matin", "diario-del-sur", "gazzetta-del-tirreno",
    "nevsky-obozrevatel", "elbtaler-rundschau",
)  # fmt: skip


@contextmanager
def demo_feeds(folder: Path, outlets: tuple[str, ...] = SUBSET) -> Iterator[Path]:
    """Serve the demo feeds and write a feeds.yaml listing `outlets` at the server's port."""
    with FeedServer() as server:
        data = yaml.safe_load(DEMO_FEEDS.read_text(encoding="utf-8"))
        data["feeds"] = [
            {**feed, "url": feed["url"].replace(PLACEHOLDER_BASE, server.base_url)}
            for feed in data["feeds"]
            if any(f"/{name}.xml" in feed["url"] for name in outlets)
        ]
        assert len(data["feeds"]) == len(outlets)
        path = folder / "feeds.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        yield path


def aggregator_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "aggregator.cli", *args]


def child_env() -> dict[str, str]:
    """Models from installed packages only, output unbuffered so stage lines arrive at once."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def start_run(feeds: Path, db: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        aggregator_command("run", "--feeds", str(feeds), "--db", str(db), *extra),
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_to_completion(feeds: Path, db: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        aggregator_command("run", "--feeds", str(feeds), "--db", str(db)),
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def open_plain(db: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, as any reader of the published file would open it."""
    conn = sqlite3.connect(db, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def articles_by_key(conn: sqlite3.Connection) -> dict[tuple[str, str], sqlite3.Row]:
    """Every article keyed by (feed name, guid or content hash): the feed server's port differs
    from one test database to another, the name does not."""
    rows = conn.execute(
        "SELECT f.name AS feed_url, COALESCE(a.guid, a.content_hash) AS key, a.* "
        "FROM articles a JOIN feeds f ON f.id = a.feed_id"
    ).fetchall()
    return {(row["feed_url"], row["key"]): row for row in rows}


def cluster_partition(conn: sqlite3.Connection) -> set[frozenset[tuple[str, str]]]:
    """Stories as sets of article keys (cluster ids differ between databases)."""
    groups: dict[int, set[tuple[str, str]]] = {}
    for (feed_url, key), row in articles_by_key(conn).items():
        if row["cluster_id"] is not None:
            groups.setdefault(row["cluster_id"], set()).add((feed_url, key))
    return {frozenset(group) for group in groups.values()}


def consistency_problems(conn: sqlite3.Connection) -> list[str]:
    """Half-written or contradictory rows: each query lists what should not exist."""
    checks = {
        "integrity_check": "SELECT * FROM pragma_integrity_check WHERE integrity_check != 'ok'",
        "foreign keys": "SELECT * FROM pragma_foreign_key_check",
        "duplicate guid": "SELECT feed_id, guid FROM articles WHERE guid IS NOT NULL "
                          "GROUP BY feed_id, guid HAVING count(*) > 1",
        # After a completed run: nothing left between the title pass and the summary pass.
        "translation left half done": "SELECT id FROM articles WHERE translated_at IS NULL "
                                      "AND (title_en IS NOT NULL OR summary_en IS NOT NULL)",
        "translated without provenance": "SELECT id FROM articles WHERE translated_at IS NOT "
                                         "NULL AND translation_backend IS NULL",
        "vector of the wrong size": "SELECT article_id FROM embeddings "
                                    "WHERE length(vector) != dim * 4",
        "cluster count differs from its articles":
            "SELECT c.id FROM clusters c WHERE c.article_count != "
            "(SELECT count(*) FROM articles a WHERE a.cluster_id = c.id)",
        "empty cluster": "SELECT id FROM clusters WHERE article_count = 0",
        "cluster languages differ from its articles":
            "SELECT c.id FROM clusters c WHERE c.language_count != "
            "(SELECT count(*) FROM cluster_languages l WHERE l.cluster_id = c.id)",
        "language counts differ from the articles":
            "SELECT c.id FROM clusters c WHERE c.article_count != "
            "(SELECT COALESCE(sum(l.article_count), 0) FROM cluster_languages l "
            "WHERE l.cluster_id = c.id)",
    }  # fmt: skip
    problems = []
    for name, sql in checks.items():
        rows = conn.execute(sql).fetchall()
        if rows:
            problems.append(f"{name}: {[tuple(r) for r in rows[:5]]}")
    return problems


# --- peak memory of a process tree -------------------------------------------------------------
# ru_maxrss will not do: Linux carries a parent's peak into a forked child across exec, and the
# poll stage parses in worker processes whose memory ru_maxrss of the main process omits.

# Prints the process's own high-water mark (VmHWM: its own memory since exec) on the way out.
HIGH_WATER = (
    "import atexit, re, sys\n"
    "def _hwm():\n"
    "    status = open('/proc/self/status').read()\n"
    "    print('vmhwm_kb', re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr)\n"
    "atexit.register(_hwm)\n"
)
MEASURED_CLI = HIGH_WATER + "from aggregator.cli import cli\ncli(prog_name='aggregator')\n"


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    return children


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_tree(root: int) -> list[int]:
    """A process and all its descendants now (from /proc)."""
    children, found, stack = _children(), [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack += children.get(pid, [])
    return found


def tree_rss_kb(root: int) -> int:
    """Resident memory of a process and all its descendants now, in KB."""
    return sum(_rss_kb(pid) for pid in process_tree(root))


def run_measured(
    command: list[str], timeout: float = 300
) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a command; return its result, the peak resident memory of its whole process tree in
    MB (sampled every 20 ms; at least the main process's own high-water mark when it prints
    one), and the wall time in seconds."""
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate(timeout=timeout)
    sampler.join()
    elapsed = time.monotonic() - started
    marks = [int(line.split()[1]) for line in stderr.splitlines() if line.startswith("vmhwm_kb")]
    peak_mb = max([peak[0], *marks]) / 1024
    result = subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)
    return result, peak_mb, elapsed


@contextmanager
def tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `mount` (needs root, as on this project's machines;
    the test is skipped elsewhere), unmounted afterwards."""
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
