"""The target's health: status, KPIs, live charts (hit rate with its 60 % / 40 % bands) and the slow log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, Input, Output, html

from dashboard import ids as shell_ids
from dashboard.components.cards import kpi_card
from dashboard.components.live_chart import ChartSpec, live_chart
from dashboard.levels import configured_levels
from dashboard.pages.cache import ids
from dashboard.pages.cache.common import fmt_bytes, fmt_count
from dashboard.services import services
from dashboard.timerange import resolve_range_choice
from storage.timeparse import utc_now

__all__ = ["chart_specs", "overview_section", "register_callbacks"]

SLOWLOG_LIMIT = 500
COMMAND_SHOWN = 160  # characters of a slow command (with its arguments) shown in the table


def chart_specs(target: str) -> list[ChartSpec]:
    """The charts of one target (each series' host is the target's name)."""
    key = target.replace("/", "-").replace(":", "-")
    levels = configured_levels()  # the Settings page's thresholds, as in effect now
    return [
        ChartSpec(
            f"cache-hit-{key}",
            "redis.hit_rate_percent",
            "Hit rate",
            "%",
            host=target,
            thresholds=levels["cache_hit_rate"],
            low_is_bad=True,
        ),
        ChartSpec(f"cache-mem-{key}", "redis.memory.used_bytes", "Memory used", "B", host=target),
        ChartSpec(
            f"cache-mempct-{key}",
            "redis.memory.percent",
            "Memory of maxmemory",
            "%",
            host=target,
            thresholds=levels["cache_memory"],
        ),
        ChartSpec(
            f"cache-frag-{key}",
            "redis.memory.fragmentation_ratio",
            "Fragmentation (RSS / used)",
            "",
            host=target,
            thresholds=(1.5, 2.0),
        ),
        ChartSpec(f"cache-ops-{key}", "redis.ops_per_second", "Commands per second", "ops/s", host=target),
        ChartSpec(
            f"cache-evicted-{key}", "redis.evicted_keys", "Evictions per interval", "", agg="sum", host=target
        ),
        ChartSpec(
            f"cache-expired-{key}",
            "redis.expired_keys",
            "Expirations per interval",
            "",
            agg="sum",
            host=target,
        ),
        ChartSpec(f"cache-clients-{key}", "redis.clients.connected", "Connected clients", "", host=target),
        ChartSpec(f"cache-blocked-{key}", "redis.clients.blocked", "Blocked clients", "", host=target),
        ChartSpec(f"cache-keys-{key}", "redis.keys", "Keys per db", "", agg="last", host=target),
        ChartSpec(
            f"cache-expires-{key}", "redis.expires", "Keys with a TTL per db", "", agg="last", host=target
        ),
    ]


def overview_section(target: str | None) -> html.Div:
    charts = chart_specs(target) if target else []
    return html.Div(
        [
            html.Div(id=ids.STATUS, children=status(target)),
            dbc.Row(id=ids.KPIS, children=kpis(target), className="g-2 mb-3"),
            dbc.Row(
                [dbc.Col(live_chart(spec), lg=6, xxl=4, className="mb-3") for spec in charts], id=ids.CHARTS
            ),
            html.H2("Slow log", className="h5 mt-2", id="cache-slowlog"),
            dag.AgGrid(
                id=ids.SLOWLOG_GRID,
                columnDefs=[
                    {"field": "ts", "headerName": "Time (UTC)", "width": 190},
                    {
                        "field": "duration_ms",
                        "headerName": "Duration (ms)",
                        "width": 140,
                        "type": "numericColumn",
                    },
                    {"field": "command", "headerName": "Command", "flex": 1, "tooltipField": "command"},
                    {"field": "client", "headerName": "Client", "width": 220},
                ],
                rowData=slowlog_rows(target, None, None),
                defaultColDef={"sortable": True, "resizable": True, "filter": True},
                dashGridOptions={
                    "pagination": True,
                    "paginationPageSize": 20,
                    "localeText": {"noRowsToShow": "No slow commands in this window"},
                },
                style={"height": "420px"},
                className="ag-theme-alpine mb-4",
            ),
        ]
    )


def register_callbacks(app: Dash) -> None:
    app.callback(
        Output(ids.STATUS, "children"),
        Output(ids.KPIS, "children"),
        Input(shell_ids.REFRESH_INTERVAL, "n_intervals"),
        Input(ids.TARGET, "value"),
    )(refresh_overview)
    app.callback(
        Output(ids.SLOWLOG_GRID, "rowData"),
        Input(shell_ids.REFRESH_INTERVAL, "n_intervals"),
        Input(ids.TARGET, "value"),
        Input(shell_ids.TIME_RANGE, "value"),
        Input(shell_ids.CUSTOM_RANGE, "start_date"),
        Input(shell_ids.CUSTOM_RANGE, "end_date"),
    )(refresh_slowlog)


def refresh_overview(_ticks: int | None, target: str | None) -> tuple[Any, Any]:
    return status(target), kpis(target)


def refresh_slowlog(
    _ticks: int | None, target: str | None, choice: str | None, start: str | None, end: str | None
) -> list[dict[str, Any]]:
    return slowlog_rows(target, choice, [start or "", end or ""])


# -- reading ----------------------------------------------------------------------------------------


def _stale_after() -> timedelta:
    settings = services().settings
    return timedelta(seconds=settings.stale_after_seconds(settings.redis_interval_seconds))


def _latest(metric: str, target: str) -> pd.DataFrame:
    try:
        return services().store.latest(metric, host=target, max_age="1h")
    except ValueError:  # never collected
        return pd.DataFrame(columns=["ts", "labels", "value"])


def _value(metric: str, target: str) -> float | None:
    frame = _latest(metric, target)
    return float(frame["value"].iloc[0]) if len(frame) else None


def status(target: str | None) -> Any:
    """A badge saying up / down / stale / never collected; the rest of the page keeps working."""
    if not target:
        return dbc.Alert(
            [
                "No Redis target is configured. Set ",
                html.Code("VITALS_REDIS_URLS"),
                " (comma-separated redis:// URLs; ",
                html.Code("?name=cache"),
                " names one).",
            ],
            color="secondary",
        )
    try:
        up = _latest("redis.up", target)
        stats = services().store.cache.latest_stats(target=target)
    except Exception as exc:  # a down store degrades this area only
        return dbc.Alert(f"Could not read the store: {exc}", color="warning")
    if up.empty:
        return dbc.Badge(
            f"{target}: not collected yet", color="secondary", className="p-2 mb-3", id="cache-state"
        )
    age = (utc_now() - up["ts"].iloc[0].to_pydatetime()).total_seconds()
    if age > _stale_after().total_seconds():
        return dbc.Badge(
            f"{target}: stale, last collected {age:.0f} s ago",
            color="warning",
            className="p-2 mb-3",
            id="cache-state",
        )
    if float(up["value"].iloc[0]) < 1:
        return dbc.Badge(
            f"{target}: down (the last collection got no answer)",
            color="danger",
            className="p-2 mb-3",
            id="cache-state",
        )
    version = (stats.info.get("redis_version") if stats else None) or "?"
    role = (stats.info.get("role") if stats else None) or "?"
    return dbc.Badge(
        f"{target}: up · Redis {version} · {role}", color="success", className="p-2 mb-3", id="cache-state"
    )


def kpis(target: str | None) -> list[dbc.Col]:
    if not target:
        return []
    try:
        stats = services().store.cache.latest_stats(target=target)
        values = {
            metric: _value(metric, target)
            for metric in (
                "redis.hit_rate_percent",
                "redis.memory.used_bytes",
                "redis.memory.max_bytes",
                "redis.memory.fragmentation_ratio",
                "redis.ops_per_second",
                "redis.evicted_keys",
                "redis.expired_keys",
                "redis.clients.connected",
                "redis.clients.blocked",
            )
        }
    except Exception as exc:
        return [dbc.Col(dbc.Alert(f"Could not read the store: {exc}", color="warning"))]
    stale = stats is None or (utc_now() - stats.ts) > _stale_after()
    keys = sum(db.get("keys", 0) for db in stats.keys_per_db.values()) if stats else None
    expires = sum(db.get("expires", 0) for db in stats.keys_per_db.values()) if stats else None
    hit = values["redis.hit_rate_percent"]
    used, limit = values["redis.memory.used_bytes"], values["redis.memory.max_bytes"]
    frag = values["redis.memory.fragmentation_ratio"]
    cards = [
        kpi_card(
            "Hit rate",
            "-" if hit is None else f"{hit:.1f} %",
            "warn < 60 %, critical < 40 %",
            stale,
            "cache-kpi-hit-rate",
        ),
        kpi_card(
            "Memory",
            fmt_bytes(used),
            f"of {fmt_bytes(limit)}" if limit else "no maxmemory",
            stale,
            "cache-kpi-memory",
        ),
        kpi_card(
            "Fragmentation",
            "-" if frag is None else f"{frag:.2f}",
            "RSS / used",
            stale,
            "cache-kpi-fragmentation",
        ),
        kpi_card(
            "Ops/s", fmt_count(values["redis.ops_per_second"]), "commands per second", stale, "cache-kpi-ops"
        ),
        kpi_card(
            "Evicted", fmt_count(values["redis.evicted_keys"]), "last interval", stale, "cache-kpi-evicted"
        ),
        kpi_card(
            "Expired", fmt_count(values["redis.expired_keys"]), "last interval", stale, "cache-kpi-expired"
        ),
        kpi_card(
            "Clients",
            fmt_count(values["redis.clients.connected"]),
            f"{fmt_count(values['redis.clients.blocked'])} blocked",
            stale,
            "cache-kpi-clients",
        ),
        kpi_card("Keys", fmt_count(keys), f"{fmt_count(expires)} with a TTL", stale, "cache-kpi-keys"),
        kpi_card(
            "Eviction policy",
            (stats.maxmemory_policy if stats else None) or "-",
            "maxmemory-policy",
            stale,
            "cache-kpi-policy",
        ),
    ]
    return [dbc.Col(card, xs=6, md=4, xl=True) for card in cards]


def slowlog_rows(target: str | None, choice: str | None, custom: list[str] | None) -> list[dict[str, Any]]:
    if not target:
        return []
    since, until = resolve_range_choice(choice, custom)
    try:
        frame = services().store.cache.slowlog(target=target, since=since, until=until, limit=SLOWLOG_LIMIT)
    except Exception:
        return []
    return [
        {
            "ts": row.ts.strftime("%Y-%m-%d %H:%M:%S"),
            "duration_ms": round(row.duration_us / 1000.0, 3),
            "command": row.command
            if len(row.command) <= COMMAND_SHOWN
            else row.command[:COMMAND_SHOWN] + "…",
            "client": row.client.decode("utf-8", "replace")
            if isinstance(row.client, bytes)
            else (row.client or ""),
        }
        for row in frame.itertuples()
    ]
