"""Top queries (PMM Query Analytics' table): dash-ag-grid with the infinite row model, so sorting,
filtering and paging happen on the server; plus what the digest table cannot see."""

from __future__ import annotations

import itertools
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Dash, Input, Output, State, ctx, html, no_update

from dashboard import ids
from dashboard.components.cards import could_not_load
from dashboard.database_reads import blind_spot, prepared_shapes
from dashboard.pages.database import names
from dashboard.pages.database.common import window
from dashboard.services import services
from tasks.config_live import slow_query_threshold_ms

__all__ = ["grid_box", "register_query_callbacks", "rows_for_request"]

BLOCK_ROWS = 50
_SPARK = "▁▂▃▄▅▆▇█"
_versions = itertools.count(1)
# grid column -> query_table(sort=...)
_SORTABLE = {
    "schema", "digest_text", "exec_count", "total_latency_ms", "avg_latency_ms", "p95_latency_ms",
    "rows_examined", "rows_sent", "rows_examined_per_sent", "load_percent", "change_percent", "last_seen",
}  # fmt: skip


def _columns(slow_ms: float = 1000.0) -> list[dict[str, Any]]:
    number = {"type": "rightAligned", "filter": False}
    ms = {
        **number,
        "valueFormatter": {"function": "params.value == null ? '' : d3.format(',.2f')(params.value)"},
    }
    # database.slow_query_threshold_ms: a statement slower than this counts as slow (marked red).
    slow = {
        **ms,
        "cellClassRules": {"text-danger fw-semibold database-slow": f"params.value >= {float(slow_ms)!r}"},
    }
    count = {
        **number,
        "valueFormatter": {"function": "params.value == null ? '' : d3.format(',')(params.value)"},
    }
    return [
        {"field": "schema", "headerName": "Schema", "width": 120, "filter": "agTextColumnFilter",
         "filterParams": {"filterOptions": ["equals"], "maxNumConditions": 1}},
        {"field": "digest_text", "headerName": "Statement (normalized)", "flex": 1, "minWidth": 320,
         "filter": "agTextColumnFilter", "filterParams": {"filterOptions": ["contains"], "maxNumConditions": 1},
         "tooltipField": "digest_text"},
        {"field": "exec_count", "headerName": "Count", "width": 100, **count},
        {"field": "total_latency_ms", "headerName": "Total ms", "width": 115, **ms},
        {"field": "avg_latency_ms", "headerName": "Avg ms", "width": 100, **slow},
        {"field": "p95_latency_ms", "headerName": "p95 ms", "width": 100, **slow},
        {"field": "rows_examined", "headerName": "Rows examined", "width": 125, **count},
        {"field": "rows_sent", "headerName": "Rows sent", "width": 105, **count},
        {"field": "rows_examined_per_sent", "headerName": "Exam./sent", "width": 105, **ms},
        {"field": "load_percent", "headerName": "% load", "width": 90, **ms},
        {"field": "spark", "headerName": "Load", "width": 130, "sortable": False, "filter": False,
         "cellClass": "database-spark"},
        {"field": "change", "headerName": "vs week before", "colId": "change_percent", "width": 140, "filter": False,
         "cellClassRules": {"text-danger fw-semibold": "params.value && params.value.startsWith('slower')",
                            "text-success": "params.value && params.value.startsWith('faster')"}},
    ]  # fmt: skip


def grid_box() -> html.Div:
    return html.Div(id=names.GRID_BOX, className="mb-2")


def grid(version: int, slow_ms: float = 1000.0) -> dag.AgGrid:
    return dag.AgGrid(
        id={"type": names.GRID, "v": version},
        rowModelType="infinite",
        columnDefs=_columns(slow_ms),
        defaultColDef={"resizable": True, "sortable": True, "suppressHeaderMenuButton": True},
        getRowId="params.data.digest",
        dashGridOptions={
            "cacheBlockSize": BLOCK_ROWS,
            "maxBlocksInCache": 10,
            "infiniteInitialRowCount": 1,
            "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True},
            "tooltipShowDelay": 400,
        },
        className="ag-theme-alpine database-grid",
        style={"height": "460px", "width": "100%"},
    )


def rebuild_grid(_target: str | None, _choice: str | None, _start: str | None, _end: str | None) -> Any:
    """A new grid (a new id: an empty cache) whenever the target or the window changes."""
    try:
        slow_ms = slow_query_threshold_ms(services().store)
    except Exception:  # the store is down: the grid says so itself; mark with the default
        slow_ms = 1000.0
    return grid(next(_versions), slow_ms)


def _spark(values: Any) -> str:
    if not isinstance(values, list) or not values:
        return ""
    top = max(values) or 1.0
    return "".join(
        _SPARK[min(len(_SPARK) - 1, int(v / top * (len(_SPARK) - 1)))] if v > 0 else " " for v in values
    )


def _filters(model: dict[str, Any] | None) -> tuple[str | None, str | None]:
    model = model or {}
    schema = (model.get("schema") or {}).get("filter")
    text = (model.get("digest_text") or {}).get("filter")
    return (str(schema) if schema else None), (str(text) if text else None)


def rows_for_request(
    request: dict[str, Any] | None, target: str | None, choice: str | None, start: str | None, end: str | None
) -> Any:
    """One block of the table; sorting, the schema/text filters and paging are the server's."""
    if not request or not target:
        return no_update
    first = max(0, int(request.get("startRow") or 0))
    last = max(first + 1, int(request.get("endRow") or first + BLOCK_ROWS))
    sort_model = request.get("sortModel") or []
    sort, descending = "total_latency_ms", True
    if sort_model and sort_model[0].get("colId") in _SORTABLE:
        sort, descending = sort_model[0]["colId"], sort_model[0].get("sort") != "asc"
    schema, text = _filters(request.get("filterModel"))
    since, until = window(choice, start, end)
    try:
        table = services().store.database.query_table(
            target=target, since=since, until=until, schema=schema, text=text, sort=sort,
            descending=descending, offset=first, limit=min(last - first, 500),
        )  # fmt: skip
    except Exception:  # the store is down: an empty, final block rather than a stuck spinner
        return {"rowData": [], "rowCount": first}
    rows = []
    for record in table["rows"].to_dict("records"):
        row = {
            key: (None if _missing(value) else value)
            for key, value in record.items()
            if key not in {"sparkline", "first_seen", "last_seen", "sample_query"}
        }
        row["spark"] = _spark(record["sparkline"])
        row["digest_id"] = int(record["digest_id"])
        rows.append(row)
    return {"rowData": rows, "rowCount": table["matching"]}


def _missing(value: Any) -> bool:
    try:
        return value != value  # NaN
    except Exception:
        return False


def summary(
    target: str | None, choice: str | None, start: str | None, end: str | None, _tick: int | None
) -> Any:
    """The window's totals and the share of statements the digest table cannot see (prepared ones)."""
    if not target:
        return None
    since, until = window(choice, start, end)
    try:
        store = services().store
        table = store.database.query_table(target=target, since=since, until=until, limit=1)
        hidden = blind_spot(store, target, since, until, table["exec_count"])
    except Exception as exc:
        return could_not_load("the query totals", exc)
    parts: list[Any] = [
        html.Span(f"{table['matching']:,} statements, {table['exec_count']:,} executions, "
                  f"{table['total_latency_ms'] / 1000:,.1f} s total latency in the window.", className="me-2")
    ]  # fmt: skip
    if hidden["prepared_executions"] and hidden["unseen_percent"] >= 1:
        parts.append(
            dbc.Alert(
                [
                    html.Strong(f"{hidden['unseen_percent']:.0f} % of statements are not in this table. "),
                    html.Span(
                        f"{hidden['prepared_executions']:,} executions of server-side prepared statements "
                        "(Com_stmt_execute) ran in the window; MariaDB's digest summary records none of them "
                        "(the binary protocol: sysbench's default, JDBC useServerPrepStmts, native prepares in "
                        "PHP/Python drivers). The slow log still sees them: turn it on (log_output=TABLE) "
                        "and they appear here with the slow-log source."
                    ),
                    *_prepared_now(target),
                ],
                color="warning",
                className="py-2 mt-2 mb-0",
                id=names.BLIND_SPOT,
            )
        )
    return html.Div(parts, className="small mb-2")


def _prepared_now(target: str) -> list[Any]:
    """The shapes prepared on the server now (performance_schema.prepared_statements_instances)."""
    shapes = prepared_shapes(services().settings, target)
    if not shapes:
        return []
    return [
        html.Div("Prepared on the server right now:", className="mt-1"),
        html.Ul([html.Li(html.Code(text)) for text in shapes], className="mb-0"),
    ]


def select_digest(_clicked: list[Any]) -> Any:
    """The clicked row's digest becomes ``#digest=...`` in the URL (a link reproduces the selection)."""
    trigger = ctx.triggered[0] if ctx.triggered else None
    if not trigger or not isinstance(trigger.get("value"), dict):
        return no_update
    row_id = trigger["value"].get("rowId")
    return f"#digest={row_id}" if row_id else no_update


def register_query_callbacks(app: Dash) -> None:
    window_inputs = [
        Input(ids.TIME_RANGE, "value"),
        Input(ids.CUSTOM_RANGE, "start_date"),
        Input(ids.CUSTOM_RANGE, "end_date"),
    ]
    app.callback(Output(names.GRID_BOX, "children"), Input(names.TARGET, "data"), *window_inputs)(
        rebuild_grid
    )
    app.callback(
        Output({"type": names.GRID, "v": MATCH}, "getRowsResponse"),
        Input({"type": names.GRID, "v": MATCH}, "getRowsRequest"),
        State(names.TARGET, "data"),
        State(ids.TIME_RANGE, "value"),
        State(ids.CUSTOM_RANGE, "start_date"),
        State(ids.CUSTOM_RANGE, "end_date"),
        prevent_initial_call=True,
    )(rows_for_request)
    app.callback(
        Output(names.SUMMARY, "children"), Input(names.TARGET, "data"), *window_inputs,
        Input(ids.REFRESH_INTERVAL, "n_intervals"),
    )(summary)  # fmt: skip
    app.callback(
        Output(names.LOCATION, "hash", allow_duplicate=True),
        Input({"type": names.GRID, "v": ALL}, "cellClicked"),
        prevent_initial_call=True,
    )(select_digest)
