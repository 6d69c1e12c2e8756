"""The clear/eviction history: manual clears, tag clears, flushes, policy changes and rule runs."""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
import pandas as pd
from dash import Dash, Input, Output, html

from dashboard import ids as shell_ids
from dashboard.pages.cache import ids
from dashboard.pages.cache.common import fmt_bytes
from dashboard.services import services

__all__ = ["history_rows", "history_section", "register_callbacks"]

_ACTION_NAMES = {
    "clear_pattern": "clear by pattern",
    "clear_tag": "clear by tag",
    "flush_db": "flush database",
    "policy_change": "policy change",
    "eviction_rule": "eviction rule run",
    "rule_change": "eviction rule change",
}


def history_section(target: str | None) -> html.Div:
    return html.Div(
        [
            html.H2("History", className="h5 mt-4", id="cache-history"),
            html.Div(
                "Evictions by Redis itself per interval are in the Evictions chart above.",
                className="small text-secondary mb-1",
            ),
            dag.AgGrid(
                id=ids.HISTORY_GRID,
                columnDefs=[
                    {"field": "ts", "headerName": "Time (UTC)", "width": 180},
                    {"field": "action", "headerName": "Action", "width": 160},
                    {"field": "username", "headerName": "Who", "width": 100},
                    {"field": "pattern", "headerName": "Pattern / tag", "flex": 1},
                    {"field": "keys", "headerName": "Keys", "width": 110, "type": "numericColumn"},
                    {"field": "outcome", "headerName": "Outcome", "flex": 1, "tooltipField": "outcome"},
                ],
                rowData=history_rows(target),
                defaultColDef={"sortable": True, "resizable": True, "filter": True},
                dashGridOptions={
                    "pagination": True,
                    "paginationPageSize": 20,
                    "localeText": {"noRowsToShow": "Nothing done through Vitals yet"},
                },
                style={"height": "360px"},
                className="ag-theme-alpine mb-4",
            ),
        ]
    )


def register_callbacks(app: Dash) -> None:
    app.callback(
        Output(ids.HISTORY_GRID, "rowData"),
        Input(shell_ids.REFRESH_INTERVAL, "n_intervals"),
        Input(ids.TARGET, "value"),
        Input(ids.CLEAR_PROGRESS, "children"),
        Input(ids.FLUSH_MESSAGE, "children"),
        Input(ids.POLICY_MESSAGE, "children"),
    )(refresh_history)


def refresh_history(_ticks: int | None, target: str | None, *_changed: Any) -> list[dict[str, Any]]:
    return history_rows(target)


def _outcome(action: str, detail: dict[str, Any] | None) -> str:
    detail = detail or {}
    if action in ("clear_pattern", "clear_tag"):
        text = f"{detail.get('stopped', '?')}, ~{fmt_bytes(detail.get('memory_freed_bytes'))} freed"
        return text + (f": {detail['error']}" if detail.get("error") else "")
    if action == "policy_change":
        before, after = detail.get("before", {}), detail.get("after", {})
        return (
            f"{before.get('policy')} / {fmt_bytes(before.get('maxmemory_bytes'))} → "
            f"{after.get('policy')} / {fmt_bytes(after.get('maxmemory_bytes'))}"
        )
    if action == "flush_db":
        return f"db {detail.get('db')}"
    if action == "rule_change":
        rule = detail.get("rule", {})
        return (
            f"rule #{rule.get('id')} {detail.get('change')}: above {rule.get('above_percent')} % "
            f"→ {rule.get('down_to_percent')} %, db {rule.get('db')}"
        )
    if action == "eviction_rule":
        if detail.get("error"):
            return str(detail["error"])
        return f"memory {detail.get('memory_percent', 0):.1f} % → {detail.get('memory_percent_after') or 0:.1f} %"
    return ""


def history_rows(target: str | None) -> list[dict[str, Any]]:
    if not target:
        return []
    try:
        frame = services().store.cache.history(target=target, since="90d", limit=500)
    except Exception:
        return []
    rows = []
    for row in frame.to_dict("records"):
        keys = row["keys_affected"]
        rows.append(
            {
                "ts": row["ts"].strftime("%Y-%m-%d %H:%M:%S"),
                "action": _ACTION_NAMES.get(row["action"], row["action"]),
                "username": row["username"] or "",
                "pattern": row["pattern"] or "",
                "keys": None if pd.isna(keys) else int(keys),
                "outcome": _outcome(row["action"], row["detail"]),
            }
        )
    return rows
