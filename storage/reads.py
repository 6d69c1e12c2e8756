"""Reading samples back: series lookup, bucketing in SQL, tidy frames with UTC timestamps."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from storage.fetch import MYSQL_BYTES_PER_ROW, MYSQL_MAX_RESULT_BYTES, numeric_frame
from storage.rollups import PARTIAL_COLUMNS, TIERS, partials_sql, watermarks
from storage.schema import samples, series
from storage.timeparse import to_millis

__all__ = [
    "PARTIAL_AGGREGATES",
    "SAMPLE_AGGREGATES",
    "SUPPORTED_AGGREGATES",
    "bucketed",
    "find_series",
    "latest_values",
    "raw_samples",
    "validate_aggregates",
]

# Answered from per-bucket partials (count/sum/min/max/last), so rollup tiers can serve them.
PARTIAL_AGGREGATES = ("mean", "min", "max", "sum", "count", "last")
# Need every sample of a bucket: computed by pandas from raw rows, so only within raw retention.
SAMPLE_AGGREGATES = ("first", "median", "p50", "p90", "p95", "p99")
SUPPORTED_AGGREGATES = PARTIAL_AGGREGATES + SAMPLE_AGGREGATES
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


def metric_exists(conn: Connection, metric: str) -> bool:
    return conn.execute(select(series.c.id).where(series.c.metric == metric).limit(1)).first() is not None


def unknown_metric_error(conn: Connection, metric: str) -> ValueError:
    names = list(conn.execute(select(series.c.metric).distinct()).scalars())
    close = difflib.get_close_matches(metric, names, n=1, cutoff=0.5)
    hint = (
        f"; did you mean {close[0]!r}?" if close else ("; the store has no metrics yet" if not names else "")
    )
    return ValueError(f"unknown metric {metric!r}{hint}")


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + _IN_CHUNK]) for i in range(0, len(ids), _IN_CHUNK)]


_RAW_PAGE_ROWS = MYSQL_MAX_RESULT_BYTES // MYSQL_BYTES_PER_ROW


def raw_samples(conn: Connection, series_ids: Sequence[int], start_ms: int, end_ms: int) -> pd.DataFrame:
    """Raw (series_id, ts ms, value) rows in the range, ordered by series then time.

    Keyset pages over the (series_id, ts) primary key, each one index range scan that arrives as
    typed columns (``numeric_frame``), so no Python object is made per sample.
    """
    names, dtypes = ["series_id", "ts", "value"], ["int64", "int64", "float64"]
    parts = []
    for sid in series_ids:
        cursor = start_ms
        while cursor < end_ms:
            page = numeric_frame(
                conn,
                "SELECT series_id AS series_id, ts AS ts, value AS value FROM samples "
                "WHERE series_id = :sid AND ts >= :lo AND ts < :hi ORDER BY ts LIMIT :rows",
                {"sid": int(sid), "lo": cursor, "hi": end_ms, "rows": _RAW_PAGE_ROWS},
                names,
                dtypes,
                order_by=("ts",),
            )
            parts.append(page)
            if len(page) < _RAW_PAGE_ROWS:
                break
            cursor = int(page["ts"].iloc[-1]) + 1
    if not parts:
        return pd.DataFrame({name: np.array([], dtype=d) for name, d in zip(names, dtypes, strict=True)})
    # Typed even when empty: an object column breaks the pandas quantiles in _pandas_buckets.
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def partial_columns(aggs: Sequence[str]) -> tuple[str, ...]:
    """The per-bucket partials (PARTIAL_COLUMNS order) needed to answer ``aggs``: no column is read for nothing."""
    need: set[str] = set()
    for name in aggs:
        need.update(_NEEDS.get(name, ()))
    return tuple(name for name in PARTIAL_COLUMNS if name in need)


_NEEDS = {
    "mean": ("count", "sum"),
    "sum": ("sum",),
    "count": ("count",),
    "min": ("min",),
    "max": ("max",),
    "last": ("last_ts", "last"),  # last_ts orders the partials of a bucket split between sources
}


def bucketed(
    conn: Connection, series_ids: Sequence[int], start_ms: int, end_ms: int, step_ms: int, aggs: Sequence[str]
) -> pd.DataFrame:
    """One row per (series_id, bucket start ms) with a column per aggregate.

    Reads the coarsest rollup tier that fits the step for the part of the range it covers and finer
    sources for the rest (see ``plan_segments``); ``frame.attrs["tiers"]`` names what was read.
    """
    segments = plan_segments(start_ms, end_ms, step_ms, watermarks(conn))
    columns = partial_columns(aggs)
    parts = [_partials(conn, segment, series_ids, step_ms, columns) for segment in segments]
    partials = _merge_partials(parts, columns)
    frame = _finish(partials, [name for name in aggs if name in PARTIAL_AGGREGATES])
    pandas_aggs = [name for name in aggs if name in SAMPLE_AGGREGATES]
    if pandas_aggs:
        extra = _pandas_buckets(raw_samples(conn, series_ids, start_ms, end_ms), step_ms, pandas_aggs)
        frame = frame.merge(extra, on=["series_id", "bucket"], how="outer").sort_values(
            ["series_id", "bucket"]
        )
    frame = frame[["series_id", "bucket", *aggs]].reset_index(drop=True)
    frame.attrs["tiers"] = sorted({segment.source for segment in segments}) or ["raw"]
    return frame


@dataclass(frozen=True)
class Segment:
    source: str  # "raw" or a tier name
    start_ms: int
    end_ms: int


def plan_segments(start_ms: int, end_ms: int, step_ms: int, marks: Mapping[str, int]) -> list[Segment]:
    """Split [start, end) into pieces, each read from the coarsest source that can serve it.

    A tier serves steps that are whole multiples of its bucket, up to its watermark; what lies after
    the watermark comes from the next finer tier, and finally from raw samples.
    """
    segments: list[Segment] = []
    cursor = start_ms
    for tier in reversed(TIERS):
        mark = marks.get(tier.name)
        if mark is None or step_ms < tier.step_ms or step_ms % tier.step_ms or cursor >= min(mark, end_ms):
            continue
        segments.append(Segment(tier.name, cursor, min(mark, end_ms)))
        cursor = min(mark, end_ms)
    if cursor < end_ms:
        segments.append(Segment("raw", cursor, end_ms))
    return segments


_DTYPES = {"series_id": "int64", "bucket": "int64", "count": "int64", "last_ts": "int64"}


def _dtypes(columns: Sequence[str]) -> list[str]:
    return [_DTYPES.get(name, "float64") for name in columns]


def _partials(
    conn: Connection, segment: Segment, series_ids: Sequence[int], step_ms: int, columns: Sequence[str]
) -> pd.DataFrame:
    source = next((tier for tier in TIERS if tier.name == segment.source), None)
    buckets = (segment.end_ms - segment.start_ms) // step_ms + 2
    per_query = max(1, min(_IN_CHUNK, MYSQL_MAX_RESULT_BYTES // MYSQL_BYTES_PER_ROW // buckets))
    names = ["series_id", "bucket", *columns]
    parts = [
        numeric_frame(
            conn,
            partials_sql(conn.dialect.name, source, step_ms, series_ids[i : i + per_query], columns),
            {"lo": segment.start_ms, "hi": segment.end_ms},
            names,
            _dtypes(names),
        )
        for i in range(0, len(series_ids), per_query)
    ]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


_REDUCERS = {"count": np.add, "sum": np.add, "min": np.minimum, "max": np.maximum}


def _merge_partials(parts: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """One row per (series, bucket), ordered; a bucket split across two segments is combined.

    Works on numpy arrays: rows sorted by (series, bucket[, last_ts]), so each bucket's rows are
    adjacent and, when "last" is asked for, its newest partial comes last.
    """
    names = ["series_id", "bucket", *columns]
    if not parts:  # an empty range
        return pd.DataFrame(
            {name: np.array([], dtype=dtype) for name, dtype in zip(names, _dtypes(names), strict=True)}
        )
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if frame.empty:
        return frame
    data = {name: frame[name].to_numpy() for name in names}
    keys = (data["last_ts"],) if "last_ts" in data else ()
    order = np.lexsort((*keys, data["bucket"], data["series_id"]))
    if not (order[1:] > order[:-1]).all():  # already in order: the usual single-source read
        data = {name: values[order] for name, values in data.items()}
    sid, bucket = data["series_id"], data["bucket"]
    starts = np.flatnonzero(np.r_[True, (sid[1:] != sid[:-1]) | (bucket[1:] != bucket[:-1])])
    if len(starts) == len(sid):
        return pd.DataFrame(data)
    ends = np.r_[starts[1:], len(sid)] - 1
    merged = {"series_id": sid[starts], "bucket": bucket[starts]}
    for name in columns:
        reducer = _REDUCERS.get(name)
        merged[name] = reducer.reduceat(data[name], starts) if reducer is not None else data[name][ends]
    return pd.DataFrame(merged)


def _finish(partials: pd.DataFrame, aggs: Sequence[str]) -> pd.DataFrame:
    out = partials[["series_id", "bucket"]].copy()
    for name in aggs:
        if name == "mean":
            out[name] = partials["sum"] / partials["count"]
        elif name in ("count", "sum", "min", "max", "last"):
            out[name] = partials[name]
    return out


def _pandas_buckets(raw: pd.DataFrame, step_ms: int, aggs: Sequence[str]) -> pd.DataFrame:
    raw = raw.assign(bucket=raw["ts"] - raw["ts"] % step_ms)
    grouped = raw.groupby(["series_id", "bucket"], sort=True)["value"]
    out = {}
    for name in aggs:
        if name == "first":
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
