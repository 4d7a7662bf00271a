"""The persistent translation cache: (text hash, source language, backend, model) → English.

Re-runs, duplicate titles across feeds and articles re-opened after a model install translate
nothing twice. The model string includes its version, so a new model version misses the cache.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from typing import NamedTuple


class Key(NamedTuple):  # a tuple: cheap to make and hash, one per text
    text_hash: str
    source_language: str
    backend: str
    model: str


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key(text: str, source_language: str, backend: str, model: str) -> Key:
    return Key(text_hash(text), source_language, backend, model)


def lookup(conn: sqlite3.Connection, keys: Iterable[Key]) -> dict[Key, str]:
    """Cached translations for the keys that have one."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for k in set(keys):
        groups.setdefault((k.source_language, k.backend, k.model), []).append(k.text_hash)
    found: dict[Key, str] = {}
    for (language, backend, model), hashes in groups.items():
        rows = conn.execute(
            "SELECT text_hash, text_en FROM translation_cache WHERE source_language = ? "
            "AND backend = ? AND model = ? AND text_hash IN (SELECT value FROM json_each(?))",
            (language, backend, model, json.dumps(hashes)),
        )
        for text_hash_, text_en in rows:
            found[Key(text_hash_, language, backend, model)] = text_en
    return found


def store(conn: sqlite3.Connection, entries: dict[Key, str], now: str) -> None:
    """Remember translations (inside the caller's transaction)."""
    conn.executemany(
        "INSERT OR IGNORE INTO translation_cache "
        "(text_hash, source_language, backend, model, text_en, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(k.text_hash, k.source_language, k.backend, k.model, v, now) for k, v in entries.items()],
    )
