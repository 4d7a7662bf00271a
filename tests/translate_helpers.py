"""Helpers for the translation tests: a feeds.yaml on disk and articles inserted with SQL (the
poller is tested on its own; these tests start from stored articles)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from aggregator import config, store
from aggregator.translate import apertium

APERTIUM_MISSING = not (
    shutil.which("apertium-wblank-mode")
    and (apertium.data_dir() / "modes" / "spa-eng.mode").is_file()
    and (apertium.data_dir() / "modes" / "fr-es.mode").is_file()
)
needs_apertium = pytest.mark.skipif(
    APERTIUM_MISSING,
    reason="Apertium with apertium-eng-spa and apertium-fr-es is not installed "
    "(scripts/install-system-deps.sh installs them as root)",
)


def write_config(
    path: Path,
    models_dir: Path,
    feeds: dict[str, str | None],
    translation: dict | None = None,
    feed_translation: dict[str, list[str]] | None = None,
) -> config.Config:
    """feeds.yaml with one feed per language (url http://feeds.test/<lang>.xml)."""
    settings = {"models_dir": str(models_dir), **(translation or {})}
    entries = []
    for name, language in feeds.items():
        entry = {"url": feed_url(name), "name": name}
        if language:
            entry["language"] = language
        if feed_translation and name in feed_translation:
            entry["translation"] = feed_translation[name]
        entries.append(entry)
    text = json.dumps({"settings": {"translation": settings}, "feeds": entries}, indent=1)
    path.write_text(text, encoding="utf-8")
    return config.load(path)


def feed_url(name: str) -> str:
    return f"http://feeds.test/{name}.xml"


def open_db(db_path: Path, cfg: config.Config) -> sqlite3.Connection:
    conn = store.connect(db_path)
    store.sync_feeds(conn, cfg.feeds, "2026-01-01T00:00:00Z")
    return conn


def add_article(
    conn: sqlite3.Connection,
    feed: str,
    title: str | None,
    summary: str | None = None,
    language: str | None = "same-as-feed",
) -> int:
    feed_id, feed_language = conn.execute(
        "SELECT id, language FROM feeds WHERE url = ?", (feed_url(feed),)
    ).fetchone()
    if language == "same-as-feed":
        language = feed_language
    count = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    cursor = conn.execute(
        "INSERT INTO articles (feed_id, guid, content_hash, title, summary, language, "
        "language_source, fetched_at) VALUES (?, ?, ?, ?, ?, ?, 'config', '2026-01-01T00:00:00Z')",
        (feed_id, f"guid-{count}", f"hash-{count}", title, summary, language),
    )
    return cursor.lastrowid


def article(conn: sqlite3.Connection, article_id: int) -> dict:
    row = conn.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
    return dict(row)


def cache_rows(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM translation_cache").fetchone()[0]
