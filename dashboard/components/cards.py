"""Small display pieces: KPI tiles and the "not built yet" notice."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

__all__ = ["kpi_card", "not_built"]


def kpi_card(
    label: str, value: str, detail: str = "", stale: bool = False, card_id: str | None = None
) -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(label, className="kpi-label"),
                html.Div(value, className="kpi-value"),
                html.Div(detail, className="small text-secondary"),
            ]
        ),
        className="kpi-card h-100" + (" stale" if stale else ""),
        id=card_id or f"kpi-{label.lower().replace(' ', '-')}",
    )


def not_built(section: str, what: str, issue: str) -> html.Div:
    """An honest placeholder: says this section does not exist yet, what it will hold, and where it is planned."""
    return html.Div(
        [
            html.H1(section, className="page-title"),
            dbc.Alert(
                [
                    html.Strong(f"The {section} section is not built yet. "),
                    html.Span(f"It will show {what}. "),
                    html.Span(f"Planned in {issue}."),
                ],
                color="secondary",
            ),
        ],
        className="not-built",
    )
