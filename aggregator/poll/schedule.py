"""When to poll a feed next: freshness hints, skipHours/skipDays, backoff, dead-feed demotion.

Pure functions of their arguments (no clock, no database), so the rules can be checked with
hypothesis. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

UNCONDITIONAL_EVERY = timedelta(hours=12)  # validators can lie: re-fetch in full this often
DEAD_CHECK_EVERY = timedelta(days=1)  # a dead feed is still checked, daily
# Longest wait a server or feed may ask for (ttl, max-age, Expires, Retry-After): beyond a day a
# feed that came back to life would go unnoticed for too long.
MAX_HINT = timedelta(days=1)
# Longest wait of any kind (an interval or backoff from feeds.yaml too): far past any sensible
# setting and far inside what a datetime can add, so no number, however large, overflows.
MAX_WAIT = timedelta(days=366)
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# HTTP's DIGIT is ASCII only: \d and str.isdigit() also take "²" or "٣", which int() refuses.
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?([0-9]+)", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Hints:
    """What the server and the feed said about when to come back."""

    ttl_minutes: int | None = None
    max_age_s: int | None = None
    expires: datetime | None = None
    retry_after: datetime | None = None
    skip_hours: frozenset[int] = frozenset()
    skip_days: frozenset[int] = frozenset()  # 0 = Monday, as datetime.weekday()


@dataclass(frozen=True)
class Plan:
    """A feed's state after a fetch."""

    state: str  # 'active', 'backoff' or 'dead'
    error_count: int
    next_poll_at: datetime


def after_success(now: datetime, interval_s: int, hints: Hints) -> datetime:
    """The larger of the configured interval and every freshness hint, outside skipped slots."""
    delay = seconds(interval_s)
    hinted = [
        seconds(hints.ttl_minutes * 60) if hints.ttl_minutes else None,
        seconds(hints.max_age_s) if hints.max_age_s else None,
        hints.expires - now if hints.expires else None,
        hints.retry_after - now if hints.retry_after else None,
    ]
    for wait in hinted:
        if wait is not None:
            delay = max(delay, min(wait, MAX_HINT))
    return skip(now + delay, hints.skip_hours, hints.skip_days)


def backoff_delay(error_count: int, interval_s: int, max_backoff_s: int) -> timedelta:
    """interval, 2x, 4x, ... per consecutive error, up to the ceiling (never below the interval)."""
    ceiling = max(max_backoff_s, interval_s)
    exponent = min(max(error_count - 1, 0), 32)  # 2**32 intervals is past any ceiling
    return seconds(min(interval_s * 2**exponent, ceiling))


def seconds(count: int) -> timedelta:
    """A wait of `count` seconds, held within 0..MAX_WAIT (timedelta overflows past ~2**46 s)."""
    return timedelta(seconds=min(max(count, 0), int(MAX_WAIT.total_seconds())))


def bounded_int(digits: str | None, ceiling: int) -> int | None:
    """ASCII digits as a number of at most `ceiling`; None for anything else ("²", "٣", "-1",
    "1_000", which int() would take). Never int() on thousands of digits (Python refuses)."""
    if digits is None or not _DIGITS.fullmatch(digits):
        return None
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(ceiling)):
        return ceiling
    return min(int(significant), ceiling)


def after_error(
    now: datetime,
    error_count: int,
    interval_s: int,
    max_backoff_s: int,
    dead_after_errors: int,
    hints: Hints,
    *,
    gone: bool = False,
) -> Plan:
    """Back off, or demote to a daily check once the feed has failed `dead_after_errors` times in
    a row (at once for 410 Gone). `error_count` includes this failure."""
    if gone or error_count >= max(dead_after_errors, 1):
        when = skip(now + DEAD_CHECK_EVERY, hints.skip_hours, hints.skip_days)
        return Plan("dead", error_count, when)
    delay = backoff_delay(error_count, interval_s, max_backoff_s)
    if hints.retry_after:
        delay = max(delay, min(hints.retry_after - now, MAX_HINT))
    return Plan("backoff", error_count, skip(now + delay, hints.skip_hours, hints.skip_days))


def skip(moment: datetime, skip_hours: frozenset[int], skip_days: frozenset[int]) -> datetime:
    """The first moment at or after `moment` outside the feed's skipHours/skipDays (UTC).

    A feed that skips every hour or every day has made a mistake: it is ignored.
    """
    if len(skip_hours) >= 24 or len(skip_days) >= 7:
        return moment
    moment = moment.astimezone(UTC)
    for _ in range(24 * 7):
        if moment.hour not in skip_hours and moment.weekday() not in skip_days:
            return moment
        moment = moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return moment


def needs_unconditional(last_unconditional_at: datetime | None, now: datetime) -> bool:
    """Whether to fetch without validators, so a server whose 304s lie is caught in 12 hours."""
    return last_unconditional_at is None or now - last_unconditional_at >= UNCONDITIONAL_EVERY


def max_age(cache_control: str | None) -> int | None:
    """Seconds from Cache-Control max-age (s-maxage is for shared caches, not us)."""
    if not cache_control:
        return None
    match = _MAX_AGE.search(cache_control)
    # capped here: after_success would cap it anyway, and a huge value overflows a timedelta
    return bounded_int(match.group(1), int(MAX_HINT.total_seconds())) if match else None


def http_date(value: str | None) -> datetime | None:
    """An HTTP date (Expires, Retry-After) as UTC; None when absent or invalid ("0", "-1")."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # inside the try: year 9999 at -01:00 is past datetime.max in UTC (OverflowError)
        return moment.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def retry_after(value: str | None, now: datetime) -> datetime | None:
    """Retry-After as a moment: either delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    delay = bounded_int(value, int(MAX_HINT.total_seconds()))
    if delay is not None:
        return now + timedelta(seconds=delay)
    return http_date(value)


def skip_hours(values: list[str]) -> frozenset[int]:
    """<skipHours><hour> values: 0-23 GMT (24, used by some feeds for midnight, is 0)."""
    hours = set()
    for value in values:
        hour = bounded_int(value.strip(), 25)
        if hour is not None and hour <= 24:
            hours.add(hour % 24)
    return frozenset(hours)


def skip_days(values: list[str]) -> frozenset[int]:
    """<skipDays><day> values: English day names, as datetime.weekday() numbers."""
    return frozenset(DAYS.index(v.strip().lower()) for v in values if v.strip().lower() in DAYS)
