"""Database-monitoring events: statement digests and their snapshots, deadlocks, replication status.

Writes are idempotent (a retried or replayed batch changes nothing) and take plain mappings, so
storage stays free of collector types. Digest counters are stored cumulatively, as the server reports
them; the reads turn consecutive snapshots into per-interval deltas, treating a counter that went
down (server restart, TRUNCATE of the summary) as a restart from zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, and_, bindparam, func, select, update

from storage.engine import write_transaction
from storage.schema import deadlocks, query_digest_snapshots, query_digests, replication_status
from storage.timeparse import TimeInput, resolve_range, to_millis, utc_now

__all__ = [
    "DIGEST_ORDER",
    "DatabaseSection",
    "deadlock_events",
    "digest_history",
    "get_digest",
    "record_deadlock",
    "record_replication",
    "replication_history",
    "set_explain",
    "top_digests",
    "write_digests",
]

# top_digests(by=...) -> the column it sorts on.
DIGEST_ORDER = {
    "total_latency": "total_latency_ms",
    "count": "exec_count",
    "avg_latency": "avg_latency_ms",
    "max_latency": "max_latency_ms",
    "rows_examined": "rows_examined",
}
_LOOKUP_CHUNK = 500
_COUNTERS = ["exec_count", "total_latency_ms", "rows_examined", "rows_sent"]
# A target that is not a replica records that once an hour, not every cycle.
_NOT_CONFIGURED_EVERY = timedelta(hours=1)


def _naive_utc(moment: datetime | None) -> datetime | None:
    """UtcTime columns hold naive UTC."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _schema_key(schema: str | None) -> str:
    # "" rather than NULL: NULLs never collide in a unique key, so (target, digest, NULL) would repeat.
    return schema or ""


def _insert_ignore(table: Any) -> Any:
    return table.insert().prefix_with("IGNORE", dialect="mysql").prefix_with("OR IGNORE", dialect="sqlite")


# --- digests ------------------------------------------------------------------------------------


def write_digests(engine: Engine, target: str, digests: Iterable[Mapping[str, Any]], at: datetime) -> int:
    """Upsert digests of ``target`` and store one cumulative snapshot each at ``at``; returns how many.

    Each mapping has schema, digest, digest_text, sample_query, first_seen, last_seen, exec_count,
    total_latency_ms, max_latency_ms, rows_examined, rows_sent (the fields of ``DigestStat``).
    """
    rows = list(digests)
    if not rows:
        return 0
    ts = to_millis(at)
    with write_transaction(engine) as conn:
        wanted = sorted({row["digest"] for row in rows})
        known = _known_digests(conn, target, wanted)
        missing = [row for row in rows if (_schema_key(row["schema"]), row["digest"]) not in known]
        if missing:
            conn.execute(_insert_ignore(query_digests), [_digest_values(target, row) for row in missing])
            known = _known_digests(conn, target, wanted)
        # A key the server's collation folded into another (schema "App" vs "app") is skipped, not fatal.
        rows = [row for row in rows if (_schema_key(row["schema"]), row["digest"]) in known]
        _refresh_digests(conn, rows, known)
        conn.execute(
            _insert_ignore(query_digest_snapshots),
            [
                _snapshot_values(known[(_schema_key(row["schema"]), row["digest"])]["id"], ts, row)
                for row in rows
            ],
        )
    return len(rows)


def _known_digests(
    conn: Connection, target: str, digests: list[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Stored rows of these digests (any schema), looked up in chunks: a busy target has thousands."""
    q = query_digests.c
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for start in range(0, len(digests), _LOOKUP_CHUNK):
        chunk = digests[start : start + _LOOKUP_CHUNK]
        result = conn.execute(
            select(q.id, q.schema_name, q.digest, q.first_seen, q.last_seen, q.sample_query).where(
                q.target == target, q.digest.in_(chunk)
            )
        )
        found.update({(row.schema_name, row.digest): dict(row._mapping) for row in result})
    return found


def _digest_values(target: str, row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "target": target,
        "schema_name": _schema_key(row["schema"]),
        "digest": row["digest"],
        "digest_text": row["digest_text"] or "",
        "sample_query": row.get("sample_query"),
        "first_seen": _naive_utc(row.get("first_seen")),
        "last_seen": _naive_utc(row.get("last_seen")),
    }


def _refresh_digests(
    conn: Connection, rows: list[Mapping[str, Any]], known: dict[tuple[str, str], dict[str, Any]]
) -> None:
    """Move last_seen forward, first_seen back, and keep the newest sample; only rows that changed."""
    changes = []
    for row in rows:
        stored = known[(_schema_key(row["schema"]), row["digest"])]
        first, last = _naive_utc(row.get("first_seen")), _naive_utc(row.get("last_seen"))
        new = {
            "first_seen": min(d for d in (stored["first_seen"], first) if d)
            if first or stored["first_seen"]
            else None,
            "last_seen": max(d for d in (stored["last_seen"], last) if d)
            if last or stored["last_seen"]
            else None,
            "sample_query": row.get("sample_query") or stored["sample_query"],
        }
        if any(new[key] != stored[key] for key in new):
            changes.append({"_id": stored["id"], **{f"_{key}": value for key, value in new.items()}})
            stored.update(new)
    if changes:
        conn.execute(
            update(query_digests)
            .where(query_digests.c.id == bindparam("_id"))
            .values(
                first_seen=bindparam("_first_seen"),
                last_seen=bindparam("_last_seen"),
                sample_query=bindparam("_sample_query"),
            ),
            changes,
        )


def _snapshot_values(digest_id: int, ts: int, row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "digest_id": digest_id,
        "ts": ts,
        "exec_count": int(row["exec_count"]),
        "total_latency_ms": float(row["total_latency_ms"]),
        "max_latency_ms": float(row["max_latency_ms"]),
        "rows_examined": int(row["rows_examined"]),
        "rows_sent": int(row["rows_sent"]),
    }


def set_explain(engine: Engine, digest_id: int, explain_json: str) -> None:
    """Keep the EXPLAIN FORMAT=JSON plan of a digest's sample statement."""
    with write_transaction(engine) as conn:
        result = conn.execute(
            update(query_digests).where(query_digests.c.id == digest_id).values(explain_json=explain_json)
        )
    if result.rowcount == 0:
        raise ValueError(f"no query digest with id {digest_id}")


def get_digest(engine: Engine, digest_id: int) -> dict[str, Any] | None:
    """One digest's details (target, schema, text, sample, first/last seen in UTC, explain_json)."""
    with engine.connect() as conn:
        row = conn.execute(select(query_digests).where(query_digests.c.id == digest_id)).mappings().first()
    if row is None:
        return None
    found = dict(row)
    found["schema_name"] = found["schema_name"] or None
    for key in ("first_seen", "last_seen"):
        found[key] = found[key].replace(tzinfo=UTC) if found[key] else None
    return found


def _snapshots(conn: Connection, where: Any, start_ms: int, end_ms: int) -> pd.DataFrame:
    """Snapshots in [start, end) plus, per digest, the last one before ``start`` (the baseline)."""
    snap = query_digest_snapshots
    baseline = (
        select(snap.c.digest_id, func.max(snap.c.ts).label("ts"))
        .join(query_digests, query_digests.c.id == snap.c.digest_id)
        .where(where, snap.c.ts < start_ms)
        .group_by(snap.c.digest_id)
        .subquery()
    )
    columns = [snap.c.digest_id, snap.c.ts, *[snap.c[name] for name in (*_COUNTERS, "max_latency_ms")]]
    in_window = (
        select(*columns)
        .join(query_digests, query_digests.c.id == snap.c.digest_id)
        .where(where, snap.c.ts >= start_ms, snap.c.ts < end_ms)
    )
    before = select(*columns).join(
        baseline, and_(baseline.c.digest_id == snap.c.digest_id, baseline.c.ts == snap.c.ts)
    )
    frames = [pd.DataFrame(conn.execute(query).mappings().all()) for query in (in_window, before)]
    frame = pd.concat([f for f in frames if not f.empty] or [pd.DataFrame(columns=[c.name for c in columns])])
    return frame.sort_values(["digest_id", "ts"], ignore_index=True)


def _intervals(snaps: pd.DataFrame, first_seen_ms: pd.Series, start_ms: int) -> pd.DataFrame:
    """Per-interval deltas of cumulative snapshots, rows at or after ``start_ms`` only.

    A digest's very first snapshot counts in full when the server first saw the digest inside the
    window (it is new), and as a baseline of zero otherwise (it holds history from before).
    """
    if snaps.empty:
        return snaps.assign(interval_ms=pd.Series(dtype="int64"))
    current = snaps[_COUNTERS].astype(float)
    previous = snaps.groupby("digest_id")[_COUNTERS].shift().astype(float)
    delta = current - previous
    reset = delta["exec_count"] < 0
    delta[reset] = current[reset]
    first = previous["exec_count"].isna()
    fresh = snaps["digest_id"].map(first_seen_ms).fillna(-1) >= start_ms
    delta[first & fresh] = current[first & fresh]
    delta[first & ~fresh] = 0.0
    result = snaps[["digest_id", "ts", "max_latency_ms"]].join(delta)
    result["interval_ms"] = snaps["ts"] - snaps.groupby("digest_id")["ts"].shift()
    return result[result["ts"] >= start_ms].reset_index(drop=True)


def _first_seen_ms(conn: Connection, where: Any) -> pd.Series:
    rows = conn.execute(select(query_digests.c.id, query_digests.c.first_seen).where(where)).all()
    return pd.Series(
        {row.id: to_millis(row.first_seen.replace(tzinfo=UTC)) for row in rows if row.first_seen},
        dtype="float64",
    )


def top_digests(
    engine: Engine,
    target: str,
    since: TimeInput = "1h",
    by: str = "total_latency",
    until: TimeInput = None,
    limit: int = 20,
) -> pd.DataFrame:
    """The busiest statements of ``target`` in the window, from per-interval deltas, best first.

    Columns: digest_id, schema, digest, digest_text, sample_query, first_seen, last_seen (UTC),
    exec_count, total_latency_ms, avg_latency_ms, max_latency_ms (the highest the server has recorded
    for the digest, cumulative), p95_latency_ms (95th percentile of the per-interval average latency),
    rows_examined, rows_sent, rows_examined_per_sent, has_explain. ``by`` is one of
    total_latency, count, avg_latency, max_latency, rows_examined.
    """
    if by not in DIGEST_ORDER:
        raise ValueError(f"by: {by!r} is not one of {', '.join(DIGEST_ORDER)}")
    if limit < 1:
        raise ValueError("limit: must be at least 1")
    start, end = resolve_range(since, until)
    where = query_digests.c.target == target
    with engine.connect() as conn:
        totals = _summarize(_deltas(conn, where, to_millis(start), to_millis(end)))
        details = _digest_details(conn, totals.index.tolist())
    frame = details.join(totals, how="inner").reset_index()
    frame = frame.sort_values(DIGEST_ORDER[by], ascending=False, kind="stable").head(limit)
    return frame[_TOP_COLUMNS].reset_index(drop=True)


_TOP_COLUMNS = [
    "digest_id",
    "schema",
    "digest",
    "digest_text",
    "sample_query",
    "first_seen",
    "last_seen",
    "exec_count",
    "total_latency_ms",
    "avg_latency_ms",
    "max_latency_ms",
    "p95_latency_ms",
    "rows_examined",
    "rows_sent",
    "rows_examined_per_sent",
    "has_explain",
]


def _summarize(deltas: pd.DataFrame) -> pd.DataFrame:
    """Window totals per digest (digests that ran at least once), indexed by digest_id."""
    active = deltas[deltas["exec_count"] > 0] if not deltas.empty else deltas
    if active.empty:
        return pd.DataFrame(columns=[c for c in _TOP_COLUMNS if c not in _DETAIL_COLUMNS]).rename_axis(
            "digest_id"
        )
    per_interval = active.assign(avg=active["total_latency_ms"] / active["exec_count"])
    grouped = per_interval.groupby("digest_id")
    totals = grouped[_COUNTERS].sum()
    totals["exec_count"] = totals["exec_count"].astype("int64")
    totals["rows_examined"] = totals["rows_examined"].astype("int64")
    totals["rows_sent"] = totals["rows_sent"].astype("int64")
    totals["avg_latency_ms"] = totals["total_latency_ms"] / totals["exec_count"]
    totals["max_latency_ms"] = deltas.groupby("digest_id")["max_latency_ms"].max().reindex(totals.index)
    totals["p95_latency_ms"] = grouped["avg"].quantile(0.95)
    totals["rows_examined_per_sent"] = totals["rows_examined"] / totals["rows_sent"].where(
        totals["rows_sent"] > 0
    )
    return totals


_DETAIL_COLUMNS = [
    "digest_id",
    "schema",
    "digest",
    "digest_text",
    "sample_query",
    "first_seen",
    "last_seen",
    "has_explain",
]


def _digest_details(conn: Connection, ids: list[int]) -> pd.DataFrame:
    q = query_digests.c
    rows = (
        conn.execute(
            select(
                q.id.label("digest_id"),
                q.schema_name.label("schema"),
                q.digest,
                q.digest_text,
                q.sample_query,
                q.first_seen,
                q.last_seen,
                q.explain_json.is_not(None).label("has_explain"),
            ).where(q.id.in_(ids))
        ).all()
        if ids
        else []
    )
    frame = pd.DataFrame(rows, columns=_DETAIL_COLUMNS)
    frame["schema"] = pd.Series([name or None for name in frame["schema"]], index=frame.index, dtype=object)
    frame["has_explain"] = frame["has_explain"].astype(bool)
    for column in ("first_seen", "last_seen"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame.set_index("digest_id")


def _deltas(conn: Connection, where: Any, start_ms: int, end_ms: int) -> pd.DataFrame:
    """Per-interval deltas of the digests matching ``where`` between two instants."""
    return _intervals(_snapshots(conn, where, start_ms, end_ms), _first_seen_ms(conn, where), start_ms)


def digest_history(
    engine: Engine, digest_id: int, since: TimeInput = "24h", until: TimeInput = None
) -> pd.DataFrame:
    """One digest per collection interval: ts (UTC), exec_count, total/avg latency, max_latency_ms
    (cumulative), rows_examined, rows_sent, interval_seconds. The base for latency trends and p95s."""
    start, end = resolve_range(since, until)
    with engine.connect() as conn:
        deltas = _deltas(conn, query_digests.c.id == digest_id, to_millis(start), to_millis(end))
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(deltas["ts"].astype("int64"), unit="ms", utc=True),
            "exec_count": deltas["exec_count"].astype("int64"),
            "total_latency_ms": deltas["total_latency_ms"].astype(float),
            "avg_latency_ms": (
                deltas["total_latency_ms"] / deltas["exec_count"].where(deltas["exec_count"] > 0)
            ).astype(float),
            "max_latency_ms": deltas["max_latency_ms"].astype(float),
            "rows_examined": deltas["rows_examined"].astype("int64"),
            "rows_sent": deltas["rows_sent"].astype("int64"),
            "interval_seconds": (deltas["interval_ms"] / 1000).astype(float),
        }
    )
    return frame.reset_index(drop=True)


# --- deadlocks ----------------------------------------------------------------------------------


def record_deadlock(engine: Engine, target: str, deadlock: Mapping[str, Any]) -> bool:
    """Store a deadlock once per (target, fingerprint); True when it was new.

    ``deadlock`` has detected_at, fingerprint, victim, transactions and raw_text (``Deadlock``'s fields).
    InnoDB shows its latest deadlock on every status read, so the same one arrives every cycle.
    """
    values = {
        "target": target,
        "detected_at": _naive_utc(deadlock.get("detected_at")) or _naive_utc(utc_now()),
        "fingerprint": deadlock["fingerprint"],
        "victim": deadlock.get("victim"),
        "transactions": list(deadlock.get("transactions") or []),
        "raw_text": deadlock["raw_text"],
    }
    with write_transaction(engine) as conn:
        return conn.execute(_insert_ignore(deadlocks), values).rowcount == 1


def deadlock_events(
    engine: Engine, target: str | None = None, since: TimeInput = "7d", limit: int = 100
) -> pd.DataFrame:
    """Deadlocks detected in the window, newest first: id, target, detected_at (UTC), victim,
    transactions (list of dicts: number, trx_id, thread_id, query, holds, waits_for, victim), raw_text."""
    start, end = resolve_range(since)
    query = select(deadlocks).where(
        deadlocks.c.detected_at >= _naive_utc(start), deadlocks.c.detected_at <= _naive_utc(end)
    )
    if target is not None:
        query = query.where(deadlocks.c.target == target)
    with engine.connect() as conn:
        rows = conn.execute(
            query.order_by(deadlocks.c.detected_at.desc(), deadlocks.c.id.desc()).limit(limit)
        )
        frame = pd.DataFrame(rows.mappings().all(), columns=[c.name for c in deadlocks.columns])
    frame["detected_at"] = pd.to_datetime(frame["detected_at"], utc=True)
    return frame


# --- replication --------------------------------------------------------------------------------


def record_replication(engine: Engine, target: str, state: Mapping[str, Any], at: datetime) -> bool:
    """Store a replication reading; True when a row was written.

    A server that is not a replica is recorded when that changes and then once an hour, not every cycle.
    """
    ts = _naive_utc(at)
    values = {
        "target": target,
        "ts": ts,
        "configured": bool(state["configured"]),
        "lag_seconds": state.get("lag_seconds"),
        "io_running": state.get("io_running"),
        "sql_running": state.get("sql_running"),
        "last_error": state.get("last_error"),
    }
    with write_transaction(engine) as conn:
        if not values["configured"] and _recently_not_configured(conn, target, ts):
            return False
        conn.execute(replication_status.insert(), values)
    return True


def _recently_not_configured(conn: Connection, target: str, at: datetime | None) -> bool:
    last = conn.execute(
        select(replication_status.c.ts, replication_status.c.configured)
        .where(replication_status.c.target == target)
        .order_by(replication_status.c.ts.desc(), replication_status.c.id.desc())
        .limit(1)
    ).first()
    return bool(last and not last.configured and at is not None and at - last.ts < _NOT_CONFIGURED_EVERY)


def replication_history(engine: Engine, target: str | None = None, since: TimeInput = "24h") -> pd.DataFrame:
    """Replication readings in the window, oldest first, ``ts`` in UTC."""
    start, end = resolve_range(since)
    query = select(replication_status).where(
        replication_status.c.ts >= _naive_utc(start), replication_status.c.ts <= _naive_utc(end)
    )
    if target is not None:
        query = query.where(replication_status.c.target == target)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(replication_status.c.ts, replication_status.c.id))
        frame = pd.DataFrame(rows.mappings().all(), columns=[c.name for c in replication_status.columns])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["configured"] = frame["configured"].astype(bool)
    return frame


class DatabaseSection:
    """``store.database``: the Database page's reads and writes, keyword arguments only."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def top_digests(
        self,
        *,
        target: str,
        since: TimeInput = "1h",
        until: TimeInput = None,
        by: str = "total_latency",
        limit: int = 20,
    ) -> pd.DataFrame:
        """The busiest statements of ``target`` in the window (see :func:`top_digests`)."""
        return top_digests(self._engine, target, since=since, by=by, until=until, limit=limit)

    def digest(self, *, digest_id: int) -> dict[str, Any] | None:
        """One digest's stored row (text, sample, EXPLAIN), or None."""
        return get_digest(self._engine, digest_id)

    def digest_history(
        self, *, digest_id: int, since: TimeInput = "24h", until: TimeInput = None
    ) -> pd.DataFrame:
        """Per-interval calls and latency of one digest."""
        return digest_history(self._engine, digest_id, since=since, until=until)

    def deadlocks(
        self, *, target: str | None = None, since: TimeInput = "7d", limit: int = 100
    ) -> pd.DataFrame:
        """Detected deadlocks, newest first."""
        return deadlock_events(self._engine, target, since=since, limit=limit)

    def replication(self, *, target: str | None = None, since: TimeInput = "24h") -> pd.DataFrame:
        """Replication state history."""
        return replication_history(self._engine, target, since=since)
