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

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, and_, bindparam, case, func, literal, select, union_all, update

from storage.engine import write_transaction
from storage.schema import (
    deadlocks,
    query_digest_snapshots,
    query_digests,
    replication_status,
    samples,
    series,
)
from storage.timeparse import TimeInput, resolve_range, to_millis, utc_now

__all__ = [
    "DIGEST_ORDER",
    "QUERY_SORTS",
    "DatabaseSection",
    "deadlock_events",
    "digest_history",
    "digest_schemas",
    "find_digest",
    "get_digest",
    "query_table",
    "record_deadlock",
    "record_replication",
    "replication_history",
    "set_explain",
    "table_growth",
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


def find_digest(engine: Engine, target: str, digest: str) -> dict[str, Any] | None:
    """A digest of ``target`` by its digest hash (the most recently seen schema's, when several)."""
    q = query_digests.c
    with engine.connect() as conn:
        found = conn.execute(
            select(q.id).where(q.target == target, q.digest == digest).order_by(q.last_seen.desc()).limit(1)
        ).scalar()
    return get_digest(engine, int(found)) if found is not None else None


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


def _digest_details(conn: Connection, ids: list[int], *, full: bool = True) -> pd.DataFrame:
    """Stored details of some digests by id; without ``full``, only what filters and sorts need."""
    q = query_digests.c
    wanted = [
        q.id.label("digest_id"),
        q.schema_name.label("schema"),
        q.digest,
        q.digest_text,
        q.sample_query,
        q.first_seen,
        q.last_seen,
        q.explain_json.is_not(None).label("has_explain"),
    ]
    names = _DETAIL_COLUMNS if full else _KEY_COLUMNS
    wanted = [column for column in wanted if column.name in names]
    rows = [tuple(row) for row in conn.execute(select(*wanted).where(q.id.in_(ids)))] if ids else []
    frame = pd.DataFrame(rows, columns=names)
    frame["schema"] = pd.Series([name or None for name in frame["schema"]], index=frame.index, dtype=object)
    if full:
        frame["has_explain"] = frame["has_explain"].astype(bool)
    for column in ("first_seen", "last_seen"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame.set_index("digest_id")


_KEY_COLUMNS = ["digest_id", "schema", "digest_text", "first_seen", "last_seen"]


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
    engine: Engine,
    target: str | None = None,
    since: TimeInput = "7d",
    limit: int = 100,
    until: TimeInput = None,
) -> pd.DataFrame:
    """Deadlocks detected in the window, newest first: id, target, detected_at (UTC), victim,
    transactions (list of dicts: number, trx_id, thread_id, query, holds, waits_for, victim), raw_text."""
    start, end = resolve_range(since, until)
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


def replication_history(
    engine: Engine, target: str | None = None, since: TimeInput = "24h", until: TimeInput = None
) -> pd.DataFrame:
    """Replication readings in the window, oldest first, ``ts`` in UTC."""
    start, end = resolve_range(since, until)
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


# --- the top-queries table ------------------------------------------------------------------------

# query_table(sort=...) accepts these columns (p95 and the sparkline are computed for the page only,
# except when sorting by p95, which computes it for every matching digest).
QUERY_SORTS = (
    "schema",
    "digest_text",
    "exec_count",
    "total_latency_ms",
    "avg_latency_ms",
    "p95_latency_ms",
    "max_latency_ms",
    "rows_examined",
    "rows_sent",
    "rows_examined_per_sent",
    "load_percent",
    "change_percent",
    "first_seen",
    "last_seen",
)
_SPARK_POINTS = 24
_DETAIL_SORTS = {"schema", "digest_text", "first_seen", "last_seen"}
_CUMULATIVE = [*_COUNTERS, "max_latency_ms"]
_WEEK = timedelta(days=7)


def _cumulative(conn: Connection, where: Any, boundaries: list[int]) -> pd.DataFrame:
    """Each digest's last cumulative snapshot before each boundary, found by index seeks (one per
    digest and boundary) in one statement, never by scanning the snapshots in between.

    SQLite answers correlated MAX() subqueries with one index seek each; MariaDB/MySQL evaluate them
    as index range reads, so there a GROUP BY that the server runs as a loose index scan ("Using
    index for group-by") finds the same rows (measured on 2,000 digests: ~0.8 s -> ~0.1 s).

    ``where`` is a condition on query_digests (a target, or a list of ids). Columns: digest_id,
    first_seen_ms, and per boundary ``k``: ts_k and the counters as ``<counter>_k`` (NaN when the
    digest had no snapshot yet).
    """
    if conn.dialect.name == "mysql" and len(boundaries) <= 2:
        return _cumulative_grouped(conn, where, boundaries)
    snap, q = query_digest_snapshots, query_digests
    inner = snap.alias("seek")
    seeks = (
        select(
            q.c.id.label("digest_id"),
            q.c.first_seen,
            *[
                select(func.max(inner.c.ts))
                .where(inner.c.digest_id == q.c.id, inner.c.ts < boundary)
                .scalar_subquery()
                .label(f"ts_{k}")
                for k, boundary in enumerate(boundaries)
            ],
        )
        .where(where)
        .subquery()
    )
    query = select(seeks.c.digest_id, seeks.c.first_seen)
    for k in range(len(boundaries)):
        found = snap.alias(f"at_{k}")
        query = query.add_columns(seeks.c[f"ts_{k}"], *[found.c[name] for name in _CUMULATIVE])
        query = query.outerjoin(
            found, and_(found.c.digest_id == seeks.c.digest_id, found.c.ts == seeks.c[f"ts_{k}"])
        )
    rows = [tuple(row) for row in conn.execute(query)]
    width = 1 + len(_CUMULATIVE)
    names = [f"{name}_{k}" for k in range(len(boundaries)) for name in ("ts", *_CUMULATIVE)]
    # Built column by column from one array: a frame of mostly-NULL object columns is slow to clean up.
    table = np.array([row[2:] for row in rows], dtype=object).reshape(len(rows), width * len(boundaries))
    numbers = np.where(pd.isna(table), np.nan, table).astype(float)
    columns: dict[str, Any] = {"digest_id": np.array([row[0] for row in rows], dtype="int64")}
    first_seen = pd.to_datetime(pd.Series([row[1] for row in rows], dtype=object), utc=True)
    epoch = pd.Timestamp(0, tz="UTC")
    columns["first_seen_ms"] = ((first_seen - epoch) / pd.Timedelta(milliseconds=1)).to_numpy(dtype=float)
    columns.update({name: numbers[:, n] for n, name in enumerate(names)})
    return pd.DataFrame(columns)


def _cumulative_grouped(conn: Connection, where: Any, boundaries: list[int]) -> pd.DataFrame:
    """``_cumulative`` for MariaDB/MySQL: per boundary, MAX(ts) per digest by a loose index scan, then
    the snapshot rows by primary key, all boundaries in one statement (UNION ALL): each round trip
    costs as much as the server's work here (EXPLAIN: "Using index for group-by", then eq_ref)."""
    snap, q = query_digest_snapshots, query_digests
    digests = conn.execute(select(q.c.id, q.c.first_seen).where(where)).all()
    ids = [row[0] for row in digests]
    frame = pd.DataFrame({"digest_id": np.array(ids, dtype="int64")})
    first_seen = pd.to_datetime(pd.Series([row[1] for row in digests], dtype=object), utc=True)
    epoch = pd.Timestamp(0, tz="UTC")
    frame["first_seen_ms"] = ((first_seen - epoch) / pd.Timedelta(milliseconds=1)).to_numpy(dtype=float)
    names = [f"{name}_{k}" for k in range(len(boundaries)) for name in ("ts", *_CUMULATIVE)]
    if not ids:
        return frame.assign(**{name: [] for name in names})
    parts = []
    for k, boundary in enumerate(boundaries):
        latest = select(snap.c.digest_id, func.max(snap.c.ts).label("ts")).where(snap.c.ts < boundary)
        if len(ids) <= _LOOKUP_CHUNK:
            latest = latest.where(snap.c.digest_id.in_(ids))
        latest_sub = latest.group_by(snap.c.digest_id).subquery(f"latest_{k}")
        parts.append(
            select(
                literal(k).label("k"), snap.c.digest_id, snap.c.ts, *[snap.c[name] for name in _CUMULATIVE]
            ).join(
                latest_sub,
                and_(latest_sub.c.digest_id == snap.c.digest_id, latest_sub.c.ts == snap.c.ts),
            )
        )
    rows = conn.execute(union_all(*parts)).all()
    found = pd.DataFrame([tuple(row) for row in rows], columns=["k", "digest_id", "ts", *_CUMULATIVE])
    columns: dict[str, Any] = {}
    for k in range(len(boundaries)):
        part = found[found["k"] == k].set_index("digest_id").reindex(frame["digest_id"])
        columns[f"ts_{k}"] = part["ts"].to_numpy(dtype=float)
        columns.update({f"{name}_{k}": part[name].to_numpy(dtype=float) for name in _CUMULATIVE})
    return pd.concat([frame, pd.DataFrame(columns)], axis=1)


def _first_in_window(conn: Connection, ids: list[int], start_ms: int, end_ms: int) -> pd.DataFrame:
    """The first snapshot in [start, end) of some digests, indexed by digest_id (their baseline when the
    store holds nothing older but the server knew them before the window)."""
    snap, inner = query_digest_snapshots, query_digest_snapshots.alias("seek")
    first = (
        select(func.min(inner.c.ts))
        .where(inner.c.digest_id == snap.c.digest_id, inner.c.ts >= start_ms, inner.c.ts < end_ms)
        .scalar_subquery()
    )
    result = conn.execute(
        select(snap.c.digest_id, *[snap.c[name] for name in _COUNTERS]).where(
            snap.c.digest_id.in_(ids), snap.c.ts == first
        )
    )
    return pd.DataFrame.from_records(
        [tuple(row) for row in result], columns=["digest_id", *_COUNTERS]
    ).set_index("digest_id")


def _window_totals(conn: Connection, where: Any, start_ms: int, end_ms: int) -> pd.DataFrame:
    """Counters per digest in [start, end): the last cumulative snapshot in the window minus the last
    one before it. A digest first seen by the server inside the window counts from zero; one whose
    first stored snapshot falls inside the window but that the server knew before counts from that
    snapshot. A counter that went down (restart, TRUNCATE) counts from zero at the restart, so the
    part of the window before the restart is not counted."""
    columns = ["exec_count", "total_latency_ms", "rows_examined", "rows_sent", "max_latency_ms"]
    if conn.dialect.name == "mysql":
        return _window_totals_grouped(conn, where, start_ms, end_ms)[columns]
    found = _cumulative(conn, where, [start_ms, end_ms])
    found = found[found["ts_1"].notna() & (found["ts_1"] >= start_ms)].set_index("digest_id")
    if found.empty:
        return pd.DataFrame(columns=columns).rename_axis("digest_id")
    ends = found[[f"{name}_1" for name in _CUMULATIVE]].set_axis(_CUMULATIVE, axis=1).astype(float)
    base = found[[f"{name}_0" for name in _COUNTERS]].set_axis(_COUNTERS, axis=1).astype(float)
    fresh = found["first_seen_ms"].fillna(-1) >= start_ms
    from_first = base["exec_count"].isna() & ~fresh
    if from_first.any():
        firsts = _first_in_window(conn, found.index[from_first].tolist(), start_ms, end_ms)
        base.loc[from_first] = firsts.reindex(found.index[from_first]).astype(float).to_numpy()
    delta = ends[_COUNTERS] - base.fillna(0.0)
    reset = delta["exec_count"] < 0
    delta[reset] = ends.loc[reset, _COUNTERS]
    delta["max_latency_ms"] = ends["max_latency_ms"]
    return delta[delta["exec_count"] > 0][columns]


def _latest_before(ids: list[int] | None, boundary: int, name: str) -> Any:
    """Per digest, its last snapshot's ts before ``boundary``, as a loose index scan of the primary key
    ("Using index for group-by"). ``ids`` narrows it to a short list; a subquery there instead
    (``IN (SELECT ...)``) makes MariaDB read every snapshot (measured: 0.5 s on 720k rows)."""
    snap = query_digest_snapshots
    latest = select(snap.c.digest_id, func.max(snap.c.ts).label("ts")).where(snap.c.ts < boundary)
    if ids is not None:
        latest = latest.where(snap.c.digest_id.in_(ids))
    return latest.group_by(snap.c.digest_id).subquery(name)


def _window_totals_grouped(conn: Connection, where: Any, start_ms: int, end_ms: int) -> pd.DataFrame:
    """``_window_totals`` for MariaDB/MySQL with the subtraction done by the server: one row of deltas
    per digest instead of two snapshots each. PyMySQL parses rows in Python, so the rows and columns
    sent are most of the cost (measured: 2,000 digests, ~170 ms -> ~40 ms)."""
    snap, q = query_digest_snapshots, query_digests
    ids: list[int] | None = list(conn.execute(select(q.c.id).where(where)).scalars())
    if not ids:
        return pd.DataFrame(columns=[*_COUNTERS, "max_latency_ms"]).rename_axis("digest_id")
    ids = ids if len(ids) <= _LOOKUP_CHUNK else None
    last_end = _latest_before(ids, end_ms, "last_end")
    last_start = _latest_before(ids, start_ms, "last_start")
    end_row, base_row = snap.alias("end_row"), snap.alias("base_row")
    reset = end_row.c.exec_count < func.coalesce(base_row.c.exec_count, 0)
    deltas = [
        case((reset, end_row.c[name]), else_=end_row.c[name] - func.coalesce(base_row.c[name], 0)).label(name)
        for name in _COUNTERS
    ]
    # No snapshot before the window, and the server knew the digest before it: count from the
    # window's first snapshot (rare: a digest Vitals had not stored before), fixed up below.
    from_first = and_(base_row.c.ts.is_(None), func.coalesce(q.c.first_seen, _EPOCH) < _naive_ms(start_ms))
    query = (
        select(end_row.c.digest_id, *deltas, end_row.c.max_latency_ms, from_first.label("from_first"))
        .select_from(last_end)
        .join(end_row, and_(end_row.c.digest_id == last_end.c.digest_id, end_row.c.ts == last_end.c.ts))
        .join(q, q.c.id == last_end.c.digest_id)
        .outerjoin(last_start, last_start.c.digest_id == last_end.c.digest_id)
        .outerjoin(
            base_row, and_(base_row.c.digest_id == last_start.c.digest_id, base_row.c.ts == last_start.c.ts)
        )
        .where(last_end.c.ts >= start_ms, where)
    )
    rows = [tuple(row) for row in conn.execute(query)]
    frame = pd.DataFrame(rows, columns=["digest_id", *_COUNTERS, "max_latency_ms", "from_first"])
    frame = frame.set_index("digest_id")
    frame[[*_COUNTERS, "max_latency_ms"]] = frame[[*_COUNTERS, "max_latency_ms"]].astype(float)
    first = frame.index[frame["from_first"].astype(bool)]
    if len(first):
        ends = frame.loc[first, _COUNTERS]
        delta = ends - _first_in_window(conn, first.tolist(), start_ms, end_ms).reindex(first).astype(float)
        restarted = delta["exec_count"] < 0
        delta[restarted] = ends[restarted]
        frame.loc[first, _COUNTERS] = delta.to_numpy()
    return frame[frame["exec_count"] > 0]


_EPOCH = datetime(1970, 1, 1)


def _naive_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def _bucket_extras(conn: Connection, ids: list[int], start_ms: int, end_ms: int, points: int) -> pd.DataFrame:
    """p95 of the per-bucket average latency and the per-bucket total latency (the sparkline) of some
    digests, over ``points`` buckets: a snapshot's delta to the previous one falls in the bucket of its
    own time; a reset counts from zero; a digest's first stored snapshot counts in full only when the
    server first saw it inside the window (as in ``_window_totals``).

    The server subtracts consecutive snapshots (LAG) and sums them per bucket, so one row per digest
    and bucket comes back instead of every snapshot: PyMySQL parses rows in Python, and a page of 50
    digests over 7 days is ~4,000 snapshots (measured on MariaDB: 55 ms -> see benchmarks.database).
    Each digest's first snapshot in the window is read on its own and set against the last one
    before the window here. Seeking each bucket edge instead cost MariaDB ~0.5 s (25 correlated MAX()
    seeks per digest, measured)."""
    step = max(1, (end_ms - start_ms) // points)
    snap = query_digest_snapshots
    before = _cumulative(conn, query_digests.c.id.in_(ids), [start_ms]).set_index("digest_id")
    order = snap.c.ts
    inner = (
        select(
            snap.c.digest_id,
            snap.c.ts,
            snap.c.exec_count,
            snap.c.total_latency_ms,
            func.lag(snap.c.exec_count)
            .over(partition_by=snap.c.digest_id, order_by=order)
            .label("prev_calls"),
            func.lag(snap.c.total_latency_ms)
            .over(partition_by=snap.c.digest_id, order_by=order)
            .label("prev_latency"),
            func.row_number().over(partition_by=snap.c.digest_id, order_by=order).label("n"),
        )
        .where(snap.c.digest_id.in_(ids), snap.c.ts >= start_ms, snap.c.ts < end_ms)
        .subquery("in_window")
    )
    reset = inner.c.exec_count < inner.c.prev_calls
    bucket = func.floor((inner.c.ts - start_ms) / step).label("bucket")
    summed = conn.execute(
        select(
            inner.c.digest_id,
            bucket,
            func.sum(case((reset, inner.c.exec_count), else_=inner.c.exec_count - inner.c.prev_calls)),
            func.sum(
                case((reset, inner.c.total_latency_ms), else_=inner.c.total_latency_ms - inner.c.prev_latency)
            ),
        )
        .where(inner.c.n > 1)
        .group_by(inner.c.digest_id, bucket)
    ).all()
    firsts = conn.execute(
        select(inner.c.digest_id, inner.c.ts, inner.c.exec_count, inner.c.total_latency_ms).where(
            inner.c.n == 1
        )
    ).all()
    row_of = {digest: n for n, digest in enumerate(ids)}
    calls, latency = np.zeros((len(ids), points)), np.zeros((len(ids), points))
    for digest, at, count, total in summed:
        slot = min(int(at), points - 1)
        calls[row_of[digest], slot] += float(count)
        latency[row_of[digest], slot] += float(total)
    for digest, ts, count, total in firsts:
        delta = _first_delta(before, digest, float(count), float(total), start_ms)
        slot = min(int((ts - start_ms) // step), points - 1)
        calls[row_of[digest], slot] += delta[0]
        latency[row_of[digest], slot] += delta[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        average = np.where(calls > 0, latency / calls, np.nan)
    p95 = [float(np.nanquantile(row, 0.95)) if not np.isnan(row).all() else np.nan for row in average]
    spark = [[round(float(v), 3) for v in row] for row in latency]
    return pd.DataFrame({"p95_latency_ms": p95, "sparkline": spark}, index=pd.Index(ids, name="digest_id"))


def _first_delta(
    before: pd.DataFrame, digest: int, calls: float, latency: float, start_ms: int
) -> tuple[float, float]:
    """What a digest's first snapshot in the window adds: its delta to the last one before the
    window (from zero after a reset); with none before, all of it if the server first saw the digest
    inside the window, else nothing (it holds history from before: only a baseline)."""
    base = before.loc[digest] if digest in before.index else None
    if base is None or pd.isna(base["ts_0"]):
        first_seen = base["first_seen_ms"] if base is not None else None
        fresh = first_seen is not None and not pd.isna(first_seen) and first_seen >= start_ms
        return (calls, latency) if fresh else (0.0, 0.0)
    delta_calls = calls - float(base["exec_count_0"])
    if delta_calls < 0:
        return calls, latency
    return delta_calls, latency - float(base["total_latency_ms_0"])


def _page_extras(conn: Connection, ids: list[int], start_ms: int, end_ms: int) -> pd.DataFrame:
    """p95 of the per-bucket average latency and the per-bucket load (sparkline) for some digests."""
    if not ids:
        return pd.DataFrame(
            {"p95_latency_ms": pd.Series(dtype=float), "sparkline": pd.Series(dtype=object)}
        ).rename_axis("digest_id")
    return _bucket_extras(conn, ids, start_ms, end_ms, _SPARK_POINTS)


def _change(now: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    """Average latency against the same window a week earlier: change_percent and a word for it."""
    avg_now = now["total_latency_ms"] / now["exec_count"]
    then = before.reindex(now.index)
    avg_then = then["total_latency_ms"] / then["exec_count"].where(then["exec_count"] > 0)
    percent = (avg_now - avg_then) / avg_then.where(avg_then > 0) * 100
    words = []
    for value, old in zip(percent, avg_then, strict=True):
        if pd.isna(old):
            words.append("new")
        elif pd.isna(value) or abs(value) < 10:
            words.append("same")
        else:
            words.append(f"{'slower' if value > 0 else 'faster'} by {abs(value):.0f} %")
    return pd.DataFrame({"change_percent": percent, "change": words}, index=now.index)


def query_table(
    engine: Engine,
    target: str,
    since: TimeInput = "24h",
    until: TimeInput = None,
    *,
    schema: str | None = None,
    text: str | None = None,
    sort: str = "total_latency_ms",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> dict[str, Any]:
    """One page of the top-queries table (PMM Query Analytics' shape) and the window's totals.

    Returns ``{"rows": DataFrame, "matching": n, "exec_count": n, "total_latency_ms": x}``: rows have
    digest_id, schema, digest, digest_text, sample_query, first_seen, last_seen, exec_count,
    total_latency_ms, avg_latency_ms, p95_latency_ms, max_latency_ms, rows_examined, rows_sent,
    rows_examined_per_sent, load_percent (share of the window's total latency), sparkline (24 buckets
    of total latency), change_percent and change (against the same window one week earlier: new,
    same, slower by N %, faster by N %), has_explain. ``schema`` matches exactly, ``text`` is a
    case-insensitive substring of the normalized text (taken literally, never as SQL or a pattern).
    """
    if sort not in QUERY_SORTS:
        raise ValueError(f"sort: {sort!r} is not one of {', '.join(QUERY_SORTS)}")
    if limit < 1 or limit > 1000:
        raise ValueError("limit: must be between 1 and 1000")
    if offset < 0:
        raise ValueError("offset: must not be negative")
    start, end = resolve_range(since, until)
    start_ms, end_ms = to_millis(start), to_millis(end)
    where = query_digests.c.target == target
    with engine.connect() as conn:
        frame = _window_totals(conn, where, start_ms, end_ms)
        grand_count = int(frame["exec_count"].sum()) if not frame.empty else 0
        grand_latency = float(frame["total_latency_ms"].sum()) if not frame.empty else 0.0
        # The long texts are read for the page only, unless a filter or the sort needs them all.
        keyed = bool(schema or text) or sort in _DETAIL_SORTS
        if keyed:
            frame = frame.join(_digest_details(conn, frame.index.tolist(), full=False), how="inner")
            if schema:
                frame = frame[frame["schema"].fillna("") == schema]
            if text:
                frame = frame[frame["digest_text"].str.contains(text, case=False, regex=False, na=False)]
        frame = frame.assign(
            avg_latency_ms=frame["total_latency_ms"] / frame["exec_count"],
            rows_examined_per_sent=frame["rows_examined"] / frame["rows_sent"].where(frame["rows_sent"] > 0),
            load_percent=frame["total_latency_ms"] / grand_latency * 100 if grand_latency else 0.0,
        )
        if sort in {"change_percent", "p95_latency_ms"} and not frame.empty:
            frame = _with_change(conn, frame, where, start_ms, end_ms)
            if sort == "p95_latency_ms":
                frame = frame.join(_page_extras(conn, frame.index.tolist(), start_ms, end_ms))
        frame = frame.sort_values(sort, ascending=not descending, kind="stable", na_position="last")
        page = frame.iloc[offset : offset + limit]
        ids = page.index.tolist()
        details = _digest_details(conn, ids)
        page = page.drop(columns=[c for c in details.columns if c in page.columns]).join(details, how="inner")
        page = page.loc[[i for i in ids if i in page.index]]  # the join may reorder: keep the sort
        if "change" not in page.columns and not page.empty:
            page = _with_change(conn, page, query_digests.c.id.in_(ids), start_ms, end_ms)
        if "sparkline" not in page.columns:
            page = page.join(_page_extras(conn, ids, start_ms, end_ms))
    rows = page.reset_index()
    for column in ("change_percent", "change", "p95_latency_ms", "sparkline"):
        if column not in rows.columns:
            rows[column] = pd.Series(dtype=object)
    return {
        "rows": rows[_QUERY_COLUMNS].reset_index(drop=True),
        "matching": len(frame),
        "exec_count": grand_count,
        "total_latency_ms": grand_latency,
    }


def _with_change(
    conn: Connection, frame: pd.DataFrame, where: Any, start_ms: int, end_ms: int
) -> pd.DataFrame:
    week_ms = int(_WEEK.total_seconds() * 1000)
    before = _window_totals(conn, where, start_ms - week_ms, end_ms - week_ms)
    return frame.join(_change(frame, before))


_QUERY_COLUMNS = [
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
    "p95_latency_ms",
    "max_latency_ms",
    "rows_examined",
    "rows_sent",
    "rows_examined_per_sent",
    "load_percent",
    "sparkline",
    "change_percent",
    "change",
    "has_explain",
]


def digest_schemas(engine: Engine, target: str) -> list[str]:
    """The schemas that have digests on ``target`` (for a filter's choices)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(query_digests.c.schema_name).where(query_digests.c.target == target).distinct()
        ).all()
    return sorted(row.schema_name for row in rows if row.schema_name)


def digest_targets(engine: Engine) -> list[str]:
    """Every target name that has stored digests."""
    with engine.connect() as conn:
        rows = conn.execute(select(query_digests.c.target).distinct()).all()
    return sorted(row.target for row in rows)


# --- table sizes ----------------------------------------------------------------------------------


def table_growth(
    engine: Engine, target: str, since: TimeInput = "7d", until: TimeInput = None
) -> pd.DataFrame:
    """The largest tables of ``target`` (from the stored ``mysql.table.size_bytes`` samples) with their
    growth over the window: schema, table, size_bytes (newest), first_bytes, growth_bytes,
    growth_per_day_bytes, first_ts and last_ts (UTC), largest first."""
    start, end = resolve_range(since, until)
    start_ms, end_ms = to_millis(start), to_millis(end)
    with engine.connect() as conn:
        found = conn.execute(
            select(series.c.id, series.c.labels).where(
                series.c.metric == "mysql.table.size_bytes", series.c.host == target
            )
        ).all()
        rows = []
        for series_id, labels in found:
            window = and_(samples.c.series_id == series_id, samples.c.ts >= start_ms, samples.c.ts < end_ms)
            first_ts = conn.execute(select(func.min(samples.c.ts)).where(window)).scalar()
            if first_ts is None:
                continue
            last_ts = conn.execute(select(func.max(samples.c.ts)).where(window)).scalar()
            values = dict(
                conn.execute(
                    select(samples.c.ts, samples.c.value).where(
                        samples.c.series_id == series_id, samples.c.ts.in_([first_ts, last_ts])
                    )
                ).all()
            )
            labels = labels or {}
            rows.append(
                (
                    labels.get("schema"),
                    labels.get("table"),
                    first_ts,
                    last_ts,
                    values[first_ts],
                    values[last_ts],
                )
            )
    frame = pd.DataFrame(
        rows, columns=["schema", "table", "first_ts", "last_ts", "first_bytes", "size_bytes"]
    )
    span_days = (frame["last_ts"] - frame["first_ts"]) / 86_400_000
    frame["growth_bytes"] = frame["size_bytes"] - frame["first_bytes"]
    frame["growth_per_day_bytes"] = frame["growth_bytes"] / span_days.where(span_days > 0)
    for column in ("first_ts", "last_ts"):
        frame[column] = pd.to_datetime(frame[column].astype("int64"), unit="ms", utc=True)
    columns = [
        "schema",
        "table",
        "size_bytes",
        "first_bytes",
        "growth_bytes",
        "growth_per_day_bytes",
        "first_ts",
        "last_ts",
    ]
    return frame.sort_values("size_bytes", ascending=False, ignore_index=True)[columns]


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

    def find_digest(self, *, target: str, digest: str) -> dict[str, Any] | None:
        """One digest of ``target`` by its digest hash, or None."""
        return find_digest(self._engine, target, digest)

    def digest(self, *, digest_id: int) -> dict[str, Any] | None:
        """One digest's stored row (text, sample, EXPLAIN), or None."""
        return get_digest(self._engine, digest_id)

    def digest_history(
        self, *, digest_id: int, since: TimeInput = "24h", until: TimeInput = None
    ) -> pd.DataFrame:
        """Per-interval calls and latency of one digest."""
        return digest_history(self._engine, digest_id, since=since, until=until)

    def deadlocks(
        self,
        *,
        target: str | None = None,
        since: TimeInput = "7d",
        until: TimeInput = None,
        limit: int = 100,
    ) -> pd.DataFrame:
        """Detected deadlocks, newest first."""
        return deadlock_events(self._engine, target, since=since, limit=limit, until=until)

    def replication(
        self, *, target: str | None = None, since: TimeInput = "24h", until: TimeInput = None
    ) -> pd.DataFrame:
        """Replication state history."""
        return replication_history(self._engine, target, since=since, until=until)

    def query_table(
        self,
        *,
        target: str,
        since: TimeInput = "24h",
        until: TimeInput = None,
        schema: str | None = None,
        text: str | None = None,
        sort: str = "total_latency_ms",
        descending: bool = True,
        offset: int = 0,
        limit: int = 50,
    ) -> dict[str, Any]:
        """One page of the top-queries table with week-over-week change (see :func:`query_table`)."""
        return query_table(
            self._engine,
            target,
            since,
            until,
            schema=schema,
            text=text,
            sort=sort,
            descending=descending,
            offset=offset,
            limit=limit,
        )

    def schemas(self, *, target: str) -> list[str]:
        """The schemas with stored digests on ``target``."""
        return digest_schemas(self._engine, target)

    def tables(self, *, target: str, since: TimeInput = "7d", until: TimeInput = None) -> pd.DataFrame:
        """Largest tables with their growth per day over the window (see :func:`table_growth`)."""
        return table_growth(self._engine, target, since, until)

    def set_explain(self, *, digest_id: int, explain_json: str) -> None:
        """Keep a freshly run EXPLAIN plan on its digest."""
        set_explain(self._engine, digest_id, explain_json)
