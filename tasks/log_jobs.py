"""The log tailing job, and the JSON-lines handler that makes Vitals' own logs one of its sources.

Each run reads the checkpoints of this host from the store (so any process, after any restart,
continues where the last stored batch ended), polls the tailer, and stores each file's records with
its new checkpoint in one transaction. A batch whose checkpoint moved meanwhile (another process
stored those lines) is dropped, not duplicated.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import socket
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.logs.tail import LogTailer
from storage import Settings, Store
from storage.log_archives import (
    ArchiveError,
    archives_older_than,
    create_archive,
    delete_archive_file,
    delete_hot_rows,
    mark_archive_end,
    oldest_entry_ms,
    scheduled_archive_end,
    scheduled_archives_to_thin,
)
from storage.logs import LogFilter, load_checkpoints, store_log_batch
from tasks.context import JobContext, JobSpec
from tasks.quiet_logs import install_repeat_limiter

__all__ = [
    "JsonLinesFormatter",
    "OwnLogHandler",
    "install_own_log_handler",
    "job_specs",
    "maintain_log_archives",
    "own_log_path",
    "remove_own_log_handler",
    "tail_logs",
]

log = logging.getLogger("vitals.logs")

OWN_LOG_MAX_BYTES = 10 * 1024 * 1024
OWN_LOG_BACKUPS = 5
# Passes over files that still have unread bytes, within one run: catch up faster than one budget
# per interval, without letting one huge file hold the scheduler thread for long.
MAX_PASSES_PER_RUN = 4
# log_checkpoints.path is VARCHAR(512): a longer path could not keep a checkpoint.
MAX_PATH_CHARS = 512


def own_log_path(settings: Settings) -> Path:
    """Where Vitals writes its own logs (JSON lines): always tailed, whatever ``log_paths`` says."""
    return settings.data_dir / "logs" / "vitals.log"


def make_tailer(settings: Settings) -> LogTailer:
    return LogTailer(settings.log_paths, always=[str(own_log_path(settings).resolve())])


def tail_logs(store: Store, tailer: LogTailer, host: str | None = None) -> int:
    """Store what the tailed files gained since their stored checkpoints; returns the lines stored."""
    host = host or socket.gethostname()
    stored = 0
    for _ in range(MAX_PASSES_PER_RUN):
        checkpoints = load_checkpoints(store.engine, host)
        more = False
        for batch in tailer.poll(checkpoints):
            if len(batch.path) > MAX_PATH_CHARS:
                log.warning(
                    "log file path longer than %d characters, not tailed: %s", MAX_PATH_CHARS, batch.path
                )
                continue
            if store_log_batch(
                store.engine, host, batch.path, batch.records, batch.previous, batch.checkpoint
            ):
                stored += len(batch.records)
                more = more or batch.more
            else:
                log.info("log file %s was stored by another process meanwhile; skipped", batch.path)
        if not more:
            break
    return stored


TAILER_KEY = "logs.tailer"


def current_tailer(context: JobContext, settings: Settings) -> LogTailer:
    """The process's tailer for ``settings``' log paths.

    Kept under a key naming the paths, so a path added or removed on the Settings page (the
    schedule rebuilds this job with the new effective settings) gets a tailer that follows it at
    the next run, without a restart; the one for the old paths is dropped. Offsets live in the
    stored checkpoints, so the new tailer resumes where the old one stopped: nothing is read twice.
    """
    key = f"{TAILER_KEY}:{tuple(settings.log_paths)}"
    for stale in [k for k in context.state if k.startswith(f"{TAILER_KEY}:") and k != key]:
        del context.state[stale]
    return context.keep(key, lambda: make_tailer(settings))


def job_specs(settings: Settings) -> list[JobSpec]:
    def body(context: JobContext) -> int:
        return tail_logs(context.store, current_tailer(context, settings))

    def archive_body(context: JobContext) -> dict[str, int]:
        return maintain_log_archives(context.store, settings)

    return [
        JobSpec("vitals.tail_logs", settings.logs_interval_seconds, body),
        JobSpec("vitals.archive_logs", settings.logs_archive_interval_seconds, archive_body),
    ]


DAY_MS = 86_400_000


def maintain_log_archives(store: Store, settings: Settings, now_ms: int | None = None) -> dict[str, int]:
    """Archive whole days older than ``logs_archive_after_days`` (one file per day), delete from the
    hot table the archived entries older than ``logs_hot_retention_days`` (each archive verified
    first; an archive that fails keeps its rows), and remove archives older than
    ``logs_archive_retention_days``. Returns what it did, for the job log.
    """
    now = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
    done = {"archived_days": 0, "archived_entries": 0, "hot_deleted": 0, "archives_removed": 0, "failed": 0}
    engine = store.engine
    cutoff = now - settings.logs_archive_after_days * DAY_MS
    cutoff -= cutoff % DAY_MS
    start = scheduled_archive_end(engine)
    start = start + 1 if start is not None else oldest_entry_ms(engine)
    if start is not None:
        day = start - start % DAY_MS
        while day < cutoff:
            low, high = max(day, start), day + DAY_MS
            result = create_archive(
                engine,
                LogFilter(start_ms=low, end_ms=high),
                settings.log_archive_dir,
                created_by="system",
                filters={"scheduled": True, "from_ms": low, "to_ms": high},
            )
            if result is not None:
                done["archived_days"] += 1
                done["archived_entries"] += result.entries
                # Record the day's end even if its last entry came earlier, so it is not re-read.
                mark_archive_end(engine, result.id, high - 1)
            day = high
    hot_cutoff = now - settings.logs_hot_retention_days * DAY_MS
    for archive_id in scheduled_archives_to_thin(engine, hot_cutoff):
        try:
            done["hot_deleted"] += delete_hot_rows(engine, archive_id)
        except ArchiveError as exc:
            done["failed"] += 1
            log.error("log archive %d failed its check, its hot rows are kept: %s", archive_id, exc)
    expiry = datetime.fromtimestamp((now - settings.logs_archive_retention_days * DAY_MS) / 1000, UTC)
    for archive_id in archives_older_than(engine, expiry.replace(tzinfo=None)):
        delete_archive_file(engine, archive_id)
        done["archives_removed"] += 1
    return done


# --- Vitals' own logs --------------------------------------------------------------------------


# Terminal colours some libraries put in their messages (werkzeug): noise in a stored message.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line, with the keys ``collectors.logs.parse`` reads back."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _ANSI_ESCAPE.sub("", record.getMessage()),
            "process": record.process,
            "thread": record.threadName,
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = str(request_id)
        if record.exc_info:
            entry["exc_info"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str)


class OwnLogHandler(logging.handlers.RotatingFileHandler):
    """The rotating JSON-lines file, saying in one line on stderr when it cannot be written.

    logging's default prints a traceback per lost record: on a full disk, one for every log line of
    the process, burying the line that says what is wrong.
    """

    _failing = False  # the last record could not be written
    _failures = 0

    def emit(self, record: logging.LogRecord) -> None:
        failures = self._failures
        super().emit(record)  # calls handleError on failure
        if self._failures == failures:
            self._failing = False  # written: a later failure is news again

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)
            return
        self._failures += 1
        if not self._failing:
            self._failing = True
            sys.stderr.write(
                f"vitals: cannot write {self.baseFilename} ({error.strerror or error}); its records are "
                "lost until it can be written again (this is said once)\n"
            )


# The handler installed in this process (None until install_own_log_handler runs).
_own_handler: logging.Handler | None = None


def install_own_log_handler(settings: Settings, level: int = logging.INFO) -> Path:
    """Write this process's logs as JSON lines to ``data_dir/logs/vitals.log`` (rotated by size).

    Installed on the root logger once per process (a second call is a no-op). Celery workers
    replace the root logger's handlers when they set up logging, so the handler is added back then.
    """
    global _own_handler
    path = own_log_path(settings).resolve()
    if _own_handler is not None:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = OwnLogHandler(path, maxBytes=OWN_LOG_MAX_BYTES, backupCount=OWN_LOG_BACKUPS, encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(JsonLinesFormatter())
    install_repeat_limiter(handler)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    _own_handler = handler
    _keep_under_celery()
    return path


def remove_own_log_handler() -> None:
    """Undo ``install_own_log_handler`` (tests; a process normally keeps it until exit)."""
    global _own_handler
    if _own_handler is not None:
        logging.getLogger().removeHandler(_own_handler)
        _own_handler.close()
        _own_handler = None


def _add_back(logger: logging.Logger | None = None, **_kwargs: object) -> None:
    target = logger or logging.getLogger()
    if _own_handler is not None and _own_handler not in target.handlers:
        target.addHandler(_own_handler)


def _keep_under_celery() -> None:
    try:
        from celery.signals import after_setup_logger
    except ImportError:  # pragma: no cover - celery is a dependency; embedded mode works without it
        return
    after_setup_logger.connect(_add_back, weak=False, dispatch_uid="vitals.own_log_handler")
