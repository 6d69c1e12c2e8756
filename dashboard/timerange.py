"""The global time range: the choices in the shell and their meaning as (since, until)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from storage.timeparse import parse_time, utc_now

__all__ = ["DEFAULT_RANGE", "TIME_RANGES", "resolve_range_choice", "zoom_from_relayout", "zoomed_window"]

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


def zoom_from_relayout(relayout: dict[str, Any] | None) -> dict[str, str] | bool | None:
    """A chart's ``relayoutData`` as a window to zoom to, ``False`` for "reset the zoom" (a double
    click), or None when the event is not an x-axis zoom (autosize, a y-only zoom, legend clicks)."""
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
    since, until = _utc(str(start)), _utc(str(end))
    if until <= since:
        return None
    return {"since": since.isoformat(), "until": until.isoformat()}


def _utc(text: str) -> datetime:
    # Plotly reports axis positions in the data's own time (UTC here), without a zone.
    moment = datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
