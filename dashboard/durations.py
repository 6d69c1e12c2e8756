"""How a span of time is shown to people: ``4m 05s``, ``2h 10m``, ``3d 4h`` (incidents, worker uptimes)."""

from __future__ import annotations

__all__ = ["duration_text"]


def duration_text(seconds: float | None) -> str:
    """``4m 05s``, ``2h 10m``, ``3d 4h``, or a dash."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
