"""The key browser: SCAN a page at a time (never KEYS) with a pattern, a type and a db; operators
open a key's value (audited). The cursor of the next page lives in a ``dcc.Store``."""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboard.pages.cache import ids
from dashboard.pages.cache.common import can, fmt_bytes, message, role_note
from dashboard.services import current_actor, live_settings, services
from storage.users import Role
from tasks import cache_types as rkeys
from tasks.actions import PermissionDenied
from tasks.actions import cache as actions

__all__ = ["browser_section", "register_callbacks"]

PAGE_SIZE = 100
MAX_ROWS = 5000  # rows kept in the grid; beyond this, narrow the pattern


def browser_section(pattern: str, key_type: str) -> html.Div:
    operator = can(Role.OPERATOR)
    return html.Div(
        [
            html.H2("Keys", className="h5 mt-4", id="cache-keys"),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Input(
                            id=ids.BROWSE_PATTERN,
                            value=pattern,
                            placeholder="pattern, e.g. user:*",
                            debounce=False,
                        ),
                        md=5,
                    ),
                    dbc.Col(
                        dcc.Dropdown(
                            id=ids.BROWSE_TYPE,
                            options=[{"label": "any type", "value": ""}]
                            + [{"label": t, "value": t} for t in rkeys.KEY_TYPES],
                            value=key_type,
                            clearable=False,
                        ),
                        md=2,
                    ),
                    dbc.Col(
                        [
                            dbc.Button(
                                "Scan", id=ids.BROWSE_SCAN, color="primary", n_clicks=0, className="me-2"
                            ),
                            dbc.Button(
                                "Next page",
                                id=ids.BROWSE_MORE,
                                color="secondary",
                                outline=True,
                                n_clicks=0,
                                disabled=True,
                            ),
                        ],
                        md="auto",
                    ),
                ],
                className="g-2 mb-2 align-items-center",
            ),
            html.Div(id=ids.BROWSE_STATUS, className="small text-secondary mb-2"),
            dcc.Store(id=ids.BROWSE_STATE, data=None),
            dag.AgGrid(
                id=ids.BROWSE_GRID,
                columnDefs=[
                    {"field": "key", "headerName": "Key", "flex": 2, "checkboxSelection": False},
                    {"field": "type", "headerName": "Type", "width": 100},
                    {"field": "ttl", "headerName": "TTL", "width": 120},
                    {"field": "size", "headerName": "Size", "width": 110, "type": "numericColumn"},
                    {"field": "memory", "headerName": "Memory", "width": 120, "type": "numericColumn"},
                ],
                rowData=[],
                defaultColDef={"sortable": True, "resizable": True},
                dashGridOptions={
                    "rowSelection": "single",
                    "localeText": {"noRowsToShow": "Press Scan to list keys"},
                },
                getRowId="params.data.key_hex",
                style={"height": "380px"},
                className="ag-theme-alpine mb-2",
            ),
            html.Div(
                [
                    dbc.Button(
                        "Open value",
                        id=ids.VALUE_OPEN,
                        color="secondary",
                        size="sm",
                        n_clicks=0,
                        disabled=not operator,
                    ),
                    role_note(Role.OPERATOR),
                    html.Small(" Select a row first.", className="text-secondary ms-2") if operator else None,
                ],
                className="mb-2",
            ),
            html.Div(id=ids.VALUE_VIEW),
        ]
    )


def register_callbacks(app: Dash) -> None:
    app.callback(
        Output(ids.BROWSE_GRID, "rowData"),
        Output(ids.BROWSE_STATE, "data"),
        Output(ids.BROWSE_STATUS, "children"),
        Output(ids.BROWSE_MORE, "disabled"),
        Input(ids.BROWSE_SCAN, "n_clicks"),
        Input(ids.BROWSE_MORE, "n_clicks"),
        State(ids.TARGET, "value"),
        State(ids.DB, "value"),
        State(ids.BROWSE_PATTERN, "value"),
        State(ids.BROWSE_TYPE, "value"),
        State(ids.BROWSE_STATE, "data"),
        State(ids.BROWSE_GRID, "rowData"),
        prevent_initial_call=True,
    )(scan)
    app.callback(
        Output(ids.VALUE_VIEW, "children"),
        Input(ids.VALUE_OPEN, "n_clicks"),
        State(ids.BROWSE_GRID, "selectedRows"),
        State(ids.TARGET, "value"),
        State(ids.BROWSE_STATE, "data"),
        prevent_initial_call=True,
    )(open_value)


def _row(row: rkeys.KeyRow) -> dict[str, Any]:
    ttl = "no expiry" if row.ttl_seconds is None else f"{row.ttl_seconds:,.0f} s"
    return {
        "key": row.key,
        "key_hex": row.key_hex,
        "type": row.type,
        "ttl": ttl,
        "size": row.size,
        "memory": fmt_bytes(row.memory_bytes),
    }


def scan(
    _scan: int,
    _more: int,
    target: str | None,
    db: int | None,
    pattern: str | None,
    key_type: str | None,
    state: dict[str, Any] | None,
    rows: list[dict[str, Any]] | None,
) -> tuple[Any, Any, Any, Any]:
    """Scan from the start (Scan) or from the stored cursor (Next page); rows are appended on the latter."""
    more = ctx.triggered_id == ids.BROWSE_MORE and state is not None
    if more:
        assert state is not None
        query = state
    else:
        query = {
            "db": db if isinstance(db, int) else 0,
            "pattern": (pattern or "*").strip() or "*",
            "type": key_type or "",
            "cursor": 0,
        }
    if not target:
        return no_update, no_update, message("Choose a Redis target first."), True
    try:
        page = actions.browse_keys(
            services().store,
            live_settings(),
            current_actor(),
            target=target,
            db=int(query["db"]),
            pattern=query["pattern"],
            cursor=int(query["cursor"]),
            type_filter=query["type"] or None,
            page_size=PAGE_SIZE,
        )
    except ValueError as exc:
        return no_update, no_update, message(f"Pattern: {exc}", "warning"), not more
    except (PermissionDenied, LookupError, actions.TargetDown) as exc:
        return no_update, no_update, message(str(exc), "warning"), True
    found = [_row(row) for row in page.rows]
    kept = ((rows or []) + found) if more else found
    # SCAN may return a key twice (the table grew or shrank between pages): keep the first.
    kept = list({row["key_hex"]: row for row in reversed(kept)}.values())[::-1]
    kept = kept[:MAX_ROWS]
    state_out = {**query, "cursor": page.cursor}
    reason = {
        "page": "a page is full",
        "cap": "examined the per-request cap of slots",
        "time": "the time budget was spent",
        "end": "the scan went all the way round",
    }[page.stopped]
    words = (
        f"{len(kept):,} keys listed (this page: {len(found)} in {page.elapsed_ms:.0f} ms, "
        f"{page.examined:,} slots examined; stopped because {reason})."
        + ("" if page.cursor else " Scan complete.")
        + (f" Showing the first {MAX_ROWS:,}: narrow the pattern." if len(kept) >= MAX_ROWS else "")
    )
    return kept, state_out, words, page.cursor == 0 or len(kept) >= MAX_ROWS


def open_value(
    _clicks: int, selected: list[dict[str, Any]] | None, target: str | None, state: dict[str, Any] | None
) -> Any:
    if not selected:
        return message("Select a key in the table first.", "secondary")
    row = selected[0]
    db = int((state or {}).get("db", 0))
    try:
        value = actions.open_key(
            services().store,
            live_settings(),
            current_actor(),
            target=target or "",
            db=db,
            key=row["key_hex"],
        )
    except PermissionDenied as exc:
        return message(str(exc))
    except (LookupError, actions.TargetDown, ValueError) as exc:
        return message(str(exc), "warning")
    header = {
        "string": ["Value"],
        "hash": ["Field", "Value"],
        "zset": ["Member", "Score"],
        "stream": ["Entry", "Fields"],
    }.get(value.type, ["Member"])
    table = dbc.Table(
        [
            html.Thead(html.Tr([html.Th(name) for name in header])),
            html.Tbody(
                [
                    html.Tr([html.Td(html.Pre(cell, className="mb-0 value-cell")) for cell in item])
                    for item in value.items
                ]
            ),
        ],
        size="sm",
        bordered=True,
        className="mb-1",
    )
    ttl = "no expiry" if value.ttl_seconds is None else f"TTL {value.ttl_seconds:,.0f} s"
    notes = [
        f"{value.type}, size {value.size:,}" if value.size is not None else value.type,
        ttl,
        "truncated" if value.truncated else "complete",
        "binary shown as hex" if value.binary else "",
    ]
    return dbc.Card(
        [
            dbc.CardHeader(html.Code(value.key)),
            dbc.CardBody(
                [
                    html.Div(
                        " · ".join(note for note in notes if note), className="small text-secondary mb-2"
                    ),
                    table,
                ]
            ),
        ],
        id="cache-value-card",
        className="mb-3",
    )
