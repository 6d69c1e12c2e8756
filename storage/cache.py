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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import Engine, select

from storage.engine import write_transaction
from storage.schema import cache_stats, redis_slowlog
from storage.timeparse import TimeInput, resolve_range

__all__ = [
    "CacheSection",
    "CacheStats",
    "SlowlogEvent",
    "latest_cache_stats",
    "record_cache_stats",
    "record_slowlog",
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
