"""Largest tables with data+index size and growth per day over the range (from stored sizes)."""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, html

from dashboard import ids
from dashboard.components.cards import could_not_load
from dashboard.pages.database import names
from dashboard.pages.database.common import human_bytes, window
from dashboard.services import services

__all__ = ["largest_tables", "register_table_callbacks", "tables_box"]


def tables_box() -> dbc.Card:
    return dbc.Card(
        [dbc.CardHeader("Largest tables"), dbc.CardBody(html.Div(id=names.TABLES))], className="mb-3"
    )


def largest_tables(
    target: str | None, choice: str | None, start: str | None, end: str | None, _tick: int | None
) -> Any:
    if not target:
        return None
    since, until = window(choice, start, end)
    try:
        frame = services().store.database.tables(target=target, since=since, until=until)
    except Exception as exc:
        return could_not_load("the table sizes", exc)
    if frame.empty:
        return html.Div(
            "No table sizes stored in this window yet (they are read every 5 minutes).",
            className="small text-secondary",
        )
    rows = [
        {
            "table": f"{row['schema']}.{row['table']}",
            "size": human_bytes(row["size_bytes"]),
            "size_bytes": float(row["size_bytes"]),
            "growth": human_bytes(row["growth_per_day_bytes"]) + "/day"
            if row["growth_per_day_bytes"] == row["growth_per_day_bytes"]
            else "",
            "growth_bytes": float(row["growth_per_day_bytes"])
            if row["growth_per_day_bytes"] == row["growth_per_day_bytes"]
            else None,
        }
        for row in frame.head(50).to_dict("records")
    ]
    return dag.AgGrid(
        id="database-tables-grid",
        rowData=rows,
        columnDefs=[
            {"field": "table", "headerName": "Table", "flex": 1},
            {"field": "size", "headerName": "Data + index", "comparator": {"function": "(a, b, na, nb) => na.data.size_bytes - nb.data.size_bytes"}, "type": "rightAligned"},
            {"field": "growth", "headerName": "Growth", "comparator": {"function": "(a, b, na, nb) => (na.data.growth_bytes || 0) - (nb.data.growth_bytes || 0)"}, "type": "rightAligned"},
        ],
        defaultColDef={"sortable": True, "resizable": True},
        dashGridOptions={"domLayout": "autoHeight", "pagination": True, "paginationPageSize": 10},
        className="ag-theme-alpine",
    )  # fmt: skip


def register_table_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.TABLES, "children"), Input(names.TARGET, "data"), Input(ids.TIME_RANGE, "value"),
        Input(ids.CUSTOM_RANGE, "start_date"), Input(ids.CUSTOM_RANGE, "end_date"), Input(ids.REFRESH_INTERVAL, "n_intervals"),
    )(largest_tables)  # fmt: skip
