"""The Celery app for distributed mode: ``vitals worker`` and ``vitals beat``.

Each task wraps the same plain job body the embedded scheduler runs. The store is created per
worker process after fork (PITFALLS: a connection shared across fork hangs or corrupts).

Robustness, per task:

- routing per kind of job: collections go to the ``collect`` queue, rollups and retention to
  ``maintenance``, so a long maintenance run never holds collections back when workers are split
  (``celery worker -Q collect`` on some hosts); a worker consumes every queue by default, including
  ``celery`` for tasks sent by name without a route;
- ``acks_late`` + ``task_reject_on_worker_lost``: a task whose worker died is redelivered (writes
  are idempotent, so a redo never duplicates rows);
- retries with exponential backoff and jitter for transient store/target errors (a database or a
  broker that is restarting), a few times only: a collection is worth little once its slot passed;
- a soft time limit (the task can clean up) and a hard one per job, scaled to its interval;
- task events on (``worker_send_task_events``, ``task_send_sent_event``), so Vitals monitors its own
  queue like any other Celery app.
"""

from __future__ import annotations

import logging
from typing import Any

import redis.exceptions
from celery import Celery
from celery.signals import worker_process_init, worker_ready, worker_shutdown
from kombu import Queue
from sqlalchemy.exc import OperationalError

from storage import Store, connect, get_settings
from tasks.schedule import JobContext, JobSpec, job_specs
from tasks.scheduler import EmbeddedScheduler

log = logging.getLogger("vitals.worker")

__all__ = [
    "COLLECT_QUEUE",
    "DEFAULT_QUEUE",
    "HOST_JOBS",
    "MAINTENANCE_JOBS",
    "MAINTENANCE_QUEUE",
    "celery_app",
    "make_celery",
    "queue_for",
    "time_limits",
]

DEFAULT_QUEUE = "celery"
COLLECT_QUEUE = "collect"
MAINTENANCE_QUEUE = "maintenance"
MAINTENANCE_JOBS = frozenset({"vitals.maintain_rollups", "vitals.enforce_retention"})
# Jobs that read the machine they run on (psutil, local log files, the local spool). Beat would
# hand each tick to one random worker, so instead every worker runs these itself, on a timer in
# its main process (the embedded scheduler), and beat schedules only the cluster-wide jobs.
# (A broadcast queue would do it too, but Celery's fanout is unreliable on Redis: celery#2638.)
HOST_JOBS = frozenset({"vitals.collect_system", "vitals.tail_logs", "vitals.collect_app"})

# Errors that say "try again shortly", not "this is wrong": the store or a target restarting.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,  # SQLAlchemy: the store's server went away or refused the connection
    ConnectionError,
    TimeoutError,
    redis.exceptions.ConnectionError,  # redis-py's own, not subclasses of the built-ins
    redis.exceptions.TimeoutError,
)
MAX_RETRIES = 3
RETRY_BACKOFF_MAX_SECONDS = 60
# Time limits: generous multiples of the interval, within sane bounds for short and long jobs.
_SOFT_LIMIT_MIN_SECONDS, _SOFT_LIMIT_MAX_SECONDS = 30.0, 1800.0
_HARD_LIMIT_GRACE_SECONDS = 30.0

_context: JobContext | None = None
_host_scheduler: EmbeddedScheduler | None = None


def _process_context() -> JobContext:
    global _context
    if _context is None:
        _context = JobContext(store=_open_store(get_settings().store_url))
    return _context


def _open_store(url: str) -> Store:
    """Migrate when the store answers; when it does not, start anyway so jobs spool until it returns."""
    try:
        return connect(url)
    except OperationalError as exc:
        log.warning(
            "store unreachable at worker start, collecting into the spool: %s", str(exc).splitlines()[0]
        )
        return connect(url, migrate=False)


@worker_ready.connect
def _start_host_jobs(**_kwargs: Any) -> None:
    """Run this host's jobs (HOST_JOBS) on a timer in the worker's main process, one per host."""
    global _host_scheduler
    specs = [spec for spec in job_specs(get_settings()) if spec.name in HOST_JOBS]
    _host_scheduler = EmbeddedScheduler(specs, JobContext(store=_open_store(get_settings().store_url)))
    _host_scheduler.start()


@worker_shutdown.connect
def _stop_host_jobs(**_kwargs: Any) -> None:
    if _host_scheduler is not None:
        _host_scheduler.stop()


@worker_process_init.connect
def _fresh_context_after_fork(**_kwargs: Any) -> None:
    global _context
    if _host_scheduler is not None:
        # The child inherited the main process's connections: forget them without closing them,
        # or the child's exit would close the socket under the main process (PITFALLS: fork).
        _host_scheduler.context.store.engine.dispose(close=False)
    if _context is not None:
        _context.store.engine.dispose(close=False)
    _context = None


def queue_for(task_name: str) -> str:
    """The queue a job goes to: maintenance jobs apart, every collection on ``collect``."""
    return MAINTENANCE_QUEUE if task_name in MAINTENANCE_JOBS else COLLECT_QUEUE


def time_limits(interval_seconds: float) -> tuple[float, float]:
    """(soft, hard) seconds for a job run every ``interval_seconds``."""
    soft = min(_SOFT_LIMIT_MAX_SECONDS, max(_SOFT_LIMIT_MIN_SECONDS, interval_seconds * 5))
    return soft, soft + _HARD_LIMIT_GRACE_SECONDS


def _route(
    name: str, _args: Any, _kwargs: Any, _options: Any, task: Any = None, **_kw: Any
) -> dict[str, str]:
    if name.startswith("vitals."):
        return {"queue": queue_for(name)}
    return {}


def _register(app: Celery, spec: JobSpec) -> None:
    def run() -> object:
        return spec.body(_process_context())

    soft, hard = time_limits(spec.interval_seconds)
    app.task(
        name=spec.name,
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=TRANSIENT_ERRORS,
        retry_backoff=True,
        retry_backoff_max=min(RETRY_BACKOFF_MAX_SECONDS, max(1, int(spec.interval_seconds))),
        retry_jitter=True,
        max_retries=MAX_RETRIES,
        soft_time_limit=soft,
        time_limit=hard,
    )(run)


def make_celery() -> Celery:
    settings = get_settings()
    app = Celery("vitals", broker=settings.broker_url or "redis://127.0.0.1:6379/0")
    specs = job_specs(settings)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        # Every queue is consumed unless `-Q` narrows it; `celery` takes tasks sent without a route.
        task_default_queue=DEFAULT_QUEUE,
        task_queues=[Queue(DEFAULT_QUEUE), Queue(COLLECT_QUEUE), Queue(MAINTENANCE_QUEUE)],
        task_routes=(_route,),
        # Events feed Vitals' own Queue page (and any Celery monitor): sent, started, succeeded...
        worker_send_task_events=True,
        task_send_sent_event=True,
        # A collection that missed its slot is worth nothing later: let it expire.
        beat_schedule={
            spec.name: {
                "task": spec.name,
                "schedule": spec.interval_seconds,
                "options": {"expires": spec.interval_seconds, "queue": queue_for(spec.name)},
            }
            for spec in specs
            if spec.name not in HOST_JOBS  # every worker runs those itself: see _start_host_jobs
        },
    )
    for spec in specs:
        _register(app, spec)
    return app


celery_app = make_celery()
