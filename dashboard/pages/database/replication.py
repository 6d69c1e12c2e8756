"""Replication: role, source threads, last error, lag history and "not recovering"."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, html

from dashboard import ids
from dashboard.components.cards import could_not_load
from dashboard.database_reads import NOT_RECOVERING_INTERVALS, replication_summary
from dashboard.pages.database import names
from dashboard.pages.database.common import window
from dashboard.services import services

__all__ = ["register_replication_callbacks", "replication_box", "replication_state"]


def replication_box() -> dbc.Card:
    return dbc.Card(
        [dbc.CardHeader("Replication"), dbc.CardBody(html.Div(id=names.REPLICATION))], className="mb-3"
    )


def replication_state(
    target: str | None, choice: str | None, start: str | None, end: str | None, _tick: int | None
) -> Any:
    if not target:
        return None
    since, until = window(choice, start, end)
    try:
        summary = replication_summary(services().store, target, since, until)
    except Exception as exc:
        return could_not_load("the replication state", exc)
    if summary["role"] == "unknown":
        return html.Div(
            "No replication state collected in this window yet.", className="small text-secondary"
        )
    if summary["role"] == "not a replica":
        return html.Div(f"{target} is not a replica (no replication configured).", className="small")
    latest = summary["latest"]
    lag = latest["lag_seconds"]
    rows = [
        ("Role", "replica"),
        ("IO thread", latest["io_running"] or "?"),
        ("SQL thread", latest["sql_running"] or "?"),
        ("Lag", "unknown (replication stopped?)" if lag is None else f"{lag:,.0f} s"),
        ("Last error", latest["last_error"] or "none"),
    ]
    parts: list[Any] = [
        html.Dl(
            [item for label, value in rows for item in (html.Dt(label), html.Dd(value))],
            className="row-cols-2 small mb-2",
        )
    ]
    if summary["not_recovering"]:
        parts.insert(0, dbc.Alert(f"Not recovering: the lag grew over the last {NOT_RECOVERING_INTERVALS} readings in a row.",
                                  color="danger", className="py-2"))  # fmt: skip
    return html.Div(parts)


def register_replication_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.REPLICATION, "children"), Input(names.TARGET, "data"), Input(ids.TIME_RANGE, "value"),
        Input(ids.CUSTOM_RANGE, "start_date"), Input(ids.CUSTOM_RANGE, "end_date"), Input(ids.REFRESH_INTERVAL, "n_intervals"),
    )(replication_state)  # fmt: skip
