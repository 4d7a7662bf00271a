"""The CLI's contract: one line on stderr and a non-zero exit for user mistakes."""

import re
import sqlite3

import pytest
import yaml
from wcwidth import wcswidth

from aggregator import store
from aggregator.cli import EXIT_ALL_FEEDS_FAILED
from tests.clirun import REPO, run_cli


def test_the_default_feeds_yaml_is_valid_and_multilingual():
    result = run_cli("feeds", "check")
    assert result.returncode == 0, result.stderr
    match = re.search(r": ok, (\d+) feeds in (\d+) languages", result.stdout)
    assert match, result.stdout
    assert int(match.group(1)) >= 40
    assert int(match.group(2)) >= 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["feeds", "check", "--feeds", "missing.yaml"], "missing.yaml: file not found"),
        (["poll", "--feeds", "missing.yaml"], "missing.yaml: file not found"),
        (
            ["poll", "--feeds", str(REPO / "feeds.yaml"), "--db", "/proc/no/such/x.db"],
            "cannot create database folder",
        ),
        (["serve", "--db", "nothing-here.db"], "no database yet"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_non_zero(tmp_path, args, message):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_feeds_yaml_writes_no_database(tmp_path):
    bad = "feeds:\n  - {url: 'http://x.example/', name: A, lang: fr}\n"
    (tmp_path / "feeds.yaml").write_text(bad)
    result = run_cli("run", "--db", "out.db", cwd=tmp_path)
    assert result.returncode != 0
    assert "feed #1 (A): unknown key 'lang'" in result.stderr
    assert not (tmp_path / "out.db").exists()


# Numbers on the command line, checked before anything runs (issue 10, section 5): each was a
# traceback (a port past 65535 or negative; a sleep of -1, nan or inf after a whole round) or
# silently did nothing (a negative limit).
BAD_NUMBERS = [
    (["serve", "--port", "70000"], "'--port': 70000 is not in the range 1<=x<=65535"),
    (["serve", "--port", "-1"], "'--port': -1 is not in the range 1<=x<=65535"),
    (["demo", "--no-serve", "--port", "70000"], "'--port': 70000 is not in the range"),
    (["run", "--loop", "--interval", "-1"], "'--interval': -1.0 is not in the range 0<=x<=604800"),
    (["run", "--loop", "--interval", "nan"], "'--interval': 'nan' is not a number"),
    (["run", "--loop", "--interval", "inf"], "'--interval': inf is not in the range"),
    (["translate", "--limit", "-5"], "'--limit': -5 is not in the range x>=1"),
]


@pytest.mark.parametrize(
    ("args", "message"), BAD_NUMBERS, ids=[" ".join(args) for args, _ in BAD_NUMBERS]
)
def test_numbers_out_of_range_are_refused_before_anything_runs(tmp_path, args, message):
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    if args[0] == "serve":  # a database to serve, so only the port can be wrong
        store.connect(tmp_path / "out.db").close()
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli(*args, "--db", "out.db", cwd=tmp_path, timeout=60)
    # click's usage error: the usage, a hint, then the reason on one line; exit 2
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert message in result.stderr.strip().splitlines()[-1], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing ran


def test_the_demo_has_a_database_file_of_its_own():
    # Issue 13 §6: `make demo` then `aggregator run` mixed fictional and real outlets in one file.
    def default_db(*command: str) -> str:
        result = run_cli(*command, "--help")
        assert result.returncode == 0, result.stderr
        return re.search(r"--db FILE .*?\[default:\s+([^\]\s]+)\]", result.stdout, re.S).group(1)

    assert default_db("demo") == "db/demo.db"
    for command in (("run",), ("poll",), ("serve",), ("feeds", "list")):
        assert default_db(*command) == "db/aggregator.db", command
    assert "aggregator demo --db db/demo.db" in (REPO / "Makefile").read_text()


def test_poll_exits_non_zero_when_every_due_feed_failed_and_says_what_waits(server, tmp_path):
    # Issue 13 §5: "81 done, 81 failed" exited 0, and the next run's "0 done" hid the backoff.
    urls = [server.route(f"/down{n}.xml", "unavailable", status=503) for n in range(3)]
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(yaml.safe_dump({
        "settings": {"allow_private_addresses": True, "per_host_interval_s": 0.0},
        "feeds": [{"url": url, "name": f"Down {n}", "language": "en"}
                  for n, url in enumerate(urls)],
    }))  # fmt: skip
    db = tmp_path / "news.db"
    first = run_cli("poll", "--feeds", str(feeds), "--db", str(db), cwd=tmp_path)
    assert first.returncode == EXIT_ALL_FEEDS_FAILED == 3, first.stderr[-2000:]
    assert "poll: 3 done, 3 failed" in first.stdout
    assert "3 feeds in backoff, 0 dead, next due 20" in first.stdout
    assert "every due feed failed (3)" in first.stderr and "Traceback" not in first.stderr

    again = run_cli("poll", "--feeds", str(feeds), "--db", str(db), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]  # nothing was due: nothing failed
    assert re.search(
        r"poll: 0 done.*; 3 feeds in backoff, 0 dead, next due \S+Z \(in \d+ min\)", again.stdout
    ), again.stdout

    # `run`, the command cron runs, the same way (the third walkthrough found it exiting 0).
    ran = run_cli("run", "--force", "--feeds", str(feeds), "--db", str(db), cwd=tmp_path)
    assert ran.returncode == EXIT_ALL_FEEDS_FAILED, ran.stderr[-2000:]
    assert "poll: 3 done, 3 failed" in ran.stdout and "3 feeds in backoff, 0 dead" in ran.stdout
    assert "cluster: " in ran.stdout  # the other stages still ran
    assert "every due feed failed (3)" in ran.stderr and "Traceback" not in ran.stderr

    server.route("/down0.xml", "<rss version='2.0'><channel><title>Up</title></channel></rss>")
    forced = run_cli("poll", "--force", "--feeds", str(feeds), "--db", str(db), cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr[-2000:]  # one feed answered
    assert "poll: 3 done, 2 failed" in forced.stdout and "2 feeds in backoff" in forced.stdout


def test_feeds_list_shows_the_english_name_beside_the_original(tmp_path):
    # Issue 13 §12.
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n  - {url: 'https://n.example/rss', name: 南岭时报, name_en: Nanling Times}\n"
        "  - {url: 'https://m.example/rss', name: Le Monde}\n"
    )
    store.connect(tmp_path / "a.db").close()
    result = run_cli("feeds", "list", "--feeds", str(feeds), "--db", str(tmp_path / "a.db"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Le Monde ") and lines[1].startswith("南岭时报 (Nanling Times) ")
    # Columns line up on a terminal, where a CJK character takes two columns (the second
    # walkthrough of issue 13 found them shifted).
    assert len({wcswidth(line[: line.index(" ?? ")]) for line in lines}) == 1, lines


def test_feeds_list_before_the_first_run_shows_every_feed_never_polled(tmp_path):
    # Its help promised "never polled"; before the first run it said "no database yet" and
    # listed nothing (second walkthrough of issue 13). It still creates nothing.
    db = tmp_path / "not" / "yet" / "news.db"
    result = run_cli("feeds", "list", "--feeds", str(REPO / "feeds.yaml"), "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"{db}: no database yet: no feed has been polled\n"
    lines = result.stdout.splitlines()
    assert len(lines) == len(yaml.safe_load((REPO / "feeds.yaml").read_text())["feeds"])
    assert all(" active never polled errors=0 next=now" in line for line in lines), lines[:3]
    assert not (tmp_path / "not").exists()


def test_feeds_list_says_when_the_database_holds_feeds_of_another_list(tmp_path):
    # The third walkthrough of issue 13: the demo's database listed with the real feeds.yaml
    # showed 81 feeds "never polled" and said nothing of the 17 it holds.
    db = tmp_path / "a.db"
    store.connect(db).close()
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO feeds (url, name, active, state, error_count, added_at) VALUES"
            " ('https://other.example/rss', 'Other', 1, 'active', 0, '2026-01-01T00:00:00Z')"
        )
    conn.close()
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - {url: 'https://m.example/rss', name: Le Monde}\n")
    result = run_cli("feeds", "list", "--feeds", str(feeds), "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert "Le Monde" in result.stdout and "Other" not in result.stdout
    assert f"{db}: 1 other feed polled into this database is not in {feeds}" in result.stderr


def test_counts_read_as_english(tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - {url: 'https://m.example/rss', name: Le Monde, language: fr}\n")
    result = run_cli("feeds", "check", "--feeds", str(feeds))
    assert result.returncode == 0, result.stderr
    assert "ok, 1 feed in 1 language (fr)" in result.stdout  # was "1 feeds in 1 languages"
