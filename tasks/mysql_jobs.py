"""The MySQL/MariaDB job: collect every configured server and store its readings and events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from collectors.mysql import MySQLCollection, MySQLCollector, explain, parse_target
from storage import Settings, Store
from storage import database as dbstore
from tasks import spool
from tasks.collect import EventBatch, TargetReport, collect_targets
from tasks.context import JobContext, JobSpec

__all__ = ["collect_mysql", "events_of", "explain_digest", "job_specs"]

log = logging.getLogger("vitals.tasks.mysql")

DIGESTS, DEADLOCK, REPLICATION = "mysql.digests", "mysql.deadlock", "mysql.replication"


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
    """Collect each target once (one collector per URL and process: it keeps the previous counters and
    the slow-log position); reports per target name. A down target is reported, never raised."""
    return collect_targets(
        context, urls, section="mysql", make=MySQLCollector, events=events_of, spool_dir=spool_dir
    )


def events_of(collection: MySQLCollection) -> list[EventBatch]:
    """A collection's digests (one cumulative snapshot each), latest deadlock and replication state,
    as records the writers below take back, now or after a spool replay."""
    target, at = collection.target, collection.at
    batches: list[EventBatch] = []
    if collection.digests:
        digests = [asdict(digest) for digest in collection.digests]
        batches.append((DIGESTS, [{"target": target, "at": at, "digests": digests}]))
    if collection.deadlock is not None:
        batches.append((DEADLOCK, [{"target": target, "deadlock": asdict(collection.deadlock)}]))
    if collection.replication is not None:
        state = asdict(collection.replication)
        batches.append((REPLICATION, [{"target": target, "at": at, "state": state}]))
    return batches


def _write_digests(store: Store, records: list[spool.EventRecord]) -> int:
    return sum(dbstore.write_digests(store.engine, r["target"], r["digests"], r["at"]) for r in records)


def _write_deadlocks(store: Store, records: list[spool.EventRecord]) -> int:
    # Stored once per fingerprint: InnoDB repeats its latest deadlock on every read (and a replay repeats too).
    return sum(dbstore.record_deadlock(store.engine, r["target"], r["deadlock"]) for r in records)


def _write_replication(store: Store, records: list[spool.EventRecord]) -> int:
    return sum(dbstore.record_replication(store.engine, r["target"], r["state"], r["at"]) for r in records)


spool.register_event_writer(DIGESTS, _write_digests)
spool.register_event_writer(DEADLOCK, _write_deadlocks)
spool.register_event_writer(REPLICATION, _write_replication)


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
