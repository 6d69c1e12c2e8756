"""The embedded scheduler: runs the schedule in a background thread of the web process.

Used when no broker is configured (``make run``); production uses Celery beat + workers instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from tasks.schedule import JobContext, JobSpec

__all__ = ["EmbeddedScheduler"]

log = logging.getLogger("vitals.scheduler")


class EmbeddedScheduler:
    """Runs each job at its interval, one after another, until ``stop()``.

    Jobs run in one thread, so a slow job delays the next instead of piling up; a failing job is
    logged and retried at its next slot, never ending the loop.
    """

    def __init__(self, jobs: Sequence[JobSpec], context: JobContext) -> None:
        self._jobs = list(jobs)
        self._context = context
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs: dict[str, int] = {job.name: 0 for job in self._jobs}
        self.failures: dict[str, int] = {job.name: 0 for job in self._jobs}

    @property
    def context(self) -> JobContext:
        return self._context

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="vitals-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_now(self, name: str) -> None:
        """Run one job immediately in the caller's thread (the "collect now" action).

        Unlike scheduled runs, a failure is raised: the person who asked must hear about it.
        """
        job = next((job for job in self._jobs if job.name == name), None)
        if job is None:
            raise KeyError(f"no scheduled job named {name!r}")
        self._run(job, reraise=True)

    def _loop(self) -> None:
        next_due = {job.name: time.monotonic() for job in self._jobs}
        while not self._stop.is_set():
            now = time.monotonic()
            for job in self._jobs:
                if now >= next_due[job.name]:
                    self._run(job)
                    # Schedule from the planned slot, not from now, so intervals do not drift.
                    next_due[job.name] = max(next_due[job.name] + job.interval_seconds, now)
            self._stop.wait(max(0.05, min(next_due.values()) - time.monotonic()))

    def _run(self, job: JobSpec, reraise: bool = False) -> None:
        try:
            job.body(self._context)
            self.runs[job.name] += 1
        except Exception:
            self.failures[job.name] += 1
            log.exception("job %s failed", job.name)
            if reraise:
                raise
