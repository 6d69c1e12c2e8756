"""Durations and time bounds as users type them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from storage.timeparse import parse_duration, parse_time, resolve_range, to_millis, utc_now

NOW = datetime(2024, 5, 17, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250ms", timedelta(milliseconds=250)),
        ("30s", timedelta(seconds=30)),
        ("45sec", timedelta(seconds=45)),
        ("15m", timedelta(minutes=15)),
        ("5min", timedelta(minutes=5)),
        ("6h", timedelta(hours=6)),
        ("1.5h", timedelta(minutes=90)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(days=14)),
        ("  10 s ", timedelta(seconds=10)),
    ],
)
def test_parse_duration_units(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_parse_duration_passes_timedelta_through() -> None:
    assert parse_duration(timedelta(minutes=3)) == timedelta(minutes=3)


@pytest.mark.parametrize("text", ["5 minutes", "abc", "", "m5", "-5m", "5", "1y", "5M"])
def test_parse_duration_rejects_garbage_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r"every: .* is not a duration; use a number and a unit like '30s'"):
        parse_duration(text, name="every")


@pytest.mark.parametrize("value", ["0s", "0ms", "0.0h", timedelta(0), timedelta(seconds=-5)])
def test_parse_duration_rejects_zero_and_negative(value: str | timedelta) -> None:
    with pytest.raises(ValueError, match="every: must be greater than zero"):
        parse_duration(value, name="every")


def test_parse_time_none_and_now_mean_now() -> None:
    assert parse_time(None, name="until", now=NOW) == NOW
    assert parse_time("now", name="until", now=NOW) == NOW
    assert parse_time(" NOW ", name="until", now=NOW) == NOW


def test_parse_time_duration_means_that_long_ago() -> None:
    assert parse_time("15m", name="since", now=NOW) == NOW - timedelta(minutes=15)
    assert parse_time("7d", name="since", now=NOW) == NOW - timedelta(days=7)
    assert parse_time(timedelta(hours=2), name="since", now=NOW) == NOW - timedelta(hours=2)


def test_parse_time_epoch_millis() -> None:
    assert parse_time(1_704_067_200_123, name="since", now=NOW) == datetime(
        2024, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC
    )
    assert parse_time(1_704_067_200_000.0, name="since", now=NOW) == datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-01T10:00:00Z",
        "2024-01-01T10:00:00+00:00",
        "2024-01-01T12:00:00+02:00",
        "2024-01-01 10:00:00",  # naive: taken as UTC
        datetime(2024, 1, 1, 10, 0),  # naive: taken as UTC
        datetime(2024, 1, 1, 5, 0, tzinfo=timezone(timedelta(hours=-5))),
        pd.Timestamp("2024-01-01 10:00"),
        pd.Timestamp("2024-01-01 11:00", tz="Europe/Paris"),
    ],
)
def test_parse_time_absolute_values_become_utc(value: object) -> None:
    result = parse_time(value, name="since", now=NOW)
    assert result == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    assert result.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", ["yesterday-ish", "2024-13-45", "15 parsecs"])
def test_parse_time_rejects_garbage_naming_the_parameter(value: str) -> None:
    with pytest.raises(ValueError, match=r"^since: .* is neither a duration .* nor an ISO 8601 time"):
        parse_time(value, name="since", now=NOW)


def test_parse_time_rejects_empty_string() -> None:
    with pytest.raises(ValueError, match="until: ''"):
        parse_time("", name="until", now=NOW)


def test_resolve_range_defaults_to_last_hour_until_now() -> None:
    before = utc_now()
    start, end = resolve_range(None)
    after = utc_now()
    assert before <= end <= after
    assert end - start == timedelta(hours=1)
    assert start.tzinfo is not None and end.tzinfo is not None


def test_resolve_range_absolute_bounds() -> None:
    start, end = resolve_range("2024-01-01T00:00:00Z", 1_704_070_800_000)
    assert start == datetime(2024, 1, 1, tzinfo=UTC)
    assert end == datetime(2024, 1, 1, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "until"),
    [("2024-01-02", "2024-01-01"), ("2024-01-01", "2024-01-01"), ("1h", "2h")],
)
def test_resolve_range_refuses_empty_or_reversed(since: str, until: str) -> None:
    with pytest.raises(ValueError, match=r"until \(.*\) must be after since \(.*\)"):
        resolve_range(since, until)


def test_to_millis() -> None:
    assert to_millis(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert to_millis(datetime(2024, 1, 1, tzinfo=UTC)) == 1_704_067_200_000
    assert to_millis(datetime(2024, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC)) == 1_704_067_200_123
    # Sub-millisecond parts are dropped, not rounded up.
    assert to_millis(datetime(2024, 1, 1, 0, 0, 0, 123_999, tzinfo=UTC)) == 1_704_067_200_123
    assert to_millis(datetime(2024, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))) == 1_704_067_200_000


def test_millis_round_trip_is_exact() -> None:
    for ms in (0, 1, 999, 1_704_067_200_001, 1_704_067_200_999, 4_102_444_799_999):
        assert to_millis(parse_time(ms, name="t", now=NOW)) == ms


def test_utc_now_is_aware_utc() -> None:
    now = utc_now()
    assert now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
