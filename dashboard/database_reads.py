"""What the Database page and its REST routes both read: a target's KPIs (never a stale number), the
share of statements the digest table cannot see, the replication summary, sample masking.

Everything comes from the store's ``database`` facade and samples, plus the collector's probe of the
target through ``tasks.database_targets``; nothing here builds SQL.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from storage import Settings, Store
from tasks.database_targets import TargetState, prepared_on, target_state

__all__ = [
    "KPI_METRICS",
    "NOT_RECOVERING_INTERVALS",
    "Kpis",
    "blind_spot",
    "kpis",
    "mask_sample",
    "prepared_shapes",
    "replication_summary",
]

# Values older than this many collection intervals are "no data", not a number.
STALE_INTERVALS = 3
# Replication lag that grew over this many readings in a row is "not recovering".
NOT_RECOVERING_INTERVALS = 5
KPI_METRICS = {
    "qps": "mysql.queries_per_second",
    "tps": "mysql.transactions_per_second",
    "threads_connected": "mysql.threads_connected",
    "threads_running": "mysql.threads_running",
    "connections_percent": "mysql.connections.percent",
    "slow_per_minute": "mysql.slow_queries_per_minute",
    "buffer_pool_hit_percent": "mysql.innodb.buffer_pool_hit_percent",
    "replication_lag_seconds": "mysql.replication.lag_seconds",
}


@dataclass(frozen=True)
class Kpis:
    """A target's current figures; a value is None when there is no reading newer than the stale limit."""

    target: str
    up: bool
    reason: str
    message: str
    version: str | None
    uptime_s: float | None
    values: dict[str, float | None]
    max_connections: float | None
    replica: bool | None  # None: not known yet

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def kpis(store: Store, settings: Settings, target: str) -> Kpis | None:
    """The KPI row of ``target``, or None when it is not a configured target."""
    state = target_state(settings, target)
    if state is None:
        return None
    max_age = f"{int(settings.mysql_interval_seconds * STALE_INTERVALS * 1000)}ms"
    values: dict[str, float | None] = {}
    for key, metric in KPI_METRICS.items():
        try:
            found = store.latest(metric, host=target, max_age=max_age)
        except ValueError:
            found = pd.DataFrame()
        values[key] = float(found["value"].iloc[0]) if not found.empty else None
    connected, percent = values["threads_connected"], values["connections_percent"]
    max_connections = connected * 100 / percent if connected is not None and percent else None
    return Kpis(
        target=target,
        up=state.ok,
        reason=state.reason,
        message=state.message,
        version=state.version,
        uptime_s=state.uptime_s if state.ok else None,
        values=values,
        max_connections=round(max_connections) if max_connections else None,
        replica=_is_replica(store, target),
    )


def _is_replica(store: Store, target: str) -> bool | None:
    history = store.database.replication(target=target, since="7d")
    if history.empty:
        return None
    return bool(history["configured"].iloc[-1])


def state_of(settings: Settings, target: str) -> TargetState | None:
    return target_state(settings, target)


def blind_spot(
    store: Store, target: str, since: datetime, until: datetime, digest_executions: int
) -> dict[str, Any]:
    """Statements run as server-side prepared statements (``Com_stmt_execute``) against what the digest
    table counted: MariaDB's digest summary records nothing for the binary protocol, so this is
    the share of the load the top-queries table does not show."""
    try:
        frame = store.metrics(
            "mysql.prepared_executes", since=since, until=until, host=target, agg="sum", max_points=200
        )
    except ValueError:
        frame = pd.DataFrame()
    prepared = int(frame["sum"].sum()) if not frame.empty else 0
    total = prepared + digest_executions
    share = prepared / total * 100 if total else 0.0
    return {"prepared_executions": prepared, "digest_executions": digest_executions, "unseen_percent": share}


def prepared_shapes(settings: Settings, target: str, limit: int = 5) -> list[str]:
    """The statement shapes held as server-side prepared statements on ``target`` now, most held
    first: the names of what the digest table misses (performance_schema counts none of their
    executions on MariaDB, so they name the blind spot but cannot size it)."""
    return [stmt.digest_text for stmt in prepared_on(settings, target)[:limit]]


def replication_summary(store: Store, target: str, since: datetime, until: datetime) -> dict[str, Any]:
    """Role, threads, last error, lag history and whether lag has grown for N readings in a row."""
    history = store.database.replication(target=target, since=since, until=until)
    if history.empty:
        return {"role": "unknown", "history": history, "not_recovering": False, "latest": None}
    latest = history.iloc[-1].to_dict()
    if not latest["configured"]:
        return {"role": "not a replica", "history": history, "not_recovering": False, "latest": latest}
    lags = history[history["configured"]]["lag_seconds"].dropna().tolist()
    tail = lags[-(NOT_RECOVERING_INTERVALS + 1) :]
    growing = len(tail) == NOT_RECOVERING_INTERVALS + 1 and all(b > a for a, b in itertools.pairwise(tail))
    return {"role": "replica", "history": history, "not_recovering": growing, "latest": latest}


_SECRET_LITERAL = re.compile(
    r"""(?ix)
    (\b(?:password|passwd|pwd|secret|token|api_?key|access_token|auth|identified\s+by)\b\s*(?:=|,|\()?\s*)
    ('(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
    """
)
_PASSWORD_CALL = re.compile(
    r"(?i)(\b(?:password|aes_encrypt|aes_decrypt|sha2|md5)\s*\(\s*)('(?:[^'\\]|\\.|'')*')"
)


def mask_sample(sql: str | None) -> str | None:
    """A sample statement with the literals beside password-like names replaced by '***'."""
    if not sql:
        return sql
    masked = _SECRET_LITERAL.sub(lambda m: f"{m.group(1)}'***'", sql)
    return _PASSWORD_CALL.sub(lambda m: f"{m.group(1)}'***'", masked)
