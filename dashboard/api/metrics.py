"""Metrics: the catalog, one metric's bucketed history, and streamed CSV/Parquet exports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import flask
import pandas as pd

from collectors.catalog import METRIC_CATALOG
from dashboard.api.core import BadParameter, api, duration_text, iso
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
from storage.reads import choose_step_ms
from storage.store import DEFAULT_MAX_POINTS
from storage.timeparse import to_millis, utc_now

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


def _only(*allowed: str) -> None:
    for name in flask.request.args:
        if name not in allowed:
            expected = ", ".join(allowed) if allowed else "none"
            raise BadParameter(name, f"{name}: unknown parameter; expected {expected}")


@api.get("/metrics")
def metric_catalog() -> flask.Response:
    """Every metric in the store: unit, description, how many series and on which hosts."""
    _only()
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
def metric_history(name: str) -> flask.Response:
    """One metric over a window, bucketed: ``since``, ``until``, ``step``, ``agg``, ``host``."""
    _only("since", "until", "step", "agg", "host")
    args = flask.request.args
    start, end, step_ms, agg = validate_window(
        args.get("since", "1h"), args.get("until"), args.get("step"), args.get("agg", "mean")
    )
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
            host=args.get("host"),
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
def metric_export() -> flask.Response:
    """The samples of one or more metrics as a streamed CSV or Parquet download."""
    _only("metric", "since", "until", "step", "agg", "host", "format")
    args = flask.request.args
    fmt = args.get("format", "csv").strip().lower()
    if fmt not in FORMATS:
        raise BadParameter("format", f"format: unsupported {args['format']!r}; choose csv or parquet")
    store = services().store
    query = prepare_export(
        store,
        args.getlist("metric"),
        since=args.get("since", "1h"),
        until=args.get("until"),
        every=args.get("step"),
        agg=args.get("agg", "mean"),
        host=args.get("host"),
    )
    chunks = iter_parquet(store, query) if fmt == "parquet" else iter_csv(store, query)
    stem = query.metrics[0] if len(query.metrics) == 1 else "metrics"
    filename = f"vitals-{stem}-{utc_now():%Y%m%dT%H%M%SZ}.{fmt}"
    return flask.Response(
        chunks,
        mimetype=_MIME[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
