"""Cache monitoring events: a ``cache_stats`` row per Redis collection and the Redis SLOWLOG.

Writes and reads for both dialects. The Redis collector's records arrive as plain values (this
module imports nothing from collectors), so anything with the ``SlowlogEvent`` attributes will do.

SLOWLOG ids restart at 0 when a Redis server restarts, while the table is unique on
(target, entry_id). So the stored ``entry_id`` is Redis's id combined with a 31-bit hash of the
server's ``run_id``: re-reading the same entries is a no-op, and a restarted server's new id 0 is a
new row instead of a "duplicate" silently dropped. Reads give Redis's own id back.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from storage.cache_rules import StoredRule, get_rule, list_rules
from storage.engine import write_transaction
from storage.schema import cache_actions, cache_jobs, cache_stats, redis_slowlog
from storage.timeparse import TimeInput, resolve_range, utc_now

__all__ = [
    "HISTORY_COLUMNS",
    "CacheJob",
    "CacheSection",
    "CacheStats",
    "JobConflict",
    "SlowlogEvent",
    "create_job",
    "finish_job",
    "get_job",
    "history",
    "job_progress",
    "latest_cache_stats",
    "latest_job",
    "record_action",
    "record_cache_stats",
    "record_slowlog",
    "request_cancel",
    "slowlog",
    "slowlog_key",
]

SLOWLOG_COLUMNS = ["target", "entry_id", "ts", "duration_us", "command", "client"]
_ID_BITS = 32
_ID_MASK = (1 << _ID_BITS) - 1
_RUN_MASK = 0x7FFFFFFF  # 31 bits, so the combined key stays a positive signed BIGINT


class SlowlogEvent(Protocol):
    """One SLOWLOG entry as the Redis collector reports it."""

    @property
    def entry_id(self) -> int: ...
    @property
    def run_id(self) -> str: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def duration_us(self) -> int: ...
    @property
    def command(self) -> str: ...
    @property
    def client(self) -> str | None: ...


@dataclass(frozen=True)
class CacheStats:
    """The newest ``cache_stats`` row of a target."""

    target: str
    ts: datetime  # timezone-aware UTC
    maxmemory_policy: str | None
    keys_per_db: dict[str, dict[str, int]]
    info: dict[str, Any]


def slowlog_key(run_id: str, entry_id: int) -> int:
    """The stored id of a slowlog entry: unique per target across server restarts (see module doc)."""
    run_hash = zlib.crc32(run_id.encode("utf-8")) & _RUN_MASK
    return (run_hash << _ID_BITS) | (entry_id & _ID_MASK)


def _naive_utc(moment: datetime) -> datetime:
    """Event tables hold naive UTC DATETIMEs (MySQL has no time zone in DATETIME)."""
    if moment.tzinfo is None:
        return moment
    return pd.Timestamp(moment).tz_convert("UTC").tz_localize(None).to_pydatetime()


# -- writes ---------------------------------------------------------------------------------------


def record_cache_stats(
    engine: Engine,
    target: str,
    ts: datetime,
    maxmemory_policy: str | None,
    keys_per_db: Mapping[str, Mapping[str, int]],
    info: Mapping[str, Any] | None = None,
) -> None:
    """Append one collection's maxmemory policy, keys per db and selected INFO fields."""
    with write_transaction(engine) as conn:
        conn.execute(
            cache_stats.insert(),
            {
                "target": target,
                "ts": _naive_utc(ts),
                "maxmemory_policy": maxmemory_policy,
                "keys_per_db": {db: dict(stats) for db, stats in keys_per_db.items()},
                "info": dict(info) if info is not None else None,
            },
        )


def record_slowlog(engine: Engine, target: str, entries: Iterable[SlowlogEvent]) -> int:
    """Store SLOWLOG entries not stored yet; returns how many were new. Re-reading is harmless."""
    rows = {
        slowlog_key(entry.run_id, entry.entry_id): {
            "target": target,
            "entry_id": slowlog_key(entry.run_id, entry.entry_id),
            "ts": _naive_utc(entry.ts),
            "duration_us": int(entry.duration_us),
            "command": entry.command,
            "client": entry.client[:191] if entry.client else None,
        }
        for entry in entries
    }
    if not rows:
        return 0
    with write_transaction(engine) as conn:
        stored = set(
            conn.execute(
                select(redis_slowlog.c.entry_id).where(
                    redis_slowlog.c.target == target, redis_slowlog.c.entry_id.in_(list(rows))
                )
            ).scalars()
        )
        new = [row for key, row in rows.items() if key not in stored]
        if new:
            # IGNORE as well: another worker may store the same entries between our SELECT and INSERT.
            conn.execute(
                redis_slowlog.insert()
                .prefix_with("IGNORE", dialect="mysql")
                .prefix_with("OR IGNORE", dialect="sqlite"),
                new,
            )
    return len(new)


# -- reads ----------------------------------------------------------------------------------------


def latest_cache_stats(engine: Engine, target: str) -> CacheStats | None:
    """The newest cache_stats row of ``target``, or None when it was never collected."""
    query = (
        select(cache_stats)
        .where(cache_stats.c.target == target)
        .order_by(cache_stats.c.ts.desc(), cache_stats.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    return CacheStats(
        target=row["target"],
        ts=pd.Timestamp(row["ts"]).tz_localize("UTC").to_pydatetime(),
        maxmemory_policy=row["maxmemory_policy"],
        keys_per_db=dict(row["keys_per_db"] or {}),
        info=dict(row["info"] or {}),
    )


def slowlog(
    engine: Engine,
    target: str | None = None,
    since: TimeInput = "24h",
    until: TimeInput = None,
    limit: int = 1000,
) -> pd.DataFrame:
    """SLOWLOG events, newest first: target, entry_id (Redis's id), ts (UTC), duration_us, command, client.

    ``target=None`` returns every target's. ``since``/``until`` as in ``Store.metrics``.
    """
    if limit < 1:
        raise ValueError("limit: must be at least 1")
    start, end = resolve_range(since, until)
    query = select(*[redis_slowlog.c[name] for name in SLOWLOG_COLUMNS]).where(
        redis_slowlog.c.ts >= _naive_utc(start), redis_slowlog.c.ts <= _naive_utc(end)
    )
    if target is not None:
        query = query.where(redis_slowlog.c.target == target)
    query = query.order_by(redis_slowlog.c.ts.desc(), redis_slowlog.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=SLOWLOG_COLUMNS)
    frame["entry_id"] = (frame["entry_id"].astype("int64") & _ID_MASK).astype("int64")
    frame["duration_us"] = frame["duration_us"].astype("int64")
    frame["ts"] = pd.to_datetime(frame["ts"]).dt.tz_localize("UTC")
    frame["client"] = frame["client"].astype(object).where(frame["client"].notna(), None)
    return frame


# -- clear/eviction history ------------------------------------------------------------------------

HISTORY_COLUMNS = ["id", "target", "ts", "action", "pattern", "keys_affected", "username", "detail"]


def record_action(
    engine: Engine,
    *,
    target: str,
    action: str,
    pattern: str | None = None,
    keys_affected: int | None = None,
    username: str | None = None,
    detail: Mapping[str, Any] | None = None,
    ts: datetime | None = None,
) -> int:
    """Append one clear, flush, policy change or rule run to the history; returns its id."""
    with write_transaction(engine) as conn:
        result = conn.execute(
            cache_actions.insert(),
            {
                "target": target,
                "ts": _naive_utc(ts or utc_now()),
                "action": action,
                "pattern": pattern[:512] if pattern else pattern,
                "keys_affected": keys_affected,
                "username": username,
                "detail": dict(detail) if detail is not None else None,
            },
        )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def history(
    engine: Engine,
    target: str | None = None,
    since: TimeInput = "30d",
    until: TimeInput = None,
    actions: Sequence[str] | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """The history, newest first: id, target, ts (UTC), action, pattern, keys_affected, username, detail."""
    if limit < 1:
        raise ValueError("limit: must be at least 1")
    start, end = resolve_range(since, until)
    query = select(*[cache_actions.c[name] for name in HISTORY_COLUMNS]).where(
        cache_actions.c.ts >= _naive_utc(start), cache_actions.c.ts <= _naive_utc(end)
    )
    if target is not None:
        query = query.where(cache_actions.c.target == target)
    if actions:
        query = query.where(cache_actions.c.action.in_(list(actions)))
    query = query.order_by(cache_actions.c.ts.desc(), cache_actions.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=HISTORY_COLUMNS)
    frame["ts"] = pd.to_datetime(frame["ts"]).dt.tz_localize("UTC")
    frame["keys_affected"] = frame["keys_affected"].astype("Int64")
    for name in ("pattern", "username", "detail"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


# -- background jobs --------------------------------------------------------------------------------

# A running job writes its progress at least this often; a job silent for longer died with its
# process (a web server restart, a killed worker) and no longer blocks a new clear.
JOB_STALE_AFTER = timedelta(seconds=120)
FINISHED = ("done", "cancelled", "failed")


class JobConflict(Exception):
    """Another job of the same kind is already running on that target."""


@dataclass(frozen=True)
class CacheJob:
    """A background job of the Cache page. ``status``: queued, running, done, cancelled, failed."""

    id: str
    target: str
    kind: str
    status: str
    username: str | None
    created_at: datetime
    updated_at: datetime
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    cancel_requested: bool

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def _job(row: Any) -> CacheJob:
    return CacheJob(
        id=row["id"],
        target=row["target"],
        kind=row["kind"],
        status=row["status"],
        username=row["username"],
        created_at=pd.Timestamp(row["created_at"]).tz_localize("UTC").to_pydatetime(),
        updated_at=pd.Timestamp(row["updated_at"]).tz_localize("UTC").to_pydatetime(),
        params=dict(row["params"] or {}),
        progress=dict(row["progress"] or {}),
        result=dict(row["result"]) if row["result"] is not None else None,
        error=row["error"],
        cancel_requested=bool(row["cancel_requested"]),
    )


def create_job(
    engine: Engine,
    *,
    job_id: str,
    target: str,
    kind: str,
    username: str | None,
    params: Mapping[str, Any],
    exclusive: str | None = None,
) -> CacheJob:
    """Queue a job. ``exclusive`` names a lock (``"clear"``): JobConflict while one of that name runs."""
    now = _naive_utc(utc_now())
    active_key = f"{target}/{exclusive}"[:191] if exclusive else None
    if active_key is not None:
        _release_stale(engine, active_key, now)
    try:
        with write_transaction(engine) as conn:
            conn.execute(
                cache_jobs.insert(),
                {
                    "id": job_id,
                    "target": target,
                    "kind": kind,
                    "status": "queued",
                    "username": username,
                    "created_at": now,
                    "updated_at": now,
                    "params": dict(params),
                    "progress": {},
                    "result": None,
                    "error": None,
                    "cancel_requested": False,
                    "active_key": active_key,
                },
            )
    except IntegrityError:
        raise JobConflict(f"a {exclusive} is already running on {target}; wait for it or cancel it") from None
    found = get_job(engine, job_id)
    assert found is not None
    return found


def _release_stale(engine: Engine, active_key: str, now: datetime) -> None:
    """Fail the holder of ``active_key`` if it stopped reporting (its process died)."""
    with write_transaction(engine) as conn:
        conn.execute(
            update(cache_jobs)
            .where(cache_jobs.c.active_key == active_key, cache_jobs.c.updated_at < now - JOB_STALE_AFTER)
            .values(status="failed", active_key=None, error="the process running this job stopped")
        )


def job_progress(engine: Engine, job_id: str, progress: Mapping[str, Any]) -> bool:
    """Record progress (and mark the job running); returns True when a cancel was requested."""
    with write_transaction(engine) as conn:
        conn.execute(
            update(cache_jobs)
            .where(cache_jobs.c.id == job_id, cache_jobs.c.status.in_(("queued", "running")))
            .values(status="running", progress=dict(progress), updated_at=_naive_utc(utc_now()))
        )
        wanted = conn.execute(select(cache_jobs.c.cancel_requested).where(cache_jobs.c.id == job_id)).scalar()
    return bool(wanted)


def finish_job(
    engine: Engine,
    job_id: str,
    *,
    status: str,
    result: Mapping[str, Any] | None = None,
    error: str | None = None,
    progress: Mapping[str, Any] | None = None,
) -> None:
    """Mark the job finished (done, cancelled or failed) and release its lock."""
    if status not in FINISHED:
        raise ValueError(f"status: one of {', '.join(FINISHED)}")
    values: dict[str, Any] = {
        "status": status,
        "result": dict(result) if result is not None else None,
        "error": error,
        "active_key": None,
        "updated_at": _naive_utc(utc_now()),
    }
    if progress is not None:
        values["progress"] = dict(progress)
    with write_transaction(engine) as conn:
        conn.execute(update(cache_jobs).where(cache_jobs.c.id == job_id).values(**values))


def request_cancel(engine: Engine, job_id: str) -> bool:
    """Ask a queued or running job to stop; False when it had already finished (or does not exist)."""
    with write_transaction(engine) as conn:
        changed = conn.execute(
            update(cache_jobs)
            .where(cache_jobs.c.id == job_id, cache_jobs.c.status.in_(("queued", "running")))
            .values(cancel_requested=True)
        ).rowcount
    return bool(changed)


def get_job(engine: Engine, job_id: str) -> CacheJob | None:
    """One job by id, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(cache_jobs).where(cache_jobs.c.id == job_id)).mappings().first()
    return _job(row) if row is not None else None


def latest_job(engine: Engine, target: str, kinds: Sequence[str]) -> CacheJob | None:
    """The newest job of one of ``kinds`` on ``target``, or None."""
    query = (
        select(cache_jobs)
        .where(cache_jobs.c.target == target, cache_jobs.c.kind.in_(list(kinds)))
        .order_by(cache_jobs.c.created_at.desc(), cache_jobs.c.updated_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return _job(row) if row is not None else None


class CacheSection:
    """``store.cache``: the Cache page's reads, keyword arguments only."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def latest_stats(self, *, target: str) -> CacheStats | None:
        """The newest collected INFO snapshot of ``target``."""
        return latest_cache_stats(self._engine, target)

    def slowlog(
        self,
        *,
        target: str | None = None,
        since: TimeInput = "24h",
        until: TimeInput = None,
        limit: int = 1000,
    ) -> pd.DataFrame:
        """SLOWLOG entries, newest first."""
        return slowlog(self._engine, target, since=since, until=until, limit=limit)

    def history(
        self,
        *,
        target: str | None = None,
        since: TimeInput = "30d",
        until: TimeInput = None,
        actions: Sequence[str] | None = None,
        limit: int = 500,
    ) -> pd.DataFrame:
        """Clears, tag clears, flushes, policy changes and eviction-rule runs, newest first."""
        return history(self._engine, target, since=since, until=until, actions=actions, limit=limit)

    def job(self, *, job_id: str) -> CacheJob | None:
        """A background job (clear, keyspace summary) with its progress and outcome, or None."""
        return get_job(self._engine, job_id)

    def latest_job(self, *, target: str, kinds: Sequence[str]) -> CacheJob | None:
        """The newest job of one of ``kinds`` (e.g. ``["summary"]``) on ``target``."""
        return latest_job(self._engine, target, kinds)

    def rules(self, *, target: str | None = None) -> list[StoredRule]:
        """The eviction rules edited on the Cache page (all, or one target's), oldest first."""
        return list_rules(self._engine, target)

    def rule(self, *, rule_id: int) -> StoredRule | None:
        """One stored eviction rule, or None."""
        return get_rule(self._engine, rule_id)
