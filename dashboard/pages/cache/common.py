"""What the Cache page's pieces share: the configured targets, roles, number formatting."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from dashboard.services import current_actor, live_settings
from storage.users import Role
from tasks.cache_types import target_names as configured_names

__all__ = [
    "can",
    "fmt_bytes",
    "fmt_count",
    "message",
    "reason_for",
    "role_note",
    "target_names",
]


def target_names() -> list[str]:
    """The configured Redis targets' names, in configuration order."""
    return configured_names(live_settings())  # targets added on the Settings page too


def can(role: Role) -> bool:
    """Whether the signed-in user's role allows ``role`` (only to disable controls: actions re-check)."""
    actor = current_actor()
    return actor is not None and actor.role.allows(role)


def reason_for(role: Role) -> str:
    """The reason shown beside a control this user may not use ("" when they may)."""
    return "" if can(role) else f"needs the {role.value} role"


def fmt_bytes(value: float | int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def fmt_count(value: float | int | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def message(text: str, color: str = "danger", **extra: Any) -> dbc.Alert:
    """An inline answer below a form (text only: user input is never rendered as HTML)."""
    return dbc.Alert(text, color=color, className="py-2 mb-2", **extra)


def role_note(role: Role) -> html.Small | None:
    """ "Disabled: needs the operator role." beside a control, or nothing when the user may use it."""
    reason = reason_for(role)
    if not reason:
        return None
    return html.Small(f"Disabled: {reason}.", className="text-secondary ms-2 role-note")
