"""Kill an `aggregator` command at its Nth write to the database, for every N of a run.

Run as a script (`python -m tests.crash_at_write`, as tests/test_crash_every_write.py does):

    python -m tests.crash_at_write --start START.db --work DIR [--preload embed] -- CLI ARGS...

CLI ARGS are an `aggregator` command without `--db` (e.g. `embed --feeds feeds.yaml`).

1. The uninterrupted run, on a copy of START.db (a new file when START.db does not exist):
   DIR/clean.db. A `sqlite3` trace callback on every connection the process opens sees each
   statement SQLite starts; the writes among them (INSERT, UPDATE, DELETE, REPLACE, COMMIT,
   CREATE, DROP, ALTER, PRAGMA user_version = N, application_id = N or optimize; each row of
   an executemany is a statement of its own, so a row written outside a transaction is a kill
   point of its own; the store's in-memory reference schema is not the database) are
   counted, and before write N starts the database files (WAL and -shm included) are copied to
   DIR/image-N.db: the process is paused inside the callback, so this is what a SIGKILL at
   write N leaves on disk.
2. The images are grouped by their content (every table, as the next run would read it after
   recovering the WAL). Images with the same content leave the next run the same work, so each
   group gets one real kill and one resumed run: a run of the command on a copy of START.db
   that SIGKILLs its own process as write N (the group's first) is about to start, checked to
   leave exactly the group's content, then the command again, normally, on that file
   (DIR/killed-N.db, which the test compares with clean.db). With writes done in transactions
   the groups are the transactions; a write outside one makes a group of its own.

Every run is a fork of this process made after `--preload` loaded the modules and what the
command would load (the embedding models, the compiled clustering loop); the parent has no
thread and no database open when it forks.

Output: JSON lines, first {"writes": W, "statements": [...]}, then per group {"n": N,
"same_writes": [...], "statement": the statement the kill landed on, "image_matches": bool,
"resumed": exit code}. The runs are deterministic (the test feeds one fetch at a time, fixed
batches), so the statement at each real kill is the clean run's Nth.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import pkgutil
import re
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aggregator

WRITE = re.compile(
    r"\s*(INSERT|UPDATE|DELETE|REPLACE|COMMIT|END|CREATE|DROP|ALTER"
    r"|PRAGMA\s+(?:(?:user_version|application_id)\s*=|optimize))",
    re.IGNORECASE,
)


def shape(statement: str) -> str:
    """A statement's first words, without values: what the clean and the killed run compare."""
    return " ".join(statement.split()[:4])[:80]


def install(on_write: Callable[[str], None]) -> None:
    """Make every sqlite3 connection this process opens report its writes to `on_write`."""
    original = sqlite3.connect

    def connect(database, *args, **kwargs):
        conn = original(database, *args, **kwargs)
        if str(database) == ":memory:":  # (the store's reference schema): not the database
            return conn

        def trace(statement: str) -> None:
            # A trigger's statements are traced as "-- TRIGGER name": part of the write that
            # fired them, not a kill point of their own.
            if WRITE.match(statement):
                on_write(statement)

        conn.set_trace_callback(trace)
        return conn

    sqlite3.connect = connect


def run_cli(args: list[str]) -> int:
    from aggregator.cli import cli

    try:
        cli.main(args=args, prog_name="aggregator", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # noqa: BLE001 (reported to the test, which fails on it)
        print(f"run failed: {exc!r}", file=sys.stderr)
        return 1
    return 0


def in_child(job: Callable[[], int]) -> tuple[int | None, int | None]:
    """Run `job` in a forked child; return (exit code, killing signal)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = job()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    return os.WEXITSTATUS(status), None


def counted_run(args: list[str], db: Path, work: Path) -> int:
    """The uninterrupted run; before each write starts, the database files as they are then
    (the process is inside the trace callback, so nothing is half-way through a write: this
    is what a SIGKILL there would leave on disk) are copied to work/image-N.db."""
    statements: list[str] = []

    def on_write(statement: str) -> None:
        statements.append(shape(statement))
        fresh_copy(db, work / f"image-{len(statements)}.db")

    install(on_write)
    code = run_cli([*args, "--db", str(db)])
    (work / "statements.json").write_text(json.dumps(statements))
    return code


def killed_run(args: list[str], db: Path, n: int, log: Path) -> int:
    seen = [0]

    def on_write(statement: str) -> None:
        seen[0] += 1
        if seen[0] == n:
            log.write_text(shape(statement))
            os.kill(os.getpid(), signal.SIGKILL)

    install(on_write)
    return run_cli([*args, "--db", str(db)])


# Columns that record when something happened on the machine's clock: two runs differ there.
WALL_CLOCK = {
    "fetched_at", "translated_at", "embedded_at", "computed_at", "updated_at", "merged_at",
    "added_at", "created_at", "last_fetched_at", "last_success_at", "last_unconditional_at",
    "next_poll_at", "duration_ms",
}  # fmt: skip


def content_digest(db: Path, skip: set[str] = frozenset(), in_place: bool = False) -> str:
    """A hash of everything a database holds (every table, full-text shadow tables included,
    and the schema version) but the columns in `skip`, as the next run would read it: opening
    the file recovers its WAL as that run would (on a copy, unless `in_place`)."""
    scratch = db if in_place else db.with_name(db.name + ".digest")
    if not in_place:
        fresh_copy(db, scratch)
    digest = hashlib.sha256()
    if scratch.exists():
        conn = sqlite3.connect(scratch)
        digest.update(repr(conn.execute("PRAGMA user_version").fetchone()).encode())
        for name, sql in conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name"):
            digest.update(f"{name}:{sql}".encode())
            if sql and sql.startswith("CREATE TABLE"):
                columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{name}")')]
                kept = ", ".join(f'"{c}"' for c in columns if c not in skip)
                rows = conn.execute(f'SELECT {kept} FROM "{name}"')
                for row in sorted(map(_row_hash, rows)):  # row order is no content
                    digest.update(row)
        conn.close()
    if not in_place:
        fresh_copy(Path("/nonexistent"), scratch)
    return digest.hexdigest()


def _row_hash(row: tuple) -> bytes:
    parts = (v if isinstance(v, bytes) else repr(v).encode() for v in row)
    return hashlib.blake2b(b"\x00|".join(parts), digest_size=16).digest()


def fresh_copy(start: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
        if Path(f"{start}{suffix}").exists():
            shutil.copyfile(f"{start}{suffix}", f"{target}{suffix}")


def preload(what: str, args: list[str]) -> None:
    """Load in the parent what every forked run would otherwise load itself: the modules, and
    the models or compiled code of the stage. Nothing here starts a thread or opens a
    database, so the forks start clean."""
    for module in pkgutil.walk_packages(aggregator.__path__, "aggregator."):
        if not module.name.startswith(("aggregator.publish", "aggregator.demo")):
            importlib.import_module(module.name)
    if what == "embed":
        from aggregator import config as config_module
        from aggregator import keywords
        from aggregator.embed import models

        config = config_module.load(args[args.index("--feeds") + 1])
        settings = config.settings.embedding
        models.load(settings.model, settings.batch_size)
        models.load(settings.multilingual_model, settings.batch_size)
        for language in {feed.language for feed in config.feeds}:  # lemma and gloss tables
            keywords.extract("preload words", language)
    elif what == "cluster":
        from aggregator.cluster.window import warm_up

        warm_up()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--start", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--preload", choices=("embed", "cluster"))
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    args = [a for a in options.args if a != "--"]
    work: Path = options.work
    work.mkdir(parents=True, exist_ok=True)
    preload(options.preload or "", args)

    clean, started = work / "clean.db", time.monotonic()
    fresh_copy(options.start, clean)
    code, killed_by = in_child(lambda: counted_run(args, clean, work))
    if code != 0:
        print(json.dumps({"error": f"clean run: exit {code}, signal {killed_by}"}))
        return 1
    statements = json.loads((work / "statements.json").read_text())
    head = {"writes": len(statements), "statements": statements}
    print(json.dumps({**head, "seconds": round(time.monotonic() - started, 2)}), flush=True)

    # Writes that leave the same content on disk leave the next run the same work: one real
    # kill and one resumed run per distinct content.
    groups: dict[str, list[int]] = {}
    for n in range(1, len(statements) + 1):
        image = work / f"image-{n}.db"
        groups.setdefault(content_digest(image, in_place=True), []).append(n)
    for members in groups.values():
        n, started = members[0], time.monotonic()
        db, at = work / f"killed-{n}.db", work / f"killed-{n}.txt"
        fresh_copy(options.start, db)
        code, killed_by = in_child(lambda n=n, db=db, at=at: killed_run(args, db, n, at))
        if killed_by != signal.SIGKILL:
            print(json.dumps({"n": n, "error": f"not killed: exit {code}, signal {killed_by}"}))
            return 1
        # the same as the image, but for the clock's columns (the two runs differ there)
        image = work / f"image-{n}.db"
        same = content_digest(db, WALL_CLOCK) == content_digest(image, WALL_CLOCK, in_place=True)
        resumed, _ = in_child(lambda db=db: run_cli([*args, "--db", str(db)]))
        record = {"n": n, "same_writes": members, "statement": at.read_text()}
        record |= {"image_matches": same, "resumed": resumed}
        print(json.dumps({**record, "seconds": round(time.monotonic() - started, 2)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
