"""Live charts of one target, driven by the global range and refresh, with warning/critical bands."""

from __future__ import annotations

import dash_bootstrap_components as dbc

from dashboard.components.live_chart import ChartSpec, live_chart
from dashboard.levels import configured_levels

__all__ = ["chart_specs", "charts_row"]


def chart_specs(target: str) -> list[ChartSpec]:
    def spec(key: str, metric: str, title: str, unit: str = "", **extra: object) -> ChartSpec:
        return ChartSpec(f"database-{key}", metric, title, unit, host=target, **extra)  # type: ignore[arg-type]

    levels = configured_levels()  # the Settings page's thresholds, as in effect now
    return [
        spec(
            "connections",
            "mysql.connections.percent",
            "Connection utilization",
            "%",
            thresholds=levels["connections"],
        ),
        spec("qps", "mysql.queries_per_second", "Queries per second", "/s"),
        spec("tps", "mysql.transactions_per_second", "Transactions per second", "/s"),
        spec("threads-connected", "mysql.threads_connected", "Threads connected"),
        spec("threads-running", "mysql.threads_running", "Threads running"),
        spec(
            "slow", "mysql.slow_queries_per_minute", "Slow queries", "/min", thresholds=levels["slow_queries"]
        ),
        spec(
            "buffer-pool",
            "mysql.innodb.buffer_pool_hit_percent",
            "Buffer pool hit",
            "%",
            thresholds=(99, 95),
            low_is_bad=True,
        ),
        spec("row-lock-waits", "mysql.innodb.row_lock_waits", "Row lock waits", "", agg="sum"),
        spec("row-lock-time", "mysql.innodb.row_lock_time_ms", "Row lock time", "ms", agg="sum"),
        spec("tmp-disk", "mysql.tmp_disk_tables", "Temporary tables on disk", "", agg="sum"),
        spec(
            "replication-lag",
            "mysql.replication.lag_seconds",
            "Replication lag",
            "s",
            agg="max",
            thresholds=levels["replication_lag"],
        ),
    ]


def charts_row(target: str) -> dbc.Row:
    return dbc.Row([dbc.Col(live_chart(spec), lg=6, xxl=4, className="mb-3") for spec in chart_specs(target)])
