"""REST endpoints under ``/api``. Health, liveness and readiness are public so load balancers can probe them.

Everything else needs a session or ``Authorization: Bearer <token>`` (see ``dashboard.auth``). A
parameter the API cannot use gets 400 ``{"error": ..., "parameter": ...}``; ``/api/openapi.json``
describes it all.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import flask
import pandas as pd

from collectors.catalog import METRIC_CATALOG
from collectors.health import redact
from dashboard.openapi import openapi_document
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
from storage.health import HealthResult, ping
from storage.reads import choose_step_ms
from storage.store import DEFAULT_MAX_POINTS
from storage.timeparse import to_millis, utc_now
from tasks import health_jobs

__all__ = ["MAX_HISTORY_POINTS", "BadParameter", "api"]

api = flask.Blueprint("api", __name__, url_prefix="/api")


@api.get("/health/live")
def live() -> flask.Response:
    """The process answers: nothing more is checked."""
    return flask.jsonify(status="ok")


@api.get("/health/ready")
def ready() -> tuple[flask.Response, int]:
    """Ready to serve: the store answers a trivial query and every critical check passes."""
    found = services()
    secrets = health_jobs.configured_secrets(found.settings)
    try:
        ping(found.store.engine)
        results = health_jobs.health_report(found.store, found.settings, only_critical=True)
    except Exception as exc:
        words = redact(str(getattr(exc, "orig", None) or exc).splitlines()[0], secrets)
        return flask.jsonify(status="unavailable", store=words, failing=[]), 503
    failing = [
        {"name": result.name, "message": result.message}
        for result in health_jobs.redacted(results, found.settings)
        if result.status == "fail"
    ]
    return flask.jsonify(status="unavailable" if failing else "ok", store="ok", failing=failing), (
        503 if failing else 200
    )


@api.get("/health")
def health() -> tuple[flask.Response, int]:
    """Every health check with its latest result; 503 when a critical check fails (for load balancers)."""
    found = services()
    try:
        results = health_jobs.health_report(found.store, found.settings)
    except Exception as exc:  # the store itself is down: nothing could be read or recorded
        words = redact(
            str(getattr(exc, "orig", None) or exc).splitlines()[0],
            health_jobs.configured_secrets(found.settings),
        )
        body = {"status": "fail", "checks": [_store_down(words)]}
        return _no_store(flask.jsonify(body)), 503
    results = health_jobs.redacted(results, found.settings)
    status = health_jobs.overall_status(results)
    body = {"status": status, "checks": [_check_entry(result) for result in results]}
    return _no_store(flask.jsonify(body)), 503 if status == "fail" else 200


def _check_entry(result: HealthResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "kind": result.kind,
        "critical": result.critical,
        "status": result.status,
        "message": result.message,
        "response_ms": result.response_ms,
        "checked_at": _iso(result.checked_at),
    }


def _store_down(message: str) -> dict[str, Any]:
    return {
        "name": "database",
        "kind": "database",
        "critical": True,
        "status": "fail",
        "message": f"unreachable: the store does not answer: {message}",
        "response_ms": None,
        "checked_at": _iso(utc_now()),
    }


def _no_store(response: flask.Response) -> flask.Response:
    # A health answer is about now: no proxy may serve an old one.
    response.headers["Cache-Control"] = "no-store"
    return response


# --- metrics: catalog, history, export ---------------------------------------------------------

# A history request answers with at most this many points per series; more is an export's job.
MAX_HISTORY_POINTS = 11_000
_STORAGE_TO_API = {"every": "step"}  # storage's parameter names where the API's differ
_MIME = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


class BadParameter(Exception):
    """A request parameter the API cannot use: answered with 400 and the parameter's name."""

    def __init__(self, parameter: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.status = status


@api.errorhandler(BadParameter)
def _bad_parameter(exc: BadParameter) -> tuple[flask.Response, int]:
    return flask.jsonify(error=str(exc), parameter=exc.parameter), exc.status


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
            f"step: {_duration_text(step_ms)} gives more than {MAX_HISTORY_POINTS:,} points per series "
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
        step=_duration_text(step_ms),
        step_ms=step_ms,
        since=_iso(start),
        until=_iso(end),
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


@api.get("/openapi.json")
def openapi() -> flask.Response:
    """The OpenAPI 3.1 description of every route under /api."""
    return flask.jsonify(openapi_document())


def _duration_text(step_ms: int) -> str:
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if step_ms % size == 0:
            return f"{step_ms // size}{unit}"
    return f"{step_ms}ms"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
