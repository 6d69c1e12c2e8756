"""The incident's timeline (written automatically, and comments by hand), each entry with its author
and time; text is shown literally, never as HTML."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, html, no_update

from dashboard import ids
from dashboard.pages.incidents import names
from dashboard.pages.incidents.common import NEEDS_OPERATOR, can_edit, message, refusal, time_text
from dashboard.services import current_actor, services
from tasks.actions.incidents import comment_incident

__all__ = ["register_timeline_callbacks", "timeline_card"]

_KINDS = {
    "created": "opened",
    "status": "status",
    "reopened": "reopened",
    "severity": "severity",
    "owner": "owner",
    "updated": "edit",
    "postmortem": "postmortem",
    "alert_linked": "alert",
    "alert_resolved": "alert resolved",
    "notification": "notification",
    "comment": "comment",
}


def timeline_card(incident_id: int) -> dbc.Card:
    editable = can_edit()
    return dbc.Card(
        [
            dbc.CardHeader("Timeline"),
            dbc.CardBody(
                [
                    html.Div(
                        id=names.TIMELINE, children=_entries(incident_id), className="incident-timeline mb-2"
                    ),
                    dbc.Textarea(
                        id=names.COMMENT_BODY,
                        placeholder="Add a comment" if editable else f"Commenting {NEEDS_OPERATOR}",
                        rows=2,
                        disabled=not editable,
                        className="mb-2",
                    ),
                    dbc.Button(
                        "Comment",
                        id=names.COMMENT_SUBMIT,
                        size="sm",
                        color="primary",
                        n_clicks=0,
                        disabled=not editable,
                        title="" if editable else f"Commenting {NEEDS_OPERATOR}",
                    ),
                    html.Div(id=names.COMMENT_RESULT, className="mt-1"),
                ]
            ),
        ],
        className="mb-3",
    )


def _entries(incident_id: int) -> Any:
    try:
        frame = services().store.incidents.timeline(incident_id=incident_id)
    except Exception as exc:  # a down store degrades the timeline only
        return dbc.Alert(f"Could not read the timeline: {exc}", color="warning")
    if frame.empty:
        return html.Div("Nothing yet.", className="text-secondary small")
    items = []
    for row in frame.iloc[::-1].itertuples():  # newest first
        items.append(
            html.Li(
                [
                    html.Div(
                        [
                            html.Span(_KINDS.get(row.kind, row.kind), className="timeline-kind me-2"),
                            html.Strong(row.username or "system", className="me-2"),
                            html.Span(time_text(row.ts), className="text-secondary"),
                        ],
                        className="small",
                    ),
                    html.Div(
                        row.body or "",
                        className="timeline-body" + (" comment" if row.kind == "comment" else ""),
                    ),
                ],
                className=f"timeline-entry kind-{row.kind} mb-2",
            )
        )
    return html.Ul(items, className="list-unstyled mb-0")


def register_timeline_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.TIMELINE, "children"),
        Input(names.VERSION, "data"),
        Input(ids.REFRESH_INTERVAL, "n_intervals"),
        State(names.INCIDENT_ID, "data"),
        prevent_initial_call=True,
    )(refresh_timeline)
    app.callback(
        Output(names.VERSION, "data", allow_duplicate=True),
        Output(names.COMMENT_RESULT, "children"),
        Output(names.COMMENT_BODY, "value"),
        Input(names.COMMENT_SUBMIT, "n_clicks"),
        State(names.COMMENT_BODY, "value"),
        State(names.INCIDENT_ID, "data"),
        State(names.VERSION, "data"),
        prevent_initial_call=True,
    )(add_comment)


def refresh_timeline(_version: int, _ticks: int, incident_id: int) -> Any:
    return _entries(incident_id)


def add_comment(
    _clicks: int, body: str | None, incident_id: int, version: int | None
) -> tuple[Any, Any, Any]:
    try:
        comment_incident(services().store, current_actor(), incident_id, body or "")
    except Exception as exc:
        return no_update, message(refusal(exc)[1], ok=False), no_update  # keeps what was typed
    return (version or 0) + 1, "", ""
