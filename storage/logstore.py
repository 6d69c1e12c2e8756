"""The log write path: parsed lines in bulk plus the file checkpoint that covers them, in one transaction.

Rows are plain tuples ``(ts_ms, level, channel, message, context, request_id)`` (the tailer's
``LogRecord`` is such a tuple). Like the sample path in ``storage.writes``, they go straight to the
DBAPI cursor's ``executemany``: SQLAlchemy Core's per-row parameter processing would cost more than
SQLite's own work (FTS5 indexing included) at the >= 50,000 lines/s this path is built for.

The checkpoint is advanced with a compare-and-set against the one the lines were read from, inside
the same transaction as the lines: a crash before the commit re-reads the same bytes next time, a
crash after it starts after them, and two processes that read the same bytes cannot both store
them (the second one's compare fails and its transaction is rolled back).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Engine, and_, select

from storage.engine import write_transaction
from storage.schema import log_checkpoints
from storage.timeparse import utc_now

__all__ = ["CheckpointConflict", "LogRow", "insert_log_rows", "load_checkpoints", "store_log_batch"]

# (ts_ms, level, channel, message, context, request_id)
LogRow = tuple[int, str, str | None, str, Mapping[str, Any] | None, str | None]

_COLUMNS = "ts, host, source, level, channel, message, context, request_id"
_SQLITE_INSERT = f"INSERT INTO log_entries ({_COLUMNS}) VALUES "
_SQLITE_ROW = "(?,?,?,?,?,?,?,?)"
_MYSQL_INSERT = f"INSERT INTO log_entries ({_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
# Rows per multi-row SQLite statement: 8 variables each, within even old builds' 999-variable limit.
_SQLITE_ROWS_PER_STATEMENT = 120
# Rows per PyMySQL executemany call (it packs them into multi-row INSERTs of <= ~1 MB itself).
_MYSQL_ROWS_PER_CALL = 5_000
# Column widths (schema.log_entries): MariaDB in strict mode rejects longer values outright.
_SOURCE_MAX, _LEVEL_MAX, _CHANNEL_MAX, _REQUEST_ID_MAX = 255, 16, 191, 64


class CheckpointConflict(RuntimeError):
    """The stored checkpoint moved since the lines were read: another process stored them already."""


def load_checkpoints(engine: Engine, host: str) -> dict[str, tuple[int, int]]:
    """path -> (inode, offset) of every file this host tails."""
    statement = select(log_checkpoints.c.path, log_checkpoints.c.inode, log_checkpoints.c.offset).where(
        log_checkpoints.c.host == host
    )
    with engine.connect() as conn:
        return {path: (int(inode), int(offset)) for path, inode, offset in conn.execute(statement)}


def store_log_batch(
    engine: Engine,
    host: str,
    source: str,
    rows: Sequence[LogRow],
    previous: tuple[int, int] | None,
    checkpoint: tuple[int, int],
) -> bool:
    """Store the rows read from ``source`` and move its checkpoint from ``previous`` to ``checkpoint``.

    Returns False, storing nothing, when the stored checkpoint is no longer ``previous``.
    """
    try:
        with write_transaction(engine) as conn:
            _advance_checkpoint(conn, host, source, previous, checkpoint)
            insert_log_rows(conn, host, source, rows)
    except CheckpointConflict:
        return False
    return True


def _advance_checkpoint(
    conn: Connection, host: str, path: str, previous: tuple[int, int] | None, checkpoint: tuple[int, int]
) -> None:
    values = {"inode": checkpoint[0], "offset": checkpoint[1], "updated_at": utc_now().replace(tzinfo=None)}
    key = and_(log_checkpoints.c.path == path, log_checkpoints.c.host == host)
    if previous is None:
        exists = conn.execute(select(log_checkpoints.c.inode).where(key)).first()
        if exists is not None:
            raise CheckpointConflict(path)
        conn.execute(log_checkpoints.insert().values(path=path, host=host, **values))
        return
    moved = conn.execute(
        log_checkpoints.update()
        .where(key, log_checkpoints.c.inode == previous[0], log_checkpoints.c.offset == previous[1])
        .values(**values)
    )
    if moved.rowcount != 1:
        raise CheckpointConflict(path)


def insert_log_rows(conn: Connection, host: str, source: str, rows: Sequence[LogRow]) -> int:
    """Bulk-insert rows into ``log_entries`` through the driver's cursor; returns how many."""
    if not rows:
        return 0
    dbapi: Any = conn.connection.driver_connection
    host, source = host[:_SOURCE_MAX], source[:_SOURCE_MAX]
    try:
        with conn.begin_nested():  # a savepoint: a failed batch leaves nothing half inserted
            _insert(conn.dialect.name, dbapi, _driver_rows(rows, host, source))
    except UnicodeEncodeError:
        # A lone surrogate (a JSON "\ud800" escape) cannot be encoded; rather than fail the file
        # forever, store the batch again with such characters replaced.
        _insert(conn.dialect.name, dbapi, _driver_rows([_clean(row) for row in rows], host, source))
    return len(rows)


def _insert(dialect: str, dbapi: Any, rows: list[tuple[Any, ...]]) -> None:
    cursor = dbapi.cursor()
    try:
        if dialect == "sqlite":
            _insert_sqlite(cursor, dbapi, rows)
        else:
            for start in range(0, len(rows), _MYSQL_ROWS_PER_CALL):
                cursor.executemany(_MYSQL_INSERT, rows[start : start + _MYSQL_ROWS_PER_CALL])
    finally:
        cursor.close()


def _insert_sqlite(cursor: Any, dbapi: Any, rows: list[tuple[Any, ...]]) -> None:
    try:
        max_variables = dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except AttributeError:  # Python < 3.11
        max_variables = 999
    per_statement = max(1, min(_SQLITE_ROWS_PER_STATEMENT, max_variables // 8))
    full = len(rows) - len(rows) % per_statement
    if full:
        sql = _SQLITE_INSERT + ",".join([_SQLITE_ROW] * per_statement)
        cursor.executemany(sql, _flattened(rows[:full], per_statement))
    if full < len(rows):
        cursor.executemany(_SQLITE_INSERT + _SQLITE_ROW, rows[full:])


def _flattened(rows: list[tuple[Any, ...]], per_statement: int) -> Iterator[list[Any]]:
    """Parameter lists of ``per_statement`` rows each, for one multi-row INSERT per list."""
    iterator = iter(rows)
    while chunk := list(islice(iterator, per_statement)):
        yield [value for row in chunk for value in row]


def _driver_rows(rows: Sequence[LogRow], host: str, source: str) -> list[tuple[Any, ...]]:
    return [
        (
            ts,
            host,
            source,
            level[:_LEVEL_MAX],
            channel[:_CHANNEL_MAX] if channel is not None else None,
            message,
            _context_json(context) if context else None,
            request_id[:_REQUEST_ID_MAX] if request_id is not None else None,
        )
        for ts, level, channel, message, context, request_id in rows
    ]


# One encoder, made once: json.dumps with any option builds a new encoder per call (~2 us a row).
# Strict JSON: MariaDB's JSON column checks JSON_VALID, which rejects NaN and Infinity.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str, allow_nan=False)


def _context_json(context: Mapping[str, Any]) -> str:
    try:
        return _ENCODER.encode(context)
    except ValueError:
        return _ENCODER.encode({key: str(value) for key, value in context.items()})


def _clean(row: LogRow) -> LogRow:
    ts, level, channel, message, context, request_id = row

    def fix(text: str | None) -> str | None:
        return None if text is None else text.encode("utf-8", "replace").decode("utf-8")

    fixed_context = json.loads(fix(_context_json(context)) or "null") if context else None
    return (ts, level, fix(channel), fix(message) or "", fixed_context, fix(request_id))
