"""One incident: its header, the status controls (only the moves that make sense are enabled; a
resolved incident is reopened with a reason), its times with MTTA/MTTR, and the edit form."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, html, no_update

from dashboard import ids
from dashboard.pages.incidents import names
from dashboard.pages.incidents.common import (
    NEEDS_OPERATOR,
    can_edit,
    duration_text,
    field_answers,
    form_field,
    message,
    refusal,
    severity_badge,
    status_badge,
    time_text,
)
from dashboard.services import current_actor, services
from storage.incidents import INCIDENT_SEVERITIES, TRANSITIONS
from tasks.actions.incidents import reopen_incident, set_incident_status, update_incident

__all__ = ["detail_pieces", "register_detail_callbacks"]

MOVES = (  # (status, button label)
    ("identified", "Identified"),
    ("monitoring", "Monitoring"),
    ("resolved", "Resolved"),
    ("investigating", "Back to investigating"),
)
_EDIT_FIELDS = {
    "title": names.EDIT_TITLE,
    "severity": names.EDIT_SEVERITY,
    "owner": names.EDIT_OWNER,
    "targets": names.EDIT_TARGETS,
    "impact_started_at": names.EDIT_IMPACT,
    "description": names.EDIT_DESCRIPTION,
}


def _iso_input(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else ""


def status_card(editable: bool) -> dbc.Card:
    reason = "" if editable else f"Changing the status {NEEDS_OPERATOR}"
    buttons = [
        dbc.Button(
            label,
            id={"type": names.MOVE, "status": status},
            color="success"
            if status == "resolved"
            else "secondary"
            if status == "investigating"
            else "primary",
            outline=status == "investigating",
            size="sm",
            n_clicks=0,
            disabled=True,
            title=reason,
            className="me-2 mb-2",
        )
        for status, label in MOVES
    ]
    reopen = html.Div(
        [
            dbc.InputGroup(
                [
                    dbc.Input(
                        id=names.REOPEN_REASON,
                        placeholder="Why is it reopened? (required)",
                        disabled=not editable,
                    ),
                    dbc.Button(
                        "Reopen",
                        id=names.REOPEN_SUBMIT,
                        color="warning",
                        n_clicks=0,
                        disabled=not editable,
                        title=reason,
                    ),
                ],
                size="sm",
            ),
        ],
        id=names.REOPEN_BOX,
        style={"display": "none"},
    )
    return dbc.Card(
        [
            dbc.CardHeader("Status"),
            dbc.CardBody(
                [
                    html.Div(
                        [
                            *buttons,
                            dbc.Button(
                                "Take ownership",
                                id=names.TAKE_OWNERSHIP,
                                color="link",
                                size="sm",
                                n_clicks=0,
                                disabled=not editable,
                                title=reason or "Become the owner (this acknowledges the incident)",
                                className="mb-2",
                            ),
                        ]
                    ),
                    dbc.Input(
                        id=names.MOVE_NOTE,
                        placeholder="Note for the timeline (optional)",
                        size="sm",
                        className="mb-2",
                        disabled=not editable,
                    ),
                    reopen,
                    html.Div(id=names.STATUS_HINT, className="small text-secondary mt-1"),
                    html.Div(id=names.MOVE_RESULT, className="mt-1"),
                    html.Div(reason and f"({reason}.)", className="small text-secondary"),
                ]
            ),
        ],
        className="mb-3",
    )


def _edit_field(label: str, component: Any, field_id: str, help_text: str = "") -> html.Div:
    return html.Div(form_field(label, component, field_id, help_text), className="mb-2 small-labels")


def edit_card(incident: dict[str, Any], editable: bool) -> dbc.Card:
    off = not editable
    return dbc.Card(
        [
            dbc.CardHeader("Details"),
            dbc.CardBody(
                [
                    _edit_field(
                        "Title",
                        dbc.Input(id=names.EDIT_TITLE, value=incident["title"], disabled=off),
                        names.EDIT_TITLE,
                    ),
                    _edit_field(
                        "Severity",
                        dbc.Select(
                            id=names.EDIT_SEVERITY,
                            options=[{"label": s, "value": s} for s in INCIDENT_SEVERITIES],
                            value=incident["severity"],
                            disabled=off,
                        ),
                        names.EDIT_SEVERITY,
                    ),
                    _edit_field(
                        "Owner",
                        dbc.Input(id=names.EDIT_OWNER, value=incident["owner"] or "", disabled=off),
                        names.EDIT_OWNER,
                    ),
                    _edit_field(
                        "Affected targets",
                        dbc.Input(id=names.EDIT_TARGETS, value=", ".join(incident["targets"]), disabled=off),
                        names.EDIT_TARGETS,
                        "comma-separated",
                    ),
                    _edit_field(
                        "Impact started (UTC)",
                        dbc.Input(
                            id=names.EDIT_IMPACT,
                            value=_iso_input(incident["impact_started_at"]),
                            disabled=off,
                        ),
                        names.EDIT_IMPACT,
                        "ISO 8601, e.g. 2026-12-01T21:40:00Z; not after the resolution",
                    ),
                    _edit_field(
                        "Description",
                        dbc.Textarea(
                            id=names.EDIT_DESCRIPTION,
                            value=incident["description"] or "",
                            rows=3,
                            disabled=off,
                        ),
                        names.EDIT_DESCRIPTION,
                    ),
                    dbc.Button(
                        "Save details",
                        id=names.EDIT_SUBMIT,
                        color="primary",
                        size="sm",
                        n_clicks=0,
                        disabled=off,
                        title="" if editable else f"Editing {NEEDS_OPERATOR}",
                    ),
                    html.Div(id=names.EDIT_RESULT, className="mt-2"),
                ]
            ),
        ],
        className="mb-3",
    )


def detail_pieces(incident: dict[str, Any]) -> dict[str, Any]:
    """The header, status, times and edit pieces for the page to place."""
    editable = can_edit()
    return {
        "header": html.Div(id=names.HEADER, children=_header(incident), className="mb-3"),
        "status": status_card(editable),
        "times": dbc.Card(
            [dbc.CardHeader("Times"), dbc.CardBody(id=names.TIMES, children=_times(incident))],
            className="mb-3",
        ),
        "edit": edit_card(incident, editable),
    }


def _header(incident: dict[str, Any]) -> list[Any]:
    targets = ", ".join(incident["targets"]) or "no target named"
    source = {"manual": "opened by hand", "alert": "opened from an alert", "auto": "opened automatically"}
    return [
        html.H1(f"#{incident['id']} {incident['title']}", className="page-title mb-1"),
        html.Div(
            [
                status_badge(incident["status"]),
                severity_badge(incident["severity"]),
                html.Span(
                    f" {targets} · owner: {incident['owner'] or 'nobody'} · ", className="text-secondary"
                ),
                html.Span(
                    f"{source.get(incident['source'], incident['source'])} by {incident['opened_by'] or '?'}",
                    className="text-secondary",
                ),
            ],
            className="small",
        ),
    ]


def _times(incident: dict[str, Any]) -> html.Dl:
    rows = [
        ("Impact started", time_text(incident["impact_started_at"])),
        ("Detected", time_text(incident["detected_at"])),
        ("Acknowledged", time_text(incident["acknowledged_at"])),
        ("Mitigated", time_text(incident["mitigated_at"])),
        ("Resolved", time_text(incident["resolved_at"])),
        ("MTTA", duration_text(incident["mtta_seconds"])),
        ("MTTR", duration_text(incident["mttr_seconds"])),
        ("Impact", duration_text(incident["impact_seconds"])),
    ]
    items: list[Any] = []
    for label, value in rows:
        items += [
            html.Dt(label, className="col-5 fw-normal text-secondary"),
            html.Dd(value, className="col-7 mb-1"),
        ]
    return html.Dl(items, className="row small mb-0 incident-times")


# -- callbacks ----------------------------------------------------------------------------------


def register_detail_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.HEADER, "children"),
        Output(names.TIMES, "children"),
        Output(names.STATUS_HINT, "children"),
        Output({"type": names.MOVE, "status": ALL}, "disabled"),
        Output(names.REOPEN_BOX, "style"),
        Input(names.VERSION, "data"),
        Input(ids.REFRESH_INTERVAL, "n_intervals"),
        State(names.INCIDENT_ID, "data"),
        State({"type": names.MOVE, "status": ALL}, "id"),
    )(refresh_detail)
    app.callback(
        Output(names.VERSION, "data", allow_duplicate=True),
        Output(names.MOVE_RESULT, "children"),
        Output(names.MOVE_NOTE, "value"),
        Input({"type": names.MOVE, "status": ALL}, "n_clicks"),
        State(names.MOVE_NOTE, "value"),
        State(names.INCIDENT_ID, "data"),
        State(names.VERSION, "data"),
        prevent_initial_call=True,
    )(move_status)
    app.callback(
        Output(names.VERSION, "data", allow_duplicate=True),
        Output(names.MOVE_RESULT, "children", allow_duplicate=True),
        Output(names.EDIT_OWNER, "value", allow_duplicate=True),
        Input(names.TAKE_OWNERSHIP, "n_clicks"),
        State(names.INCIDENT_ID, "data"),
        State(names.VERSION, "data"),
        prevent_initial_call=True,
    )(take_ownership)
    app.callback(
        Output(names.VERSION, "data", allow_duplicate=True),
        Output(names.MOVE_RESULT, "children", allow_duplicate=True),
        Output(names.REOPEN_REASON, "value"),
        Input(names.REOPEN_SUBMIT, "n_clicks"),
        State(names.REOPEN_REASON, "value"),
        State(names.INCIDENT_ID, "data"),
        State(names.VERSION, "data"),
        prevent_initial_call=True,
    )(reopen)
    app.callback(
        Output(names.VERSION, "data", allow_duplicate=True),
        Output(names.EDIT_RESULT, "children"),
        *(Output(field_id, "invalid") for field_id in _EDIT_FIELDS.values()),
        *(Output(f"{field_id}-feedback", "children") for field_id in _EDIT_FIELDS.values()),
        Input(names.EDIT_SUBMIT, "n_clicks"),
        *(State(field_id, "value") for field_id in _EDIT_FIELDS.values()),
        State(names.INCIDENT_ID, "data"),
        State(names.VERSION, "data"),
        prevent_initial_call=True,
    )(save_details)


def take_ownership(_clicks: int, incident_id: int, version: int | None) -> tuple[Any, Any, Any]:
    """The clicking operator becomes the owner, which acknowledges the incident (MTTA stops).

    The Details form's owner field follows, so saving the details next does not undo it."""
    actor = current_actor()
    owner = actor.username if actor else ""
    try:
        changed = update_incident(services().store, actor, incident_id, {"owner": owner})
    except Exception as exc:
        return no_update, message(refusal(exc)[1], ok=False), no_update
    said = "You own this incident now." if changed else "You already own this incident."
    return (version or 0) + 1, message(said, ok=True), owner


def refresh_detail(
    _version: int, _ticks: int, incident_id: int, move_ids: list[dict[str, str]]
) -> tuple[Any, ...]:
    editable = can_edit()
    try:
        incident = services().store.incidents.get(incident_id=incident_id)
    except Exception as exc:  # a down store degrades these cards, not the page
        warning = dbc.Alert(f"Could not read incident #{incident_id}: {exc}", color="warning")
        return warning, no_update, no_update, [True] * len(move_ids), no_update
    allowed = set(TRANSITIONS[incident["status"]])
    disabled = [not editable or move["status"] not in allowed for move in move_ids]
    if incident["status"] == "resolved":
        hint = "Resolved: the postmortem stays editable; reopen the incident to change its status."
    else:
        hint = f"From {incident['status']} it can move to: {', '.join(TRANSITIONS[incident['status']])}."
    reopen_style = {} if incident["status"] == "resolved" else {"display": "none"}
    return _header(incident), _times(incident), hint, disabled, reopen_style


def move_status(
    clicks: list[int | None], note: str | None, incident_id: int, version: int | None
) -> tuple[Any, Any, Any]:
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(clicks):
        return no_update, no_update, no_update
    status = str(trigger["status"])
    try:
        previous = set_incident_status(services().store, current_actor(), incident_id, status, note)
    except Exception as exc:
        return no_update, message(refusal(exc)[1], ok=False), no_update
    return (version or 0) + 1, message(f"Moved from {previous} to {status}.", ok=True), ""


def reopen(_clicks: int, reason: str | None, incident_id: int, version: int | None) -> tuple[Any, Any, Any]:
    try:
        reopen_incident(services().store, current_actor(), incident_id, reason or "")
    except Exception as exc:
        return no_update, message(refusal(exc)[1], ok=False), no_update
    return (version or 0) + 1, message("Reopened: back to investigating.", ok=True), ""


def save_details(_clicks: int, *values: Any) -> tuple[Any, ...]:
    *fields, incident_id, version = values
    wanted = dict(zip(_EDIT_FIELDS, fields, strict=True))
    try:
        changed = update_incident(services().store, current_actor(), incident_id, wanted)
    except Exception as exc:
        words, invalid, feedback = field_answers(_EDIT_FIELDS, exc)
        return (no_update, message(f"Nothing was saved. {words}", ok=False), *invalid, *feedback)
    _, invalid, feedback = field_answers(_EDIT_FIELDS, None)
    text = f"Saved: {', '.join(changed).replace('_', ' ')}." if changed else "Nothing changed."
    return ((version or 0) + 1, message(text, ok=True), *invalid, *feedback)
