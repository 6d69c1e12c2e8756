"""The schedule: which job runs how often. The embedded scheduler and Celery beat both read it.

Each monitored system's job module declares its own ``job_specs(settings)``; this list joins them.
"""

from __future__ import annotations

from storage import Settings
from tasks import (
    alerts_jobs,
    app_jobs,
    cache_jobs,
    celery_jobs,
    health_jobs,
    incidents_jobs,
    jobs,
    log_jobs,
    mysql_jobs,
    redis_jobs,
)
from tasks.context import JobContext, JobSpec

__all__ = ["JobContext", "JobSpec", "Schedule", "job_specs"]


class Schedule(list[JobSpec]):
    """The job list built from ``settings``. An ``EmbeddedScheduler`` given one follows the stored
    configuration from then on (``tasks.config_live.LiveSchedule``): no caller has to change."""

    def __init__(self, specs: list[JobSpec], settings: Settings) -> None:
        super().__init__(specs)
        self.settings = settings


def job_specs(settings: Settings) -> list[JobSpec]:
    return Schedule(_specs(settings), settings)


def _specs(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec(
            name="vitals.collect_system",
            interval_seconds=settings.system_interval_seconds,
            body=lambda context: jobs.collect_system(context.store, context.system, settings.spool_dir),
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
        # Monitored systems: one line per job module, each `*module.job_specs(settings),`
        *health_jobs.job_specs(settings),
        *celery_jobs.job_specs(settings),
        *redis_jobs.job_specs(settings),
        *cache_jobs.job_specs(settings),
        *app_jobs.job_specs(settings),
        *log_jobs.job_specs(settings),
        *mysql_jobs.job_specs(settings),
        *alerts_jobs.job_specs(settings),
        *incidents_jobs.job_specs(settings),
    ]
