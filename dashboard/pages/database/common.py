"""What the page's pieces share: the window of the global range, formatting, the selected target."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from dashboard.timerange import resolve_range_choice

__all__ = ["duration", "human_bytes", "number", "window"]


def window(choice: str | None, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """(since, until) of the global time range."""
    return resolve_range_choice(choice, [start or "", end or ""])


def number(value: Any, digits: int = 1, unit: str = "") -> str:
    """A figure for a card, or "no data" (never a stale or made-up number)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    text = (
        f"{value:,.{digits}f}"
        if isinstance(value, float) and not float(value).is_integer()
        else f"{value:,.0f}"
    )
    return f"{text}{unit}"


def human_bytes(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} TiB"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "no data"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
