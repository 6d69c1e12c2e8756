"""Retention per tier, enforced in small batches, and a summary of what each tier holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Engine, Table, select, text

from storage.engine import write_transaction
from storage.rollups import watermarks
from storage.schema import rollup_1h, rollup_1m, rollup_5m, samples, series
from storage.settings import Settings
from storage.timeparse import utc_now

__all__ = ["TierPolicy", "enforce_retention", "policies", "tier_summary"]

DEFAULT_BATCH_ROWS = 5_000
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class TierPolicy:
    name: str
    table: Table
    time_column: str
    keep_days: int
    bucket_ms: int  # 1 for raw samples


def policies(settings: Settings) -> list[TierPolicy]:
    return [
        TierPolicy("raw", samples, "ts", settings.retention_raw_days, 1),
        TierPolicy("1m", rollup_1m, "bucket", settings.retention_1m_days, 60_000),
        # The 5-minute tier is kept as long as the minute tier it is built from.
        TierPolicy("5m", rollup_5m, "bucket", settings.retention_1m_days, 300_000),
        TierPolicy("1h", rollup_1h, "bucket", settings.retention_1h_days, 3_600_000),
    ]


def _cutoff(policy: TierPolicy, now_ms: int, marks: dict[str, int]) -> int:
    cutoff = now_ms - policy.keep_days * _DAY_MS
    # A bucket goes only once all of it is past retention, never with data still inside the window.
    cutoff -= cutoff % policy.bucket_ms
    if policy.name == "raw":
        # Never drop raw samples the minute tier has not absorbed yet (a stalled rollup job).
        cutoff = min(cutoff, marks.get("1m", 0))
    return cutoff


def _delete_batch(engine: Engine, policy: TierPolicy, series_id: int, cutoff: int, batch_rows: int) -> int:
    """Delete up to ``batch_rows`` of the oldest expired rows of one series, in their own transaction."""
    table, column = policy.table.name, policy.time_column
    with write_transaction(engine) as conn:
        boundary = conn.execute(
            text(
                f"SELECT {column} FROM {table} WHERE series_id = :sid AND {column} < :cutoff "
                f"ORDER BY {column} LIMIT 1 OFFSET :skip"
            ),
            {"sid": series_id, "cutoff": cutoff, "skip": batch_rows - 1},
        ).scalar()
        upper, operator = (boundary, "<=") if boundary is not None else (cutoff, "<")
        result = conn.execute(
            text(f"DELETE FROM {table} WHERE series_id = :sid AND {column} {operator} :upper"),
            {"sid": series_id, "upper": upper},
        )
    return int(result.rowcount or 0)


def enforce_retention(
    engine: Engine, settings: Settings, now_ms: int | None = None, batch_rows: int = DEFAULT_BATCH_ROWS
) -> dict[str, int]:
    """Delete what each tier no longer keeps; returns rows deleted per tier.

    Work is split per series into transactions of at most ``batch_rows`` rows, so writers and
    readers are never held up for long, on SQLite or MySQL.
    """
    now_ms = now_ms if now_ms is not None else int(utc_now().timestamp() * 1000)
    with engine.connect() as conn:
        marks = watermarks(conn)
        ids = [int(i) for i in conn.execute(select(series.c.id)).scalars()]
    deleted: dict[str, int] = {}
    for policy in policies(settings):
        cutoff = _cutoff(policy, now_ms, marks)
        total = 0
        for series_id in ids:
            while True:
                removed = _delete_batch(engine, policy, series_id, cutoff, batch_rows)
                total += removed
                if removed < batch_rows:
                    break
        deleted[policy.name] = total
    return deleted


def _row_count(conn: Connection, table: str) -> tuple[int, bool]:
    """(rows, exact). InnoDB's COUNT(*) scans the table, so MySQL gets the statistics estimate."""
    if conn.dialect.name == "sqlite":
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()), True
    estimate = conn.execute(
        text(
            "SELECT table_rows FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = :t"
        ),
        {"t": table},
    ).scalar()
    return int(estimate or 0), False


def _edge(conn: Connection, policy: TierPolicy, function: str) -> datetime | None:
    # Per-series MIN/MAX walks the primary key; a bare MIN over the table would scan it all.
    table, column = policy.table.name, policy.time_column
    value = conn.execute(
        text(
            f"SELECT {function}(edge) FROM (SELECT (SELECT {function}({column}) FROM {table} t "
            "WHERE t.series_id = series.id) AS edge FROM series) e"
        )
    ).scalar()
    return pd.Timestamp(int(value), unit="ms", tz="UTC").to_pydatetime() if value is not None else None


def tier_summary(engine: Engine, settings: Settings) -> pd.DataFrame:
    """One row per tier: rows held, oldest and newest data, retention, and rollup watermark."""
    rows = []
    with engine.connect() as conn:
        marks = watermarks(conn)
        for policy in policies(settings):
            count, exact = _row_count(conn, policy.table.name)
            mark = marks.get(policy.name)
            rows.append(
                {
                    "tier": policy.name,
                    "rows": count,
                    "rows_exact": exact,
                    "oldest": _edge(conn, policy, "MIN"),
                    "newest": _edge(conn, policy, "MAX"),
                    "keep_days": policy.keep_days,
                    "complete_until": pd.Timestamp(mark, unit="ms", tz="UTC").to_pydatetime()
                    if mark
                    else None,
                }
            )
    return pd.DataFrame(rows)
