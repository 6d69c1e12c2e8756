"""Database monitoring: connections, top queries, slow queries, EXPLAIN, deadlocks, replication, resources.

Every route takes ``target`` (a configured MySQL/MariaDB name), ``since`` and ``until``; a bad value is
400 naming the parameter, an unknown target or digest 404. Viewers may read everything; running
EXPLAIN (POST) needs the operator role and is audited by the action.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

import flask
import pandas as pd
from pydantic import BaseModel, Field

from dashboard.api.core import BadParameter, Query, TimeText, api, iso, responses, spec, validated
from dashboard.database_reads import blind_spot, kpis, mask_sample, replication_summary
from dashboard.explain_plan import read_plan
from dashboard.services import current_actor, live_settings, services
from storage.timeparse import resolve_range
from tasks.actions import PermissionDenied
from tasks.actions.database import explain_now
from tasks.database_targets import target_names

__all__ = [
    "database_connections",
    "database_deadlocks",
    "database_explain",
    "database_explain_run",
    "database_queries",
    "database_replication",
    "database_resources",
    "database_slow_queries",
]

_SORTS = Literal[
    "schema", "digest_text", "exec_count", "total_latency_ms", "avg_latency_ms", "p95_latency_ms",
    "max_latency_ms", "rows_examined", "rows_sent", "rows_examined_per_sent", "load_percent",
    "change_percent", "first_seen", "last_seen",
]  # fmt: skip


class WindowQuery(Query):
    target: str = Field(description="a configured MySQL/MariaDB target name")
    since: TimeText = Field("24h", description="start: a duration ago (24h) or ISO 8601")
    until: TimeText | None = Field(None, description="end: a duration ago or ISO 8601; default now")


class QueriesQuery(WindowQuery):
    schema_name: str | None = Field(None, alias="schema", description="only this schema")
    text: str | None = Field(
        None, max_length=500, description="substring of the normalized text, taken literally"
    )
    sort: _SORTS = Field("total_latency_ms", description="the column to sort on")
    order: Literal["asc", "desc"] = "desc"
    offset: int = Field(0, ge=0, le=1_000_000)
    limit: int = Field(50, ge=1, le=1000)


class SlowQuery(WindowQuery):
    min_ms: float = Field(1000.0, gt=0, description="only statements whose average latency is at least this")
    limit: int = Field(50, ge=1, le=1000)


class ExplainQuery(Query):
    target: str = Field(description="a configured MySQL/MariaDB target name")


class Window(BaseModel):
    target: str
    since: str
    until: str


class TargetStatus(BaseModel):
    up: bool
    reason: str = Field(
        description="ok, unreachable, access_denied, unknown_database, no_performance_schema, ..."
    )
    message: str
    version: str | None = None
    uptime_seconds: float | None = None


class Point(BaseModel):
    ts: str
    value: float | None


class ConnectionsOut(Window):
    status: TargetStatus
    threads_connected: float | None
    threads_running: float | None
    max_connections: float | None
    connections_percent: float | None
    history: dict[str, list[Point]]


class QueryRow(BaseModel):
    digest: str
    schema_name: str | None = Field(None, alias="schema")
    digest_text: str
    sample_query: str | None
    first_seen: str | None
    last_seen: str | None
    exec_count: int
    total_latency_ms: float
    avg_latency_ms: float
    p95_latency_ms: float | None
    max_latency_ms: float | None
    rows_examined: int
    rows_sent: int
    rows_examined_per_sent: float | None
    load_percent: float
    sparkline: list[float] | None
    change: str | None = Field(
        None, description="against the same window a week earlier: new, same, slower by N %, faster by N %"
    )
    change_percent: float | None
    has_explain: bool
    explain: str = Field(description="this digest's EXPLAIN route")


class BlindSpot(BaseModel):
    prepared_executions: int
    digest_executions: int
    unseen_percent: float = Field(
        description="share of statements run as server-side prepared statements, which MariaDB's digest table does not record"
    )


class QueriesOut(Window):
    matching: int
    exec_count: int
    total_latency_ms: float
    rows: list[QueryRow]
    blind_spot: BlindSpot


class SlowOut(Window):
    rows: list[QueryRow]


class Finding(BaseModel):
    kind: str
    table: str | None
    why: str


class PlanNode(BaseModel):
    depth: int
    operation: str
    table: str | None
    access_type: str | None
    possible_keys: str | None
    key: str | None
    rows: float | None
    filtered: float | None
    extra: str
    findings: list[Finding]


class ExplainOut(BaseModel):
    target: str
    digest: str
    sample_query: str | None
    plan: str | None = Field(description="the EXPLAIN FORMAT=JSON text, or null when none was captured")
    nodes: list[PlanNode]
    findings: list[Finding]
    message: str | None = None


class Transaction(BaseModel):
    number: int | None = None
    trx_id: str | None = None
    thread_id: int | None = None
    query: str | None = None
    victim: bool = False
    holds: list[dict[str, Any]] = []
    waits_for: list[dict[str, Any]] = []


class DeadlockRow(BaseModel):
    id: int
    detected_at: str
    victim: str | None
    transactions: list[Transaction]
    raw_text: str


class DeadlocksOut(Window):
    deadlocks: list[DeadlockRow]


class ReplicationReading(BaseModel):
    ts: str
    configured: bool
    lag_seconds: float | None
    io_running: str | None
    sql_running: str | None
    last_error: str | None


class ReplicationOut(Window):
    role: str = Field(description="replica, not a replica, or unknown (nothing collected yet)")
    not_recovering: bool = Field(description="lag grew over the last readings in a row")
    latest: ReplicationReading | None
    history: list[ReplicationReading]


class TableRow(BaseModel):
    schema_name: str | None = Field(None, alias="schema")
    table: str | None
    size_bytes: float
    growth_bytes: float
    growth_per_day_bytes: float | None


class ResourcesOut(Window):
    buffer_pool_hit_percent: list[Point]
    tmp_disk_tables: list[Point]
    row_lock_waits: list[Point]
    row_lock_time_ms: list[Point]
    tables: list[TableRow]


# --- helpers -------------------------------------------------------------------------------------


def _window(q: WindowQuery) -> tuple[datetime, datetime]:
    if q.target not in target_names(live_settings()):
        raise BadParameter("target", f"target: unknown MySQL target {q.target!r}", status=404)
    try:
        return resolve_range(q.since, q.until)
    except ValueError as exc:
        message = str(exc)
        parameter = "until" if message.startswith("until") else "since"
        if not message.startswith(f"{parameter}:"):
            message = f"{parameter}: {message.removeprefix('until ')}"
        raise BadParameter(parameter, message) from None


def _echo(q: WindowQuery, start: datetime, end: datetime) -> dict[str, str]:
    return {"target": q.target, "since": iso(start), "until": iso(end)}


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return float(value)


def _series(
    metric: str, target: str, start: datetime, end: datetime, agg: str = "mean"
) -> list[dict[str, Any]]:
    try:
        frame = services().store.metrics(metric, since=start, until=end, host=target, agg=agg, max_points=500)
    except ValueError:  # never collected yet: an empty history, not an error
        return []
    if frame.empty:
        return []
    summed = frame.groupby("ts")[agg].sum() if agg == "sum" else frame.groupby("ts")[agg].mean()
    return [{"ts": iso(ts), "value": _number(value)} for ts, value in summed.items()]


def _query_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "digest": row["digest"],
        "schema": row["schema"] if isinstance(row["schema"], str) else None,
        "digest_text": row["digest_text"],
        "sample_query": mask_sample(row["sample_query"] if isinstance(row["sample_query"], str) else None),
        "first_seen": iso(row["first_seen"]) if pd.notna(row["first_seen"]) else None,
        "last_seen": iso(row["last_seen"]) if pd.notna(row["last_seen"]) else None,
        "exec_count": int(row["exec_count"]),
        "total_latency_ms": float(row["total_latency_ms"]),
        "avg_latency_ms": float(row["avg_latency_ms"]),
        "p95_latency_ms": _number(row["p95_latency_ms"]),
        "max_latency_ms": _number(row["max_latency_ms"]),
        "rows_examined": int(row["rows_examined"]),
        "rows_sent": int(row["rows_sent"]),
        "rows_examined_per_sent": _number(row["rows_examined_per_sent"]),
        "load_percent": float(row["load_percent"]),
        "sparkline": row["sparkline"] if isinstance(row["sparkline"], list) else None,
        "change": row["change"] if isinstance(row["change"], str) else None,
        "change_percent": _number(row["change_percent"]),
        "has_explain": bool(row["has_explain"]),
        "explain": f"/api/monitoring/database/queries/{row['digest']}/explain",
    }


# --- routes --------------------------------------------------------------------------------------


@api.get("/monitoring/database/connections")
@spec.validate(query=WindowQuery, resp=responses(ConnectionsOut, 404), tags=["database"])
def database_connections() -> flask.Response:
    """Whether the target answers (the collector's own reason when not), current connections against
    max_connections, and the history of connections and running threads."""
    q = validated(WindowQuery)
    start, end = _window(q)
    found = kpis(services().store, live_settings(), q.target)
    assert found is not None  # _window checked the target
    status = {"up": found.up, "reason": found.reason, "message": found.message, "version": found.version,
              "uptime_seconds": found.uptime_s}  # fmt: skip
    history = {
        name: _series(metric, q.target, start, end)
        for name, metric in (
            ("threads_connected", "mysql.threads_connected"),
            ("threads_running", "mysql.threads_running"),
            ("connections_percent", "mysql.connections.percent"),
        )
    }
    return flask.jsonify(
        **_echo(q, start, end),
        status=status,
        threads_connected=found.values["threads_connected"],
        threads_running=found.values["threads_running"],
        max_connections=found.max_connections,
        connections_percent=found.values["connections_percent"],
        history=history,
    )


@api.get("/monitoring/database/queries")
@spec.validate(query=QueriesQuery, resp=responses(QueriesOut, 404), tags=["database"])
def database_queries() -> flask.Response:
    """The top-queries table: one row per digest over the window, sorted, filtered and paged on the
    server, with p95, share of load, a load sparkline and the change against a week earlier."""
    q = validated(QueriesQuery)
    start, end = _window(q)
    store = services().store
    table = store.database.query_table(
        target=q.target, since=start, until=end, schema=q.schema_name, text=q.text, sort=q.sort,
        descending=q.order == "desc", offset=q.offset, limit=q.limit,
    )  # fmt: skip
    rows = [_query_row(row) for row in table["rows"].to_dict("records")]
    return flask.jsonify(
        **_echo(q, start, end),
        matching=table["matching"],
        exec_count=table["exec_count"],
        total_latency_ms=table["total_latency_ms"],
        rows=rows,
        blind_spot=blind_spot(store, q.target, start, end, table["exec_count"]),
    )


@api.get("/monitoring/database/queries/slow")
@spec.validate(query=SlowQuery, resp=responses(SlowOut, 404), tags=["database"])
def database_slow_queries() -> flask.Response:
    """Statements whose average latency in the window is at least ``min_ms``, slowest first."""
    q = validated(SlowQuery)
    start, end = _window(q)
    table = services().store.database.query_table(
        target=q.target, since=start, until=end, sort="avg_latency_ms", limit=1000
    )
    slow = table["rows"][table["rows"]["avg_latency_ms"] >= q.min_ms].head(q.limit)
    return flask.jsonify(**_echo(q, start, end), rows=[_query_row(row) for row in slow.to_dict("records")])


def _digest_row(target: str, digest: str) -> dict[str, Any]:
    if target not in target_names(live_settings()):
        raise BadParameter("target", f"target: unknown MySQL target {target!r}", status=404)
    found = services().store.database.find_digest(target=target, digest=digest)
    if found is None:
        raise BadParameter("digest", f"digest: no statement digest {digest!r} on {target}", status=404)
    return found


def _explain_answer(found: dict[str, Any], message: str | None = None) -> dict[str, Any]:
    plan = found.get("explain_json")
    read = read_plan(plan) if plan else {"nodes": [], "findings": []}
    if plan is None and message is None:
        message = (
            "no EXPLAIN captured yet: the digest has no sample statement"
            if not found.get("sample_query")
            else "no EXPLAIN captured yet; an operator can run it now"
        )
    return {
        "target": found["target"],
        "digest": found["digest"],
        "sample_query": mask_sample(found.get("sample_query")),
        "plan": plan,
        "nodes": read["nodes"],
        "findings": read["findings"],
        "message": message or read.get("error"),
    }


@api.get("/monitoring/database/queries/<digest>/explain")
@spec.validate(query=ExplainQuery, resp=responses(ExplainOut, 404), tags=["database"])
def database_explain(digest: str) -> flask.Response:
    """The stored EXPLAIN plan of a digest, as nodes with the costly steps flagged and explained."""
    q = validated(ExplainQuery)
    return flask.jsonify(_explain_answer(_digest_row(q.target, digest)))


@api.post("/monitoring/database/queries/<digest>/explain")
@spec.validate(query=ExplainQuery, resp=responses(ExplainOut, 404, 409), tags=["database"])
def database_explain_run(digest: str) -> flask.Response | tuple[flask.Response, int]:
    """Run EXPLAIN now on the digest's sample statement (operator; read-only statements only, with the
    server-side timeout; audited). 409 when it is refused or fails, with the reason."""
    q = validated(ExplainQuery)
    found = _digest_row(q.target, digest)
    found_services = services()
    try:
        explain_now(
            found_services.store, found_services.settings, current_actor(), digest_id=int(found["id"])
        )
    except PermissionDenied:
        raise  # 403, already audited
    except Exception as exc:  # refused (not read-only, no sample) or failed (timeout, server down)
        return flask.jsonify(error=f"digest: {exc}", parameter="digest"), 409
    refreshed = _digest_row(q.target, digest)
    return flask.jsonify(_explain_answer(refreshed))


@api.get("/monitoring/database/deadlocks")
@spec.validate(query=WindowQuery, resp=responses(DeadlocksOut, 404), tags=["database"])
def database_deadlocks() -> flask.Response:
    """Deadlocks detected on a target in the window, newest first, each once."""
    q = validated(WindowQuery)
    start, end = _window(q)
    frame = services().store.database.deadlocks(target=q.target, since=start, until=end, limit=500)
    rows = [
        {
            "id": int(row["id"]),
            "detected_at": iso(row["detected_at"]),
            "victim": row["victim"],
            "transactions": row["transactions"],
            "raw_text": row["raw_text"],
        }
        for row in frame.to_dict("records")
    ]
    return flask.jsonify(**_echo(q, start, end), deadlocks=rows)


def _reading(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "ts": iso(row["ts"]),
        "configured": bool(row["configured"]),
        "lag_seconds": _number(row["lag_seconds"]),
        "io_running": row["io_running"],
        "sql_running": row["sql_running"],
        "last_error": row["last_error"],
    }


@api.get("/monitoring/database/replication")
@spec.validate(query=WindowQuery, resp=responses(ReplicationOut, 404), tags=["database"])
def database_replication() -> flask.Response:
    """Role, IO/SQL thread state, last error and the lag history; ``not_recovering`` when lag grew over
    the last readings in a row."""
    q = validated(WindowQuery)
    start, end = _window(q)
    summary = replication_summary(services().store, q.target, start, end)
    history = [_reading(row) for row in summary["history"].to_dict("records")]
    latest = _reading(summary["latest"]) if summary["latest"] else None
    return flask.jsonify(
        **_echo(q, start, end), role=summary["role"], not_recovering=summary["not_recovering"],
        latest=latest, history=history,
    )  # fmt: skip


@api.get("/monitoring/database/resources")
@spec.validate(query=WindowQuery, resp=responses(ResourcesOut, 404), tags=["database"])
def database_resources() -> flask.Response:
    """Buffer-pool hit %, temporary tables on disk, row-lock waits and time, and the largest tables
    with their growth per day over the window."""
    q = validated(WindowQuery)
    start, end = _window(q)
    tables = services().store.database.tables(target=q.target, since=start, until=end)
    return flask.jsonify(
        **_echo(q, start, end),
        buffer_pool_hit_percent=_series("mysql.innodb.buffer_pool_hit_percent", q.target, start, end),
        tmp_disk_tables=_series("mysql.tmp_disk_tables", q.target, start, end, "sum"),
        row_lock_waits=_series("mysql.innodb.row_lock_waits", q.target, start, end, "sum"),
        row_lock_time_ms=_series("mysql.innodb.row_lock_time_ms", q.target, start, end, "sum"),
        tables=[
            {
                "schema": row["schema"],
                "table": row["table"],
                "size_bytes": float(row["size_bytes"]),
                "growth_bytes": float(row["growth_bytes"]),
                "growth_per_day_bytes": _number(row["growth_per_day_bytes"]),
            }
            for row in tables.head(50).to_dict("records")
        ],
    )
