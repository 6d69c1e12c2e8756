"""The incident list: filters (status, severity, target, since) kept in the URL, the grid with the open
incidents first, response times by severity over the same window, and the "open an incident" form."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboard import ids
from dashboard.pages.incidents import names
from dashboard.pages.incidents.common import (
    NEEDS_OPERATOR,
    can_edit,
    duration_text,
    field_answers,
    form_field,
    message,
    time_text,
)
from dashboard.services import current_actor, services
from storage.incidents import INCIDENT_SEVERITIES, INCIDENT_STATUSES
from storage.timeparse import utc_now
from tasks.actions.incidents import create_incident

__all__ = ["list_view", "register_list_callbacks"]

SINCE_CHOICES = {
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "365d": "Last year",
}
DEFAULT_SINCE = "30d"
_STATUS_OPTIONS = [{"label": "open (not resolved)", "value": "open"}] + [
    {"label": status, "value": status} for status in INCIDENT_STATUSES
]
_NEW_FIELDS = {
    "title": names.NEW_TITLE,
    "severity": names.NEW_SEVERITY,
    "targets": names.NEW_TARGETS,
    "owner": names.NEW_OWNER,
    "impact_started_at": names.NEW_IMPACT,
    "description": names.NEW_DESCRIPTION,
}

COLUMNS = [
    {"field": "id", "headerName": "#", "width": 80, "sortable": True},
    {"field": "title", "headerName": "Title", "flex": 2, "minWidth": 220},
    {"field": "status", "headerName": "Status", "width": 140},
    {"field": "severity", "headerName": "Severity", "width": 120},
    {"field": "targets", "headerName": "Targets", "flex": 1, "minWidth": 140},
    {"field": "owner", "headerName": "Owner", "width": 120},
    {"field": "detected", "headerName": "Detected", "width": 200},
    {"field": "duration", "headerName": "Open for / took", "width": 150},
]


def _choices(text: str | None, allowed: tuple[str, ...]) -> list[str]:
    return [part for part in (text or "").split(",") if part in allowed]


def list_view(query: dict[str, str]) -> html.Div:
    since = query.get("since") if query.get("since") in SINCE_CHOICES else DEFAULT_SINCE
    filters = dbc.Row(
        [
            dbc.Col(
                dcc.Dropdown(
                    id=names.FILTER_STATUS,
                    options=_STATUS_OPTIONS,
                    value=_choices(query.get("status"), ("open", *INCIDENT_STATUSES)),
                    multi=True,
                    placeholder="Any status",
                ),
                md=3,
            ),
            dbc.Col(
                dcc.Dropdown(
                    id=names.FILTER_SEVERITY,
                    options=list(INCIDENT_SEVERITIES),
                    value=_choices(query.get("severity"), INCIDENT_SEVERITIES),
                    multi=True,
                    placeholder="Any severity",
                ),
                md=3,
            ),
            dbc.Col(
                dbc.Input(
                    id=names.FILTER_TARGET,
                    value=query.get("target", ""),
                    placeholder="Affected target (exact name)",
                    debounce=True,
                ),
                md=3,
            ),
            dbc.Col(
                dcc.Dropdown(
                    id=names.FILTER_SINCE,
                    options=[{"label": label, "value": value} for value, label in SINCE_CHOICES.items()],
                    value=since,
                    clearable=False,
                ),
                md=3,
            ),
        ],
        className="g-2 mb-2",
    )
    return html.Div(
        [
            html.Div(
                [
                    html.H1("Incidents", className="page-title me-auto"),
                    dbc.Button(
                        "Open an incident",
                        id=names.NEW_TOGGLE,
                        color="primary",
                        size="sm",
                        n_clicks=0,
                        disabled=not can_edit(),
                        title="" if can_edit() else f"Opening an incident {NEEDS_OPERATOR}",
                    ),
                ],
                className="d-flex align-items-center gap-2",
            ),
            html.Div(
                "" if can_edit() else f"You can read incidents; opening and changing them {NEEDS_OPERATOR}.",
                className="small text-secondary mb-2",
            ),
            dbc.Collapse(_new_form(), id=names.NEW_COLLAPSE, is_open=False),
            filters,
            html.Div(id=names.LIST_STATUS, className="small text-secondary mb-1"),
            dag.AgGrid(
                id=names.GRID,
                columnDefs=COLUMNS,
                rowData=[],
                defaultColDef={"resizable": True, "sortable": False},
                dashGridOptions={
                    "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True},
                    "domLayout": "autoHeight",
                    "pagination": True,
                    "paginationPageSize": 25,
                    "paginationPageSizeSelector": False,
                    "localeText": {"noRowsToShow": "No incident matches these filters."},
                },
                getRowId="params.data.id",
                className="ag-theme-alpine mb-3",
                style={"width": "100%"},
            ),
            html.H5("Response times by severity", className="mt-3"),
            html.Div(id=names.RESPONSE_TIMES),
        ]
    )


def _field(label: str, component: Any, field_id: str, help_text: str = "") -> dbc.Col:
    return dbc.Col(form_field(label, component, field_id, help_text), md=6, className="mb-2")


def _new_form() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                dbc.Row(
                    [
                        _field("Title", dbc.Input(id=names.NEW_TITLE, maxLength=255), names.NEW_TITLE),
                        _field(
                            "Severity",
                            dbc.Select(
                                id=names.NEW_SEVERITY,
                                options=[{"label": s, "value": s} for s in INCIDENT_SEVERITIES],
                                value="medium",
                            ),
                            names.NEW_SEVERITY,
                        ),
                        _field(
                            "Affected targets",
                            dbc.Input(id=names.NEW_TARGETS, placeholder="db1, cache1"),
                            names.NEW_TARGETS,
                            "comma-separated",
                        ),
                        _field(
                            "Owner",
                            dbc.Input(id=names.NEW_OWNER, placeholder="who leads it"),
                            names.NEW_OWNER,
                        ),
                        _field(
                            "Impact started",
                            dbc.Input(id=names.NEW_IMPACT, placeholder="2026-12-01T21:40Z, or 15m (ago)"),
                            names.NEW_IMPACT,
                            "UTC; empty: when it was detected (now)",
                        ),
                        _field(
                            "Description",
                            dbc.Textarea(id=names.NEW_DESCRIPTION, rows=2),
                            names.NEW_DESCRIPTION,
                        ),
                    ]
                ),
                dbc.Button("Open incident", id=names.NEW_SUBMIT, color="primary", n_clicks=0),
                html.Div(id=names.NEW_RESULT, className="mt-2"),
            ]
        ),
        className="mb-3",
    )


# -- callbacks ----------------------------------------------------------------------------------


def register_list_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.GRID, "rowData"),
        Output(names.LIST_STATUS, "children"),
        Output(names.RESPONSE_TIMES, "children"),
        Output(names.LOCATION, "search"),
        Input(names.FILTER_STATUS, "value"),
        Input(names.FILTER_SEVERITY, "value"),
        Input(names.FILTER_TARGET, "value"),
        Input(names.FILTER_SINCE, "value"),
        Input(ids.REFRESH_INTERVAL, "n_intervals"),
    )(refresh_list)
    app.callback(Output(names.NAV, "href"), Input(names.GRID, "cellClicked"), prevent_initial_call=True)(
        open_clicked_incident
    )
    app.callback(
        Output(names.NEW_COLLAPSE, "is_open"),
        Input(names.NEW_TOGGLE, "n_clicks"),
        State(names.NEW_COLLAPSE, "is_open"),
        prevent_initial_call=True,
    )(toggle_new_form)
    app.callback(
        Output(names.NAV, "href", allow_duplicate=True),
        Output(names.NEW_RESULT, "children"),
        *(Output(field_id, "invalid") for field_id in _NEW_FIELDS.values()),
        *(Output(f"{field_id}-feedback", "children") for field_id in _NEW_FIELDS.values()),
        Input(names.NEW_SUBMIT, "n_clicks"),
        *(State(field_id, "value") for field_id in _NEW_FIELDS.values()),
        prevent_initial_call=True,
    )(submit_new_incident)


def refresh_list(
    statuses: list[str] | None,
    severities: list[str] | None,
    target: str | None,
    since: str | None,
    _ticks: int | None,
) -> tuple[Any, Any, Any, str]:
    """The grid rows, a count line, the response-times table, and the URL's query for these filters."""
    since = since if since in SINCE_CHOICES else DEFAULT_SINCE
    query = {
        key: value
        for key, value in {
            "status": ",".join(statuses or []),
            "severity": ",".join(severities or []),
            "target": (target or "").strip(),
            "since": since if since != DEFAULT_SINCE else "",
        }.items()
        if value
    }
    search = f"?{urlencode(query)}" if query else ""
    incidents = services().store.incidents
    try:
        frame = incidents.find(
            status=statuses or None, severity=severities or None, target=query.get("target"), since=since
        )
        times = incidents.response_times(since=since)
    except Exception as exc:  # a down store degrades the list, not the page
        return [], f"Could not read incidents: {exc}", no_update, search
    now = utc_now()
    rows = [
        {
            "id": int(row.id),
            "title": row.title,
            "status": row.status,
            "severity": row.severity,
            "targets": ", ".join(row.targets),
            "owner": row.owner or "",
            "detected": time_text(row.detected_at),
            "duration": _duration(row.detected_at, row.resolved_at, now),
        }
        for row in frame.itertuples()
    ]
    open_count = sum(1 for row in rows if row["status"] != "resolved")
    status = (
        f"{len(rows)} incident{'s' if len(rows) != 1 else ''} ({open_count} open) — click a row to open it."
    )
    return rows, status, _response_table(times), search


def _duration(detected: Any, resolved: Any, now: Any) -> str:
    if detected is None or str(detected) == "NaT":
        return "—"
    end = now if resolved is None or str(resolved) == "NaT" else resolved
    return duration_text((end - detected).total_seconds())


def _mean(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _response_table(times: pd.DataFrame) -> html.Div:
    header = html.Thead(html.Tr([html.Th(h) for h in ("Severity", "Incidents", "Open", "MTTA", "MTTR")]))
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(row.severity),
                    html.Td(int(row.incidents)),
                    html.Td(int(row.open)),
                    html.Td(duration_text(_mean(row.mtta_seconds))),
                    html.Td(duration_text(_mean(row.mttr_seconds))),
                ],
                className="fw-semibold" if row.severity == "all" else "",
            )
            for row in times.itertuples()
        ]
    )
    return html.Div(
        [
            dbc.Table([header, body], size="sm", striped=True, className="response-times w-auto mb-1"),
            html.Div(
                "Means over the incidents detected in the window. MTTA: detected → acknowledged "
                "(first owner or status change); MTTR: detected → resolved.",
                className="small text-secondary",
            ),
        ]
    )


def open_clicked_incident(cell: dict[str, Any] | None) -> Any:
    """A click on a row opens that incident (its id in the URL)."""
    if not cell or "rowId" not in cell:
        return no_update
    return f"/incidents?id={int(cell['rowId'])}"


def toggle_new_form(_clicks: int, is_open: bool) -> bool:
    return not is_open


def submit_new_incident(_clicks: int, *values: Any) -> tuple[Any, ...]:
    """Open the incident and go to it; a refusal marks its field and says why, keeping what was typed."""
    fields = dict(zip(_NEW_FIELDS, values, strict=True))
    try:
        incident_id = create_incident(
            services().store,
            current_actor(),
            title=fields["title"] or "",
            severity=fields["severity"] or "",
            description=fields["description"],
            targets=fields["targets"],
            owner=fields["owner"],
            impact_started_at=fields["impact_started_at"],
        )
    except Exception as exc:
        words, invalid, feedback = field_answers(_NEW_FIELDS, exc)
        return (no_update, message(words or "", ok=False), *invalid, *feedback)
    _, invalid, feedback = field_answers(_NEW_FIELDS, None)
    return (
        f"/incidents?id={incident_id}",
        message(f"Opened incident #{incident_id}.", ok=True),
        *invalid,
        *feedback,
    )
