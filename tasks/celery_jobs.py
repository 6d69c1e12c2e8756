"""Jobs that watch Celery: the monitored apps (collectors.celery_monitor) and the beat heartbeat.

Monitored apps are ``settings.celery_broker_urls``; without them, Vitals' own broker
(``settings.broker_url``); with neither, the Celery job is not scheduled at all. Every app is read
in parallel, each capturing task events for most of the interval (see the collector's docstring for
why), and everything lands through the spool, so history survives restarts and store outages:
readings as samples, and the recent-tasks records into ``celery_tasks`` (``storage.queue``).

Task counts are stored twice: per interval (``celery.task.succeeded``..., what the charts sum) and
as running totals (``celery.task.succeeded_total``...), which ``/metrics`` exposes as Prometheus
counters so ``rate()`` works. A total continues from the newest stored one, whichever process wrote
it (Celery workers take turns running the job), and never goes down.
Under ``vitals worker`` that window holds one pool process for most of each interval, so run workers
with ``--concurrency`` 2 or more (the default); the embedded scheduler instead keeps a listener
thread per app and its job returns after the ping/inspect/queue reads.

The heartbeat job writes ``vitals.beat.heartbeat = 1`` each time the scheduler (Celery beat, or the
embedded scheduler) gets a job executed: a heartbeat that stops ageing means beat, the broker or
every worker is down. ``beat_age_seconds(store)`` is the read the health checks use.
"""

from __future__ import annotations

import hashlib
import logging
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from functools import partial
from pathlib import Path

import pandas as pd

from collectors.base import Reading
from collectors.celery_monitor import CeleryMonitor, CelerySnapshot
from storage import Settings, Store
from storage import queue as queuestore
from storage.latest import latest_many
from storage.timeparse import utc_now
from tasks import spool
from tasks.context import JobContext, JobSpec
from tasks.jobs import readings_frame
from tasks.spool import write_samples

__all__ = [
    "BEAT_HEARTBEAT_JOB",
    "BEAT_HEARTBEAT_METRIC",
    "COLLECT_CELERY_JOB",
    "TASKS",
    "TaskTotals",
    "beat_age_seconds",
    "beat_heartbeat",
    "capture_seconds",
    "collect_celery",
    "event_queue_name",
    "job_specs",
    "monitored_brokers",
]

log = logging.getLogger("vitals.tasks.celery")

COLLECT_CELERY_JOB = "vitals.collect_celery"
BEAT_HEARTBEAT_JOB = "vitals.beat_heartbeat"
BEAT_HEARTBEAT_METRIC = "vitals.beat.heartbeat"
# Time left at the end of each interval for writing, so one run ends before the next is due.
_CAPTURE_MARGIN_SECONDS = 1.5
# The event kind of the recent-tasks records in the spool.
TASKS = "celery_tasks"
# Interval counts -> the running total kept for each.
_TOTALS = {
    "celery.task.succeeded": "celery.task.succeeded_total",
    "celery.task.failed": "celery.task.failed_total",
    "celery.task.retried": "celery.task.retried_total",
}


class TaskTotals:
    """Running totals of the task counts, continued from the newest stored ones.

    Each collection reads the totals stored in the last few minutes (one cheap query: only recent
    samples) and adds its interval counts to the larger of that and its own memory, so totals stay
    monotonic when several processes take turns. A process with no memory (just started) looks back
    a day once; a total older than that restarts from 0, which Prometheus treats as a counter reset.
    """

    def __init__(self, recent: str = "10m", seed: str = "1d") -> None:
        self.recent, self.seed = recent, seed
        self._memory: dict[tuple[str, str, str], float] | None = None

    def readings(self, store: Store, snapshots: Sequence[CelerySnapshot]) -> dict[str, list[Reading]]:
        """Total readings per broker for the interval counts in ``snapshots``."""
        counts = [
            (snapshot.target, reading)
            for snapshot in snapshots
            for reading in snapshot.readings
            if reading.metric in _TOTALS
        ]
        if not counts:
            return {}
        base = self._stored(store)
        out: dict[str, list[Reading]] = {}
        for broker, reading in counts:
            metric = _TOTALS[reading.metric]
            key = (metric, broker, reading.labels.get("task", ""))
            total = base.get(key, 0.0) + reading.value
            base[key] = total
            out.setdefault(broker, []).append(Reading(metric, total, reading.labels, reading.unit))
        self._memory = base
        return out

    def _stored(self, store: Store) -> dict[tuple[str, str, str], float]:
        memory = dict(self._memory or {})
        try:
            found = latest_many(store.engine, list(_TOTALS.values()), max_age=self.recent)
            if self._memory is None and found.empty:
                found = latest_many(store.engine, list(_TOTALS.values()), max_age=self.seed)
        except Exception as exc:  # the store is down: carry on from memory; the samples are spooled
            log.info("celery task totals continue from memory: %s", exc)
            return memory
        for row in found.itertuples(index=False):
            key = (str(row.metric), str(row.host), str(row.labels.get("task", "")))
            memory[key] = max(memory.get(key, 0.0), float(row.value))
        return memory


def monitored_brokers(settings: Settings) -> list[str]:
    """Broker URLs of the Celery apps to watch: the configured ones, else Vitals' own, else none."""
    if settings.celery_broker_urls:
        return list(settings.celery_broker_urls)
    return [settings.broker_url] if settings.broker_url else []


def capture_seconds(interval_seconds: float) -> float:
    """How long each collection listens to events: most of the interval, never under one second."""
    return max(1.0, interval_seconds - _CAPTURE_MARGIN_SECONDS)


def collect_celery(
    store: Store,
    monitors: Sequence[CeleryMonitor],
    spool_dir: Path | str,
    totals: TaskTotals | None = None,
) -> int:
    """Read every monitored app at once and store the readings and task records; returns the
    samples written.

    Each app's series carry its broker as ``host`` (and ``broker`` label), so a series stays one
    series whichever worker host happened to run the collection.
    """
    if not monitors:
        return 0
    with ThreadPoolExecutor(max_workers=len(monitors), thread_name_prefix="vitals-celery") as pool:
        snapshots = list(pool.map(lambda monitor: monitor.collect(), monitors))
    at = utc_now()  # the end of the window the counts cover
    extra = (totals or TaskTotals()).readings(store, snapshots)
    frames = [
        readings_frame([*snapshot.readings, *extra.get(snapshot.target, [])], at, host=snapshot.target)
        for snapshot in snapshots
        if snapshot.readings
    ]
    written = write_samples(store, pd.concat(frames, ignore_index=True), spool_dir) if frames else 0
    records = [
        {"broker": snapshot.target, "tasks": [asdict(task) for task in snapshot.tasks]}
        for snapshot in snapshots
        if snapshot.tasks
    ]
    if records:
        spool.write_events(store, TASKS, records, spool_dir)
    return written


def _write_tasks(store: Store, records: list[spool.EventRecord]) -> int:
    return sum(queuestore.record_tasks(store.engine, r["broker"], r["tasks"]) for r in records)


spool.register_event_writer(TASKS, _write_tasks)


def beat_heartbeat(store: Store, spool_dir: Path | str) -> int:
    """Record that the scheduler is alive (value 1 at now, from this host)."""
    reading = Reading(BEAT_HEARTBEAT_METRIC, 1.0, {}, "")
    return write_samples(store, readings_frame([reading], utc_now(), host=socket.gethostname()), spool_dir)


def beat_age_seconds(store: Store, max_age: str = "30d") -> float | None:
    """Seconds since the newest heartbeat from any host; None when there was none within ``max_age``."""
    try:
        latest = store.latest(BEAT_HEARTBEAT_METRIC, max_age=max_age)
    except ValueError:
        return None
    if latest.empty:
        return None
    newest = latest["ts"].max().to_pydatetime()
    return max(0.0, (utc_now() - newest).total_seconds())


def event_queue_name(settings: Settings) -> str:
    """The RabbitMQ event queue of this deployment: one per store, so every worker of a deployment
    shares it (no event counted twice) and two deployments on one broker never split the events."""
    digest = hashlib.sha256(settings.store_url.encode()).hexdigest()[:12]
    return f"celeryev.vitals-{digest}"


def _monitors(context: JobContext, settings: Settings) -> list[CeleryMonitor]:
    # No broker of our own means the embedded scheduler: one long-lived process, where a listener
    # thread captures every event and the job stays short (it shares one thread with every job).
    continuous = not settings.broker_url
    wanted = {f"celery:{url}": url for url in monitored_brokers(settings)}
    for key in [key for key in context.state if key.startswith("celery:") and key not in wanted]:
        # No longer watched (the configuration changed): disconnect and remove the event queue.
        context.state.pop(key).close(forget=True)
    return [
        context.keep(key, partial(_new_monitor, url, settings, continuous)) for key, url in wanted.items()
    ]


def _new_monitor(url: str, settings: Settings, continuous: bool) -> CeleryMonitor:
    window = 2.0 if continuous else capture_seconds(settings.celery_interval_seconds)
    monitor = CeleryMonitor(
        url, capture_seconds=window, queues=settings.celery_queues, event_queue=event_queue_name(settings)
    )
    if continuous:
        monitor.listen()
    return monitor


def job_specs(settings: Settings) -> list[JobSpec]:
    """The heartbeat always (any scheduler has one); Celery collection when a broker is known."""
    specs = [
        JobSpec(
            name=BEAT_HEARTBEAT_JOB,
            interval_seconds=min(settings.health_interval_seconds, settings.celery_interval_seconds),
            body=lambda context: beat_heartbeat(context.store, settings.spool_dir),
        )
    ]
    if monitored_brokers(settings):
        specs.append(
            JobSpec(
                name=COLLECT_CELERY_JOB,
                interval_seconds=settings.celery_interval_seconds,
                body=lambda context: collect_celery(
                    context.store,
                    _monitors(context, settings),
                    settings.spool_dir,
                    context.keep("celery-task-totals", TaskTotals),
                ),
            )
        )
    return specs
