"""Errors a user can cause (the CLI prints them as one line and exits non-zero), and how the
stages tell one item's failure from the database's."""

from __future__ import annotations

import sqlite3


class UserError(Exception):
    """A mistake in input or configuration, reported as one line with the fix."""


class ConfigError(UserError):
    """feeds.yaml is invalid; the message names the entry and the field."""


def is_database_failure(exc: BaseException) -> bool:
    """The database itself failed (full, I/O error, locked, corrupt), not one item's data: a
    stage stops then, as every other item would fail the same way. OperationalError, or the
    bare DatabaseError SQLite gives for a corrupt file; not its subclasses for one row's data
    (IntegrityError, DataError, ProgrammingError...)."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


def internal_error(exc: BaseException, context: str = "", limit: int = 500) -> str:
    """An exception nobody foresaw on one item, as the text recorded for that item: its type
    and message, at most `limit` characters, encodable as UTF-8 (the message may quote the
    very text that could not be encoded: a lone surrogate becomes a visible \\ud800)."""
    where = f" {context}" if context else ""
    text = f"internal error{where}: {type(exc).__name__}: {exc}"[:limit]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
