"""The edge-case corpus (tests/fixtures/corpus, made by tests/corpus/make_corpus.py) through the
real poll stage over loopback: every file yields a recorded fetch, nothing crashes, every
manifest expectation holds, and nothing stored could run script."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator import store
from aggregator.config import Config, Feed, Settings
from aggregator.poll import stage
from aggregator.publish.serve import make_datasette
from aggregator.timeutil import now_iso
from tests.corpus import make_corpus
from tests.corpus.checks import article_problems, executable_payloads, script_hazards
from tests.loopback import LoopbackServer

CORPUS = make_corpus.OUT
# A GUID is an opaque name, never a link (an RSS 1.0 rdf:about may say anything): not checked.
TEXT_COLUMNS = ("url", "title", "summary", "summary_html", "author")


def manifest() -> list[dict]:
    return json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))["files"]


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[sqlite3.Connection, dict]]:
    """Serve every corpus file and poll them all in one run of the real stage."""
    server = LoopbackServer().start()
    files = {}
    for entry in manifest():
        body = (CORPUS / entry["file"]).read_bytes()
        url = server.route(
            f"/corpus/{entry['file']}", body, headers={"Content-Type": entry["content_type"]}
        )
        files[url] = entry
    settings = Settings(
        allow_private_addresses=True,
        per_host_interval_s=0.0,
        per_host_concurrency=16,
        concurrency=16,
        timeout_s=10.0,
    )
    feeds = tuple(Feed(url=url, name=entry["file"]) for url, entry in files.items())
    config = Config(feeds=feeds, settings=settings)
    conn = store.connect(Path(tmp_path_factory.mktemp("corpus")) / "corpus.db")
    store.sync_feeds(conn, config.feeds, now_iso())
    report = stage.run(conn, config, force=True)
    again = stage.run(conn, config, force=True)
    yield conn, {"files": files, "report": report, "again": again, "server": server}
    conn.close()
    server.stop()


def test_the_committed_corpus_is_what_the_generator_makes():
    assert make_corpus.differences() == [], "run: .venv/bin/python -m tests.corpus.make_corpus"
    assert len(manifest()) >= 300


def test_every_file_was_fetched_once_and_recorded(polled):
    conn, run = polled
    assert run["report"].done == len(run["files"])
    rows = conn.execute(
        "SELECT feeds.url, count(fetches.id) AS n, feeds.last_status FROM feeds "
        "LEFT JOIN fetches ON fetches.feed_id = feeds.id GROUP BY feeds.id"
    ).fetchall()
    assert {row["url"] for row in rows} == set(run["files"])
    assert all(row["n"] == 2 and row["last_status"] for row in rows), [
        tuple(row) for row in rows if row["n"] != 2 or not row["last_status"]
    ]


def test_a_second_poll_of_the_same_bodies_stores_nothing_new(polled):
    conn, run = polled
    assert run["again"].details["new articles"] == 0
    assert (
        conn.execute(
            "SELECT count(*) FROM fetches WHERE new_articles > 0 AND id > "
            "(SELECT count(*) FROM feeds)"
        ).fetchone()[0]
        == 0
    )


def test_each_file_meets_its_manifest_expectations(polled):
    conn, run = polled
    failures = []
    for url, expect in run["files"].items():
        failures += [f"{expect['file']}: {p}" for p in expectation_failures(conn, url, expect)]
    assert not failures, "\n".join(failures)


def test_nothing_stored_could_run_script_or_link_outside_http(polled):
    conn, _ = polled
    problems = article_problems(conn, datetime.now(UTC))
    for row in conn.execute("SELECT id, title, last_status FROM feeds"):
        problems += [f"feed {row['id']}: {h}" for h in script_hazards(row["title"])]
    assert not problems, "\n".join(problems[:50])


def test_the_script_check_flags_every_payload_that_runs_in_a_browser():
    """The check above can fail: each raw payload is flagged, except the four that a browser
    would not run either (markup split inside a tag name, a comment, escaped text, a plain
    link)."""
    inert = {"script-nested", "comment-conditional", "double-escaped-script", "a-target-blank"}
    unflagged = [
        name for name, payload in make_corpus.XSS_PAYLOADS.items() if not script_hazards(payload)
    ]
    assert sorted(unflagged) == sorted(inert)


def test_the_sanitiser_payloads_reached_the_database(polled):
    """The XSS cases are stored as articles (the guard is sanitising, not dropping news)."""
    conn, _ = polled
    stored = conn.execute(
        "SELECT count(*) FROM articles JOIN feeds ON feeds.id = articles.feed_id "
        "WHERE feeds.name LIKE '%-xss-summary-%'"
    ).fetchone()[0]
    assert stored == len(make_corpus.XSS_PAYLOADS) * len(make_corpus.FORMATS)


def test_no_feed_payload_runs_in_the_published_pages(polled):
    """The corpus's hostile feeds, as Datasette publishes them (with the project's templates
    and plugin): table pages (summary_html rendered as HTML), row pages, search, feeds and
    fetches. No payload ends up where a browser would run it."""
    conn, _ = polled
    site = make_datasette(conn.execute("PRAGMA database_list").fetchone()["file"])
    name = site.get_database().name
    hostile = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM feeds WHERE name LIKE '%xss%' OR name LIKE '%non-http%' "
            "OR name LIKE '%double-escaped%' OR name LIKE '%entity-with-script%' "
            "OR name LIKE '%content-encoded%' OR name LIKE '%media-and-unknown-ns%'"
        )
    ]
    assert len(hostile) >= 6 * len(make_corpus.FORMATS)
    rows = [
        row[0]
        for row in conn.execute(
            f"SELECT id FROM articles WHERE feed_id IN ({','.join('?' * len(hostile))}) "
            "ORDER BY random() LIMIT 40",
            hostile,
        )
    ]
    paths = [f"/{name}/articles?feed_id={feed}&_size=max" for feed in hostile]
    paths += [f"/{name}/articles/{row}" for row in rows]
    paths += [
        "/",
        f"/{name}/feeds?_size=max",
        f"/{name}/fetches?_size=max",
        "/-/find?q=script",
        "/-/find?q=alert",
        "/-/find?q=Mixed+case",
        "/-/find?q=Data",
    ]

    async def fetch_all() -> list[tuple[str, int, str]]:
        pages = []
        for path in paths:
            response = await site.client.get(path)
            pages.append((path, response.status_code, response.text))
        return pages

    problems = []
    pages = asyncio.run(fetch_all())
    shown = " ".join(page for _, _, page in pages)
    for text in ("Script payload", "Image error", "Mutation", "JS link"):  # we looked at them
        assert text in shown, text
    for path, status, page in pages:
        if status != 200:
            problems.append(f"{path}: HTTP {status}")
        problems += [f"{path}: {found}" for found in executable_payloads(page)]
    assert not problems, "\n".join(problems[:40])


def test_the_page_check_finds_a_payload_that_would_run():
    page = (
        "<html><script>var ok = 1;</script><p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
        "<a href='https://ok.example/'>fine</a>"
    )
    assert executable_payloads(page) == []
    for bad in (
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<a href='jav&#x09;ascript:x'>x</a>",
        "<iframe src='https://x.example'>",
        "<meta http-equiv='refresh' content='0;url=https://x.example'>",
    ):
        assert executable_payloads(page + bad), bad


def expectation_failures(conn: sqlite3.Connection, url: str, expect: dict) -> list[str]:
    feed = conn.execute("SELECT id, last_status FROM feeds WHERE url = ?", (url,)).fetchone()
    first = conn.execute(
        "SELECT error, status FROM fetches WHERE feed_id = ? ORDER BY id LIMIT 1", (feed["id"],)
    ).fetchone()
    rows = conn.execute("SELECT * FROM articles WHERE feed_id = ?", (feed["id"],)).fetchall()
    count = len(rows)
    failures = []
    if expect["articles"] is not None and count != expect["articles"]:
        failures.append(f"{count} articles, expected {expect['articles']}")
    if count < expect["min_articles"]:
        failures.append(f"{count} articles, expected at least {expect['min_articles']}")
    if expect["max_articles"] is not None and count > expect["max_articles"]:
        failures.append(f"{count} articles, expected at most {expect['max_articles']}")
    if expect["feed_ok"] is True and first["error"] is not None:
        failures.append(f"fetch recorded as an error: {first['status']}")
    if expect["feed_ok"] is False and first["error"] is None:
        failures.append(f"fetch recorded as fine: {first['status']}")
    visible = " ".join(" ".join((row["title"] or "", row["summary"] or "")) for row in rows)
    visible = " ".join(visible.split())
    failures += [f"text {t!r} not stored" for t in expect["expect_text"] if t not in visible]
    stored = [row[column] or "" for row in rows for column in TEXT_COLUMNS]
    for text in expect["forbid_text"]:
        if any(text in value for value in stored):
            failures.append(f"stored the forbidden text {text[:40]!r}")
    longest = max((len(value) for value in stored), default=0)
    if expect["max_stored_chars"] is not None and longest > expect["max_stored_chars"]:
        failures.append(f"a stored value has {longest:,} characters")
    return failures
