"""Nothing lost: a durable on-disk spool for samples collected while the store is unreachable.

Jobs call :func:`write_samples` instead of ``store.write``. It first replays what is already
spooled (oldest file first), then writes the new frame. When the store cannot be reached (a
connection-level error, not a bad frame), the frame is written to the spool directory instead and
the call returns normally, so a job never fails because the store is down.

Why it is safe to replay at any time, from any number of processes:

* each spool file is one batch, written under a temporary name, fsync'd, renamed into place and
  the directory fsync'd, so a file either exists whole or not at all;
* a file is deleted only after the transaction that wrote its rows committed, and sample writes are
  ``INSERT IGNORE`` / ``INSERT OR IGNORE``: a crash between commit and delete (or two workers
  replaying the same file) replays rows that are already there, which is a no-op;
* a file that cannot be read or that the store rejects as data is moved to ``corrupt/`` with a
  warning, so one bad file never blocks the rest or loops forever.

Bound: by default at most 50,000 files and 256 MiB are kept (about two days of one 5 s job). Past
that the *oldest* files are dropped with a warning naming how many: like a ring buffer (Telegraf's
metric buffer, Prometheus' remote-write queue), the most recent data is what an operator
recovering from an outage needs, and an unbounded spool would fill the disk the host is being
watched for.

Files are Parquet (pyarrow): ts as int64 epoch milliseconds (exact), metric, host, labels as
canonical JSON, unit and value, the same tidy shape ``Store.write`` takes.

Event batches (rows for event tables) go through :func:`write_events` the same way, kept as JSON
lines under ``events/`` and replayed to the writer registered for their kind (see the last section).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import exc as sa_exc

from storage import Store
from storage.series import canonical_labels
from storage.writes import REQUIRED_COLUMNS, epoch_millis

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FILES",
    "Spool",
    "is_store_unreachable",
    "register_event_writer",
    "spool_for",
    "write_events",
    "write_samples",
]

log = logging.getLogger("vitals.spool")

DEFAULT_MAX_FILES = 50_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# Replay joins consecutive files into one write of at most this many rows (one commit, not one per file).
REPLAY_BATCH_ROWS = 100_000
# One call replays for at most this long, so a large backlog never makes a job miss its slot by much.
REPLAY_BUDGET_SECONDS = 5.0
SUFFIX = ".parquet"
CORRUPT_DIR = "corrupt"
_TEMP_PREFIX = ".tmp-"
# A temp file older than this was left by a crash mid-write: it was never renamed, so never counted.
_STALE_TEMP_SECONDS = 3600.0
_APPENDS_PER_SCAN = 100
_BACKLOG = "backlog"

_SCHEMA = pa.schema(
    [
        ("ts", pa.int64()),
        ("metric", pa.string()),
        ("host", pa.string()),
        ("labels", pa.string()),
        ("unit", pa.string()),
        ("value", pa.float64()),
    ]
)
_counter = itertools.count()


def is_store_unreachable(error: BaseException) -> bool:
    """True when ``error`` says the store could not be reached or used, not that the data was bad.

    Operational and interface errors cover a refused or lost connection, "server has gone away",
    lock and deadlock timeouts on MySQL, and "unable to open database file", "disk I/O error" or
    "database is locked" (after the busy timeout) on SQLite. A pool timeout and an invalidated
    connection count too. Integrity, data and programming errors and ``ValueError`` are the
    caller's bug: spooling them would only defer the failure.
    """
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(
        error, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, ConnectionError)
    )


@dataclass(frozen=True)
class Pending:
    """What waits in the spool: file count and total bytes."""

    files: int
    bytes: int


class Spool:
    """One spool directory. Thread-safe; several processes may share the directory."""

    def __init__(
        self,
        directory: Path | str,
        max_files: int = DEFAULT_MAX_FILES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        replay_budget_seconds: float = REPLAY_BUDGET_SECONDS,
    ) -> None:
        self.directory = Path(directory)
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.replay_budget_seconds = replay_budget_seconds
        self._lock = threading.Lock()
        # What this process believes is spooled, so appending does not list the directory each time.
        self._estimate: Pending | None = None
        self._appends_since_scan = 0

    # -- the one call jobs make -----------------------------------------------------------------

    def write(self, store: Store, frame: pd.DataFrame) -> int:
        """Replay the backlog, then store ``frame``; spool it instead if the store is unreachable.

        Returns the number of this frame's samples stored now (0 when it was spooled). Raises only
        for a frame the store would reject anyway (missing columns, unreadable timestamps).
        """
        if frame.empty:
            self.replay(store)
            return 0
        with self._lock:
            reason = self._replay_locked(store) or _replay_events(self, store)
            if reason is None:
                try:
                    return store.write(frame)
                except Exception as error:
                    if not is_store_unreachable(error):
                        raise
                    reason = _short(error)
            try:
                path = self.append(frame)
            except OSError as error:
                _log_unspoolable(self.directory, "samples", reason, error)
                return 0
            pending = self._estimate or self.pending()
            _log_spooled(self.directory, reason, f"{len(frame)} samples", path)
            log.debug("spool %s: %d files, %d bytes pending", self.directory, pending.files, pending.bytes)
            return 0

    def write_events(self, store: Store, kind: str, records: list[EventRecord]) -> int | None:
        """Replay spooled events, then write these (see :func:`write_events`)."""
        with self._lock:
            return _write_events_locked(self, store, kind, records)

    # -- spooling -------------------------------------------------------------------------------

    def append(self, frame: pd.DataFrame) -> Path:
        """Write ``frame`` durably as the newest spool file and return its path."""
        table = _to_table(frame)
        final = _durable_write(
            self.directory, SUFFIX, lambda handle: pq.write_table(table, handle, compression="zstd")
        )
        self._count_append(_size(final))
        return final

    def files(self) -> list[Path]:
        """Spool files waiting for replay, oldest first (names sort by creation time)."""
        try:
            names = [entry.name for entry in os.scandir(self.directory) if _is_spool_file(entry.name)]
        except FileNotFoundError:
            return []
        return [self.directory / name for name in sorted(names)]

    def pending(self) -> Pending:
        """How many files and bytes wait for replay."""
        sizes = [_size(path) for path in self.files()]
        return Pending(files=len(sizes), bytes=sum(sizes))

    def _count_append(self, size: int) -> None:
        """Keep the estimate current; check the real bounds when near them, or every 100 appends.

        Other processes may append to the same directory, so the estimate is refreshed from a full
        listing regularly; the bound can therefore be overshot by at most a few files per process.
        """
        self._appends_since_scan += 1
        if self._estimate is not None:
            self._estimate = Pending(self._estimate.files + 1, self._estimate.bytes + size)
        near_bound = self._estimate is None or (
            self._estimate.files >= self.max_files or self._estimate.bytes >= self.max_bytes
        )
        if near_bound or self._appends_since_scan >= _APPENDS_PER_SCAN:
            self._estimate = self._enforce_bounds()
            self._appends_since_scan = 0

    def _enforce_bounds(self) -> Pending:
        """Drop the oldest files beyond the bounds; returns what is left."""
        files = self.files()
        sizes = [_size(path) for path in files]
        total, count, dropped = sum(sizes), len(files), 0
        while count > self.max_files or (total > self.max_bytes and count > 1):
            _unlink(files[dropped])
            total -= sizes[dropped]
            count -= 1
            dropped += 1
        if dropped:
            log.warning(
                "spool %s is over its bound (%d files / %d bytes): dropped the %d oldest file(s)",
                self.directory,
                self.max_files,
                self.max_bytes,
                dropped,
            )
        return Pending(files=count, bytes=total)

    # -- replaying ------------------------------------------------------------------------------

    def replay(self, store: Store) -> bool:
        """Write spooled files to the store, oldest first; True when the spool is now empty."""
        with self._lock:
            return self._replay_locked(store) is None and _replay_events(self, store) is None

    def _replay_locked(self, store: Store) -> str | None:
        """Replay under the lock; None when the spool is empty, else why it stopped.

        Stops at the first unreachable-store error (one failed attempt per call, so an outage costs
        each job one connect timeout, not two) or when the time budget is spent; the new frame then
        goes to the spool too, behind the backlog, keeping the order.
        """
        deadline = time.monotonic() + self.replay_budget_seconds
        self._remove_stale_temp_files()
        if not self.files():
            return None
        # Ask the store before reading the backlog: reading every spooled file only to find the
        # store still down made each write of an outage cost more than the last (a minute of 1 s
        # host samples: 0.03 s -> 0.8 s a call, in the worker's main process, where it delayed the
        # consumer enough for beat ticks to expire unrun).
        unreachable = _unreachable(store)
        if unreachable is not None:
            return unreachable
        while files := self.files():
            if time.monotonic() > deadline:
                return f"{_BACKLOG} of {len(files)} files not yet replayed"
            batch, frames = self._read_batch(files)
            if not batch:
                continue  # every file read was set aside; look again
            try:
                self._write_batch(store, batch, frames)
                self._estimate = None  # files went away: count again when next needed
            except Exception as error:
                if not is_store_unreachable(error):
                    raise
                return _short(error)
        return None

    def _read_batch(self, files: list[Path]) -> tuple[list[Path], list[pd.DataFrame]]:
        """The oldest files, up to REPLAY_BATCH_ROWS rows in all; unreadable ones are set aside."""
        batch: list[Path] = []
        frames: list[pd.DataFrame] = []
        rows = 0
        for path in files:
            try:
                frame = _read_file(path)
            except FileNotFoundError:
                continue  # another process replayed it meanwhile
            except Exception as error:
                self._set_aside(path, f"unreadable: {_short(error)}")
                continue
            batch.append(path)
            frames.append(frame)
            rows += len(frame)
            if rows >= REPLAY_BATCH_ROWS:
                break
        return batch, frames

    def _write_batch(self, store: Store, batch: list[Path], frames: list[pd.DataFrame]) -> None:
        """One write for the whole batch; if the store rejects it as data, file by file to find why."""
        try:
            store.write(pd.concat(frames, ignore_index=True))
        except Exception as error:
            if is_store_unreachable(error):
                raise
            for path, frame in zip(batch, frames, strict=True):
                self._write_one(store, path, frame)
            return
        for path in batch:
            _unlink(path)

    def _write_one(self, store: Store, path: Path, frame: pd.DataFrame) -> None:
        try:
            store.write(frame)
        except Exception as error:
            if is_store_unreachable(error):
                raise
            self._set_aside(path, f"rejected by the store: {_short(error)}")
            return
        _unlink(path)

    def _set_aside(self, path: Path, why: str) -> None:
        """Move a bad file to corrupt/ so replay goes on without it, and say so."""
        target = self.directory / CORRUPT_DIR
        target.mkdir(exist_ok=True)
        try:
            os.replace(path, target / path.name)
        except FileNotFoundError:
            return
        self._estimate = None
        log.warning("spool file %s %s; moved to %s", path.name, why, target)

    def _remove_stale_temp_files(self) -> None:
        try:
            entries = [entry for entry in os.scandir(self.directory) if entry.name.startswith(_TEMP_PREFIX)]
        except FileNotFoundError:
            return
        cutoff = time.time() - _STALE_TEMP_SECONDS
        for entry in entries:
            try:
                if entry.stat().st_mtime < cutoff:
                    _unlink(Path(entry.path))
            except FileNotFoundError:
                continue


_spools: dict[Path, Spool] = {}
_spools_lock = threading.Lock()


def spool_for(directory: Path | str) -> Spool:
    """The process-wide ``Spool`` of a directory (one lock per directory within a process)."""
    key = Path(directory).absolute()
    with _spools_lock:
        if key not in _spools:
            _spools[key] = Spool(key)
        return _spools[key]


def write_samples(store: Store, frame: pd.DataFrame, spool_dir: Path | str) -> int:
    """Store ``frame`` (a tidy samples frame) or, if the store is unreachable, spool it durably.

    The function every collection job calls instead of ``store.write``; pass
    ``settings.spool_dir``. Returns the number of this frame's samples stored now (0 if spooled).
    """
    return spool_for(spool_dir).write(store, frame)


# -- helpers ----------------------------------------------------------------------------------


def _to_table(frame: pd.DataFrame) -> pa.Table:
    """The frame in the spool's fixed schema; validated first, so a bad frame fails now, not at replay."""
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if missing:  # the store's own message, now rather than at replay
        raise ValueError(f"write: missing column(s) {', '.join(missing)}; expected ts, metric, value")
    n = len(frame)
    labels = frame["labels"] if "labels" in frame else pd.Series([None] * n, index=frame.index)
    canonical: dict[int, str] = {}
    label_texts = [
        canonical.setdefault(id(value), canonical_labels(value)) if value is not None else "{}"
        for value in labels.tolist()
    ]
    columns = {
        # Exactly as the store would compute them (naive datetimes are UTC).
        "ts": pa.array(epoch_millis(frame["ts"])),
        "metric": frame["metric"].astype(str).tolist(),
        "host": frame["host"].astype(str).tolist() if "host" in frame else [socket.gethostname()] * n,
        "labels": label_texts,
        "unit": frame["unit"].fillna("").astype(str).tolist() if "unit" in frame else [""] * n,
        "value": pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype="float64"),
    }
    return pa.Table.from_pydict(columns, schema=_SCHEMA)


def _read_file(path: Path) -> pd.DataFrame:
    table = pq.read_table(path)
    if not _SCHEMA.equals(table.schema, check_metadata=False):
        raise ValueError(f"unexpected columns {table.schema.names}")
    return table.to_pandas()


def _is_spool_file(name: str) -> bool:
    return name.endswith(SUFFIX) and not name.startswith(".")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)  # another process may have replayed or dropped it first


def _durable_write(directory: Path, suffix: str, write: Callable[[BinaryIO], object]) -> Path:
    """A new file named by creation time that exists whole or not at all, even across power loss.

    Written under a temporary name, fsync'd, renamed into place, and the directory fsync'd.
    """
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}-{next(_counter):06d}{suffix}"
    final = directory / name
    temp = directory / f"{_TEMP_PREFIX}{name}"
    try:
        with open(temp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        # A full disk fails the write part way: leave no partial file to take space or be read.
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    return final


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX: the directory entry lives in the directory)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _log_spooled(directory: Path, reason: str, what: str, path: Path) -> None:
    """Say why data went to the spool. The warning's words stay the same for the whole outage, so
    the repeat limiter logs it once, not every tick; which file took what is a debug line."""
    if reason.startswith(_BACKLOG):  # catching up after an outage is expected: say so quietly
        log.info("catching up (%s): %s spooled behind the backlog, to %s", reason, what, path.name)
    else:
        log.warning(
            "store not written (%s): collected data waits in the spool %s until it answers", reason, directory
        )
    log.debug("spooled %s to %s", what, path.name)


def _log_unspoolable(directory: Path, what: str, reason: str, error: OSError) -> None:
    """Say that new data is lost because the spool cannot take it (a full disk, mostly).

    Neither raised nor logged with a traceback: the job could do nothing else with the data, and
    the files already spooled are whole and still replayed. The message stays the same for the
    whole episode, so the repeat limiter logs it once and then counts it.
    """
    log.error(
        "spool %s cannot take new data (%s: %s) while the store is unreachable (%s): %s are dropped "
        "until the store answers or the disk has room; what is already spooled is kept",
        directory,
        type(error).__name__,
        error.strerror or error,
        reason,
        what,
    )


def _short(error: BaseException) -> str:
    """The driver's own words, one line, without SQLAlchemy's SQL and background link."""
    inner = getattr(error, "orig", None) or error
    return f"{type(inner).__name__}: {str(inner).splitlines()[0] if str(inner) else ''}"[:300]


# -- event batches ------------------------------------------------------------------------------
#
# Event tables (deadlocks, slow-log entries, task events...) are written by their own storage
# functions, so the spool keeps the records as JSON lines and, at replay, hands them back to the
# writer registered for their kind. A writer must be idempotent (its table deduplicates on a
# natural key), exactly as sample writes are, since a batch may be replayed more than once.

EVENTS_DIR = "events"
EVENT_SUFFIX = ".jsonl"
EventRecord = dict[str, Any]
EventWriter = Callable[[Store, list[EventRecord]], int]  # returns how many rows were new
_event_writers: dict[str, EventWriter] = {}


def register_event_writer(kind: str, writer: EventWriter) -> None:
    """Name the function that stores ``kind`` records; call it at import time of the job module."""
    _event_writers[kind] = writer


def write_events(store: Store, kind: str, records: list[EventRecord], spool_dir: Path | str) -> int | None:
    """Store event records with the writer registered for ``kind``, or spool them if the store is down.

    Returns the writer's count of new rows when written now, None when spooled. Records hold JSON
    types plus datetimes.
    """
    if kind not in _event_writers:
        raise ValueError(f"no event writer registered for {kind!r}; call register_event_writer first")
    return spool_for(spool_dir).write_events(store, kind, records)


def _write_events_locked(spool: Spool, store: Store, kind: str, records: list[EventRecord]) -> int | None:
    reason = spool._replay_locked(store) or _replay_events(spool, store)
    if reason is None:
        try:
            return _event_writers[kind](store, records)
        except Exception as error:
            if not is_store_unreachable(error):
                raise
            reason = _short(error)
    try:
        path = _durable_write(
            spool.directory / EVENTS_DIR, EVENT_SUFFIX, lambda h: _dump_events(h, kind, records)
        )
    except OSError as error:
        _log_unspoolable(spool.directory, f"{kind} events", reason, error)
        return None
    _log_spooled(spool.directory, reason, f"{len(records)} {kind} events", path)
    return None


def _unreachable(store: Store) -> str | None:
    """Why ``store`` cannot be reached now (None when it answers): one pool checkout, pre-pinged."""
    try:
        with store.engine.connect():
            return None
    except Exception as error:
        if not is_store_unreachable(error):
            raise
        return _short(error)


def _replay_events(spool: Spool, store: Store) -> str | None:
    """Replay event files oldest first; None when none is left that this process can write."""
    directory = spool.directory / EVENTS_DIR
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(EVENT_SUFFIX) and n[0] != ".")
    except FileNotFoundError:
        return None
    for name in names:
        path = directory / name
        try:
            kind, records = _load_events(path)
        except FileNotFoundError:
            continue
        except Exception as error:
            spool._set_aside(path, f"unreadable: {_short(error)}")
            continue
        writer = _event_writers.get(kind)
        if writer is None:
            continue  # a process that runs that job will replay it
        try:
            writer(store, records)
        except Exception as error:
            if is_store_unreachable(error):
                return _short(error)
            spool._set_aside(path, f"rejected by the store: {_short(error)}")
            continue
        _unlink(path)
    return None


def _dump_events(handle: BinaryIO, kind: str, records: list[EventRecord]) -> None:
    handle.write(json.dumps({"kind": kind}).encode() + b"\n")
    for record in records:
        handle.write(json.dumps(record, default=_encode_value, separators=(",", ":")).encode() + b"\n")


def _load_events(path: Path) -> tuple[str, list[EventRecord]]:
    lines = path.read_bytes().splitlines()
    if not lines or not lines[-1].strip():
        raise ValueError("empty file")
    kind = json.loads(lines[0])["kind"]
    return str(kind), [json.loads(line, object_hook=_decode_value) for line in lines[1:]]


def _encode_value(value: object) -> object:
    """JSON for what event records hold besides JSON types: datetimes keep their type across replay."""
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot spool a {type(value).__name__} in an event record")


def _decode_value(item: dict[str, Any]) -> object:
    if set(item) == {"$datetime"}:
        return datetime.fromisoformat(item["$datetime"])
    return item
