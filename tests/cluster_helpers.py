"""The team's multilingual story fixtures, served as RSS on the loopback server and run
through the real stages (poll, translate, embed, cluster)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import yaml

from aggregator import config as config_module
from aggregator import pipeline, store
from aggregator.config import Config
from aggregator.timeutil import now_iso
from tests.loopback import LoopbackServer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cluster"
BASE = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
FEEDS = {
    "herald-en": ("en", "GB"),
    "monde-fr": ("fr", "FR"),
    "zeitung-de": ("de", "DE"),
    "diario-es": ("es", "ES"),
    "gazeta-pl": ("pl", "PL"),
}


def stories() -> list[dict]:
    return json.loads((FIXTURES / "stories.json").read_text(encoding="utf-8"))


def rss(name: str, items: list[dict], base_url: str) -> str:
    body = "".join(
        f"<item><title>{escape(item['title'])}</title>"
        f"<description>{escape(item['summary'])}</description>"
        f"<link>{base_url}/{item['slug']}</link><guid>{base_url}/{item['slug']}</guid>"
        f"<pubDate>{format_datetime(BASE + timedelta(hours=item['hours']))}</pubDate></item>"
        for item in items
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(name)}</title><link>{base_url}/</link>{body}</channel></rss>"
    )


def serve(server: LoopbackServer, items: list[dict], feed_order: list[str] | None = None) -> list:
    """Route one RSS feed per fixture feed; return feeds.yaml entries (in `feed_order`)."""
    for index, item in enumerate(items):
        item.setdefault("slug", f"{item['story']}-{item['lang']}-{index}")
    names = feed_order or sorted(FEEDS)
    entries = []
    for name in names:
        feed_items = [item for item in items if item["feed"] == name]
        server.route(
            f"/{name}.xml",
            rss(name, feed_items, server.base_url),
            headers={"Content-Type": "application/rss+xml"},
        )
        language, country = FEEDS[name]
        entries.append(
            {
                "url": server.url(f"/{name}.xml"),
                "name": name,
                "language": language,
                "country": country,
            }
        )
    return entries


def write_config(folder: Path, feeds: list[dict], **cluster: float) -> Config:
    settings: dict = {"allow_private_addresses": True, "per_host_interval_s": 0.0}
    if cluster:
        settings["cluster"] = cluster
    path = folder / "feeds.yaml"
    path.write_text(yaml.safe_dump({"settings": settings, "feeds": feeds}), encoding="utf-8")
    return config_module.load(path)


def run(conn: sqlite3.Connection, config: Config, *names: str, **options) -> dict:
    store.sync_feeds(conn, config.feeds, now_iso())
    reports = {}
    for name in names or ("poll", "translate", "embed", "cluster"):
        extra = {"force": True} if name == "poll" else options.get(name, {})
        (reports[name],) = pipeline.run(conn, config, [name], options={name: extra})
    return reports


def clusters_by_slug(conn: sqlite3.Connection) -> dict[str, int | None]:
    return {
        row["url"].rsplit("/", 1)[1]: row["cluster_id"]
        for row in conn.execute("SELECT url, cluster_id FROM articles")
    }


def partition(conn: sqlite3.Connection) -> set[frozenset[str]]:
    groups: dict[int | None, set[str]] = {}
    for slug, cluster_id in clusters_by_slug(conn).items():
        groups.setdefault(cluster_id, set()).add(slug)
    return {frozenset(group) for group in groups.values()}
