"""What the pieces of the Incidents page share: badges, time and duration text, the role check for
controls, and turning an action's refusal into a message."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from dashboard.durations import duration_text
from dashboard.services import current_actor
from storage.incidents import IncidentInputError, UnknownIncident
from storage.timeparse import format_utc
from storage.users import Role
from tasks.actions import PermissionDenied

__all__ = [
    "NEEDS_OPERATOR",
    "SEVERITY_COLORS",
    "STATUS_COLORS",
    "can_edit",
    "duration_text",
    "field_answers",
    "form_field",
    "message",
    "refusal",
    "severity_badge",
    "status_badge",
    "time_text",
]

NEEDS_OPERATOR = "needs the operator role"
SEVERITY_COLORS = {"critical": "danger", "high": "warning", "medium": "info", "low": "secondary"}
STATUS_COLORS = {
    "investigating": "danger",
    "identified": "warning",
    "monitoring": "info",
    "resolved": "success",
}


def can_edit() -> bool:
    actor = current_actor()
    return actor is not None and actor.role.allows(Role.OPERATOR)


def severity_badge(severity: str) -> dbc.Badge:
    return dbc.Badge(
        severity, color=SEVERITY_COLORS.get(severity, "secondary"), className="me-1 text-uppercase"
    )


def status_badge(status: str) -> dbc.Badge:
    return dbc.Badge(status, color=STATUS_COLORS.get(status, "secondary"), className="me-1")


def time_text(value: Any) -> str:
    """``2026-12-01 21:55:30 UTC``, or a dash for no time."""
    if value is None or pd.isna(value):  # NaT is a datetime too
        return "—"
    return format_utc(pd.Timestamp(value))


def refusal(exc: Exception) -> tuple[str | None, str]:
    """``(field, message)`` for what the user did wrong; field None when no one field is to blame."""
    if isinstance(exc, PermissionDenied):
        return None, f"Not allowed: {exc}."
    if isinstance(exc, IncidentInputError | UnknownIncident):
        return exc.field, str(exc).split(": ", 1)[-1].rstrip(".") + "."
    return None, f"Could not save: {exc}"


def form_field(label: str, component: Any, field_id: str, help_text: str = "") -> list[Any]:
    """Label, input, help and the feedback line a refusal fills (id ``<field_id>-feedback``)."""
    parts = [dbc.Label(label, html_for=field_id, className="mb-0"), component]
    if help_text:
        parts.append(dbc.FormText(help_text))
    parts.append(dbc.FormFeedback(id=f"{field_id}-feedback", type="invalid"))
    return parts


def field_answers(fields: Iterable[str], exc: Exception | None) -> tuple[str | None, list[bool], list[str]]:
    """For a form's fields: the refusal's words, which field is marked invalid, and its feedback."""
    names = list(fields)
    field, words = refusal(exc) if exc is not None else (None, None)
    invalid = [name == field for name in names]
    feedback = [(words or "") if name == field else "" for name in names]
    if words is not None and field not in names:
        return words, invalid, feedback
    return ("Fix the marked field." if words else None), invalid, feedback


def message(text: str, ok: bool) -> html.Div:
    """A one-line answer under a form: green when done, red when refused."""
    return html.Div(text, className="small " + ("text-success" if ok else "text-danger"), role="status")
