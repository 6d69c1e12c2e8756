"""Small display pieces: KPI tiles, the "this part could not load" notice and the "not built yet" notice."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

__all__ = ["could_not_load", "kpi_card", "not_built"]


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


def could_not_load(part: str, error: BaseException, element_id: str | None = None) -> dbc.Alert:
    """What a panel shows instead of its content when its data cannot be read (a down store, a
    refused target): the rest of the page keeps working. Only the first line of the error is shown."""
    words = str(getattr(error, "orig", None) or error).strip().splitlines()
    reason = words[0] if words else type(error).__name__
    return dbc.Alert(
        [html.Strong(f"Could not load {part}. "), html.Span(reason)],
        color="warning",
        className="could-not-load mb-3",
        **({"id": element_id} if element_id else {}),
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
