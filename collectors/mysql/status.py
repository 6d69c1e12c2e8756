"""Status metrics: ``SHOW GLOBAL STATUS`` counters into gauges and rates, table sizes into readings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collectors.base import Reading

__all__ = [
    "LARGEST_TABLES",
    "MYSQL_METRICS",
    "SYSTEM_SCHEMAS",
    "StatusSample",
    "numeric_status",
    "reading",
    "size_readings",
    "status_readings",
]

# The catalog of what this collector emits: name -> (unit, description). Every series has {target}.
MYSQL_METRICS: dict[str, tuple[str, str]] = {
    "mysql.queries_per_second": ("/s", "Statements executed per second (Queries counter)"),
    "mysql.transactions_per_second": ("/s", "Commits plus rollbacks per second"),
    "mysql.threads_connected": ("", "Open client connections"),
    "mysql.threads_running": ("", "Connections executing a statement right now"),
    "mysql.connections.percent": ("%", "Open connections as a share of max_connections"),
    "mysql.aborted_connects": ("", "Failed connection attempts during the interval"),
    "mysql.slow_queries_per_minute": ("/min", "Statements slower than long_query_time, per minute"),
    "mysql.innodb.buffer_pool_hit_percent": ("%", "InnoDB page reads served from the buffer pool"),
    "mysql.innodb.row_lock_waits": ("", "InnoDB row lock waits during the interval"),
    "mysql.innodb.row_lock_time_ms": ("ms", "Time spent waiting for InnoDB row locks during the interval"),
    "mysql.tmp_disk_tables": ("", "Internal temporary tables created on disk during the interval"),
    "mysql.prepared_executes": (
        "",
        "Server-side prepared statements executed during the interval (Com_stmt_execute)",
    ),
    "mysql.schema.size_bytes": ("B", "Data plus index size per {schema}"),
    "mysql.table.size_bytes": (
        "B",
        "Data plus index size of the 50 largest tables, per {schema} and {table}",
    ),
    "mysql.replication.lag_seconds": (
        "s",
        "Replica lag behind its source (only where replication is set up)",
    ),
}

SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
LARGEST_TABLES = 50


@dataclass(frozen=True)
class StatusSample:
    """One ``SHOW GLOBAL STATUS`` reading: ``at`` is a monotonic clock, ``values`` the numeric counters."""

    at: float
    values: dict[str, float]
    max_connections: float | None = None


# metric -> (counters summed, scale): the value is delta(sum) * scale, or / seconds when per_second.
_RATES: dict[str, tuple[tuple[str, ...], str]] = {
    "mysql.queries_per_second": (("Queries",), "per_second"),
    "mysql.transactions_per_second": (("Com_commit", "Com_rollback"), "per_second"),
    "mysql.slow_queries_per_minute": (("Slow_queries",), "per_minute"),
    "mysql.aborted_connects": (("Aborted_connects",), "per_interval"),
    "mysql.innodb.row_lock_waits": (("Innodb_row_lock_waits",), "per_interval"),
    "mysql.innodb.row_lock_time_ms": (("Innodb_row_lock_time",), "per_interval"),
    "mysql.tmp_disk_tables": (("Created_tmp_disk_tables",), "per_interval"),
    "mysql.prepared_executes": (("Com_stmt_execute",), "per_interval"),
}


def reading(metric: str, value: float, target: str, **labels: str) -> Reading:
    return Reading(metric, float(value), {"target": target, **labels}, MYSQL_METRICS[metric][0])


def status_readings(target: str, before: StatusSample | None, after: StatusSample) -> list[Reading]:
    """Gauges from ``after``; rates and per-interval counts from ``before`` -> ``after`` when there is one.

    A counter that went down (server restart, FLUSH STATUS) skips one interval instead of going negative.
    """
    values = after.values
    readings = [
        reading(metric, values[name], target)
        for metric, name in (
            ("mysql.threads_connected", "Threads_connected"),
            ("mysql.threads_running", "Threads_running"),
        )
        if name in values
    ]
    if after.max_connections and "Threads_connected" in values:
        percent = 100.0 * values["Threads_connected"] / after.max_connections
        readings.append(reading("mysql.connections.percent", percent, target))
    if before is None or after.at <= before.at:
        return readings
    elapsed = after.at - before.at
    for metric, (names, scale) in _RATES.items():
        delta = _delta(before.values, values, names)
        if delta is None:
            continue
        value = (
            delta / elapsed
            if scale == "per_second"
            else delta * 60 / elapsed
            if scale == "per_minute"
            else delta
        )
        readings.append(reading(metric, value, target))
    requests = _delta(before.values, values, ("Innodb_buffer_pool_read_requests",))
    disk_reads = _delta(before.values, values, ("Innodb_buffer_pool_reads",))
    if requests and disk_reads is not None:  # no logical reads in the interval: no ratio to report
        hit = 100.0 * max(0.0, 1.0 - disk_reads / requests)
        readings.append(reading("mysql.innodb.buffer_pool_hit_percent", hit, target))
    return readings


def _delta(before: dict[str, float], after: dict[str, float], names: tuple[str, ...]) -> float | None:
    if any(name not in before or name not in after for name in names):
        return None
    delta = sum(after[name] - before[name] for name in names)
    return delta if delta >= 0 else None


def numeric_status(rows: list[dict[str, Any]]) -> dict[str, float]:
    values: dict[str, float] = {}
    for row in rows:
        try:
            values[str(row["Variable_name"])] = float(row["Value"])
        except (TypeError, ValueError):
            continue  # ON/OFF and text variables are not counters
    return values


def size_readings(target: str, rows: list[dict[str, Any]]) -> list[Reading]:
    """Schema totals from every table, plus the largest tables one by one."""
    per_schema: dict[str, float] = {}
    for row in rows:
        per_schema[row["schema_"]] = per_schema.get(row["schema_"], 0.0) + float(row["bytes"])
    readings = [
        reading("mysql.schema.size_bytes", size, target, schema=name) for name, size in per_schema.items()
    ]
    largest = sorted(rows, key=lambda row: float(row["bytes"]), reverse=True)[:LARGEST_TABLES]
    readings += [
        reading(
            "mysql.table.size_bytes", float(row["bytes"]), target, schema=row["schema_"], table=row["table_"]
        )
        for row in largest
    ]
    return readings
