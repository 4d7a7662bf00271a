"""`aggregator demo`: the whole pipeline, offline, on the team's sample feeds.

The sample feeds (written by the team, fictional outlets) are served on loopback by
`FeedServer`, so polling, translation, embedding and clustering all run for real.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from pathlib import Path

import yaml

from aggregator import config as config_module
from aggregator import pipeline, store
from aggregator.demo.server import PREFERRED_PORT, FeedServer
from aggregator.publish.display import codes, counted, language_name
from aggregator.stage import StageReport
from aggregator.timeutil import now_iso

DEMO_DIR = Path(__file__).resolve().parent
DEMO_FEEDS = DEMO_DIR / "feeds.yaml"
STORIES = DEMO_DIR / "stories.yaml"
PLACEHOLDER_BASE = f"http://127.0.0.1:{PREFERRED_PORT}"


def demo_config(base_url: str) -> config_module.Config:
    """The demo feeds.yaml with its feed URLs pointing at the running sample-feed server."""
    config = config_module.load(DEMO_FEEDS)
    feeds = tuple(
        dataclasses.replace(feed, url=feed.url.replace(PLACEHOLDER_BASE, base_url))
        for feed in config.feeds
    )
    return dataclasses.replace(config, feeds=feeds)


def build(
    db_path: str | Path,
    progress_factory: Callable[[str], Callable[[int], None] | None] | None = None,
) -> tuple[sqlite3.Connection, list[StageReport]]:
    """Serve the sample feeds and run every stage once into db_path."""
    with FeedServer() as server:
        config = demo_config(server.base_url)
        conn = store.connect(db_path)
        store.sync_feeds(conn, config.feeds, now_iso())
        reports = pipeline.run(
            conn, config, progress_factory=progress_factory, options={"poll": {"force": True}}
        )
    return conn, reports


def gold_stories() -> dict[tuple[str, str], str]:
    """The story each sample item belongs to (stories.yaml), keyed by (feed file, guid)."""
    stories = yaml.safe_load(STORIES.read_text(encoding="utf-8"))["stories"]
    return {
        (item["feed"], item["guid"]): key
        for key, story in stories.items()
        for item in story["items"]
    }


def clustered_items(conn: sqlite3.Connection) -> dict[tuple[str, str], int | None]:
    """The cluster of each polled item, keyed like `gold_stories`."""
    rows = conn.execute(
        "SELECT f.url, a.guid, a.cluster_id FROM articles a JOIN feeds f ON f.id = a.feed_id"
    )
    return {(url.rsplit("/", 1)[1], guid): cluster_id for url, guid, cluster_id in rows}


def summary(conn: sqlite3.Connection) -> list[str]:
    """A few lines telling what the demo database now holds."""
    row = conn.execute(
        """SELECT (SELECT count(*) FROM feeds WHERE active) AS feeds,
                  (SELECT count(*) FROM articles) AS articles,
                  (SELECT count(DISTINCT language) FROM articles) AS languages,
                  (SELECT count(*) FROM articles WHERE title_en IS NOT NULL) AS english,
                  (SELECT count(*) FROM clusters WHERE language_count > 1) AS stories"""
    ).fetchone()
    lines = [
        f"{counted(row['articles'], 'article')} from {counted(row['feeds'], 'feed')} in "
        f"{counted(row['languages'], 'language')}; {row['english']:,} readable in English; "
        f"{counted(row['stories'], 'story', 'stories')} covered in more than one language"
    ]
    top = conn.execute(
        "SELECT headline_en, languages, article_count FROM clusters "
        "WHERE language_count > 1 ORDER BY language_count DESC, last_seen_at DESC LIMIT 5"
    ).fetchall()
    for cluster in top:
        languages = codes(cluster["languages"])
        lines.append(
            f"  {cluster['headline_en'] or '(no English headline)'}: "
            f"{counted(cluster['article_count'], 'article')} in "
            f"{', '.join(language_name(code) for code in languages)}"
        )
    return lines


def run_demo(
    db_path: str | Path,
    serve: bool,
    port: int,
    echo: Callable[[str], None],
    progress_factory: Callable[[str], Callable[[int], None] | None] | None = None,
) -> None:
    conn, reports = build(db_path, progress_factory)
    for report in reports:
        echo(str(report))
    for line in summary(conn):
        echo(line)
    conn.close()
    if not serve:
        echo(f"browse it with: aggregator serve --db {db_path}")
        return
    from aggregator.publish.serve import serve as serve_datasette

    serve_datasette(str(db_path), host="127.0.0.1", port=port)
