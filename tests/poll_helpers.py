"""Shared by the poll tests: feed bodies, configs and a way to run the real stage."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from aggregator import store
from aggregator.config import Config, Feed, Settings
from aggregator.poll import stage
from aggregator.stage import StageReport
from aggregator.timeutil import now_iso

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "poll"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def item(n: int, *, link: str | None = None, guid: str | None = "auto", extra: str = "") -> str:
    link = link if link is not None else f"https://news.example/story/{n}"
    guid_xml = f"<guid isPermaLink='false'>story-{n}</guid>" if guid == "auto" else ""
    if guid not in (None, "auto"):
        guid_xml = f"<guid isPermaLink='false'>{guid}</guid>"
    return (
        f"<item><title>Story number {n}</title><link>{link}</link>{guid_xml}"
        f"<description>Summary of story {n}.</description>"
        f"<pubDate>Sat, 21 Nov 2026 10:{n % 60:02d}:00 GMT</pubDate>{extra}</item>"
    )


def rss(*items: str, channel: str = "<language>en</language>", encoding: str = "utf-8") -> bytes:
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel>'
        f"<title>Test Feed</title><link>https://news.example/</link>{channel}"
        + "".join(items)
        + "</channel></rss>"
    )
    return text.encode(encoding)


def settings(**changes: Any) -> Settings:
    """Test settings: loopback allowed, no politeness delay, short timeouts."""
    values: dict[str, Any] = {
        "allow_private_addresses": True,
        "per_host_interval_s": 0.0,
        "per_host_concurrency": 4,
        "timeout_s": 5.0,
    }
    values.update(changes)
    return Settings(**values)


def make_config(*urls: str, languages: dict[str, str] | None = None, **changes: Any) -> Config:
    languages = languages or {}
    feeds = tuple(
        Feed(url=url, name=f"feed {i}", language=languages.get(url)) for i, url in enumerate(urls)
    )
    return Config(feeds=feeds, settings=settings(**changes))


def poll(conn: sqlite3.Connection, config: Config, force: bool = True, **kw: Any) -> StageReport:
    store.sync_feeds(conn, config.feeds, now_iso())
    return stage.run(conn, config, force=force, **kw)


def feed_row(conn: sqlite3.Connection, url: str) -> sqlite3.Row:
    return conn.execute("SELECT * FROM feeds WHERE url = ?", (url,)).fetchone()


def fetch_rows(conn: sqlite3.Connection, url: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT fetches.* FROM fetches JOIN feeds ON feeds.id = fetches.feed_id "
        "WHERE feeds.url = ? ORDER BY fetches.id",
        (url,),
    ).fetchall()


def articles(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM articles ORDER BY id").fetchall()
