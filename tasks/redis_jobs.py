"""The Redis job: collect every configured Redis target and store its readings and events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from collectors.redis_monitor import CacheSnapshot, RedisCollection, RedisCollector
from storage import Settings, Store
from storage import cache as cachestore
from tasks import spool
from tasks.context import JobContext, JobSpec
from tasks.jobs import readings_frame

__all__ = ["TargetReport", "collect_redis", "job_specs", "store_collection"]

log = logging.getLogger("vitals.tasks.redis")


@dataclass(frozen=True)
class TargetReport:
    """What one target's collection stored (JSON-friendly via ``asdict`` for Celery results)."""

    samples: int
    slowlog_entries: int
    error: str | None


def job_specs(settings: Settings) -> list[JobSpec]:
    """``vitals.collect_redis`` every ``redis_interval_seconds``; nothing when no Redis is configured."""
    urls = tuple(settings.redis_urls)
    if not urls:
        return []

    def body(context: JobContext) -> dict[str, dict[str, object]]:
        reports = collect_redis(context, urls, settings.spool_dir)
        return {name: asdict(report) for name, report in reports.items()}

    return [JobSpec(name="vitals.collect_redis", interval_seconds=settings.redis_interval_seconds, body=body)]


def collect_redis(context: JobContext, urls: Sequence[str], spool_dir: Path) -> dict[str, TargetReport]:
    """Collect each target once; reports per target name. A down target is reported, never raised."""
    reports: dict[str, TargetReport] = {}
    for url in urls:
        # One collector per URL and process: it keeps the previous counters that rates need.
        collector = context.keep(f"redis:{url}", partial(RedisCollector, url))
        reports[collector.name] = store_collection(context.store, collector, collector.collect(), spool_dir)
    return reports


def store_collection(
    store: Store, collector: RedisCollector, collection: RedisCollection, spool_dir: Path
) -> TargetReport:
    """Write one collection: readings as samples (host = target name, spooled while the store is
    down), then the cache_stats row and new slowlog entries."""
    samples = 0
    if collection.readings:
        frame = readings_frame(collection.readings, collection.at, host=collection.target)
        samples = spool.write_samples(store, frame, spool_dir)
    new_entries = 0
    if collection.snapshot is not None:
        try:
            new_entries = _store_events(store, collection, collection.snapshot)
        except Exception as exc:
            if not spool.is_store_unreachable(exc):
                raise
            # Slowlog entries stay unacknowledged, so the next cycle re-reads them from Redis.
            log.warning("redis %s: events not stored, store unreachable: %s", collection.target, exc)
        else:
            collector.acknowledge_slowlog(collection.slowlog)
    if collection.error:
        log.warning("redis %s not collected: %s", collection.target, collection.error)
    return TargetReport(samples=samples, slowlog_entries=new_entries, error=collection.error)


def _store_events(store: Store, collection: RedisCollection, snap: CacheSnapshot) -> int:
    cachestore.record_cache_stats(
        store.engine, collection.target, collection.at, snap.maxmemory_policy, snap.keys_per_db, snap.info
    )
    return cachestore.record_slowlog(store.engine, collection.target, collection.slowlog)
