"""``Store``: the one object notebooks, tasks and pages use to write and read Vitals data."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import timedelta

import pandas as pd
from sqlalchemy import Engine

from storage import analytics, reads
from storage.alerts import AlertsSection
from storage.cache import CacheSection
from storage.config import ConfigSection
from storage.database import DatabaseSection
from storage.engine import create_store_engine, write_transaction
from storage.export import ExportResult, export_metrics
from storage.incidents import IncidentsSection
from storage.logs import LogsSection
from storage.migrate import upgrade
from storage.queue import QueueSection
from storage.rollups import RollupReport, refresh_rollups
from storage.series import SeriesRegistry
from storage.settings import get_settings
from storage.timeparse import TimeInput, parse_duration, parse_time, resolve_range, to_millis, utc_now
from storage.writes import write_frame

__all__ = ["DEFAULT_MAX_POINTS", "DEFAULT_MAX_TOTAL_POINTS", "Store", "connect"]

# A chart gets at most this many points per series when the step is chosen for it.
DEFAULT_MAX_POINTS = 1_500
# ... and at most this many in all: 200 series over 7 days get hourly points (33,600), not 200 x
# 1,500 that no chart can show and that would be read from the minute tier.
DEFAULT_MAX_TOTAL_POINTS = 50_000


class Store:
    """A connection to the Vitals store (SQLite or MySQL/MariaDB)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._registry = SeriesRegistry()
        # One facade per section, the same name as the section in every layer (docs/notebook.md).
        self.database = DatabaseSection(engine)
        self.cache = CacheSection(engine)
        self.logs = LogsSection(engine)
        self.alerts = AlertsSection(engine)
        self.incidents = IncidentsSection(engine)
        self.config = ConfigSection(engine)
        self.queue = QueueSection(engine)

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Apply any pending schema migrations."""
        upgrade(self.engine)

    def close(self) -> None:
        """Close the connection pool (a notebook can simply let the store go out of scope)."""
        self.engine.dispose()

    # -- writing --------------------------------------------------------------------------------

    def write(self, frame: pd.DataFrame) -> int:
        """Store a tidy frame of samples and return how many rows were written.

        Columns: ``ts`` (datetime, ISO string or epoch ms), ``metric``, ``value``; optional ``host``
        (default: this machine), ``labels`` (dict or JSON) and ``unit``. Rows already stored for the
        same series and timestamp are left as they are, so writing a batch twice is harmless.
        """
        try:
            with write_transaction(self.engine) as conn:
                return write_frame(conn, self._registry, frame)
        except Exception:
            # Series created in a transaction that rolled back do not exist: drop the cached ids
            # (they are re-read on the next write) so no later sample points at a missing series.
            self._registry.forget()
            raise

    # -- reading --------------------------------------------------------------------------------

    def list_series(
        self, metric: str | None = None, host: str | None = None, labels: Mapping[str, object] | None = None
    ) -> pd.DataFrame:
        """The series in the store (id, metric, host, labels, unit), optionally filtered."""
        with self.engine.connect() as conn:
            return reads.find_series(conn, metric=metric, host=host, labels=labels)

    def metric_names(self) -> list[str]:
        """The names of every metric in the store, sorted."""
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
        max_total_points: int = DEFAULT_MAX_TOTAL_POINTS,
    ) -> pd.DataFrame:
        """Samples of one metric, bucketed, as a tidy frame.

        ``since``/``until`` take durations ago (``"7d"``), ISO 8601 strings or datetimes.
        ``every`` is the bucket size (``"5min"``); when omitted, the smallest round step that keeps
        each series under ``max_points`` buckets and the whole answer under ``max_total_points``
        (so many series get a coarser step, read from a coarser rollup tier). ``agg`` names one or
        more of mean, min, max, sum, count, last, first, median, p50, p90, p95, p99; each becomes
        a column. Returns columns ts (UTC), metric, host, labels, series_id and one per aggregate.
        """
        aggs = reads.validate_aggregates(agg)
        for value, label in ((max_points, "max_points"), (max_total_points, "max_total_points")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{label}: must be a whole number of at least 1, got {value!r}")
        start, end = resolve_range(since, until)
        step_ms = int(parse_duration(every, name="every").total_seconds() * 1000) if every is not None else 0
        if every is not None and step_ms < 1:
            raise ValueError("every: must be at least 1 ms")
        with self.engine.connect() as conn:
            found = reads.find_series(conn, metric=name, host=host, labels=labels)
            if found.empty:
                # No series at all (no filters) means an unknown metric; with filters, look once.
                if (host is None and not labels) or not reads.metric_exists(conn, name):
                    raise reads.unknown_metric_error(conn, name)
                return _empty_frame(aggs)
            if not step_ms:
                per_series = min(max_points, max(1, max_total_points // len(found)))
                step_ms = reads.choose_step_ms(start, end, per_series)
            data = reads.bucketed(conn, found["id"].tolist(), to_millis(start), to_millis(end), step_ms, aggs)
        result = _tidy(data.rename(columns={"bucket": "ts"}), found, aggs)
        result.attrs["tiers"] = data.attrs.get("tiers", ["raw"])  # which tiers answered: raw, 1m, 1h
        return result

    def latest(self, name: str, host: str | None = None, max_age: str | timedelta = "15m") -> pd.DataFrame:
        """The newest value of each series of a metric, if not older than ``max_age``."""
        not_before = to_millis(utc_now() - parse_duration(max_age, name="max_age"))
        with self.engine.connect() as conn:
            found = reads.find_series(conn, metric=name, host=host)
            if found.empty:
                return _empty_frame(("value",))
            data = reads.latest_values(conn, found["id"].tolist(), not_before)
        return _tidy(data, found, ("value",))

    def refresh_rollups(self, *, until: TimeInput = None) -> RollupReport:
        """Bring the rollup tiers up to date now, so reads over history just written are fast.

        Without it, new history is rolled up by the app's maintenance job (every minute); a
        notebook that backfilled with ``write`` and has no app running calls this once. Buckets
        complete before ``until`` (default: now) are built, late samples' buckets recomputed.
        Idempotent; returns the buckets written per tier, the dirty series fixed and each tier's
        watermark (epoch ms).
        """
        until_ms = to_millis(parse_time(until, name="until", now=utc_now())) if until is not None else None
        return refresh_rollups(self.engine, now_ms=until_ms)

    # -- analytics (the maths is in storage.analytics; these fetch the data for it) -------------

    def trend(
        self,
        name: str,
        window: str | timedelta = "1h",
        host: str | None = None,
        labels: Mapping[str, object] | None = None,
    ) -> pd.DataFrame:
        """How each series of a metric moved over the last ``window``, one row per series.

        Columns: metric, host, labels, series_id and the fields of ``analytics.Trend``: mean,
        slope_per_hour, % change vs the previous window and vs the same window a week earlier (None
        where that history is missing) and an explanation. Empty when nothing was recorded.
        """
        span = parse_duration(window, name="window")
        now = utc_now()
        week_ago = now - timedelta(days=7)
        recent = self.metrics(name, since=now - 2 * span, until=now, host=host, labels=labels)
        earlier = self.metrics(name, since=week_ago - span, until=week_ago, host=host, labels=labels)
        frame = pd.concat(
            [part for part in (recent, earlier) if not part.empty] or [recent], ignore_index=True
        )
        results = analytics.trend(frame, span, now=now) if not frame.empty else {}
        return analytics.results_frame(results, analytics.Trend, frame)

    def anomalies(
        self,
        name: str,
        since: TimeInput = "7d",
        every: str | timedelta = "5min",
        threshold: float = 3.5,
        host: str | None = None,
        labels: Mapping[str, object] | None = None,
        until: TimeInput = None,
    ) -> pd.DataFrame:
        """The unusual ``every`` means of a metric: ts, metric, host, labels, series_id, value, baseline, score.

        Scored by ``analytics.anomalies``: robust z-score against the same hour of day, and also the
        same day of week once 3 weeks of history are asked for (``since="28d"``). Empty when nothing
        is unusual or nothing was recorded.
        """
        frame = self.metrics(name, since=since, until=until, every=every, host=host, labels=labels)
        if frame.empty:
            return analytics.with_series_info(pd.DataFrame(columns=list(analytics.ANOMALY_COLUMNS)), frame)
        return analytics.with_series_info(analytics.anomalies(frame, threshold), frame)

    def forecast(
        self,
        name: str,
        threshold: float,
        lookback: str | timedelta = "7d",
        host: str | None = None,
        labels: Mapping[str, object] | None = None,
        direction: analytics.Direction = "up",
    ) -> pd.DataFrame:
        """When each series of a metric reaches ``threshold`` at its pace over the last ``lookback``.

        One row per series: metric, host, labels, series_id and the fields of ``analytics.Forecast``
        (crosses_at, eta, slope_per_day, r2 and an explanation like "...: +1.8 %/day over the last
        7 days (R²=0.97): reaches 90 % in 9 days, around 2026-12-02"). ``direction="down"`` waits
        for a falling value instead. Empty when nothing was recorded.
        """
        now = utc_now()
        since = now - parse_duration(lookback, name="lookback")
        frame = self.metrics(name, since=since, until=now, host=host, labels=labels)
        if frame.empty:
            return analytics.results_frame({}, analytics.Forecast, frame)
        units = self.list_series(metric=name, host=host, labels=labels).set_index("id")["unit"]
        frame = frame.assign(unit=frame["series_id"].map(units))
        results = analytics.time_to_threshold(frame, threshold, lookback, now=now, direction=direction)
        return analytics.results_frame(results, analytics.Forecast, frame)

    # -- exporting ------------------------------------------------------------------------------

    def export(
        self,
        metrics: str | Sequence[str],
        path: str | os.PathLike[str],
        since: TimeInput = "1h",
        until: TimeInput = None,
        every: str | timedelta | None = None,
        agg: str = "mean",
        format: str | None = None,
        host: str | None = None,
    ) -> ExportResult:
        """Write one or more metrics to a CSV or Parquet file (format from the suffix), in chunks.

        Raw samples by default; with ``every`` one ``agg`` per bucket. Writes ``<path>.meta.json``
        beside it and returns rows, bytes and path. See ``storage.export.export_metrics``.
        """
        return export_metrics(self, metrics, path, since, until, every, agg, format, host)


def _empty_frame(value_columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(columns=["ts", "metric", "host", "labels", "series_id", *value_columns])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def _tidy(data: pd.DataFrame, found: pd.DataFrame, value_columns: Sequence[str]) -> pd.DataFrame:
    """Name each row's series. ``data`` arrives ordered by series and time from the read path."""
    sids = data["series_id"].to_numpy()
    rows = pd.Index(found["id"]).get_indexer(sids)  # position of each row's series in ``found``
    frame = pd.DataFrame(
        {
            "ts": reads.millis_to_utc(data["ts"].to_numpy()),
            "metric": found["metric"].to_numpy(dtype=object)[rows],
            "host": found["host"].to_numpy(dtype=object)[rows],
            "labels": found["labels"].to_numpy(dtype=object)[rows],
            "series_id": sids,
        }
    )
    for column in value_columns:
        frame[column] = data[column].to_numpy()
    return frame


def connect(url: str | None = None, *, migrate: bool = True) -> Store:
    """Open the store at ``url`` (default: ``VITALS_DATABASE_URL``, else the embedded SQLite file).

    With ``migrate=True`` (the default) pending migrations are applied first, so a notebook on a
    fresh machine gets a working, empty store.
    """
    store = Store(create_store_engine(url or get_settings().store_url))
    if migrate:
        store.migrate()
    return store
