"""One feed can never stop a poll: real loopback server, real SQLite file.

The triggers red-teamed in issue 10 (lone surrogates, non-ASCII digits, numbers too large for a
date) are each handled as what they are; and any exception nobody foresaw, at any step of one
feed's handling, becomes that feed's recorded `internal` error while the other feeds are stored.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from aggregator import store
from aggregator.poll import fetch, schedule, stage
from aggregator.poll import parse as parse_module
from aggregator.timeutil import from_iso
from tests.clirun import run_cli
from tests.poll_helpers import articles, feed_row, fetch_rows, item, make_config, poll, rss


def titled(title_xml: str, channel: str = "<language>en</language>") -> bytes:
    """An RSS feed of one item whose title is `title_xml` (written into the XML as is)."""
    return rss(
        "<item><title>" + title_xml + "</title><link>https://bad.example/1</link>"
        "<guid>bad-1</guid><description>Text.</description></item>",
        channel=channel,
    )


def json_feed(title_json: str) -> bytes:
    """A JSON Feed of one item whose title is `title_json`, a JSON string literal as written."""
    return (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [{"id": "j1", '
        f'"url": "https://bad.example/j1", "title": {title_json}, "content_text": "Text."}}]}}'
    ).encode()


@dataclass
class Trigger:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # the fetches.error expected (None: stored as a success)
    title: str | None = None  # the stored title expected
    wait: timedelta | None = None  # next_poll_at - last_fetched_at expected


DAY = schedule.MAX_HINT
# Each crashed the whole poll before (issue 10, section 1, and the same classes found since).
TRIGGERS = {
    # lone surrogates: feedparser's chr() of the reference failed, or SQLite could not encode it
    "rss-title-surrogate-hex": Trigger(titled("Bad &#xD800; title"), title="Bad \ufffd title"),
    "rss-title-surrogate-decimal": Trigger(titled("Bad &#57343; title"), title="Bad \ufffd title"),
    "rss-title-past-unicode": Trigger(titled("Bad &#x110000; title"), title="Bad \ufffd title"),
    "rss-title-huge-reference": Trigger(
        titled("Bad &#99999999999999999999; title"), title="Bad \ufffd title"
    ),
    "json-title-surrogate": Trigger(json_feed('"Bad \\ud800 title"'), title="Bad \ufffd title"),
    # non-ASCII digits: str.isdigit() is true for "²", int() refuses it
    "retry-after-superscript-503": Trigger(
        b"busy", 503, {"Retry-After": "\u00b2"}, error="http", wait=timedelta(seconds=600)
    ),
    "retry-after-superscript-429": Trigger(
        b"slow down", 429, {"Retry-After": "\u00b2"}, error="http", wait=timedelta(seconds=600)
    ),
    "retry-after-5000-digits": Trigger(
        b"slow down", 429, {"Retry-After": "9" * 5000}, error="http", wait=DAY
    ),
    "skip-hours-superscript": Trigger(
        titled("Fine", channel="<skipHours><hour>\u00b2</hour></skipHours>"), title="Fine"
    ),
    # numbers too large for a timedelta, a datetime or an SQLite integer
    "max-age-20-digits": Trigger(
        titled("Fine"),
        headers={"Cache-Control": "max-age=99999999999999999999"},
        title="Fine",
        wait=DAY,
    ),
    "ttl-17-digits": Trigger(
        titled("Fine", channel="<ttl>99999999999999999</ttl>"), title="Fine", wait=DAY
    ),
    "ttl-past-sqlite-integer": Trigger(
        titled("Fine", channel=f"<ttl>{2**70}</ttl>"), title="Fine", wait=DAY
    ),
    # past datetime.max once in UTC: ignored, as any Expires that is not a date
    "expires-past-datetime-max": Trigger(
        titled("Fine"),
        headers={"Expires": "Fri, 31 Dec 9999 23:00:00 -0100"},
        title="Fine",
        wait=timedelta(seconds=600),
    ),
}


@pytest.mark.parametrize("name", list(TRIGGERS))
def test_each_trigger_is_handled_and_the_other_feeds_are_stored(server, conn, name):
    trigger = TRIGGERS[name]
    good = server.route("/good.xml", rss(item(1)))
    bad = server.route("/bad", trigger.body, trigger.status, trigger.headers)
    report = poll(conn, make_config(good, bad, poll_interval_s=600))
    assert report.done == 2
    assert [r["title"] for r in articles(conn) if r["url"].startswith("https://news.")] == [
        "Story number 1"
    ]
    (good_fetch,) = fetch_rows(conn, good)
    assert good_fetch["error"] is None
    (fetched,) = fetch_rows(conn, bad)
    assert fetched["error"] == trigger.error, fetched["status"]
    row = feed_row(conn, bad)
    stored = [r["title"] for r in articles(conn) if r["feed_id"] == row["id"]]
    assert stored == ([trigger.title] if trigger.title else [])
    if trigger.wait is not None:
        waited = from_iso(row["next_poll_at"]) - from_iso(row["last_fetched_at"])
        assert waited == trigger.wait
    if row["ttl_minutes"] is not None:
        assert row["ttl_minutes"] == DAY // timedelta(minutes=1)  # capped, as it applies


def test_every_trigger_at_once_is_one_clean_cli_poll(server, tmp_path):
    """As the red team ran it: one `aggregator poll` with all of them exits 0, every feed has
    its fetch recorded, and the good feed is stored."""
    urls = {"good": server.route("/good.xml", rss(item(1)))}
    for name, trigger in TRIGGERS.items():
        urls[name] = server.route(f"/{name}", trigger.body, trigger.status, trigger.headers)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(yaml.safe_dump({
        "settings": {"allow_private_addresses": True, "per_host_interval_s": 0.0,
                     "per_host_concurrency": 8},
        "feeds": [{"url": url, "name": name, "language": "en"} for name, url in urls.items()],
    }))  # fmt: skip
    db = tmp_path / "news.db"
    result = run_cli("poll", "--feeds", str(feeds), "--db", str(db))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    conn = store.connect(db)
    counts = dict(conn.execute(
        "SELECT f.name, (SELECT count(*) FROM fetches x WHERE x.feed_id = f.id) FROM feeds f"
    ).fetchall())  # fmt: skip
    assert counts == dict.fromkeys(urls, 1)
    internal = conn.execute("SELECT count(*) FROM fetches WHERE error = 'internal'").fetchone()[0]
    assert internal == 0  # each trigger is handled as what it is, not merely contained
    conn.close()


# --- exceptions nobody foresaw ------------------------------------------------------------------

FAULT = "injected fault"


def inject(monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """Make one step raise for the feed whose URL contains "faulty" (the schedule step: for the
    feed whose <ttl> is 77), as a bug in that step would."""
    if step == "fetch":
        original_fetch = fetch.Fetcher.fetch

        async def fetch_fault(self, url, *args, **kwargs):
            if "faulty" in url:
                raise RuntimeError(FAULT)
            return await original_fetch(self, url, *args, **kwargs)

        monkeypatch.setattr(fetch.Fetcher, "fetch", fetch_fault)
    elif step == "parse":
        original_parse = parse_module.parse

        def parse_fault(body, **options):
            if "faulty" in options["url"]:
                raise RuntimeError(FAULT)
            return original_parse(body, **options)

        monkeypatch.setattr(parse_module, "parse", parse_fault)
    elif step == "normalise":
        original_entry = parse_module._entry

        def entry_fault(raw, base, *args):
            if "faulty" in base:
                raise RuntimeError(FAULT)
            return original_entry(raw, base, *args)

        monkeypatch.setattr(parse_module, "_entry", entry_fault)
    elif step == "schedule":
        original_plan = schedule.after_success

        def plan_fault(now, interval_s, hints):
            if hints.ttl_minutes == 77:
                raise RuntimeError(FAULT)
            return original_plan(now, interval_s, hints)

        monkeypatch.setattr(schedule, "after_success", plan_fault)
    elif step in ("save-articles", "save-feed"):
        # After the articles (and the fetch row) are written: only a rollback undoes them.
        name = "insert_articles" if step == "save-articles" else "update_feed"
        original_save = getattr(stage, name)

        def save_fault(conn, result, *args):
            value = original_save(conn, result, *args)
            if "faulty" in result.job.url and result.outcome != "error":
                raise RuntimeError(FAULT)
            return value

        monkeypatch.setattr(stage, name, save_fault)
    else:
        raise AssertionError(step)


STEPS = {  # injected step → the step the recorded status names
    "fetch": "fetching",
    "parse": "parsing",
    "normalise": "parsing",  # normalising entries is part of the parse (in the parse worker)
    "schedule": "scheduling",
    "save-articles": "saving",
    "save-feed": "saving",
}


@pytest.mark.parametrize("step", list(STEPS))
def test_an_exception_at_any_step_is_that_feeds_error_and_the_others_are_stored(
    server, conn, monkeypatch, step
):
    goods = [server.route(f"/good-{n}.xml", rss(item(n))) for n in range(3)]
    faulty = server.route("/faulty.xml", rss(item(10), item(11), channel="<ttl>77</ttl>"))
    config = make_config(goods[0], faulty, goods[1], goods[2], poll_interval_s=600)
    inject(monkeypatch, step)
    report = poll(conn, config, workers=0)  # parse in a thread of this process: patched too
    assert (report.done, report.failed) == (4, 1)
    assert sorted(r["title"] for r in articles(conn)) == [f"Story number {n}" for n in range(3)]
    for url in goods:
        assert [r["error"] for r in fetch_rows(conn, url)] == [None]
    (recorded,) = fetch_rows(conn, faulty)
    assert recorded["error"] == "internal"
    assert recorded["status"] == f"internal error while {STEPS[step]}: RuntimeError: {FAULT}"
    row = feed_row(conn, faulty)
    assert (row["error_count"], row["state"], row["last_success_at"]) == (1, "backoff", None)
    assert row["last_status"] == recorded["status"]
    assert from_iso(row["next_poll_at"]) > datetime.now(UTC)  # backed off, not due again
    assert row["content_hash"] is None  # so the feed is parsed again next time

    monkeypatch.undo()  # the bug is fixed: the feed is stored, its errors cleared
    again = poll(conn, config)
    assert again.failed == 0 and again.details["new articles"] == 2
    assert feed_row(conn, faulty)["error_count"] == 0


def test_an_unforeseen_crash_in_a_parse_worker_process_is_that_feeds_error(server, conn):
    """No injection: a UTF-16 feed with a surrogate reference still makes feedparser raise
    (the byte-level repair only covers ASCII-compatible encodings). In a worker process."""
    good = server.route("/good.xml", rss(item(1)))
    body = titled("Bad &#xD800; title").decode().replace("utf-8", "utf-16").encode("utf-16")
    utf16 = server.route("/utf16.xml", body, headers={"Content-Type": "application/xml"})
    report = poll(conn, make_config(good, utf16), workers=2)
    assert (report.done, report.failed) == (2, 1)
    assert [r["title"] for r in articles(conn)] == ["Story number 1"]
    (recorded,) = fetch_rows(conn, utf16)
    assert recorded["error"] == "internal" and recorded["http_status"] == 200
    assert recorded["status"].startswith("internal error while parsing: UnicodeEncodeError")


def test_a_save_that_sqlite_refuses_is_recorded_and_the_run_goes_on(server, conn):
    """A constraint on one feed's rows (here a trigger) fails its save: nothing of its articles
    is kept, its error is recorded in a second transaction, the other feeds are stored."""
    good = server.route("/good.xml", rss(item(1)))
    bad = server.route("/bad.xml", rss(item(2), item(3)))
    config = make_config(good, bad)
    store.sync_feeds(conn, config.feeds, "2026-01-01T00:00:00Z")
    bad_id = feed_row(conn, bad)["id"]
    conn.execute(
        f"CREATE TRIGGER refuse AFTER INSERT ON articles WHEN NEW.feed_id = {bad_id} "
        "BEGIN SELECT RAISE(ABORT, 'refused by a constraint'); END"
    )
    report = stage.run(conn, config, force=True)
    assert (report.done, report.failed) == (2, 1)
    assert [r["feed_id"] for r in articles(conn)] == [feed_row(conn, good)["id"]]
    (recorded,) = fetch_rows(conn, bad)
    assert recorded["error"] == "internal" and recorded["new_articles"] == 0
    assert recorded["status"] == (
        "internal error while saving: IntegrityError: refused by a constraint"
    )


def test_a_failure_of_the_database_itself_still_ends_the_run(server, conn, monkeypatch):
    """Disk full, I/O errors, a corrupt file are no one feed's fault: the run stops (the CLI
    prints one line: tests/test_reliability_config.py) rather than failing every feed."""
    url = server.route("/feed.xml", rss(item(1)))

    def full(conn: sqlite3.Connection, result: stage.FeedResult) -> int:
        raise sqlite3.OperationalError("database or disk is full")  # as SQLITE_FULL raises

    monkeypatch.setattr(stage, "insert_articles", full)
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        poll(conn, make_config(url))
    assert fetch_rows(conn, url) == []


def test_an_internal_error_message_is_always_storable():
    """The status quotes the exception, which may quote the text that failed to encode."""
    job = stage.FeedJob(1, "http://x.example/", "x", None, 600, None, None, None, None, 0,
                        "active", None, frozenset(), frozenset())  # fmt: skip
    now = datetime(2026, 11, 24, tzinfo=UTC)
    failed = stage.internal_failure(
        job, None, now, make_config().settings, "parsing", ValueError("bad \ud800" + "x" * 900)
    )
    assert failed.status.startswith("internal error while parsing: ValueError: bad \\ud800x")
    assert len(failed.status) <= stage.MAX_STATUS_CHARS + len("\\ud800")
    failed.status.encode("utf-8")  # no surrogate left: SQLite can store it
