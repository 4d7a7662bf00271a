"""Timestamps: every stored time is ISO 8601 UTC with a trailing Z, to the second."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def to_iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    return to_iso(utcnow())


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def from_epoch(seconds: float) -> str:
    """Epoch seconds as a stored time."""
    return to_iso(datetime.fromtimestamp(float(seconds), UTC))


def to_epoch(text: str) -> float:
    """A stored time as epoch seconds."""
    return from_iso(text).timestamp()
