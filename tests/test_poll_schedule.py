"""Scheduling rules: freshness hints, skipHours/skipDays, backoff and dead-feed demotion."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.poll import schedule
from aggregator.poll.schedule import Hints

NOW = datetime(2026, 11, 24, 12, 30, tzinfo=UTC)  # a Tuesday
MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
INTERVALS = st.integers(min_value=60, max_value=7 * 86400)
HOURS = st.frozensets(st.integers(0, 23), max_size=23)
DAYS = st.frozensets(st.integers(0, 6), max_size=6)
OPTIONAL_SECONDS = st.none() | st.integers(min_value=1, max_value=10 * 86400)


@given(MOMENTS, INTERVALS, OPTIONAL_SECONDS, OPTIONAL_SECONDS, HOURS, DAYS)
def test_success_waits_at_least_the_interval_and_every_hint(now, interval, ttl_s, age, hours, days):
    ttl = ttl_s // 60 if ttl_s else None
    hints = Hints(ttl_minutes=ttl, max_age_s=age, skip_hours=hours, skip_days=days)
    moment = schedule.after_success(now, interval, hints)
    assert moment >= now + timedelta(seconds=interval)
    if ttl:
        assert moment >= now + min(timedelta(minutes=ttl), schedule.MAX_HINT)
    if age:
        assert moment >= now + min(timedelta(seconds=age), schedule.MAX_HINT)
    assert moment.hour not in hours and moment.weekday() not in days
    # hints are capped, and skipping never adds more than a week
    assert moment <= now + max(timedelta(seconds=interval), schedule.MAX_HINT) + timedelta(days=7)


@given(MOMENTS, HOURS, DAYS)
def test_skip_moves_to_the_first_allowed_hour(moment, hours, days):
    result = schedule.skip(moment, hours, days)
    assert result >= moment
    assert result.hour not in hours and result.weekday() not in days
    # no allowed hour lies between: every whole hour strictly before `result` was skipped
    probe = moment.replace(minute=0, second=0, microsecond=0)
    while probe + timedelta(hours=1) <= result:
        if probe >= moment:
            assert probe.hour in hours or probe.weekday() in days
        probe += timedelta(hours=1)


def test_skipping_every_hour_or_every_day_is_ignored():
    every_hour = frozenset(range(24))
    assert schedule.skip(NOW, every_hour, frozenset()) == NOW
    assert schedule.skip(NOW, frozenset(), frozenset(range(7))) == NOW


@given(st.integers(1, 60), INTERVALS, st.integers(0, 86400))
def test_backoff_grows_and_stops_at_the_ceiling(errors, interval, ceiling):
    delay = schedule.backoff_delay(errors, interval, ceiling)
    following = schedule.backoff_delay(errors + 1, interval, ceiling)
    assert following >= delay
    assert timedelta(seconds=interval) <= delay <= timedelta(seconds=max(interval, ceiling))


def test_backoff_doubles():
    delays = [schedule.backoff_delay(n, 900, 6 * 3600).total_seconds() for n in range(1, 8)]
    assert delays == [900, 1800, 3600, 7200, 14400, 21600, 21600]


@given(st.integers(1, 30), st.integers(1, 20), INTERVALS)
def test_a_feed_is_dead_exactly_after_the_allowed_errors(errors, dead_after, interval):
    plan = schedule.after_error(NOW, errors, interval, 3600, dead_after, Hints())
    assert plan.state == ("dead" if errors >= dead_after else "backoff")
    assert plan.error_count == errors
    if plan.state == "dead":
        assert plan.next_poll_at == NOW + schedule.DEAD_CHECK_EVERY


def test_gone_is_dead_at_once_and_still_checked_daily():
    plan = schedule.after_error(NOW, 1, 900, 3600, 10, Hints(), gone=True)
    assert (plan.state, plan.next_poll_at) == ("dead", NOW + timedelta(days=1))


def test_retry_after_is_honoured_when_longer_than_the_backoff():
    hints = Hints(retry_after=NOW + timedelta(hours=3))
    plan = schedule.after_error(NOW, 1, 900, 3600, 10, hints)
    assert plan.next_poll_at == NOW + timedelta(hours=3)
    short = Hints(retry_after=NOW + timedelta(seconds=5))
    assert schedule.after_error(NOW, 1, 900, 3600, 10, short).next_poll_at == NOW + timedelta(
        seconds=900
    )


def test_expires_and_max_age_push_the_next_poll_and_are_capped():
    hints = Hints(expires=NOW + timedelta(hours=2), max_age_s=600)
    assert schedule.after_success(NOW, 900, hints) == NOW + timedelta(hours=2)
    silly = Hints(max_age_s=365 * 86400)
    assert schedule.after_success(NOW, 900, silly) == NOW + schedule.MAX_HINT


def test_unconditional_fetch_every_twelve_hours():
    assert schedule.needs_unconditional(None, NOW)
    assert not schedule.needs_unconditional(NOW - timedelta(hours=11, minutes=59), NOW)
    assert schedule.needs_unconditional(NOW - timedelta(hours=12), NOW)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=300", 300),
        ("public, max-age=60, must-revalidate", 60),
        ('s-maxage=120, max-age="30"', 30),
        ("no-cache", None),
        (None, None),
    ],
)
def test_max_age(value, expected):
    assert schedule.max_age(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", NOW + timedelta(seconds=120)),
        ("Tue, 24 Nov 2026 14:00:00 GMT", datetime(2026, 11, 24, 14, tzinfo=UTC)),
        ("soon", None),
        ("", None),
        ("99999999", NOW + schedule.MAX_HINT),
    ],
)
def test_retry_after(value, expected):
    assert schedule.retry_after(value, NOW) == expected


@pytest.mark.parametrize("value", ["0", "-1", "not a date", None])
def test_invalid_expires_is_ignored(value):
    assert schedule.http_date(value) is None


def test_skip_hours_and_days_parsing():
    assert schedule.skip_hours(["0", " 5 ", "24", "25", "x"]) == frozenset({0, 5})
    assert schedule.skip_days(["Saturday", "sunday ", "Caturday"]) == frozenset({5, 6})
