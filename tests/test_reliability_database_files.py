"""Files that are not ours, and reading without writing (issue 10, section 3), through the real
CLI in a subprocess on real SQLite files.

Only the commands that fill a database (poll, run, demo, translate, embed, cluster) may create
or upgrade one, and only a new or empty file or one of ours; every other file is refused with
one line and left byte for byte as it was, with no -wal, -shm or -journal created beside it.
The reading commands (feeds list, models list, serve) open the database read-only: they never
change it, work on read-only media and on a bare copy of the file, and serve browses a database
another process is writing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aggregator import store
from tests import test_publish_sample as sample
from tests.clirun import assert_one_line_error, run_cli
from tests.reliability_helpers import REPO, aggregator_command, child_env, tmpfs

READING = [["feeds", "list"], ["models", "list"], ["serve"]]
FILLING = [["poll"], ["run"], ["translate"], ["embed"], ["cluster"]]
SAMPLE_URL = "https://feeds.example/2.xml"  # BBC News in the sample database


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd, env=child_env())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def command(args: list[str], db: Path) -> list[str]:
    """A command as a user types it, against `db`, with feeds.yaml from the current folder."""
    extra = {"serve": ["--port", str(free_port())], "demo": ["--no-serve"]}
    return [*args, *extra.get(args[0], ["--feeds", "feeds.yaml"]), "--db", str(db)]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_state(folder: Path) -> dict[str, str]:
    """Every file in the folder with its hash: a created -wal, -shm or -journal shows too."""
    return {p.name: digest(p) for p in sorted(folder.iterdir()) if p.is_file()}


def write_feeds(folder: Path, *urls: str) -> Path:
    path = folder / "feeds.yaml"
    lines = "".join(
        f"  - {{url: '{url}', name: 'Feed {n}', language: en}}\n" for n, url in enumerate(urls)
    )
    path.write_text("feeds:\n" + lines)
    return path


# --- files that are not ours -------------------------------------------------------------------


def _tables(*statements: str, wal: bool = False) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        conn = sqlite3.connect(path)
        if wal:
            conn.execute("PRAGMA journal_mode = WAL")
        for statement in statements:
            conn.execute(statement)
        conn.commit()
        conn.close()

    return make


def _text(path: Path) -> None:
    path.write_text("my notes, not a database\n" * 200)


FOREIGN: dict[str, tuple[Callable[[Path], None], str]] = {
    "one unrelated table": (
        _tables("CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('keep me')"),
        "is not an aggregator database (user_version 0",
    ),
    "another program's feeds table": (
        _tables(
            "CREATE TABLE feeds (link TEXT, label TEXT)",
            "INSERT INTO feeds VALUES ('http://x/', 'mine')",
        ),
        "is not an aggregator database",
    ),
    "user_version 99": (
        _tables("CREATE TABLE feeds (link TEXT)", "PRAGMA user_version = 99"),
        "user_version 99 but no table",
    ),
    "our version number, not our tables": (
        _tables("CREATE TABLE notes (body TEXT)", "PRAGMA user_version = 3"),
        "user_version 3 but no table 'feeds'",
    ),
    "our table names, other columns": (
        _tables(
            "CREATE TABLE feeds (id INTEGER PRIMARY KEY)",
            "PRAGMA user_version = 1",
            *(
                f"CREATE TABLE {name} (id INTEGER)"
                for name in (
                    "fetches",
                    "clusters",
                    "articles",
                    "cluster_languages",
                    "translation_cache",
                    "embeddings",
                    "article_keywords",
                    "cluster_members",
                    "cluster_state",
                    "articles_fts",
                    "articles_fts_original",
                )
            ),
        ),
        "has no column",
    ),
    "another program's application_id": (
        _tables("CREATE TABLE tiles (z INTEGER)", "PRAGMA application_id = 1297105496"),
        "belongs to another program",
    ),
    "in WAL mode": (
        _tables("CREATE TABLE notes (body TEXT)", wal=True),
        "is not an aggregator database",
    ),
    "not a database": (_text, "file is not a database"),
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_a_file_that_is_not_ours_is_refused_by_every_command_and_left_unchanged(kind, tmp_path):
    make, message = FOREIGN[kind]
    db = tmp_path / "other.db"
    make(db)
    write_feeds(tmp_path, "http://a.example/rss")
    before = folder_state(tmp_path)
    for args in [*READING, *FILLING, ["demo"]]:
        result = cli(*command(args, db), cwd=tmp_path)
        assert_one_line_error(result, message)
        assert folder_state(tmp_path) == before, args  # no byte changed, no file created


# --- reading commands --------------------------------------------------------------------------


@contextmanager
def serving(db: Path, cwd: Path) -> Iterator[str]:
    """`aggregator serve` on `db` in a subprocess, until the block ends."""
    port = free_port()
    process = subprocess.Popen(
        aggregator_command("serve", "--db", str(db), "--port", str(port)),
        cwd=cwd,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"aggregator serve exited: {process.stderr.read()}")
            try:
                with urllib.request.urlopen(url + "/", timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "serve did not answer within 60 s"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode("utf-8")


def assert_browsable(url: str) -> None:
    status, home = get(url + "/")
    assert status == 200 and "Strong earthquake in Tokyo" in home
    status, story = get(url + "/-/story/1")
    assert status == 200 and "東京で強い地震" in story
    status, rows = get(url + "/news/feeds.json?_shape=array")
    assert status == 200 and len(json.loads(rows)) == len(sample.FEEDS)


def feeds_list_lines(result: subprocess.CompletedProcess) -> dict[str, str]:
    assert result.returncode == 0, result.stderr[-3000:]
    return {line.split()[0] + " " + line.split()[1]: line for line in result.stdout.splitlines()}


def test_reading_commands_never_write_to_an_aggregator_database(tmp_path):
    db = sample.build(tmp_path / "news.db")
    # Another feeds.yaml: one feed the database has, one it has never seen.
    write_feeds(tmp_path, SAMPLE_URL, "http://new.example/rss")
    before = folder_state(tmp_path)
    lines = feeds_list_lines(cli(*command(["feeds", "list"], db), cwd=tmp_path))
    assert set(lines) == {"Feed 0", "Feed 1"}
    assert "errors=0 next=" in lines["Feed 0"] and "never polled" not in lines["Feed 0"]
    assert "never polled" in lines["Feed 1"] and lines["Feed 1"].endswith("next=now")
    result = cli(*command(["models", "list"], db), cwd=tmp_path)
    assert result.returncode == 0 and "Argos models in" in result.stdout, result.stderr
    with serving(db, tmp_path) as url:
        assert_browsable(url)
    after = folder_state(tmp_path)
    assert after["news.db"] == before["news.db"]  # not one byte of the database changed
    # The only files a reader may add are SQLite's empty WAL coordination files (mode=ro).
    assert set(after) - set(before) <= {"news.db-wal", "news.db-shm"}
    assert not (tmp_path / "news.db-wal").exists() or not (tmp_path / "news.db-wal").stat().st_size
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM feeds WHERE active").fetchone()[0] == 7
    assert not conn.execute("SELECT 1 FROM feeds WHERE url = 'http://new.example/rss'").fetchall()


def test_feeds_list_on_a_missing_path_creates_nothing(tmp_path):
    write_feeds(tmp_path, "http://a.example/rss")
    db = tmp_path / "not" / "there" / "news.db"
    assert_one_line_error(cli(*command(["serve"], db), cwd=tmp_path), "no database yet")
    listed = cli(*command(["feeds", "list"], db), cwd=tmp_path)  # every feed: never polled
    assert listed.returncode == 0 and "never polled" in listed.stdout, listed.stderr
    result = cli(*command(["models", "list"], db), cwd=tmp_path)  # needs no database at all
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "not").exists()


def older_database(path: Path, version: int) -> Path:
    """One of ours as an older program left it: the first `version` migrations, one feed."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for migration in store.MIGRATIONS[:version]:
        migration(conn)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute(
        "INSERT INTO feeds (url, name, language, added_at) VALUES "
        f"('{SAMPLE_URL}', 'Feed 0', 'en', '2026-11-24T00:00:00Z')"
    )
    conn.close()
    return path


def test_an_older_database_of_ours_is_upgraded_only_by_a_filling_command(tmp_path):
    db = older_database(tmp_path / "news.db", len(store.MIGRATIONS) - 1)
    write_feeds(tmp_path, SAMPLE_URL)
    before = folder_state(tmp_path)
    for args in READING:
        result = cli(*command(args, db), cwd=tmp_path)
        assert_one_line_error(result, "older than this program's", "aggregator run")
        assert folder_state(tmp_path) == before, args
    result = cli(*command(["cluster"], db), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    conn = sqlite3.connect(db)
    assert store.schema_version(conn) == len(store.MIGRATIONS)
    conn.close()
    assert "Feed 0" in feeds_list_lines(cli(*command(["feeds", "list"], db), cwd=tmp_path))


@pytest.mark.parametrize("filling", [["run"], ["cluster"]])
@pytest.mark.parametrize("start", ["no file", "empty file", "empty SQLite database"])
def test_a_filling_command_creates_a_new_or_empty_database(start, filling, tmp_path):
    """A guard (this held before): only what is refused changed."""
    write_feeds(tmp_path)
    db = tmp_path / "db" / "news.db"
    if start != "no file":
        db.parent.mkdir()
        db.write_bytes(b"")
    if start == "empty SQLite database":  # a header and pages, but no schema
        _tables("CREATE TABLE scratch (x)", "DROP TABLE scratch")(db)
        assert db.stat().st_size > 0
    result = cli(*command(filling, db), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    conn = sqlite3.connect(db)
    assert store.schema_version(conn) == len(store.MIGRATIONS)


@pytest.fixture
def read_only_media(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs remounted read-only once filled (needs root, as on this project's machines)."""
    with tmpfs(tmp_path / "media", "8m") as mount:
        yield mount


def test_reading_commands_work_on_read_only_media(tmp_path, read_only_media):
    sample.build(tmp_path / "news.db")
    db = read_only_media / "news.db"
    shutil.copyfile(tmp_path / "news.db", db)
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_media)], check=True)
    before = folder_state(read_only_media)
    write_feeds(tmp_path, SAMPLE_URL)
    assert "Feed 0" in feeds_list_lines(cli(*command(["feeds", "list"], db), cwd=tmp_path))
    result = cli(*command(["models", "list"], db), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    with serving(db, tmp_path) as url:
        assert_browsable(url)
    assert folder_state(read_only_media) == before


def test_reading_commands_work_on_an_archived_copy(tmp_path):
    """The database file alone, copied while a writer had it open in WAL mode (its last
    commits still in the -wal, not copied), made read-only: what it held when last
    checkpointed is readable, and the copy stays as it was."""
    live = sample.build(tmp_path / "live.db")
    writer = store.connect(live)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("UPDATE clusters SET headline_en = 'Not in the archive' WHERE id = 1")
    archive = tmp_path / "archive"
    archive.mkdir()
    copy = archive / "news.db"
    shutil.copyfile(live, copy)
    writer.close()
    copy.chmod(0o444)
    before = digest(copy)
    write_feeds(tmp_path, SAMPLE_URL)
    assert "Feed 0" in feeds_list_lines(cli(*command(["feeds", "list"], copy), cwd=tmp_path))
    with serving(copy, tmp_path) as url:
        assert_browsable(url)
        assert "Not in the archive" not in get(url + "/")[1]
    assert digest(copy) == before


def test_serve_browses_a_database_another_process_is_writing(tmp_path):
    """A guard (this held before, and must still with the read-only open): pages answer while
    another process holds a write transaction open, and show each commit once made."""
    db = sample.build(tmp_path / "news.db")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)],
        cwd=REPO,
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        with serving(db, tmp_path) as url:
            assert writer.stdout.readline().strip() == "holding"  # a write transaction open
            assert_browsable(url)
            assert "Tokyo quake: death toll rises" not in get(url + "/")[1]
            writer.stdin.write("commit\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == "committed"
            assert "Tokyo quake: death toll rises" in get(url + "/")[1]
    finally:
        writer.kill()
        writer.wait(timeout=10)


# Another process writing: it opens a write transaction, changes a headline, and commits when
# told to.
WRITER = (
    "import sys\n"
    "from aggregator import store\n"
    "conn = store.connect(sys.argv[1])\n"
    "conn.execute('BEGIN IMMEDIATE')\n"
    "conn.execute(\"UPDATE clusters SET headline_en = 'Tokyo quake: death toll rises' "
    'WHERE id = 1")\n'
    "print('holding', flush=True)\n"
    "sys.stdin.readline()\n"
    "conn.execute('COMMIT')\n"
    "print('committed', flush=True)\n"
    "sys.stdin.readline()\n"
)
