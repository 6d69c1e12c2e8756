"""The Celery app for distributed mode: ``vitals worker`` and ``vitals beat``.

Each task wraps the same plain job body the embedded scheduler runs. The store is created per
worker process after fork (docs/engineering-notes.md: a connection shared across fork hangs or corrupts).

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
import threading
from typing import Any

import redis.exceptions
from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import worker_process_init, worker_ready, worker_shutdown
from kombu import Queue
from sqlalchemy.exc import OperationalError

from storage import Settings, Store, connect, get_settings
from tasks.config_live import LiveSchedule, current_spec
from tasks.schedule import JobContext, JobSpec, job_specs
from tasks.scheduler import EmbeddedScheduler
from tasks.spool import is_store_unreachable

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
    store = _open_store(get_settings().store_url)
    # Host jobs follow the stored configuration (intervals, log paths) without a restart.
    live = LiveSchedule(get_settings(), store, only=HOST_JOBS)
    specs = [spec for spec in _startup_specs(store) if spec.name in HOST_JOBS]
    _host_scheduler = EmbeddedScheduler(specs, JobContext(store=store), reload=live)
    _host_scheduler.start()


def _startup_specs(store: Store) -> list[JobSpec]:
    """``job_specs`` of the effective settings (stored config applied), or of the environment alone."""
    try:
        return list(job_specs(store.config.effective(settings=get_settings(), max_age_s=0)))
    except Exception as exc:
        log.warning("stored configuration unreadable, using the environment's: %s", exc)
        return job_specs(get_settings())


@worker_shutdown.connect
def _stop_host_jobs(**_kwargs: Any) -> None:
    if _host_scheduler is not None:
        _host_scheduler.stop()


@worker_process_init.connect
def _fresh_context_after_fork(**_kwargs: Any) -> None:
    global _context
    if _host_scheduler is not None:
        # The child inherited the main process's connections: forget them without closing them,
        # or the child's exit would close the socket under the main process (docs/engineering-notes.md, Processes).
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
    def run(task: Any) -> object:
        try:
            context = _process_context()
            # The body built from today's configuration (targets, paths), not the one from start-up.
            current = current_spec(spec.name, get_settings(), context.store, fallback=spec)
            return current.body(context)
        except Exception as exc:
            if not is_store_unreachable(exc) or task.request.retries < MAX_RETRIES:
                raise  # autoretry_for retries it with backoff; anything else is a real failure
            # The last retry of a job that needs the store (alerts, notifications, incidents): a
            # store outage is not a bug, and the next beat tick runs the job again. One line, no
            # traceback per tick (collections do not get here: they spool).
            log.warning("job %s skipped, the store is unreachable: %s", spec.name, str(exc).split("\n")[0])
            return {"skipped": "store unreachable"}

    soft, hard = time_limits(spec.interval_seconds)
    app.task(
        name=spec.name,
        bind=True,
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


def _survive_broker_restarts() -> None:
    """Keep a worker alive when its Redis broker restarts while it holds unacknowledged tasks.

    kombu 5.7's Redis transport, on a lost broker connection, closes the channel after the
    connection already let go of its client, and restoring the unacknowledged messages then raises
    ``AttributeError: 'NoneType' object has no attribute 'hostname'``: Celery calls that an
    "Unrecoverable error" and the worker exits (measured in tests/integration/tasks/test_faults.py;
    the task holding the message was the Celery collection, which is nearly always running). When
    there is no client to restore with, the messages stay in the broker's unacked set, from which
    Redis' visibility timeout restores them; every Vitals task expires within its interval anyway.
    """
    from kombu.transport import redis as kombu_redis

    qos = kombu_redis.QoS
    if getattr(qos, "_vitals_tolerant", False):
        return
    restore, ack, reject = qos.restore_unacked, qos.ack, qos.reject

    def detached(self: Any) -> bool:
        transport = self.channel.connection
        return transport is None or transport.client is None

    def restore_unacked(self: Any, client: Any = None) -> Any:
        if client is None and detached(self):
            log.warning(
                "broker connection lost with %d unacknowledged task(s): left for the broker to restore",
                len(self._delivered),
            )
            self._delivered.clear()
            return None
        return restore(self, client)

    # A task that finishes after the connection it came on was lost cannot be acknowledged on it
    # (the same AttributeError, from ack): it stays unacked, and expires when the broker restores it.
    def tolerant_ack(self: Any, delivery_tag: Any) -> Any:
        if detached(self):
            log.info("task finished after its broker connection was lost: not acknowledged")
            return None
        return ack(self, delivery_tag)

    def tolerant_reject(self: Any, delivery_tag: Any, requeue: bool = False) -> Any:
        if detached(self):
            return None
        return reject(self, delivery_tag, requeue=requeue)

    qos.restore_unacked = restore_unacked  # type: ignore[method-assign]
    qos.ack = tolerant_ack  # type: ignore[method-assign]
    qos.reject = tolerant_reject  # type: ignore[method-assign]
    qos._vitals_tolerant = True  # type: ignore[attr-defined]


def make_celery() -> Celery:
    settings = get_settings()
    _survive_broker_restarts()
    app = Celery("vitals", broker=settings.broker_url or "redis://127.0.0.1:6379/0")
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
        beat_schedule=beat_entries(settings),
    )
    # Register every job a configuration could schedule (targets added later on the Settings page
    # bring jobs that did not exist at start-up); their bodies are looked up fresh when they run.
    for spec in _every_possible_spec(settings):
        _register(app, spec)
    _register_cache_job(app)
    _register_log_job(app)
    app.conf.beat_scheduler = LiveBeatScheduler
    return app


def _register_cache_job(app: Celery) -> None:
    """The Cache page's background jobs (clears, keyspace summaries), sent by the web process.

    No retries and no late ack: a clear redelivered after a worker died would run twice; the job
    row records how far it got instead, and a stale row stops blocking new clears (storage.cache).
    """
    from tasks import cache_jobs

    def run_cache_job(job_id: str) -> object:
        return cache_jobs.run_job(_process_context().store, get_settings(), job_id)

    app.task(name=cache_jobs.CACHE_JOB_TASK, acks_late=False, ignore_result=True)(run_cache_job)


def _register_log_job(app: Celery) -> None:
    """The Logs page's background jobs (archive, restore, delete hot rows); no retries, as above:
    each keeps nothing of a run that did not finish, and its row says how it ended."""
    from tasks import log_archive_jobs

    def run_log_job(job_id: str) -> object:
        return log_archive_jobs.run_job(_process_context().store, get_settings(), job_id)

    app.task(name=log_archive_jobs.LOG_JOB_TASK, acks_late=False, ignore_result=True)(run_log_job)


def _every_possible_spec(settings: Settings) -> list[JobSpec]:
    placeholders = {
        "mysql_urls": settings.mysql_urls or ["mysql://placeholder"],
        "redis_urls": settings.redis_urls or ["redis://placeholder"],
        "log_paths": settings.log_paths or ["/placeholder.log"],
        "http_checks": settings.http_checks or ["http://placeholder"],
    }
    found = {spec.name: spec for spec in job_specs(settings.model_copy(update=placeholders))}
    found.update({spec.name: spec for spec in job_specs(settings)})  # the real ones win
    return list(found.values())


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    """The beat schedule for ``settings``: every cluster-wide job at its interval."""
    return {
        spec.name: {
            "task": spec.name,
            "schedule": spec.interval_seconds,
            "options": {"expires": spec.interval_seconds, "queue": queue_for(spec.name)},
        }
        for spec in job_specs(settings)
        if spec.name not in HOST_JOBS  # every worker runs those itself: see _start_host_jobs
    }


class LiveBeatScheduler(PersistentScheduler):
    """Celery beat that follows the stored configuration: when its version moves (checked every
    ``CHECK_EVERY_SECONDS``), the schedule is rebuilt from the effective settings in place.

    The store is read on a thread of its own and the schedule changed on beat's thread, in
    ``tick``: a store that is down, restarting or hanging must never delay a tick (on beat's thread,
    each refused connect during an outage pushed every following send 20-250 ms later, and a
    server that accepts but does not answer would have stopped beat altogether).
    """

    CHECK_EVERY_SECONDS = 2.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._config_store: Store | None = None
        self._config_version = -1
        self._pending: tuple[int, dict[str, dict[str, Any]]] | None = None
        self._pending_lock = threading.Lock()
        self._follower: threading.Thread | None = None
        self._stopping = threading.Event()
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self._follower is None:
            self._follower = threading.Thread(target=self._follow, name="beat-config", daemon=True)
            self._follower.start()
        self._apply_pending()
        delay: float = super().tick(*args, **kwargs)
        return min(delay, self.CHECK_EVERY_SECONDS)

    def close(self) -> None:
        self._stopping.set()
        super().close()

    def _follow_config(self) -> None:
        """Read the stored configuration and apply it now (what the follower thread and tick do)."""
        self._read_config()
        self._apply_pending()

    def _follow(self) -> None:
        while not self._stopping.is_set():
            self._read_config()
            self._stopping.wait(self.CHECK_EVERY_SECONDS)

    def _read_config(self) -> None:
        try:
            if self._config_store is None:
                self._config_store = connect(get_settings().store_url, migrate=False)
            version = self._config_store.config.version()
            if version == self._config_version:
                return
            effective = self._config_store.config.effective(settings=get_settings(), max_age_s=0)
            with self._pending_lock:
                self._pending = (version, beat_entries(effective))
        except Exception as exc:  # the store is down: keep the current schedule
            log.warning("beat could not read the stored configuration: %s", str(exc).splitlines()[0])

    def _apply_pending(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return
        version, entries = pending
        self.merge_inplace(entries)
        self._heap = None  # entries were updated in place: rebuild the heap from them
        self._config_version = version
        log.info("beat schedule follows configuration version %s", version)


celery_app = make_celery()
