"""The Queue page's recent tasks, as Flower lists them: state, runtime, worker, arguments, and for a
failure its exception and traceback (select a row).

Rows come from ``store.queue`` (the Celery collection job merges task events into them). The grid is
refreshed on every tick with the same row ids, so a selected row and the detail below it stay put.
"""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, dcc, html

from dashboard import ids as shell_ids
from dashboard.components.cards import could_not_load
from dashboard.services import services
from storage.timeparse import format_utc

__all__ = ["DETAIL", "GRID", "STATE_FILTER", "register_callbacks", "task_rows", "tasks_section"]

GRID = "queue-tasks"
STATE_FILTER = "queue-tasks-state"
DETAIL = "queue-task-detail"
NOTE = "queue-tasks-note"

_LOOKBACK = "24h"
_LIMIT = 500
_STATE_CHOICES = [
    {"label": "All states", "value": "all"},
    {"label": "Failed or retried", "value": "failed"},
    {"label": "Succeeded", "value": "SUCCESS"},
    {"label": "Started (running)", "value": "STARTED"},
    {"label": "Received (waiting in a worker)", "value": "RECEIVED"},
    {"label": "Revoked", "value": "REVOKED"},
]
# Ag-grid cell classes by state (assets/vitals.css colours them).
_STATE_CLASSES = {
    "text-danger fw-semibold": "params.value == 'FAILURE'",
    "text-warning fw-semibold": "params.value == 'RETRY'",
    "text-success": "params.value == 'SUCCESS'",
    "text-primary": "params.value == 'STARTED'",
}
_COLUMNS = [
    {"field": "updated", "headerName": "Last event (UTC)", "width": 190, "sort": "desc"},
    {"field": "name", "headerName": "Task", "flex": 2, "minWidth": 180, "tooltipField": "name"},
    {"field": "state", "headerName": "State", "width": 110, "cellClassRules": _STATE_CLASSES},
    {"field": "runtime", "headerName": "Runtime (s)", "width": 135, "type": "numericColumn"},
    {"field": "worker", "headerName": "Worker", "flex": 1, "minWidth": 140, "tooltipField": "worker"},
    {"field": "args", "headerName": "Arguments", "flex": 2, "minWidth": 160, "tooltipField": "args"},
    {
        "field": "exception",
        "headerName": "Exception",
        "flex": 2,
        "minWidth": 160,
        "tooltipField": "exception",
    },
]


def tasks_section() -> html.Div:
    rows, note = _rows_and_note("all")
    return html.Div(
        [
            html.H2("Recent tasks", className="h5 mt-2"),
            dbc.Row(
                [
                    dbc.Col(
                        dcc.Dropdown(
                            id=STATE_FILTER,
                            options=_STATE_CHOICES,
                            value="all",
                            clearable=False,
                            searchable=False,
                        ),
                        md=4,
                        lg=3,
                    ),
                    dbc.Col(
                        html.Div(
                            f"The newest {_LIMIT} tasks of the last {_LOOKBACK}; select a row for its "
                            "arguments, times and traceback. Arguments are shown as the worker sent them, "
                            "with secrets masked.",
                            className="small text-secondary",
                        ),
                        className="d-flex align-items-center",
                    ),
                ],
                className="mb-2 g-2",
            ),
            html.Div(note, id=NOTE),
            dag.AgGrid(
                id=GRID,
                columnDefs=_COLUMNS,
                rowData=rows,
                getRowId="params.data.key",
                defaultColDef={"sortable": True, "resizable": True, "filter": True},
                dashGridOptions={
                    "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True},
                    "pagination": True,
                    "paginationPageSize": 15,
                    "paginationPageSizeSelector": [15, 50, 100],
                    "domLayout": "autoHeight",
                    "animateRows": False,
                    "tooltipShowDelay": 300,
                    "localeText": {"noRowsToShow": "No task in this view"},
                },
                style={"width": "100%"},
                className="ag-theme-alpine mb-3",
            ),
            html.Div(id=DETAIL, className="mb-4"),
        ]
    )


def register_callbacks(app: Dash) -> None:
    app.callback(
        Output(GRID, "rowData"),
        Output(NOTE, "children"),
        Input(shell_ids.REFRESH_INTERVAL, "n_intervals"),
        Input(STATE_FILTER, "value"),
        prevent_initial_call=True,
    )(refresh_tasks)
    app.callback(Output(DETAIL, "children"), Input(GRID, "selectedRows"))(show_task)


def refresh_tasks(_ticks: int | None, state: str | None) -> tuple[list[dict[str, Any]], Any]:
    return _rows_and_note(state or "all")


def _rows_and_note(state: str) -> tuple[list[dict[str, Any]], Any]:
    try:
        rows = task_rows(state)
    except Exception as exc:  # a failing store degrades this table, not the page
        return [], could_not_load("the recent tasks", exc)
    if rows or state != "all":
        return rows, None
    return [], dbc.Alert(
        [
            f"No task events in the last {_LOOKBACK}. Workers must send them: start them with ",
            html.Code("celery worker -E"),
            " or set ",
            html.Code("worker_send_task_events = True"),
            ".",
        ],
        color="secondary",
        className="py-2 small",
    )


def task_rows(state: str = "all") -> list[dict[str, Any]]:
    """The grid's rows: newest first, one per (broker, task id)."""
    frame = services().store.queue.tasks(
        state=None if state == "all" else state, since=_LOOKBACK, limit=_LIMIT
    )
    # Missing text is NaN in the frame; the grid wants None.
    frame = frame.astype(object).where(frame.notna(), None)
    return [
        {
            "key": f"{row['broker']} {row['task_id']}",
            "broker": row["broker"],
            "task_id": row["task_id"],
            "updated": format_utc(row["updated_at"]).removesuffix(" UTC"),
            "name": row["name"] or "(name not seen)",
            "state": row["state"],
            "runtime": None if row["runtime"] is None else round(float(row["runtime"]), 3),
            "worker": row["worker"] or "",
            "args": _call(row["args"], row["kwargs"]),
            "exception": row["exception"] or "",
        }
        for row in frame.to_dict("records")
    ]


def _call(args: str | None, kwargs: str | None) -> str:
    parts = [text for text in (args, kwargs) if text and text not in ("()", "{}", "[]")]
    return ", ".join(parts)


def show_task(selected: list[dict[str, Any]] | None) -> Any:
    if not selected:
        return None
    row = selected[0]
    try:
        task = services().store.queue.task(broker=row["broker"], task_id=row["task_id"])
    except Exception as exc:
        return could_not_load("this task", exc)
    if task is None:
        return dbc.Alert("This task is no longer stored (only the newest tasks are kept).", color="secondary")
    return _detail(task)


def _detail(task: dict[str, Any]) -> dbc.Card:
    facts = [
        ("Task id", task["task_id"]),
        ("Broker", task["broker"]),
        ("Worker", task["worker"] or "-"),
        ("State", task["state"]),
        ("Received", format_utc(task["received_at"])),
        ("Started", format_utc(task["started_at"])),
        ("Finished", format_utc(task["finished_at"])),
        ("Runtime", "-" if task["runtime"] is None else f"{task['runtime']:.3f} s"),
        ("Retries", "-" if task["retries"] is None else str(task["retries"])),
        ("Positional arguments", task["args"] or "-"),
        ("Keyword arguments", task["kwargs"] or "-"),
    ]
    body: list[Any] = [
        html.Dl(
            [
                item
                for label, value in facts
                for item in (
                    html.Dt(label, className="col-sm-3"),
                    html.Dd(value, className="col-sm-9 text-break"),
                )
            ],
            className="row mb-2 small",
        )
    ]
    if task["exception"]:
        body.append(html.Div(task["exception"], className="text-danger fw-semibold mb-2 text-break"))
    if task["traceback"]:
        body.append(
            html.Pre(
                task["traceback"],
                className="small bg-body-tertiary p-2 border rounded mb-0",
                style={"maxHeight": "420px", "overflow": "auto"},
            )
        )
    return dbc.Card(
        [dbc.CardHeader(task["name"] or "(name not seen)", className="fw-semibold"), dbc.CardBody(body)],
        className="shadow-sm",
    )
