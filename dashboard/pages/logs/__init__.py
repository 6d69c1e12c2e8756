"""Logs: full-text search over every tailed line, a level histogram, the exact file context of an
entry, a live tail, and archives.

Every filter lives in the URL (``q``, ``level``, ``channel``, ``host``, ``source``, ``request_id``, a
narrowed ``from``/``to`` window and the selected ``entry``), so a link reproduces the view; without
``from``/``to`` the shell's global time range applies. The page reads through ``store.logs`` only.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, dcc, html, no_update

from dashboard.pages.logs import names
from dashboard.pages.logs.archives import archive_panel, register_archive_callbacks
from dashboard.pages.logs.criteria import facade_filters, parse_window
from dashboard.pages.logs.detail import detail_panel, register_detail_callbacks
from dashboard.pages.logs.filters import filter_bar, register_filter_callbacks
from dashboard.pages.logs.histogram import histogram_graph, register_histogram_callbacks
from dashboard.pages.logs.results import grid_placeholder, register_result_callbacks
from dashboard.pages.logs.tail import register_tail_callbacks, tail_panel
from dashboard.services import services

__all__ = ["NAME", "ORDER", "PATH", "layout", "register_callbacks"]

PATH = "/logs"
NAME = "Logs"
ORDER = 60

_COUNT_CAP = 100_000


def layout(**query: str) -> html.Div:
    entry = query.get("entry")
    return html.Div(
        [
            dcc.Location(id=names.LOCATION, refresh=False),
            dcc.Store(id=names.CRITERIA),
            dcc.Store(id=names.WINDOW, data=parse_window(query.get("from"), query.get("to"))),
            dcc.Store(id=names.SELECTED, data=int(entry) if entry and entry.isdigit() else None),
            dcc.Store(id=names.CONTEXT_SPAN),
            html.H1("Logs", className="page-title"),
            filter_bar(query),
            histogram_graph(),
            html.Div(id=names.SUMMARY, className="small text-muted mb-1"),
            grid_placeholder(),
            detail_panel(),
            dbc.Row(
                [
                    dbc.Col(tail_panel(), xl=6),
                    dbc.Col(archive_panel(), xl=6),
                ]
            ),
        ],
        className="logs-page",
    )


def summary(criteria: dict[str, Any] | None) -> Any:
    if not criteria:
        return no_update
    try:
        count = services().store.logs.count(**facade_filters(criteria), cap=_COUNT_CAP)
    except Exception:
        return "Log entries cannot be read right now."
    if count == 0:
        return "No entries match this search in this window."
    shown = f"more than {_COUNT_CAP - 1:,}" if count >= _COUNT_CAP else f"{count:,}"
    return f"{shown} matching entr{'y' if count == 1 else 'ies'}, newest first · click a row for its details"


def register_callbacks(app: Dash) -> None:
    register_filter_callbacks(app)
    register_result_callbacks(app)
    register_histogram_callbacks(app)
    register_detail_callbacks(app)
    register_tail_callbacks(app)
    register_archive_callbacks(app)
    app.callback(Output(names.SUMMARY, "children"), Input(names.CRITERIA, "data"))(summary)
