"""The Redis job: collect every configured Redis target and store its readings and events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from collectors.redis_monitor import RedisCollection, RedisCollector, SlowlogEntry
from storage import Settings, Store
from storage import cache as cachestore
from tasks import spool
from tasks.collect import EventBatch, TargetReport, collect_targets
from tasks.context import JobContext, JobSpec

__all__ = ["collect_redis", "events_of", "job_specs"]

STATS, SLOWLOG = "redis.stats", "redis.slowlog"


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
    """Collect each target once (one collector per URL and process: it keeps the previous counters
    that rates need); reports per target name. A down target is reported, never raised."""
    return collect_targets(
        context,
        urls,
        section="redis",
        make=RedisCollector,
        events=events_of,
        spool_dir=spool_dir,
        stored=_acknowledge,
    )


def events_of(collection: RedisCollection) -> list[EventBatch]:
    """The cache_stats row and the new slowlog entries of a collection, as event records."""
    snap = collection.snapshot
    if snap is None:
        return []
    stats = {
        "target": collection.target,
        "ts": collection.at,
        "maxmemory_policy": snap.maxmemory_policy,
        "keys_per_db": snap.keys_per_db,
        "info": snap.info,
    }
    entries = [asdict(entry) for entry in collection.slowlog]
    return [(STATS, [stats]), (SLOWLOG, [{"target": collection.target, "entries": entries}])]


def _acknowledge(collector: object, collection: RedisCollection) -> None:
    # Stored or spooled, the entries are safe: the next read starts after them.
    if collection.snapshot is not None and isinstance(collector, RedisCollector):
        collector.acknowledge_slowlog(collection.slowlog)


def _write_stats(store: Store, records: list[spool.EventRecord]) -> int:
    for r in records:
        cachestore.record_cache_stats(
            store.engine, r["target"], r["ts"], r["maxmemory_policy"], r["keys_per_db"], r["info"]
        )
    return len(records)


def _write_slowlog(store: Store, records: list[spool.EventRecord]) -> int:
    return sum(
        cachestore.record_slowlog(store.engine, r["target"], [SlowlogEntry(**e) for e in r["entries"]])
        for r in records
    )


spool.register_event_writer(STATS, _write_stats)
spool.register_event_writer(SLOWLOG, _write_slowlog)
