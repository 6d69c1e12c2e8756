"""Reading samples back: series lookup, bucketing in SQL, tidy frames with UTC timestamps."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Select, func, literal_column, select

from storage.schema import samples, series
from storage.timeparse import to_millis

__all__ = [
    "SQL_AGGREGATES",
    "SUPPORTED_AGGREGATES",
    "bucketed",
    "find_series",
    "latest_values",
    "raw_samples",
    "validate_aggregates",
]

SQL_AGGREGATES: dict[str, Any] = {
    "mean": func.avg,
    "min": func.min,
    "max": func.max,
    "sum": func.sum,
    "count": func.count,
}
# Need the rows of each bucket, so pandas computes them after one range scan.
_PANDAS_AGGREGATES = {"last", "first", "median", "p50", "p90", "p95", "p99"}
SUPPORTED_AGGREGATES = tuple(SQL_AGGREGATES) + tuple(sorted(_PANDAS_AGGREGATES))
_IN_CHUNK = 500


def validate_aggregates(agg: str | Sequence[str]) -> tuple[str, ...]:
    names = (agg,) if isinstance(agg, str) else tuple(agg)
    if not names:
        raise ValueError("agg: name at least one aggregate")
    unknown = [name for name in names if name not in SUPPORTED_AGGREGATES]
    if unknown:
        raise ValueError(
            f"agg: unsupported {', '.join(map(repr, unknown))}; choose from {', '.join(SUPPORTED_AGGREGATES)}"
        )
    return names


def find_series(
    conn: Connection,
    metric: str | None = None,
    host: str | None = None,
    labels: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Series rows (id, metric, host, labels dict, unit) matching the filters; labels match as a subset."""
    query = select(series.c.id, series.c.metric, series.c.host, series.c.labels, series.c.unit).order_by(
        series.c.metric, series.c.host, series.c.id
    )
    if metric is not None:
        query = query.where(series.c.metric == metric)
    if host is not None:
        query = query.where(series.c.host == host)
    frame = pd.DataFrame(conn.execute(query).all(), columns=["id", "metric", "host", "labels", "unit"])
    frame["labels"] = frame["labels"].map(
        lambda value: json.loads(value) if isinstance(value, str) else value
    )
    if labels:
        wanted = {str(k): str(v) for k, v in labels.items()}
        frame = frame[frame["labels"].map(lambda have: all(have.get(k) == v for k, v in wanted.items()))]
    return frame.reset_index(drop=True)


def unknown_metric_error(conn: Connection, metric: str) -> ValueError:
    names = list(conn.execute(select(series.c.metric).distinct()).scalars())
    close = difflib.get_close_matches(metric, names, n=1, cutoff=0.5)
    hint = (
        f"; did you mean {close[0]!r}?" if close else ("; the store has no metrics yet" if not names else "")
    )
    return ValueError(f"unknown metric {metric!r}{hint}")


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + _IN_CHUNK]) for i in range(0, len(ids), _IN_CHUNK)]


def _range_filter(query: Select, ids: list[int], start_ms: int, end_ms: int) -> Select:
    return query.where(samples.c.series_id.in_(ids), samples.c.ts >= start_ms, samples.c.ts < end_ms)


def raw_samples(conn: Connection, series_ids: Sequence[int], start_ms: int, end_ms: int) -> pd.DataFrame:
    """Raw (series_id, ts ms, value) rows in the range, ordered by series then time."""
    parts = []
    for ids in _chunks(series_ids):
        query = _range_filter(
            select(samples.c.series_id, samples.c.ts, samples.c.value), ids, start_ms, end_ms
        )
        parts.append(
            pd.DataFrame(
                conn.execute(query.order_by(samples.c.series_id, samples.c.ts)).all(),
                columns=["series_id", "ts", "value"],
            )
        )
    frame = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["series_id", "ts", "value"])
    )
    # Typed even when empty: an object column breaks the pandas quantiles in _pandas_buckets.
    return frame.astype({"series_id": "int64", "ts": "int64", "value": "float64"})


def bucketed(
    conn: Connection, series_ids: Sequence[int], start_ms: int, end_ms: int, step_ms: int, aggs: Sequence[str]
) -> pd.DataFrame:
    """One row per (series_id, bucket start ms) with a column per aggregate."""
    sql_aggs = [name for name in aggs if name in SQL_AGGREGATES]
    pandas_aggs = [name for name in aggs if name in _PANDAS_AGGREGATES]
    frame = _sql_buckets(conn, series_ids, start_ms, end_ms, step_ms, sql_aggs or ["count"])
    if pandas_aggs:
        extra = _pandas_buckets(raw_samples(conn, series_ids, start_ms, end_ms), step_ms, pandas_aggs)
        frame = frame.merge(extra, on=["series_id", "bucket"], how="left")
    return frame[["series_id", "bucket", *aggs]]


def _sql_buckets(
    conn: Connection, series_ids: Sequence[int], start_ms: int, end_ms: int, step_ms: int, aggs: Sequence[str]
) -> pd.DataFrame:
    # ts - ts % step is integer arithmetic on both dialects (ts is never negative).
    bucket = (samples.c.ts - samples.c.ts % literal_column(str(int(step_ms)))).label("bucket")
    columns = [SQL_AGGREGATES[name](samples.c.value).label(name) for name in aggs]
    parts = []
    for ids in _chunks(series_ids):
        query = _range_filter(select(samples.c.series_id, bucket, *columns), ids, start_ms, end_ms)
        query = query.group_by(samples.c.series_id, literal_column("bucket")).order_by(
            samples.c.series_id, literal_column("bucket")
        )
        parts.append(pd.DataFrame(conn.execute(query).all(), columns=["series_id", "bucket", *aggs]))
    frame = pd.concat(parts, ignore_index=True)
    frame["bucket"] = frame["bucket"].astype("int64")
    for name in aggs:
        frame[name] = frame[name].astype("int64" if name == "count" else "float64")
    return frame


def _pandas_buckets(raw: pd.DataFrame, step_ms: int, aggs: Sequence[str]) -> pd.DataFrame:
    raw = raw.assign(bucket=raw["ts"] - raw["ts"] % step_ms)
    grouped = raw.groupby(["series_id", "bucket"], sort=True)["value"]
    out = {}
    for name in aggs:
        if name == "last":
            out[name] = grouped.last()
        elif name == "first":
            out[name] = grouped.first()
        else:
            quantile = 0.5 if name == "median" else int(name[1:]) / 100
            out[name] = grouped.quantile(quantile)
    return pd.DataFrame(out).reset_index()


def latest_values(conn: Connection, series_ids: Sequence[int], not_before_ms: int) -> pd.DataFrame:
    """The newest sample of each series no older than ``not_before_ms`` (series_id, ts, value)."""
    parts = []
    for ids in _chunks(series_ids):
        newest = (
            select(samples.c.series_id, func.max(samples.c.ts).label("ts"))
            .where(samples.c.series_id.in_(ids), samples.c.ts >= not_before_ms)
            .group_by(samples.c.series_id)
            .subquery()
        )
        query = select(samples.c.series_id, samples.c.ts, samples.c.value).join(
            newest, (samples.c.series_id == newest.c.series_id) & (samples.c.ts == newest.c.ts)
        )
        parts.append(pd.DataFrame(conn.execute(query).all(), columns=["series_id", "ts", "value"]))
    return (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["series_id", "ts", "value"])
    )


def millis_to_utc(values: pd.Series | np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(values, dtype="int64"), unit="ms", utc=True))


def choose_step_ms(start: datetime, end: datetime, max_points: int) -> int:
    """The smallest "nice" step that keeps a series at or under ``max_points`` buckets."""
    start_ms, end_ms = to_millis(start), to_millis(end)
    for step_ms in _NICE_STEPS_MS:
        # Buckets are aligned to the epoch, not to ``start``: count the ones [start, end) touches,
        # which is one more than span / step when the range does not start on a bucket boundary.
        if (end_ms - 1) // step_ms - start_ms // step_ms + 1 <= max_points:
            return step_ms
    return _NICE_STEPS_MS[-1]


_NICE_STEPS_MS = [
    1_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    604_800_000,
]
