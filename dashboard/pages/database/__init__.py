"""Database: live MySQL/MariaDB health, query analytics with EXPLAIN, deadlocks, replication, table growth.

The target lives in the URL (``/database?target=db1``) and the selected statement in its fragment
(``#digest=...``), so a link reproduces the view. Each module holds one piece with its callbacks;
a down target degrades its own status line and panels, never the page.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, html

from dashboard.pages.database import names
from dashboard.pages.database.charts import charts_row
from dashboard.pages.database.deadlocks import deadlock_box, register_deadlock_callbacks
from dashboard.pages.database.detail import detail_box, register_detail_callbacks
from dashboard.pages.database.header import header, register_header_callbacks
from dashboard.pages.database.queries import grid_box, register_query_callbacks
from dashboard.pages.database.replication import register_replication_callbacks, replication_box
from dashboard.pages.database.tables import register_table_callbacks, tables_box
from dashboard.services import live_settings
from tasks.database_targets import target_names

__all__ = ["NAME", "ORDER", "PATH", "layout", "register_callbacks"]

PATH = "/database"
NAME = "Database"
ORDER = 30  # place in the navbar


def layout(target: str | None = None, **_query: str) -> html.Div:
    targets = target_names(live_settings())  # targets added on the Settings page too
    chosen = target if target in targets else (targets[0] if targets else None)
    parts: list[Any] = [header(targets, chosen), html.Div(id=names.STATUS), html.Div(id=names.KPIS)]
    if target and target not in targets:
        parts.insert(
            1,
            dbc.Alert(f"Unknown target {target!r}; showing {chosen or 'nothing'} instead.", color="warning"),
        )
    if chosen is None:
        return html.Div(parts)
    parts += [
        html.H2("Top queries", className="h5 mt-3"),
        html.Div(id=names.SUMMARY),
        grid_box(),
        detail_box(),
        dbc.Row([dbc.Col(deadlock_box(), lg=6), dbc.Col([replication_box(), tables_box()], lg=6)]),
        html.H2("Server", className="h5 mt-3"),
        charts_row(chosen),
    ]
    return html.Div(parts, className="database-page")


def register_callbacks(app: Dash) -> None:
    register_header_callbacks(app)
    register_query_callbacks(app)
    register_detail_callbacks(app)
    register_deadlock_callbacks(app)
    register_replication_callbacks(app)
    register_table_callbacks(app)
