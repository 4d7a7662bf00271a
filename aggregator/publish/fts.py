"""Full-text search over articles: turning what a reader types into safe FTS5 queries.

The FTS5 tables and their triggers live in the schema (store.SCHEMA_V1): `articles_fts` indexes
the English title and summary (porter stemming), `articles_fts_original` the original text with
trigrams, which match substrings in any script without a word splitter. Trigrams cannot match
words shorter than three characters (many Chinese and Japanese words are two): a query of such
words alone falls back to a plain substring scan; one with a longer word too is narrowed by
the index and the short words checked in the rows it finds.

These helpers are registered as SQL functions on every Datasette connection, so the canned search
query (and its JSON API) and the search page run the very same SQL.
"""

from __future__ import annotations

import sqlite3

TRIGRAM = 3
# Bounds the work one request can ask for: a query is a few words, not a document.
MAX_TERMS = 12
# Control characters separate words; FTS5 cannot take a NUL even inside a quoted string.
_CONTROLS = {code: " " for code in range(32)}


def terms(text: str | None) -> list[str]:
    """The words of a query, in order, without duplicates."""
    seen: dict[str, None] = {}
    for word in (text or "").translate(_CONTROLS).split():
        seen.setdefault(word, None)
    return list(seen)[:MAX_TERMS]


def _phrase(term: str) -> str:
    # A double-quoted FTS5 string is always literal: operators, colons and brackets lose meaning.
    return '"' + term.replace('"', '""') + '"'


def match_query(text: str | None) -> str:
    """An FTS5 MATCH expression requiring every word; `""` (matches nothing) when empty."""
    words = terms(text)
    return " ".join(_phrase(word) for word in words) if words else '""'


def needs_scan(text: str | None) -> bool:
    """True when no word is long enough for the trigram index, so only a scan can find them."""
    words = terms(text)
    return bool(words) and all(len(word) < TRIGRAM for word in words)


def has_short(text: str | None) -> bool:
    """True when some word is too short for the trigram index: the rows the long words find
    must then be checked for it (`contains_all`)."""
    return any(len(word) < TRIGRAM for word in terms(text))


def trigram_query(text: str | None) -> str:
    """The MATCH expression for the trigram table: the words long enough for it (a query with
    a short word, "à Tokyo", is narrowed by "Tokyo" and then checked whole, not scanned);
    `""` when every word is short and a scan must be used instead."""
    long_words = [word for word in terms(text) if len(word) >= TRIGRAM]
    return " ".join(_phrase(word) for word in long_words) if long_words else '""'


def contains_all(haystack: str | None, text: str | None) -> bool:
    """Case-insensitive: does `haystack` contain every word of the query?"""
    words = terms(text)
    if not haystack or not words:
        return False
    folded = haystack.casefold()
    return all(word.casefold() in folded for word in words)


def register(conn: sqlite3.Connection) -> None:
    """Make the helpers callable from SQL: fts_query, fts_trigram_query, fts_needs_scan,
    fts_has_short, fts_contains_all."""
    conn.create_function("fts_query", 1, match_query, deterministic=True)
    conn.create_function("fts_trigram_query", 1, trigram_query, deterministic=True)
    conn.create_function("fts_needs_scan", 1, needs_scan, deterministic=True)
    conn.create_function("fts_has_short", 1, has_short, deterministic=True)
    conn.create_function("fts_contains_all", 2, contains_all, deterministic=True)
