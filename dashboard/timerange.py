"""The global time range: the choices in the shell and their meaning as (since, until)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.timeparse import parse_time, utc_now

__all__ = [
    "DEFAULT_RANGE",
    "TIME_RANGES",
    "TIME_ZONE_CHOICES",
    "custom_range_utc",
    "format_in_zone",
    "parse_local_time",
    "resolve_range_choice",
    "valid_zone",
    "zoom_from_relayout",
    "zoomed_window",
]

# The per-browser setting: show times in the browser's own zone, or in UTC.
TIME_ZONE_CHOICES = {"browser": "Browser time", "utc": "UTC"}
# What the custom range fields take: a day, or a day and a time of day (seconds optional).
_LOCAL_TIME = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*$")
CUSTOM_TIME_HINT = "write e.g. 2026-12-01 14:00, 2026-12-01, or now"

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


def zoomed_window(zoom: list[dict[str, str]] | None) -> tuple[datetime, datetime] | None:
    """The newest drag-zoomed window of the stack the shell keeps, or None when not zoomed."""
    if not zoom:
        return None
    newest = zoom[-1]
    return _utc(newest["since"]), _utc(newest["until"])


def zoom_from_relayout(
    relayout: dict[str, Any] | None, tz: str | None = None
) -> dict[str, str] | bool | None:
    """A chart's ``relayoutData`` as a UTC window to zoom to, ``False`` for "reset the zoom" (a double
    click), or None when the event is not an x-axis zoom (autosize, a y-only zoom, legend clicks).

    The chart's axis shows wall time in ``tz`` (UTC by default), so that is how its ends are read."""
    if not relayout:
        return None
    if relayout.get("xaxis.autorange"):
        return False
    start, end = relayout.get("xaxis.range[0]"), relayout.get("xaxis.range[1]")
    if start is None or end is None:
        range_ = relayout.get("xaxis.range")
        if not isinstance(range_, list) or len(range_) != 2:
            return None
        start, end = range_
    since, until = _utc(str(start), tz), _utc(str(end), tz)
    if until <= since:
        return None
    return {"since": since.isoformat(), "until": until.isoformat()}


def _utc(text: str, tz: str | None = None) -> datetime:
    # Plotly reports axis positions in the data's own time (wall time in the chart's zone), without a zone.
    moment = datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(valid_zone(tz)))
    return moment.astimezone(UTC)


def valid_zone(name: str | None) -> str:
    """``name`` when it is a time zone this machine knows (an IANA name from the browser), else UTC."""
    if not name:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def format_in_zone(moment: datetime, tz: str | None, *, seconds: bool = True) -> str:
    """A time as people read it in ``tz``, the zone named: ``2026-12-01 15:07 Europe/Berlin``."""
    zone = valid_zone(tz)
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    shown = aware.astimezone(ZoneInfo(zone))
    return shown.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + f" {zone}"


def parse_local_time(text: str | None, tz: str | None, *, name: str, end: bool = False) -> datetime:
    """A custom range field as a UTC time: a day or a day and time of day read in ``tz``, or "now".

    A day alone as the ``end`` means "through that day". A clear ``ValueError`` names the field."""
    value = (text or "").strip()
    if not value:
        raise ValueError(f"{name}: empty; {CUSTOM_TIME_HINT}")
    if value.lower() == "now":
        return utc_now()
    match = _LOCAL_TIME.match(value)
    if not match:
        raise ValueError(f"{name}: {value!r} is not a time; {CUSTOM_TIME_HINT}")
    day, hour, minute, second = match.groups()
    try:
        moment = datetime.fromisoformat(f"{day}T{int(hour or 0):02d}:{minute or '00'}:{second or '00'}")
    except ValueError as exc:
        raise ValueError(f"{name}: {value!r} is not a valid date or time ({exc})") from None
    if end and hour is None:
        moment += timedelta(days=1)
    return moment.replace(tzinfo=ZoneInfo(valid_zone(tz))).astimezone(UTC)


def custom_range_utc(start: str | None, end: str | None, tz: str | None) -> tuple[str, str]:
    """The custom range fields as UTC ISO times for the shell's range; ``ValueError`` when wrong."""
    since = parse_local_time(start, tz, name="From")
    until = parse_local_time(end, tz, name="To", end=True)
    if until <= since:
        raise ValueError("To must be after From")
    if since >= utc_now():
        raise ValueError("From is in the future; nothing is there yet")
    return _iso_z(since), _iso_z(until)


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
