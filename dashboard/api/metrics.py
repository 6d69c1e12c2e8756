"""Metrics: the catalog, one metric's bucketed history, and streamed CSV/Parquet exports."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import flask
import pandas as pd
from pydantic import BaseModel, Field

from dashboard.api.core import (
    BadParameter,
    DurationText,
    Query,
    TimeText,
    api,
    duration_text,
    iso,
    responses,
    spec,
    validated,
)
from dashboard.services import services
from storage.export import (
    FORMATS,
    ExportError,
    iso_utc,
    iter_csv,
    iter_parquet,
    prepare_export,
    validate_window,
)
from storage.reads import SUPPORTED_AGGREGATES, choose_step_ms
from storage.store import DEFAULT_MAX_POINTS
from storage.timeparse import to_millis, utc_now
from tasks.catalog import METRIC_CATALOG

__all__ = ["MAX_HISTORY_POINTS", "metric_catalog", "metric_export", "metric_history"]


# --- metrics: catalog, history, export ---------------------------------------------------------

# A history request answers with at most this many points per series; more is an export's job.
MAX_HISTORY_POINTS = 11_000
_STORAGE_TO_API = {"every": "step"}  # storage's parameter names where the API's differ
_MIME = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


@api.errorhandler(ExportError)
def _bad_export(exc: ExportError) -> tuple[flask.Response, int]:
    parameter = _STORAGE_TO_API.get(exc.parameter, exc.parameter)
    message = str(exc).replace("every:", "step:", 1) if parameter == "step" else str(exc)
    return flask.jsonify(error=message, parameter=parameter), 400


_TIME = "A duration ago (`30s`, `15m`, `6h`, `7d`, `2w`), `now`, or an ISO 8601 time (UTC unless it has an offset)."
# Free text in the document where the route's own check gives the better message ("agg: unsupported
# 'avg'"); the allowed values are still listed, so a client generated from the document sends only those.
_AGG = Field(
    "mean", description="Aggregate of each bucket.", json_schema_extra={"enum": list(SUPPORTED_AGGREGATES)}
)


class NoQuery(Query):
    """A route that takes no parameters."""


class CatalogEntry(BaseModel):
    name: str
    unit: str
    description: str
    series: int
    hosts: list[str]
    labels: list[str]
    history: str = Field(description="Path of the metric's history.")


class Catalog(BaseModel):
    metrics: list[CatalogEntry]


class HistoryQuery(Query):
    since: TimeText = Field("1h", description=f"Start of the window (inclusive). {_TIME}")
    until: TimeText | None = Field(
        None, min_length=1, description=f"End of the window (exclusive). {_TIME} Default now."
    )
    step: DurationText | None = Field(
        None,
        description="Bucket size (`10s`, `5m`, `1h`). Default: the smallest that keeps each series under "
        f"1,500 points. At most {MAX_HISTORY_POINTS:,} points per series.",
    )
    agg: str = _AGG
    host: str | None = Field(None, min_length=1, description="Only series of this host.")


class SeriesPoints(BaseModel):
    series_id: int
    host: str
    labels: dict[str, Any]
    points: list[tuple[str, float | None]] = Field(
        description="[bucket start (ISO 8601 UTC), value] pairs in time order."
    )


class History(BaseModel):
    metric: str
    agg: str
    step: str = Field(description="The bucket size, e.g. `5m`.")
    step_ms: int
    since: str
    until: str
    series: list[SeriesPoints]


class ExportQuery(Query):
    metric: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, description="A metric to export; repeat for several."
    )
    since: TimeText = Field("1h", description=f"Start of the window (inclusive). {_TIME}")
    until: TimeText | None = Field(
        None, min_length=1, description=f"End of the window (exclusive). {_TIME} Default now."
    )
    step: DurationText | None = Field(
        None, description="Bucket size (`10s`, `5m`, `1h`); omit for raw samples."
    )
    agg: str = _AGG
    host: str | None = Field(None, min_length=1, description="Only series of this host.")
    format: str = Field("csv", description="File format.", json_schema_extra={"enum": list(FORMATS)})


@api.get("/metrics")
@spec.validate(query=NoQuery, resp=responses(Catalog), tags=["metrics"])
def metric_catalog() -> flask.Response:
    """The metric catalog: every metric in the store with its unit, description, series and hosts."""
    found = services().store.list_series()
    metrics = [_catalog_entry(str(name), group) for name, group in found.groupby("metric", sort=True)]
    return flask.jsonify(metrics=metrics)


def _catalog_entry(name: str, group: pd.DataFrame) -> dict[str, Any]:
    unit, description = METRIC_CATALOG.get(name, ("", ""))
    units = [str(unit) for unit in group["unit"] if unit]
    return {
        "name": name,
        "unit": units[0] if units else unit,
        "description": description,
        "series": len(group),
        "hosts": sorted(group["host"].unique().tolist()),
        "labels": sorted({key for labels in group["labels"] for key in labels}),
        "history": f"/api/metrics/{name}/history",
    }


@api.get("/metrics/<name>/history")
@spec.validate(query=HistoryQuery, resp=responses(History, 404), tags=["metrics"])
def metric_history(name: str) -> flask.Response:
    """One metric over a window, one point per step and series; 404 (with a suggestion) for an unknown metric."""
    args = validated(HistoryQuery)
    start, end, step_ms, agg = validate_window(args.since, args.until, args.step, args.agg)
    step_ms = step_ms or choose_step_ms(start, end, DEFAULT_MAX_POINTS)
    if (to_millis(end) - to_millis(start)) // step_ms > MAX_HISTORY_POINTS:
        raise BadParameter(
            "step",
            f"step: {duration_text(step_ms)} gives more than {MAX_HISTORY_POINTS:,} points per series "
            "over this range; use a larger step or /api/metrics/export",
        )
    try:
        frame = services().store.metrics(
            name,
            since=start,
            until=end,
            every=timedelta(milliseconds=step_ms),
            agg=agg,
            host=args.host,
        )
    except ValueError as exc:  # the window was checked above: what is left is the metric itself
        unknown = str(exc).startswith("unknown metric")
        raise BadParameter("name", str(exc), status=404 if unknown else 400) from None
    return flask.jsonify(
        metric=name,
        agg=agg,
        step=duration_text(step_ms),
        step_ms=step_ms,
        since=iso(start),
        until=iso(end),
        series=[_series_entry(group, agg, step_ms) for _, group in frame.groupby("series_id", sort=True)],
    )


def _series_entry(group: pd.DataFrame, agg: str, step_ms: int) -> dict[str, Any]:
    first = group.iloc[0]
    ts_ms = group["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ms]").astype("int64")
    stamps = iso_utc(ts_ms, whole_seconds=step_ms % 1000 == 0)
    values = [None if value != value else value for value in group[agg].astype("float64").tolist()]
    return {
        "series_id": int(first["series_id"]),
        "host": first["host"],
        "labels": first["labels"],
        "points": [[stamp, value] for stamp, value in zip(stamps, values, strict=True)],
    }


@api.get("/metrics/export")
@spec.validate(query=ExportQuery, resp=responses(None), tags=["metrics"])
def metric_export() -> flask.Response:
    """Download samples of one or more metrics as CSV or Parquet (streamed).

    Columns: ts, metric, host, labels, unit, value. Timestamps are UTC (ISO 8601 with `Z` in CSV). Without `step` every raw
    sample is exported; with it, one `agg` per bucket.
    """
    args = validated(ExportQuery)
    fmt = args.format.strip().lower()
    if fmt not in FORMATS:
        raise BadParameter("format", f"format: unsupported {args.format!r}; choose csv or parquet")
    store = services().store
    query = prepare_export(
        store, args.metric, since=args.since, until=args.until, every=args.step, agg=args.agg, host=args.host
    )
    chunks = iter_parquet(store, query) if fmt == "parquet" else iter_csv(store, query)
    stem = query.metrics[0] if len(query.metrics) == 1 else "metrics"
    filename = f"vitals-{stem}-{utc_now():%Y%m%dT%H%M%SZ}.{fmt}"
    return flask.Response(
        chunks,
        mimetype=_MIME[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
