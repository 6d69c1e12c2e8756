"""``Store``: the one object notebooks, tasks and pages use to write and read Vitals data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import pandas as pd
from sqlalchemy import Engine

from storage import reads
from storage.engine import create_store_engine, write_transaction
from storage.migrate import upgrade
from storage.series import SeriesRegistry
from storage.settings import get_settings
from storage.timeparse import TimeInput, parse_duration, resolve_range, to_millis, utc_now
from storage.writes import write_frame

__all__ = ["DEFAULT_MAX_POINTS", "Store", "connect"]

# A chart gets at most this many points per series when the step is chosen for it.
DEFAULT_MAX_POINTS = 1_500


class Store:
    """A connection to the Vitals store (SQLite or MySQL/MariaDB)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._registry = SeriesRegistry()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Apply any pending schema migrations."""
        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- writing --------------------------------------------------------------------------------

    def write(self, frame: pd.DataFrame) -> int:
        """Store a tidy frame of samples and return how many rows were written.

        Columns: ``ts`` (datetime, ISO string or epoch ms), ``metric``, ``value``; optional ``host``
        (default: this machine), ``labels`` (dict or JSON) and ``unit``. Rows already stored for the
        same series and timestamp are left as they are, so writing a batch twice is harmless.
        """
        with write_transaction(self.engine) as conn:
            return write_frame(conn, self._registry, frame)

    # -- reading --------------------------------------------------------------------------------

    def list_series(
        self, metric: str | None = None, host: str | None = None, labels: Mapping[str, object] | None = None
    ) -> pd.DataFrame:
        """The series in the store (id, metric, host, labels, unit), optionally filtered."""
        with self.engine.connect() as conn:
            return reads.find_series(conn, metric=metric, host=host, labels=labels)

    def metric_names(self) -> list[str]:
        return sorted(self.list_series()["metric"].unique().tolist())

    def metrics(
        self,
        name: str,
        since: TimeInput = "1h",
        until: TimeInput = None,
        every: str | timedelta | None = None,
        agg: str | Sequence[str] = "mean",
        host: str | None = None,
        labels: Mapping[str, object] | None = None,
        max_points: int = DEFAULT_MAX_POINTS,
    ) -> pd.DataFrame:
        """Samples of one metric, bucketed, as a tidy frame.

        ``since``/``until`` take durations ago (``"7d"``), ISO 8601 strings or datetimes.
        ``every`` is the bucket size (``"5min"``); when omitted, the smallest step that keeps each
        series under ``max_points`` buckets. ``agg`` names one or more of mean, min, max, sum,
        count, last, first, median, p50, p90, p95, p99; each becomes a column.
        Returns columns ts (UTC), metric, host, labels, series_id and one per aggregate.
        """
        aggs = reads.validate_aggregates(agg)
        start, end = resolve_range(since, until)
        step_ms = (
            int(parse_duration(every, name="every").total_seconds() * 1000)
            if every is not None
            else reads.choose_step_ms(start, end, max_points)
        )
        if step_ms < 1:
            raise ValueError("every: must be at least 1 ms")
        with self.engine.connect() as conn:
            found = reads.find_series(conn, metric=name, host=host, labels=labels)
            if found.empty:
                if name not in self.metric_names():
                    raise reads.unknown_metric_error(conn, name)
                return _empty_frame(aggs)
            data = reads.bucketed(conn, found["id"].tolist(), to_millis(start), to_millis(end), step_ms, aggs)
        return _tidy(data.rename(columns={"bucket": "ts"}), found, aggs)

    def latest(self, name: str, host: str | None = None, max_age: str | timedelta = "15m") -> pd.DataFrame:
        """The newest value of each series of a metric, if not older than ``max_age``."""
        not_before = to_millis(utc_now() - parse_duration(max_age, name="max_age"))
        with self.engine.connect() as conn:
            found = reads.find_series(conn, metric=name, host=host)
            if found.empty:
                return _empty_frame(("value",))
            data = reads.latest_values(conn, found["id"].tolist(), not_before)
        return _tidy(data, found, ("value",))


def _empty_frame(value_columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(columns=["ts", "metric", "host", "labels", "series_id", *value_columns])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def _tidy(data: pd.DataFrame, found: pd.DataFrame, value_columns: Sequence[str]) -> pd.DataFrame:
    meta = found.rename(columns={"id": "series_id"})[["series_id", "metric", "host", "labels"]]
    frame = data.merge(meta, on="series_id", how="left")
    frame["ts"] = reads.millis_to_utc(frame["ts"].to_numpy())
    frame = frame.sort_values(["series_id", "ts"], kind="stable").reset_index(drop=True)
    return frame[["ts", "metric", "host", "labels", "series_id", *value_columns]]


def connect(url: str | None = None, *, migrate: bool = True) -> Store:
    """Open the store at ``url`` (default: ``VITALS_DATABASE_URL``, else the embedded SQLite file).

    With ``migrate=True`` (the default) pending migrations are applied first, so a notebook on a
    fresh machine gets a working, empty store.
    """
    store = Store(create_store_engine(url or get_settings().store_url))
    if migrate:
        store.migrate()
    return store
