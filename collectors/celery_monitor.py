"""Celery apps, watched through their broker: workers, queue lengths and task statistics.

Named ``celery_monitor`` and not ``celery`` so it never shadows the Celery package.

A monitored app is known by its broker URL (Redis or RabbitMQ); its name, the ``broker`` label of
every series, is ``host:port/db-or-vhost`` (never the password). One ``collect()`` call reads:

- **workers** with a control ``ping`` (short timeout), then ``inspect`` active / reserved / scheduled
  / active_queues / stats addressed to exactly the workers that answered, so it returns as soon as
  they reply; ``stats`` gives each worker's pool and concurrency, uptime and processed total;
- **queue lengths** from the broker with a passive ``queue_declare`` through kombu: on RabbitMQ the
  queue's ``message_count``; on Redis kombu answers it with ``LLEN`` of the list (all priority steps).
  Queue names: every queue a worker consumes (active_queues), ``celery`` (the default), the names
  the caller passes, and on Redis every queue kombu has bound (``_kombu.binding.*``), so a backlog
  shows even when no worker is up;
- **task statistics** from Celery *events* (workers must send them: ``-E`` or
  ``worker_send_task_events=True``). Events are not stored by the broker, so they must be
  consumed while they happen. Design:

  * Each collection captures events for a bounded window (``capture_seconds``, just under the
    collection interval) in a background thread while the ping/inspect/queue reads run, and reports
    what it saw as counts *for that interval*: ``celery.task.succeeded/failed/retried{task}`` and
    the mean and max ``runtime`` of the succeeded tasks. The job stores them as samples, so the
    history lives in the Vitals store and survives any restart of the collector or of the workers.
  * On RabbitMQ the event queue is durable and named (``celeryev.vitals-monitor``, expiring after an
    hour unused), so events sent between two collections wait in it and nothing is lost; the window
    only needs to drain it. On Redis Celery publishes events with PUBLISH (pub/sub), which keeps
    nothing for absent subscribers: events between two windows are missed, so the window is made as
    long as the interval allows (coverage = window / interval; the job uses interval - 1.5 s).
  * ``task-failed`` and ``task-retried`` carry only the task id; the name comes from the task's
    ``task-received`` (or ``task-sent``) event, remembered in a bounded map that outlives one window
    (tasks that run across two collections keep their name). Unknown ids count as ``unknown``.
  * One long-lived process (the embedded scheduler) instead calls ``listen()``: a background thread
    then captures continuously and each ``collect()`` only takes what arrived since the last one.
  * On Redis a short lock in the broker (``_vitals.celery_monitor.capture``) lets only one window
    capture at a time, so two Vitals workers running overlapping collections never count twice.
  * A task name once seen is reported with 0 in later quiet intervals, so charts show a real zero.
  * The same events also give the recent-tasks records (``collectors.celery_tasks``): one per task
    id seen in the window, with state, worker, masked arguments and any traceback.

A broker that cannot be reached gives ``celery.broker.up = 0`` and a ``CeleryError`` saying what
failed, never an exception. One failed reading (inspect, one queue) never breaks the rest.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
import urllib.request
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from celery import Celery
from kombu import Connection, Consumer
from kombu.exceptions import ChannelError

from collectors.base import Collection, Reading
from collectors.celery_tasks import TaskRecord, TaskRecords

__all__ = [
    "CELERY_METRICS",
    "CeleryError",
    "CeleryMonitor",
    "CelerySnapshot",
    "TaskStats",
    "broker_name",
    "pool_name",
]

log = logging.getLogger("vitals.collectors.celery")

# The catalog of what this collector emits: name -> (unit, description). Every series has {broker}.
CELERY_METRICS: dict[str, tuple[str, str]] = {
    "celery.broker.up": ("", "1 when the Celery {broker} answered this collection, 0 when it did not"),
    "celery.workers.online": ("", "Workers that answered a control ping"),
    "celery.worker.up": ("", "1 for each {worker} that answered a control ping"),
    "celery.worker.active": ("", "Tasks executing now on each {worker}"),
    "celery.worker.reserved": ("", "Tasks prefetched, waiting to execute, on each {worker}"),
    "celery.worker.scheduled": ("", "Tasks with an ETA or countdown held by each {worker}"),
    "celery.worker.concurrency": ("", "Pool size of each {worker} (its {pool}: prefork, threads, solo...)"),
    "celery.worker.uptime_seconds": ("s", "Seconds since each {worker} started"),
    "celery.worker.processed_total": ("", "Tasks each {worker} has run since it started (its own count)"),
    "celery.queue.length": ("", "Messages waiting in each {queue} on the broker"),
    "celery.task.succeeded": ("", "Tasks of each {task} name that succeeded in the interval"),
    "celery.task.failed": ("", "Tasks of each {task} name that failed in the interval"),
    "celery.task.retried": ("", "Tasks of each {task} name that asked for a retry in the interval"),
    "celery.task.runtime_seconds": ("s", "Mean runtime of each {task} that succeeded in the interval"),
    "celery.task.runtime_max_seconds": ("s", "Longest runtime of each {task} that succeeded in the interval"),
    # Running totals of the interval counts above, kept by the job (tasks.celery_jobs) so that
    # /metrics can expose real Prometheus counters.
    "celery.task.succeeded_total": (
        "",
        "Tasks of each {task} name that succeeded, counted since Vitals began",
    ),
    "celery.task.failed_total": ("", "Tasks of each {task} name that failed, counted since Vitals began"),
    "celery.task.retried_total": (
        "",
        "Tasks of each {task} name that asked for a retry, counted since Vitals began",
    ),
    # Written by the heartbeat job (tasks.celery_jobs), listed here so the catalog has it.
    "vitals.beat.heartbeat": ("", "1 each time the scheduler got its heartbeat job run; stale = beat down"),
}

DEFAULT_QUEUE = "celery"
# The event queue Vitals owns on RabbitMQ (durable, so events wait between collections).
EVENT_QUEUE = "celeryev.vitals-monitor"
EVENT_QUEUE_EXPIRES_SECONDS = 3600.0
# On Redis: held while one collection captures events (see ``_capture_lock``).
CAPTURE_LOCK_KEY = "_vitals.celery_monitor.capture"
_OVERLAP = "another collection is capturing this broker's events now; skipped so none is counted twice"
# Task ids remembered for naming later failed/retried events.
_MAX_REMEMBERED_TASKS = 20_000
# Exchanges kombu binds on Redis that are not task queues (events, remote control and its replies).
_NOT_TASK_EXCHANGES = {"celeryev", "celery.pidbox", "reply.celery.pidbox"}
MANAGEMENT_PORT = 15672
_MANAGEMENT_RETRY_SECONDS = 600.0
_BINDING_SEP = "\x06\x16"


@dataclass(frozen=True, slots=True)
class CeleryError:
    """Something the collector could not read, in words an operator can act on."""

    broker: str
    stage: str  # connect, ping, inspect, queue, events
    message: str

    def __str__(self) -> str:
        return f"celery broker {self.broker}: {self.stage} failed: {self.message}"


@dataclass
class CelerySnapshot(Collection):
    """One collection of one monitored app (``target`` is its broker): readings, and ``problems``
    saying what could not be read, by stage; ``errors`` holds the same as sentences."""

    problems: list[CeleryError] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)


def broker_name(url: str) -> str:
    """``host:port/db-or-vhost`` of a broker URL: stable, readable, and without the password."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[-1]
    port = parts.port or {"redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671}.get(scheme, 0)
    path = parts.path.lstrip("/") or ("0" if scheme.startswith("redis") else "/")
    return f"{parts.hostname or 'localhost'}:{port}/{path}"


def _is_redis(url: str) -> bool:
    return urlsplit(url).scheme.startswith(("redis", "rediss", "sentinel"))


class TaskStats:
    """Counts and runtimes per task name, built from Celery task events over one window."""

    def __init__(self, names: OrderedDict[str, str] | None = None) -> None:
        self.names: OrderedDict[str, str] = names if names is not None else OrderedDict()
        self.succeeded: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.retried: Counter[str] = Counter()
        self.runtimes: dict[str, list[float]] = {}
        self.events = 0
        self.tasks = TaskRecords()

    def handle(self, event: Mapping[str, Any]) -> None:
        """Fold one event (a dict as Celery's Receiver passes it) into the counts."""
        self.events += 1
        kind, uuid = event.get("type", ""), str(event.get("uuid", ""))
        if kind in ("task-sent", "task-received") and event.get("name"):
            self._remember(uuid, str(event["name"]))
        elif kind == "task-succeeded":
            name = self._name(event, uuid)
            self.succeeded[name] += 1
            if isinstance(event.get("runtime"), int | float):
                self.runtimes.setdefault(name, []).append(float(event["runtime"]))
        elif kind == "task-failed":
            self.failed[self._name(event, uuid)] += 1
        elif kind == "task-retried":
            self.retried[self._name(event, uuid)] += 1
        self.tasks.handle(event, self.names.get(uuid))

    def readings(self, broker: str, known: Iterable[str] = ()) -> list[Reading]:
        """Counts for the window (0 for ``known`` names that were quiet) and runtime mean/max."""
        names = set(known) | set(self.succeeded) | set(self.failed) | set(self.retried)
        readings = []
        for name in sorted(names):
            labels = {"broker": broker, "task": name}
            readings.append(_reading("celery.task.succeeded", self.succeeded[name], labels))
            readings.append(_reading("celery.task.failed", self.failed[name], labels))
            readings.append(_reading("celery.task.retried", self.retried[name], labels))
            runtimes = self.runtimes.get(name)
            if runtimes:
                readings.append(
                    _reading("celery.task.runtime_seconds", sum(runtimes) / len(runtimes), labels)
                )
                readings.append(_reading("celery.task.runtime_max_seconds", max(runtimes), labels))
        return readings

    def _remember(self, uuid: str, name: str) -> None:
        self.names[uuid] = name
        self.names.move_to_end(uuid)
        while len(self.names) > _MAX_REMEMBERED_TASKS:
            self.names.popitem(last=False)

    def _name(self, event: Mapping[str, Any], uuid: str) -> str:
        return str(event.get("name") or self.names.get(uuid) or "unknown")


def _reading(metric: str, value: float, labels: dict[str, str]) -> Reading:
    return Reading(metric, float(value), labels, CELERY_METRICS[metric][0])


def _worker_stats(broker: str, worker: str, stats: Mapping[str, Any]) -> list[Reading]:
    """Pool, uptime and processed total from one worker's ``inspect().stats()`` reply."""
    labels = {"broker": broker, "worker": worker}
    readings = []
    pool = stats.get("pool") or {}
    if isinstance(pool.get("max-concurrency"), int):
        pool_labels = {**labels, "pool": pool_name(str(pool.get("implementation", "")))}
        readings.append(_reading("celery.worker.concurrency", pool["max-concurrency"], pool_labels))
    if isinstance(stats.get("uptime"), int | float):
        readings.append(_reading("celery.worker.uptime_seconds", stats["uptime"], labels))
    totals = stats.get("total")
    if isinstance(totals, Mapping):
        processed = sum(count for count in totals.values() if isinstance(count, int))
        readings.append(_reading("celery.worker.processed_total", processed, labels))
    return readings


def pool_name(implementation: str) -> str:
    """``celery.concurrency.prefork:TaskPool`` -> ``prefork`` (solo, threads, eventlet, gevent...)."""
    module = implementation.split(":")[0]
    return module.rsplit(".", 1)[-1] or "unknown"


class CeleryMonitor:
    """Watches one Celery app through its broker. Keep one per broker: it remembers task names."""

    def __init__(
        self,
        broker_url: str,
        *,
        capture_seconds: float = 5.0,
        timeout: float = 1.0,
        queues: Sequence[str] = (),
        event_queue: str = EVENT_QUEUE,
        management_url: str | None = None,
    ) -> None:
        self.url = broker_url
        self.name = broker_name(broker_url)
        self.capture_seconds = capture_seconds
        self.timeout = timeout
        self.queues = list(queues)
        self.event_queue = event_queue
        self.redis = _is_redis(broker_url)
        self._task_names: OrderedDict[str, str] = OrderedDict()
        self._seen_tasks: set[str] = set()
        # Queue names once seen (from workers or the broker) stay watched, so a backlog remains
        # visible after its consumers are gone, which is exactly when it matters.
        self._known_queues: set[str] = set()
        self.management_url = management_url or (None if self.redis else _management_url(broker_url))
        self._management_next_try = 0.0
        self.app = _monitor_app(broker_url, timeout)
        # One broker connection for every read of every collection, reconnected only after a failure
        # (opening one per read cost ~4 AMQP connections a cycle). The listener thread has its own.
        self._conn: Connection | None = None
        # Continuous mode (one long-lived process, e.g. the embedded scheduler): a listener thread.
        self._lock = threading.Lock()
        self._pending = TaskStats(self._task_names)
        self._listener_errors: list[CeleryError] = []
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()

    def listen(self) -> None:
        """Capture events continuously in a background thread; ``collect()`` then only drains them.

        Only for a single long-lived process (the embedded scheduler): in Celery's prefork pool
        every child would start its own listener and each event would be counted once per child.
        """
        if self._listener is None or not self._listener.is_alive():
            self._stop.clear()
            self._listener = threading.Thread(
                target=self._listen_forever, name="vitals-celery-events", daemon=True
            )
            self._listener.start()

    def close(self, forget: bool = False) -> None:
        """Stop listening and disconnect; ``forget`` also deletes the event queue Vitals declared on
        RabbitMQ (when this broker is no longer watched)."""
        self._stop.set()
        if self._listener is not None:
            self._listener.join(self.capture_seconds + 5)
        if forget and not self.redis:
            try:
                self._connection().default_channel.queue_delete(self.event_queue)
            except Exception as exc:  # it expires by itself after an hour unused anyway
                log.info("celery broker %s: event queue %s not deleted: %s", self.name, self.event_queue, exc)
        self._drop_connection()
        self.app.close()

    def collect(self) -> CelerySnapshot:
        """Read workers, queues and the task events of one window; never raises for the target."""
        snapshot = CelerySnapshot(self.name)
        problem = self._connect_problem()
        if problem:
            snapshot.problems.append(CeleryError(self.name, "connect", problem))
            snapshot.readings.append(_reading("celery.broker.up", 0, {"broker": self.name}))
            snapshot.errors = [str(problem) for problem in snapshot.problems]
            return snapshot
        snapshot.readings.append(_reading("celery.broker.up", 1, {"broker": self.name}))
        if self._listener is not None:
            worker_queues = self._read_workers(snapshot)
            self._read_queues(snapshot, worker_queues)
            stats = self._take_pending(snapshot)
        elif not self.redis:
            # RabbitMQ keeps events in Vitals' durable queue, so reads and the event drain can share
            # the one connection in turn: one AMQP connection for the whole collection.
            worker_queues = self._read_workers(snapshot)
            self._read_queues(snapshot, worker_queues)
            stats = TaskStats(self._task_names)
            self._capture(stats.handle, snapshot.problems, conn=self._connection())
        else:
            stats = TaskStats(self._task_names)
            capture = threading.Thread(
                target=self._capture, args=(stats.handle, snapshot.problems), daemon=True
            )
            capture.start()
            worker_queues = self._read_workers(snapshot)
            self._read_queues(snapshot, worker_queues)
            capture.join(self.capture_seconds + 10)
        self._seen_tasks |= set(stats.succeeded) | set(stats.failed) | set(stats.retried)
        snapshot.readings.extend(stats.readings(self.name, self._seen_tasks))
        snapshot.tasks = stats.tasks.take()
        snapshot.errors = [str(problem) for problem in snapshot.problems]
        if snapshot.problems:
            self._drop_connection()  # whatever failed, the next collection starts on a fresh connection
        for error in snapshot.errors:
            log.warning("%s", error)
        return snapshot

    # -- broker ---------------------------------------------------------------------------------

    def _connection(self) -> Connection:
        """The kept broker connection, connected (a no-op when it already is)."""
        if self._conn is None:
            self._conn = self.app.connection_for_read()
        self._conn.ensure_connection(max_retries=1, timeout=self.timeout, interval_start=0)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.release()
            except Exception:  # a connection the broker already dropped: nothing to release
                log.debug("celery broker %s: release failed", self.name, exc_info=True)

    def _connect_problem(self) -> str | None:
        try:
            self._connection()
        except Exception as exc:  # any transport error means "not reachable"; say which
            self._drop_connection()
            return f"cannot reach {self.name}: {exc or type(exc).__name__}"
        return None

    # -- workers --------------------------------------------------------------------------------

    def _read_workers(self, snapshot: CelerySnapshot) -> set[str]:
        """Workers online and their task counts; returns the queue names the workers consume."""
        try:
            replies = self.app.control.ping(timeout=self.timeout, connection=self._connection()) or []
        except Exception as exc:
            snapshot.problems.append(CeleryError(self.name, "ping", str(exc)))
            return set()
        workers = sorted({name for reply in replies for name in reply})
        snapshot.readings.append(_reading("celery.workers.online", len(workers), {"broker": self.name}))
        if not workers:
            return set()
        inspect = self.app.control.inspect(
            destination=workers, timeout=self.timeout, limit=len(workers), connection=self._connection()
        )
        queues: set[str] = set()
        for worker in workers:
            snapshot.readings.append(_reading("celery.worker.up", 1, {"broker": self.name, "worker": worker}))
        for method, metric in (
            ("active", "celery.worker.active"),
            ("reserved", "celery.worker.reserved"),
            ("scheduled", "celery.worker.scheduled"),
        ):
            found = self._inspect(snapshot, inspect, method)
            for worker in workers:
                labels = {"broker": self.name, "worker": worker}
                if worker in found:
                    snapshot.readings.append(_reading(metric, len(found[worker] or []), labels))
        for worker_queues in self._inspect(snapshot, inspect, "active_queues").values():
            queues |= {str(queue.get("name")) for queue in worker_queues or [] if queue.get("name")}
        for worker, stats in self._inspect(snapshot, inspect, "stats").items():
            snapshot.readings.extend(_worker_stats(self.name, worker, stats or {}))
        return queues

    def _inspect(self, snapshot: CelerySnapshot, inspect: Any, method: str) -> dict[str, Any]:
        """One inspect call; asked twice when nobody answered, as the first call after a ping on Redis
        regularly gets no reply (seen with Celery 5.7 and kombu's Redis transport)."""
        try:
            found: dict[str, Any] | None = getattr(inspect, method)()
            if found is None:
                found = getattr(inspect, method)()
        except Exception as exc:
            snapshot.problems.append(CeleryError(self.name, "inspect", f"{method}: {exc}"))
            return {}
        if found is None:
            snapshot.problems.append(
                CeleryError(self.name, "inspect", f"{method}: no worker replied in time")
            )
        return found or {}

    # -- queues ---------------------------------------------------------------------------------

    def _read_queues(self, snapshot: CelerySnapshot, worker_queues: set[str]) -> None:
        try:
            conn = self._connection()
            self._known_queues |= worker_queues
            names = {DEFAULT_QUEUE, *self.queues, *self._known_queues}
            if self.redis:
                names |= _redis_bound_queues(conn)
            else:
                names |= self._management_queues()
            for queue in sorted(names):
                length = self._queue_length(conn, queue, snapshot)
                if length is not None:
                    self._known_queues.add(queue)
                    labels = {"broker": self.name, "queue": queue}
                    snapshot.readings.append(_reading("celery.queue.length", length, labels))
        except Exception as exc:
            snapshot.problems.append(CeleryError(self.name, "queue", str(exc)))

    def _management_queues(self) -> set[str]:
        """Task queues RabbitMQ's management API lists for the vhost; empty while it does not answer."""
        if self.management_url is None or time.monotonic() < self._management_next_try:
            return set()
        try:
            return _listed_queues(self.management_url, self.timeout)
        except Exception as exc:  # not enabled, another port, no permission: passive declares remain
            self._management_next_try = time.monotonic() + _MANAGEMENT_RETRY_SECONDS
            log.info("celery broker %s: no queue list from the management API (%s)", self.name, exc)
            return set()

    def _queue_length(self, conn: Connection, queue: str, snapshot: CelerySnapshot) -> int | None:
        """Messages waiting in ``queue``: None when RabbitMQ has no such queue."""
        channel = conn.channel()
        try:
            _name, count, _consumers = channel.queue_declare(queue=queue, passive=True)
            return int(count)
        except ChannelError as exc:
            if self.redis:  # kombu on Redis: no list key at all means an empty queue
                return 0
            if "NOT_FOUND" not in str(exc) and "404" not in str(exc):
                snapshot.problems.append(CeleryError(self.name, "queue", f"{queue}: {exc}"))
            return None
        finally:
            _close_quietly(channel)

    # -- events ---------------------------------------------------------------------------------

    def _capture(
        self,
        handle: Callable[[Mapping[str, Any]], None],
        errors: list[CeleryError],
        idle_stop: bool = True,
        conn: Connection | None = None,
    ) -> None:
        """Consume task events until the window ends (RabbitMQ: or the durable queue is drained), on
        ``conn`` when given (left open), else on a connection of its own."""
        deadline = time.monotonic() + self.capture_seconds
        try:
            with contextlib.nullcontext(conn) if conn is not None else self.app.connection_for_read() as conn:
                lock = _capture_lock(conn, self.capture_seconds) if (idle_stop and self.redis) else None
                if lock is not None and not lock.acquire(blocking=False):
                    errors.append(CeleryError(self.name, "events", _OVERLAP))
                    return
                try:
                    receiver = self.app.events.Receiver(conn, handlers={"*": handle}, **self._queue_options())
                    # The receiver's own consumer_context() would clone the connection (a new AMQP
                    # connection every window): consume on this one instead.
                    channel = conn.default_channel
                    with contextlib.ExitStack() as consuming:
                        for consumer in receiver.get_consumers(partial(Consumer, channel), channel):
                            consuming.enter_context(consumer)
                        _drain(conn, deadline, stop_when_idle=idle_stop and not self.redis)
                finally:
                    _release_quietly(lock)
        except Exception as exc:
            errors.append(CeleryError(self.name, "events", str(exc) or type(exc).__name__))

    def _listen_forever(self) -> None:
        while not self._stop.is_set():
            errors: list[CeleryError] = []
            self._capture(self._handle_pending, errors, idle_stop=False)
            if errors:
                with self._lock:
                    self._listener_errors.extend(errors)
                self._stop.wait(self.capture_seconds)  # the broker is down: do not spin

    def _handle_pending(self, event: Mapping[str, Any]) -> None:
        with self._lock:
            self._pending.handle(event)

    def _take_pending(self, snapshot: CelerySnapshot) -> TaskStats:
        with self._lock:
            stats, self._pending = self._pending, TaskStats(self._task_names)
            snapshot.problems.extend(self._listener_errors[-1:])  # one is enough to say what is wrong
            self._listener_errors.clear()
        return stats

    def _queue_options(self) -> dict[str, Any]:
        if self.redis:
            return {}
        # Durable and named: events sent between two collections wait here instead of being lost.
        prefix, _, node_id = self.event_queue.rpartition(".")
        return {
            "queue_prefix": prefix or "celeryev",
            "node_id": node_id,
            "queue_durable": True,
            "queue_exclusive": False,
            "queue_expires": EVENT_QUEUE_EXPIRES_SECONDS,
            "queue_ttl": EVENT_QUEUE_EXPIRES_SECONDS,
        }


def _drain(connection: Connection, deadline: float, stop_when_idle: bool, idle_seconds: float = 1.0) -> None:
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            connection.drain_events(timeout=min(0.5 if not stop_when_idle else idle_seconds, remaining))
        except TimeoutError:
            if stop_when_idle:
                return


def _capture_lock(conn: Connection, seconds: float) -> Any:
    """A lock in the monitored Redis so two overlapping windows (two Vitals workers running the job at
    once) never both subscribe: on pub/sub each would see, and count, every event."""
    client: Any = conn.default_channel.client  # type: ignore[attr-defined]  # kombu Redis: redis-py
    return client.lock(CAPTURE_LOCK_KEY, timeout=seconds + 5)


def _release_quietly(lock: Any) -> None:
    if lock is None:
        return
    try:
        lock.release()
    except Exception:  # expired already (a very slow window): nothing left to release
        log.debug("capture lock release failed", exc_info=True)


def _redis_bound_queues(conn: Connection) -> set[str]:
    """Task queues kombu has declared on a Redis broker, read from its ``_kombu.binding.*`` sets."""
    # A channel of its own: the default channel's client may be waiting on control replies.
    channel: Any = conn.channel()
    try:
        return _bound_queues(channel.client)  # kombu Redis: redis-py
    finally:
        _close_quietly(channel)


def _management_url(broker_url: str) -> str:
    """``http://user:password@host:15672/api/queues/<vhost>`` for an AMQP broker URL."""
    parts = urlsplit(broker_url)
    vhost = parts.path[1:] if len(parts.path) > 1 else "/"
    auth = f"{parts.username or 'guest'}:{parts.password or 'guest'}@"
    return (
        f"http://{auth}{parts.hostname or 'localhost'}:{MANAGEMENT_PORT}/api/queues/{quote(vhost, safe='')}"
    )


def _listed_queues(url: str, timeout: float) -> set[str]:
    parts = urlsplit(url)
    plain = parts._replace(netloc=f"{parts.hostname}:{parts.port}").geturl() + "?columns=name"
    request = urllib.request.Request(plain)
    token = base64.b64encode(f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode())
    request.add_header("Authorization", f"Basic {token.decode()}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        listed = json.loads(response.read())
    return {str(queue["name"]) for queue in listed if _is_task_queue(str(queue.get("name", "")))}


def _is_task_queue(name: str) -> bool:
    """Not Celery's own plumbing: event queues, remote-control mailboxes and their replies."""
    return bool(name) and not (
        name.startswith(("celeryev.", "amq.")) or name.endswith(("pidbox", ".reply.celery.pidbox"))
    )


def _bound_queues(client: Any) -> set[str]:
    names: set[str] = set()
    for key in client.scan_iter(match="_kombu.binding.*", count=500):
        exchange = _text(key).removeprefix("_kombu.binding.")
        if exchange in _NOT_TASK_EXCHANGES:
            continue
        for member in client.smembers(key):
            queue = _text(member).split(_BINDING_SEP)[-1]
            if queue and not queue.startswith("celeryev."):
                names.add(queue)
    return names


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _close_quietly(channel: Any) -> None:
    try:
        channel.close()
    except Exception:  # closing a channel the broker already closed says nothing new
        log.debug("channel close failed", exc_info=True)


def _monitor_app(broker_url: str, timeout: float) -> Celery:
    """A bare Celery app that only talks to the broker: short timeouts, no retry loops, no results."""
    app = Celery("vitals-monitor", broker=broker_url, set_as_current=False)
    app.conf.update(
        broker_connection_timeout=timeout,
        broker_connection_retry=False,
        broker_connection_max_retries=1,
        broker_transport_options={"socket_connect_timeout": timeout, "socket_timeout": timeout + 2},
        result_backend=None,
        accept_content=["json"],
    )
    # Control broadcasts (ping, inspect) publish on the connection they are given rather than on a
    # producer pool of their own: one broker connection per monitor, not two.
    app.control.mailbox.producer_pool = None
    return app
