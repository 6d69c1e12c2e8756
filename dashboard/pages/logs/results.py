"""The results grid: dash-ag-grid's infinite row model, each block read from the store on demand.

A new search builds a new grid (its id carries the criteria's version), so the infinite cache
starts empty and the first block is the newest entries of the new search; scrolling asks for the
next blocks. Messages are drawn by ``LogsHighlight`` (assets/logs.js), which wraps matched words in
``<mark>`` through React text nodes: the log text is never parsed as HTML.
"""

from __future__ import annotations

import re
from typing import Any

import dash_ag_grid as dag
from dash import ALL, MATCH, Dash, Input, Output, State, ctx, html, no_update

from dashboard.pages.logs import names
from dashboard.pages.logs.criteria import facade_filters, iso_ms
from dashboard.services import services
from storage.logs import search_terms

__all__ = ["BLOCK_ROWS", "grid_for", "highlight_terms", "register_result_callbacks", "rows_for_request"]

BLOCK_ROWS = 100
_MESSAGE_CHARS = 2000  # the grid shows the start of a message; the detail shows all of it
_WORD = re.compile(r"\w+")


def highlight_terms(query: str | None) -> list[str]:
    """What to mark in results: each term, and each word of a phrase."""
    terms: list[str] = []
    for term in search_terms(query):
        terms.append(term)
        terms.extend(_WORD.findall(term))
    return [t for t in dict.fromkeys(terms) if t.strip()]


def _columns(terms: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "field": "time",
            "headerName": "Time (UTC)",
            "width": 200,
            "cellRenderer": "LogsTime",
            "sortable": False,
        },
        {
            "field": "level",
            "headerName": "Level",
            "width": 110,
            "cellRenderer": "LogsLevel",
            "sortable": False,
        },
        {"field": "host", "headerName": "Host", "width": 110, "sortable": False, "tooltipField": "host"},
        {
            "field": "source_name",
            "headerName": "Source",
            "width": 160,
            "sortable": False,
            "tooltipField": "source",
        },
        {
            "field": "message",
            "headerName": "Message",
            "flex": 1,
            "minWidth": 300,
            "sortable": False,
            "cellRenderer": "LogsHighlight",
            "cellRendererParams": {"terms": terms},
        },
    ]


def grid_for(criteria: dict[str, Any]) -> dag.AgGrid:
    """A grid for one search (a new id per search: its infinite cache starts empty)."""
    return dag.AgGrid(
        id={"type": names.GRID, "v": int(criteria.get("version", 0))},
        rowModelType="infinite",
        columnDefs=_columns(highlight_terms(criteria.get("query"))),
        defaultColDef={"resizable": True, "suppressHeaderMenuButton": True},
        getRowId="params.data.id",
        dashGridOptions={
            "cacheBlockSize": BLOCK_ROWS,
            "maxBlocksInCache": 20,
            "infiniteInitialRowCount": BLOCK_ROWS,
            "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True},
            "rowHeight": 30,
            "tooltipShowDelay": 400,
        },
        className="logs-grid",
        style={"height": "520px", "width": "100%"},
    )


def _row(record: dict[str, Any]) -> dict[str, Any]:
    ts_ms = int(record["ts"].value // 1_000_000)
    message = record["message"] or ""
    return {
        "id": int(record["id"]),
        "ts_ms": ts_ms,
        "time": iso_ms(ts_ms).replace("T", " ").rstrip("Z"),
        "level": record["level"],
        "host": record["host"],
        "source": record["source"],
        "source_name": record["source"].rsplit("/", 1)[-1],
        "channel": record["channel"],
        "message": message[:_MESSAGE_CHARS],
        "request_id": record["request_id"],
    }


def rows_for_request(request: dict[str, Any] | None, criteria: dict[str, Any] | None) -> Any:
    """One block of rows for the grid; the row count is given once the last block is reached."""
    if not request or not criteria:
        return no_update
    start = max(0, int(request.get("startRow") or 0))
    end = max(start + 1, int(request.get("endRow") or start + BLOCK_ROWS))
    try:
        frame = services().store.logs.search(
            **facade_filters(criteria), limit=min(end - start, 1000), offset=start
        )
    except Exception:  # the store is down: an empty, final block rather than a stuck spinner
        return {"rowData": [], "rowCount": start}
    rows = [_row(record) for record in frame.to_dict("records")]
    response: dict[str, Any] = {"rowData": rows}
    if len(rows) < end - start:
        response["rowCount"] = start + len(rows)
    return response


def rebuild_grid(criteria: dict[str, Any] | None) -> Any:
    if not criteria:
        return no_update
    return grid_for(criteria)


def select_row(_clicked: list[Any], _selected: list[Any]) -> Any:
    """The clicked row's entry id (cellClicked carries the row id, ``getRowId``)."""
    trigger = ctx.triggered[0] if ctx.triggered else None
    if not trigger or trigger["value"] is None:
        return no_update
    value = trigger["value"]
    if isinstance(value, dict):
        row_id = value.get("rowId")
        return int(row_id) if row_id not in (None, "") else no_update
    if isinstance(value, list) and value:
        return int(value[0]["id"])
    return no_update


def register_result_callbacks(app: Dash) -> None:
    app.callback(Output(names.GRID_BOX, "children"), Input(names.CRITERIA, "data"))(rebuild_grid)
    app.callback(
        Output({"type": names.GRID, "v": MATCH}, "getRowsResponse"),
        Input({"type": names.GRID, "v": MATCH}, "getRowsRequest"),
        State(names.CRITERIA, "data"),
        prevent_initial_call=True,
    )(rows_for_request)
    app.callback(
        Output(names.SELECTED, "data", allow_duplicate=True),
        Input({"type": names.GRID, "v": ALL}, "cellClicked"),
        Input({"type": names.GRID, "v": ALL}, "selectedRows"),
        prevent_initial_call=True,
    )(select_row)


def grid_placeholder() -> html.Div:
    return html.Div(id=names.GRID_BOX, className="mb-3")
