"""The small "open incidents" panel the Overview page shows: the open ones, worst first, each a link."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, dcc, html

from dashboard import ids
from dashboard.pages.incidents import names
from dashboard.pages.incidents.common import duration_text, severity_badge, status_badge
from dashboard.services import services
from storage.incidents import INCIDENT_SEVERITIES
from storage.timeparse import utc_now

__all__ = ["open_incidents_panel", "register_panel_callbacks"]

SHOWN = 5


def open_incidents_panel() -> dbc.Card:
    """A card for the Overview page; its body refreshes with the global refresh tick."""
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    html.Span("Open incidents"),
                    dcc.Link("All incidents", href="/incidents", className="small"),
                ],
                className="d-flex justify-content-between align-items-center",
            ),
            dbc.CardBody(id=names.OVERVIEW_PANEL, children=panel_body(), className="py-2"),
        ],
        className="mb-3",
    )


def panel_body(_ticks: int | None = None) -> Any:
    try:
        frame = services().store.incidents.find(status="open", since="3650d")
    except Exception as exc:  # a down store degrades this panel, not Overview
        return html.Div(f"Could not read incidents: {exc}", className="text-warning small")
    if frame.empty:
        return html.Div("No open incident.", className="text-secondary small")
    rank = {severity: index for index, severity in enumerate(reversed(INCIDENT_SEVERITIES))}
    frame = frame.assign(rank=frame["severity"].map(rank)).sort_values(
        ["rank", "detected_at"], ascending=[True, False]
    )
    now = utc_now()
    items = [
        html.Li(
            [
                severity_badge(row.severity),
                status_badge(row.status),
                dcc.Link(f"#{row.id} {row.title}", href=f"/incidents?id={row.id}", className="ms-1"),
                html.Span(
                    f" · {', '.join(row.targets) or 'no target'} · open {duration_text((now - row.detected_at).total_seconds())}",
                    className="text-secondary small",
                ),
            ],
            className="mb-1",
        )
        for row in frame.head(SHOWN).itertuples()
    ]
    more = len(frame) - SHOWN
    if more > 0:
        items.append(html.Li(dcc.Link(f"and {more} more", href="/incidents?status=open"), className="small"))
    return html.Ul(items, className="list-unstyled mb-0")


def register_panel_callbacks(app: Dash) -> None:
    app.callback(Output(names.OVERVIEW_PANEL, "children"), Input(ids.REFRESH_INTERVAL, "n_intervals"))(
        panel_body
    )
