"""The job that watches Vitals itself: store size and pool, pending spool (collectors.app_metrics)."""

from __future__ import annotations

from collectors.app_metrics import AppMetricsCollector
from storage import Settings
from tasks.context import JobContext, JobSpec
from tasks.jobs import readings_frame
from tasks.spool import write_samples

__all__ = ["collect_app", "job_specs"]


def collect_app(context: JobContext, settings: Settings) -> int:
    """Read the store and the spool once and store the readings (through the spool, like every job)."""
    collector = context.keep(
        "app_metrics", lambda: AppMetricsCollector(context.store.engine, settings.spool_dir)
    )
    collection = collector.collect()
    if not collection.readings:
        return 0
    frame = readings_frame(collection.readings, collection.at, host=collection.target)
    return write_samples(context.store, frame, settings.spool_dir)


def job_specs(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec(
            name="vitals.collect_app",
            interval_seconds=settings.health_interval_seconds,
            body=lambda context: collect_app(context, settings),
        )
    ]
