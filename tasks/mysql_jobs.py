"""The MySQL/MariaDB job: collect every configured server and store its readings and events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from collectors.mysql import MySQLCollection, MySQLCollector, explain, parse_target
from storage import Settings, Store
from storage import database as dbstore
from storage.timeparse import utc_now
from tasks import spool
from tasks.context import JobContext, JobSpec
from tasks.jobs import readings_frame

__all__ = ["TargetReport", "collect_mysql", "explain_digest", "job_specs", "store_collection"]

log = logging.getLogger("vitals.tasks.mysql")


@dataclass(frozen=True)
class TargetReport:
    """What one target's collection stored (JSON-friendly via ``asdict`` for Celery results)."""

    samples: int
    digests: int
    new_deadlock: bool
    errors: list[str]


def job_specs(settings: Settings) -> list[JobSpec]:
    """``vitals.collect_mysql`` every ``mysql_interval_seconds``; nothing when no MySQL is configured."""
    urls = tuple(settings.mysql_urls)
    if not urls:
        return []

    def body(context: JobContext) -> dict[str, dict[str, object]]:
        reports = collect_mysql(context, urls, settings.spool_dir)
        return {name: asdict(report) for name, report in reports.items()}

    return [JobSpec(name="vitals.collect_mysql", interval_seconds=settings.mysql_interval_seconds, body=body)]


def collect_mysql(context: JobContext, urls: Sequence[str], spool_dir: Path) -> dict[str, TargetReport]:
    """Collect each target once; reports per target name. A down target is reported, never raised."""
    reports: dict[str, TargetReport] = {}
    for url in urls:
        # One collector per URL and process: it keeps the previous counters and the slow-log position.
        collector = context.keep(f"mysql:{url}", partial(MySQLCollector, url))
        collection = collector.collect()
        reports[collector.name] = store_collection(context.store, collection, utc_now(), spool_dir)
    return reports


def store_collection(
    store: Store, collection: MySQLCollection, at: datetime, spool_dir: Path
) -> TargetReport:
    """Write one collection: readings as samples (host = target name, spooled while the store is down),
    then digests, the latest deadlock (stored once) and the replication state."""
    samples = 0
    if collection.readings:
        frame = readings_frame(collection.readings, at, host=collection.target)
        samples = spool.write_samples(store, frame, spool_dir)
    digests, new_deadlock = 0, False
    try:
        digests, new_deadlock = _store_events(store, collection, at)
    except Exception as exc:
        if not spool.is_store_unreachable(exc):
            raise
        # Digest counters are cumulative and InnoDB repeats its latest deadlock: the next cycle catches up.
        log.warning("mysql %s: events not stored, store unreachable: %s", collection.target, exc)
    for error in collection.errors:
        log.warning("mysql %s: %s", collection.target, error)
    return TargetReport(
        samples=samples, digests=digests, new_deadlock=new_deadlock, errors=list(collection.errors)
    )


def _store_events(store: Store, collection: MySQLCollection, at: datetime) -> tuple[int, bool]:
    digests = dbstore.write_digests(
        store.engine, collection.target, [asdict(d) for d in collection.digests], at
    )
    new_deadlock = False
    if collection.deadlock is not None:
        new_deadlock = dbstore.record_deadlock(store.engine, collection.target, asdict(collection.deadlock))
    if collection.replication is not None:
        dbstore.record_replication(store.engine, collection.target, asdict(collection.replication), at)
    return digests, new_deadlock


def explain_digest(store: Store, urls: Sequence[str], digest_id: int, timeout_s: float = 5.0) -> str:
    """EXPLAIN FORMAT=JSON the sample statement of a stored digest on its own server, and keep the plan.

    ``urls`` are the configured targets (``settings.mysql_urls``); the digest's target name picks one.
    Raises ``ValueError`` (``ExplainRefused`` is one) with a plain reason when there is nothing to
    explain or the statement is not read-only, and ``ExplainError`` when the server fails or times out.
    """
    found = dbstore.get_digest(store.engine, digest_id)
    if found is None:
        raise ValueError(f"no query digest with id {digest_id}")
    url = next((url for url in urls if parse_target(url).name == found["target"]), None)
    if url is None:
        raise ValueError(f"target {found['target']!r} is not among the configured MySQL servers")
    if not found["sample_query"]:
        raise ValueError("this digest has no sample statement to explain (the source recorded only its text)")
    plan = explain(url, found["sample_query"], timeout_s, schema=found["schema_name"])
    dbstore.set_explain(store.engine, digest_id, plan)
    return plan
