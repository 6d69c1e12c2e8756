"""Health checks in the store: their registration, their results, the latest status and the history.

Results are kept, not just the current status, because the "fail only after N consecutive
failures" rule is decided from them: every process that runs checks (the embedded scheduler, any
Celery worker, a web worker answering ``/api/health``) sees the same streak, and so does a process
that just restarted. This module holds rows only; what a result means is decided in ``collectors``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from storage.engine import write_transaction
from storage.schema import health_check_results, health_checks, samples, series
from storage.timeparse import TimeInput, resolve_range, utc_now

__all__ = [
    "CheckRow",
    "HealthResult",
    "health_history",
    "latest_health",
    "newest_sample_at",
    "ping",
    "prune_results",
    "recent_results",
    "record_results",
    "register_checks",
    "status_since",
]


@dataclass(frozen=True, slots=True)
class CheckRow:
    """How a check is registered (one ``health_checks`` row). ``target`` must already be masked."""

    name: str
    kind: str
    target: str | None = None
    critical: bool = False
    warn_ms: int | None = None
    fail_ms: int | None = None
    fail_after: int = 1


@dataclass(frozen=True, slots=True)
class HealthResult:
    """One stored result joined with its check: what ``/api/health`` and the history show."""

    name: str
    kind: str
    target: str | None
    critical: bool
    status: str
    message: str
    response_ms: float | None
    checked_at: datetime  # timezone-aware UTC


def _naive(moment: datetime) -> datetime:
    # Event tables hold naive UTC DATETIMEs (see storage.schema).
    return moment.astimezone(UTC).replace(tzinfo=None)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def ping(engine: Engine) -> None:
    """Run ``SELECT 1`` on the store; raises whatever the driver raises when it does not answer."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def register_checks(engine: Engine, checks: Iterable[CheckRow]) -> dict[str, int]:
    """Insert or update each check by name (enabling it) and return ``{name: id}``.

    Upsert by select-then-write so it is the same on both dialects; a concurrent insert of the same
    name by another process is caught by the unique key and turned into an update.
    """
    ids: dict[str, int] = {}
    with write_transaction(engine) as conn:
        for check in checks:
            values = {
                "kind": check.kind,
                "target": check.target,
                "critical": check.critical,
                "warn_ms": check.warn_ms,
                "fail_ms": check.fail_ms,
                "fail_after": check.fail_after,
                "enabled": True,
            }
            ids[check.name] = _upsert_check(conn, check.name, values)
    return ids


def _upsert_check(conn: Connection, name: str, values: Mapping[str, object]) -> int:
    by_name = select(health_checks.c.id).where(health_checks.c.name == name)
    found = conn.execute(by_name).scalar()
    if found is None:
        try:
            with conn.begin_nested():
                inserted = conn.execute(insert(health_checks).values(name=name, **values))
            return int(inserted.inserted_primary_key[0])  # type: ignore[index]
        except IntegrityError:  # another process registered it between our select and insert
            found = conn.execute(by_name).scalar_one()
    conn.execute(update(health_checks).where(health_checks.c.id == found).values(**values))
    return int(found)


def recent_results(engine: Engine, check_ids: Iterable[int], limit: int) -> dict[int, list[tuple[str, str]]]:
    """The newest ``limit`` (status, message) pairs of each check, newest first."""
    found: dict[int, list[tuple[str, str]]] = {}
    with engine.connect() as conn:
        for check_id in check_ids:
            rows = conn.execute(
                select(health_check_results.c.status, health_check_results.c.message)
                .where(health_check_results.c.check_id == check_id)
                .order_by(health_check_results.c.ts.desc(), health_check_results.c.id.desc())
                .limit(max(0, limit))
            ).all()
            found[check_id] = [(str(status), str(message or "")) for status, message in rows]
    return found


def record_results(
    engine: Engine, results: Sequence[tuple[int, str, str, float | None]], at: datetime | None = None
) -> None:
    """Store (check_id, status, message, response_ms) results, all stamped with ``at`` (default now)."""
    if not results:
        return
    ts = _naive(at or utc_now())
    rows = [
        {"check_id": check_id, "ts": ts, "status": status, "message": message, "response_ms": response_ms}
        for check_id, status, message, response_ms in results
    ]
    with write_transaction(engine) as conn:
        conn.execute(insert(health_check_results), rows)


def _result_columns() -> list[object]:
    return [
        health_checks.c.name,
        health_checks.c.kind,
        health_checks.c.target,
        health_checks.c.critical,
        health_check_results.c.status,
        health_check_results.c.message,
        health_check_results.c.response_ms,
        health_check_results.c.ts,
    ]


def _as_result(row: Mapping[Any, Any]) -> HealthResult:
    response_ms = row["response_ms"]
    checked_at = row["ts"]
    assert isinstance(checked_at, datetime)
    return HealthResult(
        name=str(row["name"]),
        kind=str(row["kind"]),
        target=None if row["target"] is None else str(row["target"]),
        critical=bool(row["critical"]),
        status=str(row["status"]),
        message=str(row["message"] or ""),
        response_ms=None if response_ms is None else float(response_ms),
        checked_at=_aware(checked_at),
    )


def latest_health(engine: Engine, names: Iterable[str] | None = None) -> list[HealthResult]:
    """The newest result of every enabled check (or of ``names``), sorted by name.

    A check that has never run is left out: the caller decides whether that means "run them now".
    """
    newest = (
        select(health_check_results.c.id)
        .where(health_check_results.c.check_id == health_checks.c.id)
        .order_by(health_check_results.c.ts.desc(), health_check_results.c.id.desc())
        .limit(1)
        .correlate(health_checks)
        .scalar_subquery()
    )
    query = (
        select(*_result_columns())  # type: ignore[call-overload]
        .select_from(health_checks.join(health_check_results, health_check_results.c.id == newest))
        .where(health_checks.c.enabled.is_(True))
        .order_by(health_checks.c.name)
    )
    if names is not None:
        query = query.where(health_checks.c.name.in_(list(names)))
    with engine.connect() as conn:
        return [_as_result(row) for row in conn.execute(query).mappings()]


def status_since(engine: Engine) -> dict[str, datetime]:
    """When each check's current status began (its first result after the last one that differed),
    by check name: the "down since 10:02" of the status board. One query for every check."""
    current = (
        select(health_check_results.c.status)
        .where(health_check_results.c.check_id == health_checks.c.id)
        .order_by(health_check_results.c.ts.desc(), health_check_results.c.id.desc())
        .limit(1)
        .correlate(health_checks)
        .scalar_subquery()
    )
    other = health_check_results.alias("other")
    last_different = (
        select(func.max(other.c.ts))
        .where(other.c.check_id == health_checks.c.id, other.c.status != current)
        .correlate(health_checks)
        .scalar_subquery()
    )
    query = (
        select(health_checks.c.name, func.min(health_check_results.c.ts))
        .select_from(
            health_checks.join(health_check_results, health_check_results.c.check_id == health_checks.c.id)
        )
        .where(
            health_checks.c.enabled.is_(True),
            health_check_results.c.status == current,
            health_check_results.c.ts > func.coalesce(last_different, datetime(1970, 1, 1)),
        )
        .group_by(health_checks.c.name)
    )
    with engine.connect() as conn:
        return {str(name): _aware(since) for name, since in conn.execute(query).all() if since is not None}


def health_history(
    engine: Engine, name: str, since: TimeInput = "24h", until: TimeInput = None
) -> pd.DataFrame:
    """One check's results in a window, oldest first: checked_at (UTC), status, message, response_ms."""
    start, end = resolve_range(since, until)
    query = (
        select(
            health_check_results.c.ts.label("checked_at"),
            health_check_results.c.status,
            health_check_results.c.message,
            health_check_results.c.response_ms,
        )
        .select_from(
            health_checks.join(health_check_results, health_check_results.c.check_id == health_checks.c.id)
        )
        .where(
            health_checks.c.name == name,
            health_check_results.c.ts >= _naive(start),
            health_check_results.c.ts <= _naive(end),
        )
        .order_by(health_check_results.c.ts, health_check_results.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=["checked_at", "status", "message", "response_ms"])
    frame["checked_at"] = pd.to_datetime(frame["checked_at"], utc=True)
    frame["response_ms"] = frame["response_ms"].astype("float64")
    return frame


def prune_results(engine: Engine, keep: timedelta, batch_rows: int = 5_000) -> int:
    """Delete results older than ``keep``, at most ``batch_rows`` per statement; returns rows deleted."""
    cutoff = _naive(utc_now() - keep)
    deleted = 0
    while True:
        with write_transaction(engine) as conn:
            ids = (
                conn.execute(
                    select(health_check_results.c.id)
                    .where(health_check_results.c.ts < cutoff)
                    .limit(batch_rows)
                )
                .scalars()
                .all()
            )
            if not ids:
                return deleted
            deleted += conn.execute(
                delete(health_check_results).where(health_check_results.c.id.in_(ids))
            ).rowcount
        if len(ids) < batch_rows:
            return deleted


def newest_sample_at(engine: Engine, metrics: Iterable[str]) -> dict[str, datetime | None]:
    """When each metric was last sampled on any host (UTC), or None when it never was.

    One ``MAX(ts)`` per series: on the (series_id, ts) primary key both dialects answer it from
    the index end instead of scanning the samples.
    """
    wanted = list(metrics)
    newest: dict[str, datetime | None] = dict.fromkeys(wanted)
    with engine.connect() as conn:
        found = conn.execute(select(series.c.id, series.c.metric).where(series.c.metric.in_(wanted))).all()
        for series_id, metric in found:
            ts_ms = conn.execute(
                select(func.max(samples.c.ts)).where(samples.c.series_id == series_id)
            ).scalar()
            if ts_ms is None:
                continue
            moment = datetime.fromtimestamp(int(ts_ms) / 1000, tz=UTC)
            previous = newest[metric]
            if previous is None or moment > previous:
                newest[metric] = moment
    return newest
