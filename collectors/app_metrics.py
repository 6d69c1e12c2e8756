"""Vitals watching itself: the size of its store, its connection pool, and its pending spool.

Given plain arguments (an SQLAlchemy engine, the spool directory), so it needs nothing from
``storage`` or ``tasks``. The size is a level; its growth is left to analytics (``store.trend``).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text

from collectors.base import Collection, Reading, guarded

__all__ = ["APP_METRICS", "AppMetricsCollector", "sqlite_store_bytes"]

APP_METRICS: dict[str, tuple[str, str]] = {
    "vitals.store.size_bytes": ("B", "Size of the Vitals store (SQLite file + WAL; MySQL data + indexes)"),
    "vitals.store.pool.checked_out": ("", "Store connections in use by this process"),
    "vitals.store.pool.overflow": ("", "Store connections open beyond the pool size (negative: unused room)"),
    "vitals.store.pool.size": ("", "Store connection pool size of this process"),
    "vitals.spool.files": ("", "Spooled batches waiting for the store to come back"),
    "vitals.spool.bytes": ("B", "Size of the spooled batches waiting for the store"),
    "vitals.spool.oldest_age_seconds": ("s", "Age of the oldest spooled batch: how far behind the store is"),
}

# Spool files are "<ns>-<pid>-<n>.parquet"; temporary ones start with a dot (tasks/spool.py).
_SPOOL_SUFFIX = ".parquet"
_MYSQL_SIZE_SQL = text(
    "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
    "WHERE table_schema = DATABASE()"
)


def _reading(metric: str, value: float) -> Reading:
    return Reading(metric, float(value), {}, APP_METRICS[metric][0])


def sqlite_store_bytes(database: str | os.PathLike[str]) -> int:
    """The database file plus its write-ahead log: both are disk the store uses."""
    total = 0
    for path in (Path(database), Path(f"{database}-wal")):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total


class AppMetricsCollector:
    """Reads the store's size and pool, and the spool, each guarded on its own."""

    def __init__(self, engine: Engine, spool_dir: str | os.PathLike[str] | None = None) -> None:
        self.engine = engine
        self.name = socket.gethostname()  # stored as the host, beside this host's system readings
        self.spool_dir = Path(spool_dir) if spool_dir is not None else None

    def collect(self) -> Collection:
        """The store's size and pool and the spool, each guarded: a failing part is named in ``errors``."""
        result = Collection(self.name)
        result.readings += guarded("store size", self._store_size, result.errors)
        result.readings += guarded("store pool", self._pool, result.errors)
        if self.spool_dir is not None:
            result.readings += guarded("spool", self._spool, result.errors)
        return result

    def _store_size(self) -> Iterator[Reading]:
        if self.engine.dialect.name == "sqlite":
            database = self.engine.url.database
            if not database or database == ":memory:":
                return  # nothing on disk to measure
            yield _reading("vitals.store.size_bytes", sqlite_store_bytes(database))
            return
        with self.engine.connect() as conn:
            size = conn.execute(_MYSQL_SIZE_SQL).scalar_one()
        yield _reading("vitals.store.size_bytes", int(size))

    def _pool(self) -> Iterator[Reading]:
        # Pools differ: QueuePool has all three, SingletonThreadPool only size(), NullPool none.
        pool = self.engine.pool
        for metric, method in (
            ("vitals.store.pool.checked_out", "checkedout"),
            ("vitals.store.pool.overflow", "overflow"),
            ("vitals.store.pool.size", "size"),
        ):
            read = getattr(pool, method, None)
            if callable(read):
                yield _reading(metric, read())

    def _spool(self) -> Iterator[Reading]:
        files, size, oldest_ns = 0, 0, None
        try:
            entries = list(os.scandir(self.spool_dir))
        except FileNotFoundError:
            entries = []  # nothing ever spooled
        for entry in entries:
            if entry.name.endswith(_SPOOL_SUFFIX) and not entry.name.startswith(".") and entry.is_file():
                files += 1
                size += entry.stat().st_size
                oldest_ns = _min(oldest_ns, _spooled_at_ns(entry.name))
        yield _reading("vitals.spool.files", files)
        yield _reading("vitals.spool.bytes", size)
        age = 0.0 if oldest_ns is None else max(0.0, (time.time_ns() - oldest_ns) / 1e9)
        yield _reading("vitals.spool.oldest_age_seconds", age)


def _spooled_at_ns(name: str) -> int | None:
    """When a spool file was written: its name starts with the epoch nanoseconds."""
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _min(current: int | None, candidate: int | None) -> int | None:
    if candidate is None:
        return current
    return candidate if current is None else min(current, candidate)
