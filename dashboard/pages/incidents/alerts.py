"""The incident's linked alerts, each with a live chart of its metric on its series (driven by the
global time range), and a box to link one more alert by its number."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, html, no_update

from dashboard.components.live_chart import ChartSpec, live_chart
from dashboard.pages.incidents import names
from dashboard.pages.incidents.common import (
    NEEDS_OPERATOR,
    can_edit,
    message,
    refusal,
    severity_badge,
    time_text,
)
from dashboard.services import current_actor, services
from tasks.actions.incidents import link_alert

__all__ = ["alerts_card", "register_alerts_callbacks"]

LINK_ID = "incidents-link-alert-id"
LINK_SUBMIT = "incidents-link-alert-submit"
LINK_RESULT = "incidents-link-alert-result"
# Charts for at most this many alerts (the newest): a page of fifty charts helps nobody.
MAX_CHARTS = 6


def alerts_card(incident_id: int) -> dbc.Card:
    editable = can_edit()
    return dbc.Card(
        [
            dbc.CardHeader("Linked alerts"),
            dbc.CardBody(
                [
                    html.Div(id=names.ALERTS, children=_alerts(incident_id)),
                    dbc.InputGroup(
                        [
                            dbc.Input(
                                id=LINK_ID, type="number", min=1, placeholder="alert #", disabled=not editable
                            ),
                            dbc.Button(
                                "Link alert",
                                id=LINK_SUBMIT,
                                n_clicks=0,
                                color="secondary",
                                disabled=not editable,
                                title="" if editable else f"Linking alerts {NEEDS_OPERATOR}",
                            ),
                        ],
                        size="sm",
                        className="mt-2 link-alert",
                    ),
                    html.Div(id=LINK_RESULT, className="mt-1"),
                ]
            ),
        ],
        className="mb-3",
    )


def _alerts(incident_id: int) -> Any:
    try:
        frame = services().store.incidents.linked_alerts(incident_id=incident_id)
    except Exception as exc:  # a down store degrades this card only
        return dbc.Alert(f"Could not read the linked alerts: {exc}", color="warning")
    if frame.empty:
        return html.Div("No alert is linked to this incident.", className="text-secondary small")
    frame = frame.sort_values("started_at", ascending=False)
    rows = [
        html.Tr(
            [
                html.Td(f"#{row.id}"),
                html.Td(row.rule),
                html.Td(severity_badge(str(row.severity))),
                html.Td(row.state),
                html.Td(row.target),
                html.Td(time_text(row.started_at)),
                html.Td(time_text(row.resolved_at)),
            ]
        )
        for row in frame.itertuples()
    ]
    header = html.Thead(
        html.Tr([html.Th(h) for h in ("#", "Rule", "Severity", "State", "Target", "Started", "Resolved")])
    )
    table = dbc.Table([header, html.Tbody(rows)], size="sm", striped=True, className="mb-2")
    charts = [
        dbc.Col(
            live_chart(
                ChartSpec(
                    key=f"incident-alert-{row.id}",
                    metric=str(row.metric),
                    title=f"#{row.id} {row.metric} on {row.target}",
                    host=row.host if isinstance(row.host, str) else None,
                    labels=dict(row.labels) if isinstance(row.labels, dict) and row.labels else None,
                )
            ),
            lg=6,
            className="mb-2",
        )
        for row in frame.head(MAX_CHARTS).itertuples()
    ]
    note = (
        html.Div(f"Charts for the {MAX_CHARTS} newest alerts.", className="small text-secondary")
        if len(frame) > MAX_CHARTS
        else None
    )
    return [table, dbc.Row(charts), note]


def register_alerts_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.ALERTS, "children"),
        Output(LINK_RESULT, "children"),
        Output(LINK_ID, "value"),
        Input(LINK_SUBMIT, "n_clicks"),
        State(LINK_ID, "value"),
        State(names.INCIDENT_ID, "data"),
        prevent_initial_call=True,
    )(link_one)


def link_one(_clicks: int, alert_id: Any, incident_id: int) -> tuple[Any, Any, Any]:
    try:
        number = int(alert_id)
    except (TypeError, ValueError):
        return no_update, message("Type the alert's number.", ok=False), no_update
    try:
        link_alert(services().store, current_actor(), incident_id, number)
    except Exception as exc:
        return no_update, message(refusal(exc)[1], ok=False), no_update
    return _alerts(incident_id), message(f"Alert #{number} linked.", ok=True), None
