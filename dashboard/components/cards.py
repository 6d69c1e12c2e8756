"""Small display pieces: KPI tiles, the "this part could not load" notice and the "not built yet" notice."""

from __future__ import annotations

from typing import Any, Literal

import dash_bootstrap_components as dbc
from dash import dcc, html

__all__ = ["KPI_LEVELS", "could_not_load", "kpi_card", "not_built"]

Level = Literal["ok", "warning", "critical"]
# A tile's level -> (Bootstrap colour, the word shown beside the value: colour is never the only cue).
KPI_LEVELS: dict[str, tuple[str, str]] = {
    "ok": ("success", "ok"),
    "warning": ("warning", "warning"),
    "critical": ("danger", "critical"),
}
SPARKLINE_HEIGHT_PX = 36


def kpi_card(
    label: str,
    value: str,
    detail: str = "",
    stale: bool = False,
    card_id: str | None = None,
    *,
    level: Level | None = None,
    sparkline: dict[str, Any] | None = None,
    href: str | None = None,
) -> Any:
    """A KPI tile: label, value and detail; with ``level`` a coloured edge and word (thresholds),
    with ``sparkline`` a small figure of the recent values, with ``href`` the whole tile is a link."""
    element_id = card_id or f"kpi-{label.lower().replace(' ', '-')}"
    colour, word = KPI_LEVELS[level] if level and not stale else ("secondary", "")
    header = [html.Span(label, className="kpi-label")]
    if word:
        header.append(dbc.Badge(word, color=colour, className="kpi-level"))
    body: list[Any] = [
        html.Div(header, className="d-flex justify-content-between align-items-start"),
        html.Div(value, className="kpi-value" + (f" text-{colour}" if word and level != "ok" else "")),
        html.Div(detail, className="small text-secondary"),
    ]
    if sparkline is not None:
        body.append(
            dcc.Graph(
                id=f"{element_id}-sparkline",
                figure=sparkline,
                config={"staticPlot": True, "displayModeBar": False},
                style={"height": f"{SPARKLINE_HEIGHT_PX}px"},
                className="kpi-sparkline mt-1",
            )
        )
    edge = f" border-2 border-{colour}" if level is not None else ""
    card = dbc.Card(
        dbc.CardBody(body, className="p-2 px-3"),
        className="kpi-card h-100" + (" stale" if stale else "") + edge,
        id=element_id,
    )
    if href is None:
        return card
    return html.A(card, href=href, className="kpi-link text-reset text-decoration-none d-block h-100")


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
