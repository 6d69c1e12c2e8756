"""The schedule: which job runs how often. The embedded scheduler and Celery beat both read it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from collectors.system import SystemCollector
from storage import Settings, Store
from tasks import jobs

__all__ = ["JobContext", "JobSpec", "job_specs"]


@dataclass
class JobContext:
    """What job bodies need; one per process, so collectors keep their previous counters."""

    store: Store
    system: SystemCollector = field(default_factory=SystemCollector)


@dataclass(frozen=True)
class JobSpec:
    name: str  # also the Celery task name
    interval_seconds: float
    body: Callable[[JobContext], object]


def job_specs(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec(
            name="vitals.collect_system",
            interval_seconds=settings.system_interval_seconds,
            body=lambda context: jobs.collect_system(context.store, context.system),
        ),
        JobSpec(
            name="vitals.maintain_rollups",
            interval_seconds=settings.rollup_interval_seconds,
            body=lambda context: jobs.maintain_rollups(context.store),
        ),
        JobSpec(
            name="vitals.enforce_retention",
            interval_seconds=settings.retention_interval_seconds,
            body=lambda context: jobs.enforce_retention(context.store, settings),
        ),
    ]
