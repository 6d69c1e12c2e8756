"""The status board: every configured target as a tile saying up / degraded / down, with latency,
since when, and the failing check's message, read from the stored health results (never probed from
the page, so many viewers cost one query each, not one probe each)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from dashboard import ids
from dashboard.components.cards import could_not_load
from dashboard.services import live_settings, services
from storage.health import HealthResult, latest_health, status_since
from storage.timeparse import format_utc, utc_now

__all__ = ["status_board"]

# Check status -> (word, Bootstrap colour).
_STATES = {"ok": ("up", "success"), "warn": ("degraded", "warning"), "fail": ("down", "danger")}
# Where a tile takes you: the page that shows that kind of target.
_PAGES = {
    "mysql": "/database",
    "redis": "/cache",
    "queue": "/queue",
    "disk": "/system",
    "database": "/settings",
}


def status_board() -> html.Div:
    """The tiles, worst first (down, degraded, no data, up); a down store degrades only this panel."""
    store, settings = services().store, live_settings()  # stored targets count too
    try:
        results = latest_health(store.engine)
        since = status_since(store.engine)
    except Exception as exc:
        return html.Div(could_not_load("the status of the monitored targets", exc), id=ids.STATUS_BOARD)
    if not results:
        return html.Div(
            dbc.Alert(
                "No health check has run yet; the first runs within a few seconds of start.",
                color="secondary",
            ),
            id=ids.STATUS_BOARD,
        )
    stale_after = settings.stale_after_seconds(settings.health_interval_seconds)
    now = utc_now()
    tiles = [_tile(result, since.get(result.name), now, stale_after) for result in results]
    tiles.sort(key=lambda tile: tile[0])
    return html.Div(
        dbc.Row([dbc.Col(tile, xs=12, sm=6, lg=4, xxl=3) for _rank, tile in tiles], className="g-2"),
        id=ids.STATUS_BOARD,
        className="mb-3",
    )


def _tile(result: HealthResult, since: datetime | None, now: datetime, stale_after: float) -> tuple[int, Any]:
    age = (now - result.checked_at).total_seconds()
    if age > stale_after:
        word, colour, rank = f"no data for {age:.0f} s", "secondary", 2
    else:
        word, colour = _STATES.get(result.status, (result.status, "secondary"))
        rank = {"fail": 0, "warn": 1, "ok": 3}.get(result.status, 2)
    details = []
    if result.response_ms is not None:
        details.append(f"{result.response_ms:.0f} ms")
    if since is not None:
        details.append(f"since {format_utc(since, seconds=False)} ({_ago((now - since).total_seconds())})")
    body = [
        html.Div(
            [
                html.Span(result.name, className="fw-semibold text-truncate me-2"),
                dbc.Badge(word, color=colour),
            ],
            className="d-flex justify-content-between align-items-center",
        ),
        html.Div(" · ".join(details), className="small text-secondary"),
    ]
    if result.status != "ok" or rank == 2:
        body.append(html.Div(result.message, className="small text-break status-message"))
    card = dbc.Card(dbc.CardBody(body, className="p-2"), className=f"status-tile border-{colour} h-100")
    page = _PAGES.get(result.kind)
    if page in {"/database", "/cache"} and result.name.partition(":")[2]:
        page = f"{page}?target={result.name.partition(':')[2]}"
    element_id = {"type": ids.STATUS_TILE, "check": result.name}
    return rank, html.A(
        card, href=page, className="text-reset text-decoration-none", id=element_id
    ) if page else html.Div(card, id=element_id)


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86_400:.0f} d"
