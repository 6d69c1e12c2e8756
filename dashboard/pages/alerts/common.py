"""What the Alerts page's pieces share: roles for disabling controls, inline messages, formatting."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from dashboard.services import current_actor
from storage.users import Role

__all__ = ["SEVERITY_COLOURS", "allowed", "fmt_time", "inline", "role_hint"]

SEVERITY_COLOURS = {"info": "info", "warning": "warning", "critical": "danger", "emergency": "dark"}


def allowed(role: Role) -> bool:
    """Whether the signed-in user's role includes ``role``: only to disable controls (actions re-check)."""
    actor = current_actor()
    return actor is not None and actor.role.allows(role)


def role_hint(role: Role, element_id: str | None = None) -> html.Small | None:
    """A "Disabled: needs the admin role." note beside controls the user may not use."""
    if allowed(role):
        return None
    words = f"Disabled: needs the {role.value} role."
    if element_id:
        return html.Small(words, id=element_id, className="text-secondary ms-2 role-note")
    return html.Small(words, className="text-secondary ms-2 role-note")


def inline(text: str, color: str = "danger", **extra: Any) -> dbc.Alert:
    """An answer below a form; text only, so what a user typed is shown, never rendered."""
    return dbc.Alert(text, color=color, className="py-2 mb-2", **extra)


def fmt_time(value: Any) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def fmt_seconds(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    seconds = float(value)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
