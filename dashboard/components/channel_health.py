"""Notification channels that keep failing, as a notice: an alert nobody receives is worse than none,
so the Alerts page and Overview say so plainly, with the last error and a link to the delivery log."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from storage import Store
from storage.timeparse import format_utc

__all__ = ["CHANNEL_HEALTH_ID", "channel_health"]

CHANNEL_HEALTH_ID = "channel-health"
WINDOW = "24h"


def channel_health(store: Store | None = None, element_id: str = CHANNEL_HEALTH_ID) -> html.Div:
    """A warning listing each failing channel (failed/retrying messages, last error, last success);
    an empty element when every channel delivers. A store that cannot be read says so here only."""
    if store is None:
        from dashboard.services import services

        store = services().store
    try:
        failing = store.alerts.failing_channels(since=WINDOW)
    except Exception as exc:  # this notice degrades, the page around it stays
        return html.Div(
            dbc.Alert(
                f"Could not check the notification channels: {exc}", color="secondary", className="small"
            ),
            id=element_id,
        )
    if failing.empty:
        return html.Div(id=element_id)
    items = [_item(row) for row in failing.to_dict("records")]
    count = len(items)
    return html.Div(
        dbc.Alert(
            [
                html.Strong(
                    f"{count} notification channel{'s' if count != 1 else ''} failing: "
                    "alerts are not reaching anyone there."
                ),
                html.Ul(items, className="mb-1 mt-1"),
                html.A(
                    "Open the channels and their delivery log", href="/alerts?tab=channels", className="small"
                ),
            ],
            color="danger",
            className="channel-health py-2",
        ),
        id=element_id,
    )


def _item(row: dict[str, Any]) -> html.Li:
    parts = []
    if row["failed"]:
        parts.append(f"{int(row['failed'])} message{'s' if int(row['failed']) != 1 else ''} given up")
    if row["retrying"]:
        parts.append(f"{int(row['retrying'])} retrying")
    seen = _when(row["last_ok_at"])
    parts.append(f"last success {seen}" if seen else "no success in the last 24 h")
    error_at = _when(row["last_error_at"])
    error = f" Last error{' at ' + error_at if error_at else ''}: {row['last_error']}"
    return html.Li(
        [
            html.Strong(f"{row['name']} ({row['kind']})"),
            f": {', '.join(parts)}.",
            html.Span(error, className="small"),
        ]
    )


def _when(moment: Any) -> str:
    if moment is None or pd.isna(moment):
        return ""
    return format_utc(pd.Timestamp(moment), seconds=False)
