"""Durations and time bounds as users write them: ``"15m"``, ``"7d"``, ``"5min"``, ISO 8601, datetimes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

import pandas as pd

__all__ = [
    "TimeInput",
    "format_utc",
    "iso_z",
    "parse_duration",
    "parse_time",
    "resolve_range",
    "to_millis",
    "utc_now",
]

TimeInput: TypeAlias = str | datetime | pd.Timestamp | timedelta | int | float | None

_UNITS_MS = {
    "ms": 1,
    "s": 1_000,
    "sec": 1_000,
    "m": 60_000,
    "min": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h|d|w)\s*$")
_EXAMPLES = "'30s', '15m', '5min', '6h', '7d' or '2w'"
# Longer than any history Vitals keeps, and short enough that "now minus it" is still a valid date.
_LONGEST = timedelta(days=100 * 365)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | pd.Timestamp) -> datetime:
    # Stored times are naive UTC; anything naive is taken to be UTC.
    found = moment.to_pydatetime() if isinstance(moment, pd.Timestamp) else moment
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def format_utc(moment: datetime | pd.Timestamp | None, *, seconds: bool = True, missing: str = "-") -> str:
    """How a time is shown to people everywhere in Vitals: ``2026-12-01 22:07:40 UTC``."""
    if moment is None or moment != moment:  # None or NaT
        return missing
    return _aware(moment).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def iso_z(moment: datetime | pd.Timestamp, *, timespec: str = "milliseconds") -> str:
    """How a time is written for machines (API, exports, webhooks): ISO 8601 UTC with ``Z``."""
    return _aware(moment).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_duration(text: str | timedelta, *, name: str = "duration") -> timedelta:
    """``"5min"`` -> ``timedelta(minutes=5)``; a clear ``ValueError`` for anything else or for zero."""
    if isinstance(text, timedelta):
        delta = text
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError(f"{name}: {text!r} is not a duration; use a number and a unit like {_EXAMPLES}")
        milliseconds = float(match.group(1)) * _UNITS_MS[match.group(2)]
        if milliseconds > _LONGEST.total_seconds() * 1000:
            raise ValueError(
                f"{name}: {text!r} is longer than {_LONGEST.days:,} days; use a shorter duration"
            )
        delta = timedelta(milliseconds=milliseconds)
    if delta <= timedelta(0):
        raise ValueError(f"{name}: must be greater than zero, got {text!r}")
    if delta > _LONGEST:
        raise ValueError(f"{name}: longer than {_LONGEST.days:,} days; use a shorter duration")
    return delta


def parse_time(value: TimeInput, *, name: str, now: datetime) -> datetime:
    """A point in time: a duration means that long before ``now``; naive datetimes are taken as UTC."""
    if value is None:
        return now
    if isinstance(value, timedelta):
        return now - parse_duration(value, name=name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str) and _DURATION.match(value):
        return now - parse_duration(value, name=name)
    if isinstance(value, str) and value.strip().lower() == "now":
        return now
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(
            f"{name}: {value!r} is neither a duration ({_EXAMPLES}) nor an ISO 8601 time"
        ) from None
    if stamp is pd.NaT:
        raise ValueError(f"{name}: {value!r} is not a time")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def resolve_range(since: TimeInput, until: TimeInput = None) -> tuple[datetime, datetime]:
    """``(since, until)`` as UTC datetimes, with ``until`` defaulting to now; refuses an empty range."""
    now = utc_now()
    start = parse_time(since if since is not None else "1h", name="since", now=now)
    end = parse_time(until, name="until", now=now)
    if end <= start:
        raise ValueError(f"until ({end.isoformat()}) must be after since ({start.isoformat()})")
    return start, end


def to_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
