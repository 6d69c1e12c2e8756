"""The global time range: the choices in the shell and their meaning as (since, until)."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.timeparse import parse_time, utc_now

__all__ = ["DEFAULT_RANGE", "TIME_RANGES", "resolve_range_choice"]

TIME_RANGES = {
    "15m": "Last 15 minutes",
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "custom": "Custom…",
}
DEFAULT_RANGE = "1h"


def _is_date(text: str) -> bool:
    return len(text.strip()) == 10  # YYYY-MM-DD, as the date picker sends it


def resolve_range_choice(choice: str | None, custom: list[str] | None = None) -> tuple[datetime, datetime]:
    """The window a choice stands for; an incomplete custom range falls back to the default."""
    now = utc_now()
    if choice == "custom" and custom and all(custom):
        start = parse_time(custom[0], name="start", now=now)
        end = parse_time(custom[1], name="end", now=now)
        if _is_date(custom[1]):
            end += timedelta(days=1)  # a picked end date means "through that day"
        if end > start:
            return start, min(end, now)
    key = choice if choice in TIME_RANGES and choice != "custom" else DEFAULT_RANGE
    return parse_time(key, name="range", now=now), now
