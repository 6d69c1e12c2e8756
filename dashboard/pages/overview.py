"""Overview: the few numbers that say whether this host is healthy, and its CPU and memory."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, html

from dashboard import ids
from dashboard.components.cards import kpi_card
from dashboard.components.live_chart import ChartSpec, live_chart
from dashboard.components.status_board import status_board
from dashboard.pages.incidents.panel import open_incidents_panel
from dashboard.services import services
from storage.timeparse import utc_now

PATH = "/"
NAME = "Overview"
ORDER = 10  # place in the navbar

KPI_ROW = "overview-kpis"
STATUS_AREA = "overview-status"

# (label, metric, labels to pick one series, unit)
_KPIS = [
    ("CPU", "system.cpu.percent", {}, "%"),
    ("Memory", "system.memory.percent", {}, "%"),
    ("Disk /", "system.disk.percent", {"mount": "/"}, "%"),
    ("Load 1m", "system.load", {"period": "1m"}, ""),
    ("Processes", "system.process.count", {}, ""),
]

CHARTS = [
    ChartSpec("overview-cpu", "system.cpu.percent", "CPU busy", "%"),
    ChartSpec("overview-memory", "system.memory.percent", "Memory in use", "%"),
]


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.H1("Overview", className="page-title"),
            html.Div(status_board(), id=STATUS_AREA),
            dbc.Row(id=KPI_ROW, className="g-3 mb-3", children=_kpi_cards()),
            open_incidents_panel(),  # its callback is registered by the Incidents page
            dbc.Row([dbc.Col(live_chart(spec), lg=6, className="mb-3") for spec in CHARTS]),
        ]
    )


def _format(value: float, unit: str) -> str:
    return f"{value:.1f}{unit}" if unit == "%" else f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def _kpi_cards() -> list[dbc.Col]:
    store = services().store
    # Older than the stale rule means the collector stopped: show "no data", never a stale value.
    settings = services().settings
    max_age = f"{int(settings.stale_after_seconds(settings.system_interval_seconds))}s"
    cards = []
    for label, metric, labels, unit in _KPIS:
        try:
            latest = store.latest(metric, max_age=max_age)
        except Exception as exc:  # a down store degrades the tiles, not the page
            cards.append(kpi_card(label, "error", str(exc)[:80], stale=True))
            continue
        picked = latest[
            latest["labels"].map(lambda have, want=labels: all(have.get(k) == v for k, v in want.items()))
        ]
        if picked.empty:
            cards.append(kpi_card(label, "no data", f"nothing in the last {max_age}", stale=True))
            continue
        row = picked.iloc[0]
        age = (utc_now() - row["ts"].to_pydatetime()).total_seconds()
        cards.append(kpi_card(label, _format(float(row["value"]), unit), f"{age:.0f} s ago"))
    return [dbc.Col(card, xs=6, md=4, xl=2) for card in cards]


def register_callbacks(app: Dash) -> None:
    app.callback(Output(KPI_ROW, "children"), Input(ids.REFRESH_INTERVAL, "n_intervals"))(refresh_kpis)
    app.callback(Output(STATUS_AREA, "children"), Input(ids.REFRESH_INTERVAL, "n_intervals"))(refresh_status)


def refresh_status(_ticks: int | None) -> html.Div:
    """The status board, on every refresh tick."""
    return status_board()


def refresh_kpis(_ticks: int | None) -> list[dbc.Col]:
    """The KPI tiles, on every refresh tick."""
    return _kpi_cards()
