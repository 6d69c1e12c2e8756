"""The embedded scheduler: runs the schedule in a background thread of the web process.

Used when no broker is configured (``make run``); production uses Celery beat + workers instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from tasks.schedule import JobContext, JobSpec, Schedule
from tasks.spool import is_store_unreachable

__all__ = ["EmbeddedScheduler"]

log = logging.getLogger("vitals.scheduler")


class EmbeddedScheduler:
    """Runs each job at its interval, one after another, until ``stop()``.

    Jobs run in one thread, so a slow job delays the next instead of piling up; a failing job is
    logged and retried at its next slot, never ending the loop.

    ``reload`` (optional) is asked between runs, at most every ``reload_every`` seconds, for a new
    job list; it returns ``None`` while nothing changed. Given a ``Schedule`` (what
    ``tasks.schedule.job_specs`` returns) and no ``reload``, it follows the stored configuration
    (``tasks.config_live.LiveSchedule``) unless ``follow_config=False``. A job whose interval shrank is due no later than one new
    interval from now, a new job at once; a job no longer listed stops.
    """

    def __init__(
        self,
        jobs: Sequence[JobSpec],
        context: JobContext,
        reload: Callable[[], Sequence[JobSpec] | None] | None = None,
        reload_every: float = 1.0,
        follow_config: bool = True,
    ) -> None:
        self._jobs = list(jobs)
        self._context = context
        if reload is None and follow_config and isinstance(jobs, Schedule):
            from tasks.config_live import LiveSchedule

            reload = LiveSchedule(jobs.settings, context.store)
        self._reload = reload
        self._reload_every = reload_every
        self._reload_failing = False  # said once per outage (see _reload_failed)
        self._waiting_for_store: set[str] = set()  # jobs that failed on an unreachable store
        self._lock = threading.Lock()
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

    @property
    def jobs(self) -> list[JobSpec]:
        """The jobs as currently scheduled (after any reload)."""
        with self._lock:
            return list(self._jobs)

    def run_now(self, name: str) -> None:
        """Run one job immediately in the caller's thread (the "collect now" action).

        Unlike scheduled runs, a failure is raised: the person who asked must hear about it.
        """
        job = next((job for job in self.jobs if job.name == name), None)
        if job is None:
            raise KeyError(f"no scheduled job named {name!r}")
        self._run(job, reraise=True)

    def _loop(self) -> None:
        next_due = {job.name: time.monotonic() for job in self._jobs}
        next_reload = time.monotonic() + self._reload_every
        while not self._stop.is_set():
            now = time.monotonic()
            if self._reload is not None and now >= next_reload:
                self._apply_reload(next_due, now)
                next_reload = now + self._reload_every
            for job in self.jobs:
                if now >= next_due[job.name]:
                    self._run(job)
                    # Schedule from the planned slot, not from now, so intervals do not drift.
                    next_due[job.name] = max(next_due[job.name] + job.interval_seconds, now)
            wake = min(next_due.values(), default=now + 1.0)
            if self._reload is not None:
                wake = min(wake, next_reload)
            self._stop.wait(max(0.05, wake - time.monotonic()))

    def _reload_failed(self, exc: Exception) -> None:
        """One line when the store is unreachable (every reload would repeat it, once a second, for
        as long as the outage lasts: said once, and again when it ends); a traceback for anything else."""
        if not is_store_unreachable(exc):
            log.exception("reloading the schedule failed; keeping the current one")
        elif not self._reload_failing:
            log.warning(
                "store unreachable, keeping the current schedule until it answers: %s",
                str(exc).split("\n")[0],
            )
        self._reload_failing = True

    def _apply_reload(self, next_due: dict[str, float], now: float) -> None:
        assert self._reload is not None
        try:
            fresh = self._reload()
        except Exception as exc:  # a store that is down keeps the current schedule running
            self._reload_failed(exc)
            return
        if self._reload_failing:
            log.info("reloading the schedule works again")
            self._reload_failing = False
        if fresh is None:
            return
        old = {job.name: job for job in self.jobs}
        for job in fresh:
            previous = old.get(job.name)
            if previous is None:
                next_due[job.name] = now
            elif job.interval_seconds != previous.interval_seconds:
                next_due[job.name] = min(next_due[job.name], now + job.interval_seconds)
            self.runs.setdefault(job.name, 0)
            self.failures.setdefault(job.name, 0)
        for name in set(old) - {job.name for job in fresh}:
            next_due.pop(name, None)
        with self._lock:
            self._jobs = list(fresh)
        log.info("schedule reloaded: %s", ", ".join(f"{j.name}/{j.interval_seconds:g}s" for j in fresh))

    def _run(self, job: JobSpec, reraise: bool = False) -> None:
        try:
            job.body(self._context)
            self.runs[job.name] += 1
            if job.name in self._waiting_for_store:
                self._waiting_for_store.discard(job.name)
                log.info("job %s runs again: the store answers", job.name)
        except Exception as exc:
            self.failures[job.name] += 1
            if not is_store_unreachable(exc):
                log.exception("job %s failed", job.name)
            elif job.name not in self._waiting_for_store:
                # Jobs whose data waits at its source (log lines stay in their files, behind the
                # stored checkpoint) simply run again later: one line per outage, not a traceback a tick.
                self._waiting_for_store.add(job.name)
                log.warning("job %s waits for the store: %s", job.name, str(exc).split("\n")[0])
            if reraise:
                raise
