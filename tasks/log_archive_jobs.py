"""The Logs page's background jobs: archive a search, restore an archive, delete archived hot rows.

A job is a ``log_jobs`` row (storage.log_jobs) plus ``run_job(store, settings, job_id)``, which does
the work, writes progress into the row between batches and stops when the row's cancel flag is set
(the storage functions then keep nothing of the work). Where it runs is the only difference between
modes, as for the Cache page's jobs: a Celery task (``vitals.log_job``) when a broker is configured,
a daemon thread of the web process when embedded.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from storage import Settings, Store
from storage import log_jobs as jobstore
from storage.audit import record_audit
from storage.log_archives import ArchiveCancelled, ArchiveError

__all__ = ["LOG_JOB_TASK", "dispatch", "run_job"]

log = logging.getLogger("vitals.tasks.logs")

LOG_JOB_TASK = "vitals.log_job"
# How often a running job writes its progress (and reads the cancel flag).
PROGRESS_EVERY_SECONDS = 0.25
AUDIT_ACTION = {
    "archive": "logs.archive",
    "restore": "logs.restore_archive",
    "delete_hot": "logs.delete_hot_rows",
}


def dispatch(store: Store, settings: Settings, job_id: str) -> None:
    """Start a queued job: on a Celery worker when a broker is configured, else in a thread here."""
    if settings.broker_url:
        from tasks.celery_app import celery_app  # the web process only needs it to send

        celery_app.send_task(LOG_JOB_TASK, args=[job_id])
        return
    thread = threading.Thread(
        target=run_job, args=(store, settings, job_id), name=f"log-job-{job_id[:8]}", daemon=True
    )
    thread.start()


class _Progress:
    """The callback the storage functions call between batches.

    It only notes how far the work got and, every PROGRESS_EVERY_SECONDS, reads the cancel flag (a
    read). The row is written from a thread of its own: on SQLite a restore or delete holds the
    write lock for its whole transaction, and a progress write from the working thread would wait
    for that very lock.
    """

    def __init__(self, store: Store, job_id: str, total: int | None) -> None:
        self.store, self.job_id, self.total = store, job_id, total
        self.done = 0
        self.cancel = False
        self._checked = 0.0
        self._written: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"log-job-progress-{job_id[:8]}", daemon=True)

    def __call__(self, done: int) -> bool:
        self.done = done
        now = time.monotonic()
        if now - self._checked >= PROGRESS_EVERY_SECONDS:
            self._checked = now
            try:
                job = jobstore.get_job(self.store.engine, self.job_id)
                self.cancel = self.cancel or bool(job and job.cancel_requested)
            except Exception as exc:  # a store hiccup must not stop the job half-way
                log.warning("log job %s: cancel flag not read: %s", self.job_id, exc)
        return self.cancel

    def start(self) -> None:
        self._write()  # marks the job running, and sees a cancel asked for while it was queued
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(PROGRESS_EVERY_SECONDS):
            if self.done != self._written:
                self._write()

    def _write(self) -> None:
        done = self.done
        try:
            wanted = jobstore.job_progress(
                self.store.engine, self.job_id, {"done": done, "total": self.total}
            )
            self.cancel, self._written = self.cancel or wanted, done
        except Exception as exc:
            log.warning("log job %s: progress not stored: %s", self.job_id, exc)


def run_job(store: Store, settings: Settings, job_id: str) -> dict[str, Any]:
    """Run one queued job to its end; the row records the outcome (never raises for a refusal)."""
    job = jobstore.get_job(store.engine, job_id)
    if job is None:
        raise LookupError(f"no log job {job_id!r}")
    if job.finished:
        return job.result or {}
    total = job.params.get("expected")
    progress = _Progress(store, job_id, int(total) if total is not None else None)
    progress.start()
    target = f"archive {job.archive_id}" if job.archive_id is not None else "log entries"
    try:
        try:
            if progress.cancel:
                raise ArchiveCancelled(0)
            result, archive_id = _work(store, settings, job, progress)
        finally:
            progress.stop()  # before the final write, so a late progress row cannot follow it
    except ArchiveCancelled:
        result = {"stopped": "cancelled", "done": progress.done, "kept": 0}
        _audit(store, job, target, result, "ok")
        jobstore.finish_job(store.engine, job_id, status="cancelled", result=result)
        return result
    except (ArchiveError, OSError, KeyError, ValueError) as exc:
        error = _describe(exc)
        _audit(store, job, target, {"error": error}, "error")
        jobstore.finish_job(store.engine, job_id, status="failed", error=error)
        return {"error": error}
    except Exception as exc:  # a bug: the row and the audit say so instead of a silent thread death
        log.exception("log job %s failed", job_id)
        _audit(store, job, target, {"error": str(exc)}, "error")
        jobstore.finish_job(store.engine, job_id, status="failed", error=str(exc))
        return {"error": str(exc)}
    _audit(store, job, target, result, "ok")
    jobstore.finish_job(store.engine, job_id, status="done", result=result, archive_id=archive_id)
    return result


def _work(
    store: Store, settings: Settings, job: jobstore.LogJob, progress: _Progress
) -> tuple[dict[str, Any], int | None]:
    logs = store.logs
    if job.kind == "archive":
        criteria = dict(job.params.get("criteria") or {})
        made = logs.create_archive(
            directory=settings.log_archive_dir, created_by=job.username, progress=progress, **criteria
        )
        if made is None:
            return {"entries": 0, "message": "Nothing matched: no archive was written."}, None
        message = f"Archived {made.entries:,} entries ({made.bytes:,} bytes), archive #{made.id}."
        result = {"archive_id": made.id, "entries": made.entries, "bytes": made.bytes, "sha256": made.sha256}
        return {**result, "message": message}, made.id
    assert job.archive_id is not None
    archive_id = job.archive_id
    if job.kind == "restore":
        restored = logs.restore_archive(id=archive_id, progress=progress)
        message = (
            f"Restored {restored:,} entries from archive #{archive_id}."
            if restored
            else f"Archive #{archive_id}: every entry is already in the hot table; nothing restored."
        )
        return {"archive_id": archive_id, "restored": restored, "message": message}, archive_id
    if job.kind == "delete_hot":
        deleted = logs.delete_hot_rows(id=archive_id, progress=progress)
        message = f"Archive #{archive_id} verified; {deleted:,} entries removed from the hot table."
        return {"archive_id": archive_id, "deleted": deleted, "message": message}, archive_id
    raise ValueError(f"kind: unknown log job kind {job.kind!r}")


def _describe(exc: Exception) -> str:
    if isinstance(exc, ArchiveError):
        return f"Refused: {exc}. Nothing was deleted."
    if isinstance(exc, OSError):
        return f"The archive could not be written ({exc.strerror or exc}); the entries stay in place."
    if isinstance(exc, KeyError):
        return "That archive no longer exists."
    return str(exc)


def _audit(store: Store, job: jobstore.LogJob, target: str, after: dict[str, Any], outcome: str) -> None:
    record_audit(
        store.engine,
        job.username,
        AUDIT_ACTION.get(job.kind, job.kind),
        target,
        before={"job": job.id, **job.params},
        after=after,
        outcome=outcome,
    )
