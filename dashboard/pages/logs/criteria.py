"""The Logs page's search criteria: from the URL, to the URL, and to the storage facade's arguments.

Pure functions, no Dash: the page's callbacks and the tests share them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from dashboard.timerange import resolve_range_choice
from storage.logs import LOG_LEVELS
from storage.timeparse import parse_time, to_millis, utc_now

__all__ = [
    "LIMITS",
    "criteria_from",
    "facade_filters",
    "iso_ms",
    "parse_levels",
    "parse_window",
    "query_string",
    "validate_inputs",
]

# Column widths of log_entries: a longer filter could never match.
LIMITS = {"query": 1000, "channel": 191, "host": 191, "source": 255, "request_id": 64}
_FIELDS = ("query", "channel", "host", "source", "request_id")
# URL parameter names (short, readable links).
_PARAM = {"query": "q", "channel": "channel", "host": "host", "source": "source", "request_id": "request_id"}


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_levels(text: str | list[str] | None) -> list[str]:
    """Known level names from ``error,warning`` or a list; unknown names are dropped."""
    if not text:
        return []
    parts = text if isinstance(text, list) else text.split(",")
    return [level for level in dict.fromkeys(p.strip().lower() for p in parts) if level in LOG_LEVELS]


def parse_window(start: str | None, end: str | None) -> dict[str, int] | None:
    """A ``from``/``to`` pair from the URL (ISO 8601 or epoch ms) as a window, or None when unusable."""
    if not start or not end:
        return None
    now = utc_now()
    try:
        values = [
            int(text) if text.isdigit() else to_millis(parse_time(text, name="window", now=now))
            for text in (start, end)
        ]
    except ValueError:
        return None
    if values[1] <= values[0]:
        return None
    return {"from_ms": values[0], "to_ms": values[1]}


def validate_inputs(values: dict[str, str | None]) -> dict[str, str]:
    """Field -> message for inputs that cannot be searched as typed (shown next to the field)."""
    problems = {}
    for name, limit in LIMITS.items():
        value = values.get(name)
        if value is not None and len(value) > limit:
            problems[name] = f"at most {limit} characters ({len(value)} typed)"
    return problems


def criteria_from(
    values: dict[str, Any],
    levels: list[str] | None,
    window: dict[str, int] | None,
    range_choice: str | None,
    custom: list[str | None] | None,
    version: int,
) -> dict[str, Any]:
    """The resolved search: filters, levels, and a fixed [from_ms, to_ms) window.

    A relative global range ("last hour") is fixed at the moment of the search, so the results do not
    move under the reader; newer lines arrive through the live tail.
    """
    if window:
        from_ms, to_ms, relative = int(window["from_ms"]), int(window["to_ms"]), False
    else:
        start, end = resolve_range_choice(range_choice, [c or "" for c in custom] if custom else None)
        from_ms, to_ms = to_millis(start), to_millis(end) + 1000  # the current second's lines too
        relative = True
    found = {name: (str(values.get(name) or "").strip() or None) for name in _FIELDS}
    return {
        **found,
        "levels": parse_levels(levels or []),
        "from_ms": from_ms,
        "to_ms": to_ms,
        "window": bool(window),
        "relative": relative,
        "version": version,
    }


def facade_filters(criteria: dict[str, Any], *, with_range: bool = True) -> dict[str, Any]:
    """``store.logs.search``'s keyword arguments for the criteria."""
    found: dict[str, Any] = {name: criteria.get(name) for name in _FIELDS}
    found["levels"] = criteria.get("levels") or None
    if with_range:
        found["since"] = int(criteria["from_ms"])
        found["until"] = int(criteria["to_ms"])
    return found


def query_string(criteria: dict[str, Any], entry: int | None = None) -> str:
    """The URL query that reproduces the view (the global range stays the shell's own choice)."""
    params: list[tuple[str, str]] = [
        (_PARAM[name], str(criteria[name])) for name in _FIELDS if criteria.get(name)
    ]
    if criteria.get("levels"):
        params.append(("level", ",".join(criteria["levels"])))
    if criteria.get("window"):
        params += [("from", iso_ms(int(criteria["from_ms"]))), ("to", iso_ms(int(criteria["to_ms"])))]
    if entry is not None:
        params.append(("entry", str(entry)))
    return "?" + urlencode(params) if params else ""
