"""Newest values and short recent history of several metrics, each in one query.

A status page shows a handful of metrics at once (KPI tiles, the Queue page's tables). Reading them
one ``Store.latest`` call at a time costs two round trips per metric (the series lookup, then the
samples); these functions join ``series`` to ``samples`` so the whole set is one statement.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

import pandas as pd
from sqlalchemy import Engine, Select, String, func, select, type_coerce

from storage.schema import samples, series
from storage.timeparse import parse_duration, to_millis, utc_now

__all__ = ["COLUMNS", "latest_many", "recent_many"]

COLUMNS = ["metric", "host", "labels", "series_id", "ts", "value"]


def latest_many(engine: Engine, metrics: Sequence[str], max_age: str | timedelta = "15m") -> pd.DataFrame:
    """The newest sample of every series of each of ``metrics``, if not older than ``max_age``.

    Columns: metric, host, labels (dict), series_id, ts (UTC), value; ordered by metric, host, series.
    A metric never collected, or silent for longer than ``max_age``, simply has no rows.
    """
    not_before = to_millis(utc_now() - parse_duration(max_age, name="max_age"))
    newest = (
        select(samples.c.series_id, func.max(samples.c.ts).label("ts"))
        .join(series, series.c.id == samples.c.series_id)
        .where(series.c.metric.in_(list(metrics)), samples.c.ts >= not_before)
        .group_by(samples.c.series_id)
        .subquery()
    )
    query = _named_samples().join(
        newest, (samples.c.series_id == newest.c.series_id) & (samples.c.ts == newest.c.ts)
    )
    return _frame(engine, query)


def recent_many(engine: Engine, metrics: Sequence[str], since: str | timedelta = "15m") -> pd.DataFrame:
    """Every raw sample of each of ``metrics`` in the last ``since`` (sparklines; keep it short).

    Same columns as ``latest_many``, ordered by metric, host, series and time.
    """
    not_before = to_millis(utc_now() - parse_duration(since, name="since"))
    query = _named_samples().where(series.c.metric.in_(list(metrics)), samples.c.ts >= not_before)
    return _frame(engine, query)


def _named_samples() -> Select[tuple[str, str, object, int, int, float]]:
    return (
        select(
            series.c.metric,
            series.c.host,
            # As text: the JSON type would parse it on every sample row; it is parsed once per series.
            type_coerce(series.c.labels, String).label("labels"),
            samples.c.series_id,
            samples.c.ts,
            samples.c.value,
        )
        .select_from(samples)
        .join(series, series.c.id == samples.c.series_id)
        .order_by(series.c.metric, series.c.host, samples.c.series_id, samples.c.ts)
    )


def _frame(engine: Engine, query: Select[tuple[str, str, object, int, int, float]]) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=COLUMNS)
    # MariaDB hands JSON columns back as text, SQLite through SQLAlchemy's JSON type as dicts.
    frame["labels"] = frame["labels"].map(
        lambda value: json.loads(value) if isinstance(value, str) else value
    )
    frame["ts"] = pd.to_datetime(frame["ts"].astype("int64"), unit="ms", utc=True)
    frame["value"] = frame["value"].astype("float64")
    return frame
