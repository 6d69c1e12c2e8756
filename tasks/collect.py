"""The one collect-and-store loop every target job shares (MySQL, Redis, and any collector to come).

A job names its targets, how to make a collector for one (kept per process, since collectors hold the
previous counters that rates need) and which event batches a collection carries besides readings.
Readings and events take the same outage path: while the store is unreachable both wait in the spool
(``tasks.spool``) and are replayed in order, so a store restart loses neither.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from collectors.base import Collection, Collector
from storage import Store
from tasks import spool
from tasks.context import JobContext
from tasks.jobs import readings_frame

__all__ = ["EventBatch", "TargetReport", "collect_targets", "store_collection"]

C = TypeVar("C", bound=Collection)

# (kind, records): records for the event writer registered under ``kind`` with spool.register_event_writer.
EventBatch = tuple[str, list[spool.EventRecord]]


@dataclass(frozen=True)
class TargetReport:
    """What one target's collection stored (JSON-friendly via ``asdict`` for Celery results).

    ``samples`` counts the readings stored now (0 while spooled); ``events`` the new rows per event
    kind stored now; ``spooled`` names the kinds (and "samples") that wait in the spool instead.
    """

    samples: int
    events: dict[str, int] = field(default_factory=dict)
    spooled: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def store_collection(
    store: Store, collection: Collection, spool_dir: Path, events: Sequence[EventBatch] = ()
) -> TargetReport:
    """Write one collection: readings as samples (host = the target), then each event batch; whatever
    the store cannot take now is spooled."""
    samples, spooled = 0, []
    if collection.readings:
        frame = readings_frame(collection.readings, collection.at, host=collection.target)
        samples = spool.write_samples(store, frame, spool_dir)
        if samples == 0:
            spooled.append("samples")
    stored: dict[str, int] = {}
    for kind, records in events:
        if not records:
            continue
        new = spool.write_events(store, kind, records, spool_dir)
        if new is None:
            spooled.append(kind)
        else:
            stored[kind] = stored.get(kind, 0) + new
    # The collectors log their own failures when they happen; the report carries them on.
    return TargetReport(samples=samples, events=stored, spooled=spooled, errors=list(collection.errors))


def collect_targets(
    context: JobContext,
    urls: Sequence[str],
    *,
    section: str,
    make: Callable[[str], Collector[C]],
    events: Callable[[C], Sequence[EventBatch]],
    spool_dir: Path,
    stored: Callable[[Collector[C], C], None] | None = None,
) -> dict[str, TargetReport]:
    """Collect each target once and store it; reports per target name. A down target is reported
    (in its ``errors``), never raised. ``stored(collector, collection)`` runs once the collection is
    safely stored or spooled (Redis acknowledges its slowlog there)."""
    reports: dict[str, TargetReport] = {}
    for url in urls:
        collector = context.keep(f"{section}:{url}", partial(make, url))
        collection = collector.collect()
        reports[collector.name] = store_collection(context.store, collection, spool_dir, events(collection))
        if stored is not None:
            stored(collector, collection)
    return reports
