"""Configuration applied without a restart: the schedule and job bodies follow the stored config.

How a change travels (the least invasive way: no job module changes, no messages between processes):

- Every job module keeps declaring ``job_specs(settings)``; a job body closes over the settings it
  was built from (intervals, target lists, paths).
- :class:`LiveSchedule` rebuilds ``job_specs(effective settings)`` whenever the configuration version
  (newest ``system_config_history`` id: one indexed lookup) moves. ``EmbeddedScheduler(reload=...)``
  asks it between runs, so a changed interval or target list is in force within one interval, in
  the web process (embedded mode) and in each Celery worker's own host-job timer.
- :func:`current_spec` gives Celery task bodies the same fresh spec by name, so a task sent by beat
  runs with today's target list even though the worker registered the task at start-up.

Every process polls the version on its own, so nothing extra is needed per worker or per host.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from storage import Settings, Store
from tasks.context import JobSpec

__all__ = ["THRESHOLD_KEYS", "LiveSchedule", "current_spec", "kpi_thresholds", "slow_query_threshold_ms"]

log = logging.getLogger("vitals.config")

SpecsFor = Callable[[Settings], Sequence[JobSpec]]


class LiveSchedule:
    """A ``reload`` for :class:`tasks.scheduler.EmbeddedScheduler`: new specs when the config changed.

    ``only`` keeps jobs of these names (a worker's host jobs); ``specs_for`` defaults to
    ``tasks.schedule.job_specs``.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        specs_for: SpecsFor | None = None,
        only: frozenset[str] | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._specs_for = specs_for
        self._only = only
        # Unknown at first: the first call builds from the stored configuration, since the caller's
        # initial job list may have come from the environment alone.
        self._version = -1
        self._lock = threading.Lock()

    def specs(self) -> list[JobSpec]:
        """The job specs for the current effective settings."""
        specs_for = self._specs_for
        if specs_for is None:
            from tasks.schedule import job_specs

            specs_for = job_specs
        effective = self._store.config.effective(settings=self._settings, max_age_s=0)
        found = list(specs_for(effective))
        return [spec for spec in found if self._only is None or spec.name in self._only]

    def __call__(self) -> list[JobSpec] | None:
        with self._lock:
            version = self._store.config.version()
            if version == self._version:
                return None
            specs = self.specs()
            self._version = version
            log.info("configuration version %s: rebuilding the schedule", version)
            return specs


_spec_cache: dict[str, tuple[int, dict[str, JobSpec]]] = {}
_spec_lock = threading.Lock()


def current_spec(name: str, settings: Settings, store: Store, fallback: JobSpec) -> JobSpec:
    """The spec named ``name`` built from the current effective settings (``fallback`` when the
    configuration no longer yields it, or the store cannot be read)."""
    try:
        version = store.config.version()
    except Exception:
        return fallback
    key = str(id(store))
    with _spec_lock:
        cached = _spec_cache.get(key)
        if cached is None or cached[0] != version:
            from tasks.schedule import job_specs

            effective = store.config.effective(settings=settings, max_age_s=0)
            cached = (version, {spec.name: spec for spec in job_specs(effective)})
            _spec_cache[key] = cached
    return cached[1].get(name, fallback)


# What a KPI tile or chart band is called -> the configuration keys of its (warning, critical) levels.
# For a hit rate, low is bad: warning below the first value, critical below the second.
THRESHOLD_KEYS: dict[str, tuple[str, str]] = {
    "cpu": ("alerts.cpu_warn_percent", "alerts.cpu_critical_percent"),
    "memory": ("alerts.memory_warn_percent", "alerts.memory_critical_percent"),
    "disk": ("alerts.disk_warn_percent", "alerts.disk_critical_percent"),
    "connections": ("database.connection_warn_percent", "database.connection_critical_percent"),
    "slow_queries": ("database.slow_queries_warn_per_minute", "database.slow_queries_critical_per_minute"),
    "replication_lag": ("database.replication_lag_warn_seconds", "database.replication_lag_critical_seconds"),
    "cache_hit_rate": ("cache.hit_rate_warn_percent", "cache.hit_rate_critical_percent"),
    "cache_memory": ("cache.memory_warn_percent", "cache.memory_critical_percent"),
}


def kpi_thresholds(store: Store, max_age_s: float = 5.0) -> dict[str, tuple[float, float]]:
    """(warning, critical) per KPI from the stored configuration (the design's defaults when unset),
    re-read when the configuration changed (checked at most every ``max_age_s`` seconds)."""
    return {
        name: (
            float(store.config.value(key=warn, max_age_s=max_age_s)),
            float(store.config.value(key=critical, max_age_s=max_age_s)),
        )
        for name, (warn, critical) in THRESHOLD_KEYS.items()
    }


def slow_query_threshold_ms(store: Store, max_age_s: float = 5.0) -> float:
    """``database.slow_query_threshold_ms``: a statement slower than this counts as slow."""
    return float(store.config.value(key="database.slow_query_threshold_ms", max_age_s=max_age_s))
