"""Log archives: entries written out to gzip JSON Lines with a SHA-256, verified, restored, pruned.

An archive file holds one JSON object per entry with every column (the original ``id`` included),
so a restore puts back exactly the rows that left, and restoring twice inserts nothing the second
time (``INSERT OR IGNORE`` / ``INSERT IGNORE`` on the primary key). Hot rows are deleted only by the
ids read back from an archive that has just verified: a corrupted, truncated or missing file is
reported and nothing is deleted.

A file is written under a temporary name and renamed only when complete; any error while writing
(a full disk included) removes the partial file and leaves the hot rows and the archive list as they
were.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pandas as pd
from sqlalchemy import Engine, delete, func, insert, literal, or_, select, update

from storage.engine import write_transaction
from storage.logs import _LOG_COLUMNS, LogFilter, _filtered, recount
from storage.schema import log_archives, log_entries
from storage.timeparse import utc_now

__all__ = [
    "ArchiveCancelled",
    "ArchiveError",
    "ArchiveResult",
    "create_archive",
    "delete_archive_file",
    "delete_hot_rows",
    "list_archives",
    "restore_archive",
    "verify_archive",
]

_FETCH = 20_000
_INSERT_BATCH = 2_000
_DELETE_BATCH = 50_000  # ids per DELETE statement
_DELETE_RUNS = 500  # id ranges per DELETE statement (scattered ids: one range each)
# Called between batches with the entries done so far; True asks the work to stop (a job's cancel).
Progress = Callable[[int], bool]
_ARCHIVE_COLUMNS = [
    "id", "created_at", "from_ts", "to_ts", "path", "entries", "bytes", "sha256", "filters", "status",
    "verified_at", "hot_deleted_at", "created_by",
]  # fmt: skip


class ArchiveError(RuntimeError):
    """An archive cannot be used: missing, corrupted, truncated, or not verified."""


class ArchiveCancelled(RuntimeError):
    """The work was cancelled between two batches; nothing of it was kept."""


@dataclass(frozen=True)
class ArchiveResult:
    id: int
    entries: int
    bytes: int
    sha256: str
    path: str


class _HashingWriter:
    """A binary file wrapper that hashes every byte written (the SHA-256 of the .gz file itself)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def _json_line(dialect: str) -> Any:
    """One entry as a JSON object, built by the database itself.

    Per-row Python work is what limited the archive (PyMySQL parsing eleven columns per row, then a
    JSON encode): one JSON text column per row measured 25k -> 220k lines/s on MariaDB and
    72k -> 370k lines/s on SQLite here. ``context`` is JSON already, so it is embedded as JSON.
    """
    table = log_entries
    context = func.json(table.c.context) if dialect == "sqlite" else func.json_extract(table.c.context, "$")
    pairs: list[Any] = []
    for name in _LOG_COLUMNS:
        pairs += [literal(name), context if name == "context" else table.c[name]]
    return func.json_object(*pairs)


def _driver_rows(conn: Any, statement: Any, size: int) -> Iterator[list[tuple[Any, ...]]]:
    """The statement's rows in lists of ``size``, straight from the DBAPI cursor (unbuffered on
    MySQL, so a million rows never sit in memory at once)."""
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        params: Any = [compiled.params[name] for name in compiled.positiontup or []]
        cursor = dbapi.cursor()
    else:
        import pymysql.cursors

        params = compiled.params
        cursor = dbapi.cursor(pymysql.cursors.SSCursor)
    try:
        cursor.execute(compiled.string, params)
        while chunk := cursor.fetchmany(size):
            yield chunk
    finally:
        cursor.close()


def create_archive(
    engine: Engine,
    where: LogFilter,
    directory: Path,
    *,
    created_by: str | None = None,
    filters: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> ArchiveResult | None:
    """Write the entries ``where`` selects to a new archive file; None when nothing matches.

    Rows stay in the hot table (``delete_hot_rows`` removes them after a verify). ``progress``
    returning True discards the partial file and raises ArchiveCancelled.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stamp = utc_now().strftime("%Y%m%dT%H%M%S%f")
    final = directory / f"logs-{stamp}.jsonl.gz"
    partial = directory / f".{final.name}.partial"
    count, first, last = 0, None, None
    try:
        with open(partial, "wb") as raw:
            hashing = _HashingWriter(raw)
            # Level 1: the archive is written at >= 100k lines/s; higher levels save little on logs.
            zipped = gzip.GzipFile(fileobj=hashing, mode="wb", compresslevel=1, mtime=0)
            with zipped as out, engine.connect() as conn:
                columns = [log_entries.c.ts, _json_line(conn.dialect.name)]
                # No ORDER BY: the rows come in the order of the index that selects them (time for
                # a range), without a sort of the whole range first; restore and delete need ids only.
                statement = _filtered(conn, where, columns)
                for chunk in _driver_rows(conn, statement, _FETCH):
                    if progress is not None and progress(count):
                        raise ArchiveCancelled(count)
                    lines = [line for _, line in chunk]
                    lines.append("")  # the last line ends with a newline too
                    out.write("\n".join(lines).encode("utf-8", "replace"))
                    count += len(chunk)
                    stamps = [ts for ts, _ in chunk]
                    low, high = min(stamps), max(stamps)
                    first = low if first is None else min(first, low)
                    last = high if last is None else max(last, high)
            raw.flush()
            os.fsync(raw.fileno())
        if count == 0:
            partial.unlink(missing_ok=True)
            return None
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)  # a full disk or any other failure: no half archive
        raise
    digest = hashing.digest.hexdigest()
    try:
        with write_transaction(engine) as conn:
            inserted = conn.execute(
                insert(log_archives).values(
                    created_at=utc_now().replace(tzinfo=None),
                    from_ts=first,
                    to_ts=last,
                    path=str(final),
                    entries=count,
                    bytes=hashing.size,
                    sha256=digest,
                    filters=filters,
                    status="written",
                    created_by=created_by,
                )
            ).inserted_primary_key
            new_id: Any = inserted[0] if inserted is not None else 0
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    return ArchiveResult(int(new_id), count, hashing.size, digest, str(final))


def list_archives(engine: Engine) -> pd.DataFrame:
    """Every archive, newest first."""
    columns = [log_archives.c[name] for name in _ARCHIVE_COLUMNS]
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).order_by(log_archives.c.id.desc())).all()
    frame = pd.DataFrame(rows, columns=_ARCHIVE_COLUMNS)
    for name in ("created_at", "verified_at", "hot_deleted_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def archive_row(engine: Engine, archive_id: int) -> dict[str, Any]:
    """One archive's row; KeyError when there is none."""
    columns = [log_archives.c[name] for name in _ARCHIVE_COLUMNS]
    with engine.connect() as conn:
        row = conn.execute(select(*columns).where(log_archives.c.id == archive_id)).first()
    if row is None:
        raise KeyError(archive_id)
    return dict(row._mapping)


def _read_entries(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                yield json.loads(line)
            except ValueError as exc:
                raise ArchiveError(f"line {number} is not valid JSON") from exc


def _check_file(row: dict[str, Any]) -> None:
    """Raise ArchiveError saying why the archive's file is not the one that was written."""
    path = Path(row["path"])
    if not path.is_file():
        raise ArchiveError(f"the archive file {path.name} is missing")
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        while block := raw.read(1 << 20):
            digest.update(block)
    if row["sha256"] and digest.hexdigest() != row["sha256"]:
        raise ArchiveError("the checksum does not match: the file was changed or truncated")
    try:
        count = sum(1 for _ in _read_entries(path))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ArchiveError(f"the file cannot be decompressed ({exc})") from exc
    if count != row["entries"]:
        raise ArchiveError(f"the file holds {count} entries, {row['entries']} were archived")


def verify_archive(engine: Engine, archive_id: int) -> tuple[bool, str]:
    """Check the file against its SHA-256 and entry count; records and returns (ok, reason)."""
    row = archive_row(engine, archive_id)
    try:
        _check_file(row)
    except ArchiveError as exc:
        status = "missing" if "missing" in str(exc) else "corrupt"
        _set(engine, archive_id, status=status, verified_at=utc_now().replace(tzinfo=None))
        return False, str(exc)
    _set(engine, archive_id, status="verified", verified_at=utc_now().replace(tzinfo=None))
    return True, "checksum and entry count match"


def _set(engine: Engine, archive_id: int, **values: Any) -> None:
    with write_transaction(engine) as conn:
        conn.execute(update(log_archives).where(log_archives.c.id == archive_id).values(**values))


def restore_archive(engine: Engine, archive_id: int, progress: Progress | None = None) -> int:
    """Put an archive's entries back into the hot table; returns how many were missing and inserted.

    Refuses (ArchiveError) unless the file verifies. Entries still present are left as they are.
    One transaction: a cancel (``progress`` returning True) or a failure restores nothing.
    """
    ok, reason = verify_archive(engine, archive_id)
    if not ok:
        raise ArchiveError(reason)
    row = archive_row(engine, archive_id)
    inserted, read = 0, 0
    batch: list[dict[str, Any]] = []
    with write_transaction(engine) as conn:
        ignore = "OR IGNORE" if conn.dialect.name == "sqlite" else "IGNORE"
        statement = insert(log_entries).prefix_with(ignore)
        for item in _read_entries(Path(row["path"])):
            batch.append({name: item.get(name) for name in _LOG_COLUMNS})
            if len(batch) >= _INSERT_BATCH:
                inserted += conn.execute(statement, batch).rowcount
                read += len(batch)
                batch = []
                if progress is not None and progress(read):
                    raise ArchiveCancelled(read)
        if batch:
            inserted += conn.execute(statement, batch).rowcount
        recount(conn, int(row["from_ts"]), int(row["to_ts"]))
    _set(engine, archive_id, hot_deleted_at=None)
    return max(0, inserted)


def _id_runs(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted ids as (first, last) runs of consecutive values: a whole-range archive is one run."""
    runs: list[tuple[int, int]] = []
    for value in sorted(ids):
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def delete_hot_rows(engine: Engine, archive_id: int, progress: Progress | None = None) -> int:
    """Delete from the hot table the entries an archive holds, after verifying it; returns how many.

    Only the ids read back from the verified file go, deleted by runs of consecutive ids (one
    ``BETWEEN`` per run instead of an ``IN`` list per 2,000 ids). One transaction: a cancel
    (``progress`` returning True) or a failure deletes nothing.
    """
    ok, reason = verify_archive(engine, archive_id)
    if not ok:
        raise ArchiveError(f"not deleting anything: {reason}")
    row = archive_row(engine, archive_id)
    runs = _id_runs([int(item["id"]) for item in _read_entries(Path(row["path"]))])
    deleted, done = 0, 0
    with write_transaction(engine) as conn:
        pieces = list(_bounded(runs, _DELETE_BATCH))
        for start in range(0, len(pieces), _DELETE_RUNS):
            part = pieces[start : start + _DELETE_RUNS]
            ranges = [log_entries.c.id.between(low, high) for low, high in part]
            deleted += conn.execute(delete(log_entries).where(or_(*ranges))).rowcount
            done += sum(high - low + 1 for low, high in part)
            if progress is not None and progress(done):
                raise ArchiveCancelled(done)
        recount(conn, int(row["from_ts"]), int(row["to_ts"]))
        conn.execute(
            update(log_archives)
            .where(log_archives.c.id == archive_id)
            .values(hot_deleted_at=utc_now().replace(tzinfo=None))
        )
    return deleted


def _bounded(runs: list[tuple[int, int]], size: int) -> Iterator[tuple[int, int]]:
    """The runs cut so none spans more than ``size`` ids (bounded statements, regular progress)."""
    for low, high in runs:
        while low <= high:
            yield low, min(high, low + size - 1)
            low += size


def delete_archive_file(engine: Engine, archive_id: int) -> None:
    """Remove an archive's file and its row (archive retention)."""
    row = archive_row(engine, archive_id)
    Path(row["path"]).unlink(missing_ok=True)
    with write_transaction(engine) as conn:
        conn.execute(delete(log_archives).where(log_archives.c.id == archive_id))


def archives_older_than(engine: Engine, cutoff: datetime) -> list[int]:
    """Ids of archives created before ``cutoff`` (naive UTC)."""
    with engine.connect() as conn:
        return [
            int(value)
            for (value,) in conn.execute(select(log_archives.c.id).where(log_archives.c.created_at < cutoff))
        ]


def scheduled_archive_end(engine: Engine) -> int | None:
    """The newest ``to_ts`` of the scheduled archives (where the next scheduled one starts)."""
    with engine.connect() as conn:
        rows = conn.execute(select(log_archives.c.to_ts, log_archives.c.filters)).all()
    ends = [int(to_ts) for to_ts, filters in rows if _is_scheduled(filters)]
    return max(ends) if ends else None


def _is_scheduled(filters: Any) -> bool:
    if isinstance(filters, str):
        try:
            filters = json.loads(filters)
        except ValueError:
            return False
    return isinstance(filters, dict) and bool(filters.get("scheduled"))


def scheduled_archives_to_thin(engine: Engine, before_ms: int) -> list[int]:
    """Scheduled archives entirely older than ``before_ms`` whose hot rows are still present."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(log_archives.c.id, log_archives.c.filters).where(
                log_archives.c.to_ts < before_ms, log_archives.c.hot_deleted_at.is_(None)
            )
        ).all()
    return [int(archive_id) for archive_id, filters in rows if _is_scheduled(filters)]


def mark_archive_end(engine: Engine, archive_id: int, to_ts: int) -> None:
    """Set where an archive's range ends (a scheduled day archive covers its whole day)."""
    _set(engine, archive_id, to_ts=to_ts)


def oldest_entry_ms(engine: Engine) -> int | None:
    with engine.connect() as conn:
        value = conn.execute(select(func.min(log_entries.c.ts))).scalar()
    return None if value is None else int(value)
