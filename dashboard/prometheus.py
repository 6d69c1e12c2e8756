"""``GET /metrics``: Prometheus text exposition, so an existing Prometheus can scrape Vitals.

It exposes Vitals' own health (store reachable, embedded scheduler runs and failures) and the
latest value of each series, as long as that value is fresh (a few collection intervals old at
most): a series that stopped reporting disappears instead of repeating its last value forever.
Metric names become ``vitals_`` + the name with dots as underscores; the host and the series'
labels become Prometheus labels. A metric whose name ends in ``_total`` is a running total and is
exposed as a counter (``# TYPE ... counter``, so ``rate()`` works); its per-interval twin of the same
name without ``_total`` (e.g. ``celery.task.failed``, the count per collection that the charts sum)
is then left out, as Prometheus refuses two families of one name. Needs a session or
``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from datetime import timedelta

import flask
import pandas as pd
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dashboard.services import Services, services
from storage.export import vitals_version
from tasks.catalog import METRIC_CATALOG

__all__ = ["VitalsCollector", "prometheus", "prometheus_name"]

log = logging.getLogger("vitals.prometheus")

prometheus = flask.Blueprint("prometheus", __name__)

# A value older than this many collection intervals (and at least the floor) is not exposed.
STALE_AFTER_INTERVALS = 3
_STALE_FLOOR = timedelta(seconds=60)
_INVALID = re.compile(r"[^a-zA-Z0-9_]")
_TOTAL = "_total"


@prometheus.get("/metrics")
def scrape() -> flask.Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(VitalsCollector(services()))
    return flask.Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def prometheus_name(name: str) -> str:
    """A valid Prometheus metric or label name: ``system.cpu.percent`` -> ``system_cpu_percent``."""
    cleaned = _INVALID.sub("_", name).lstrip("_") or "unnamed"
    return f"_{cleaned}" if cleaned[0].isdigit() else cleaned


class VitalsCollector(Collector):
    """Reads the store at scrape time; a metric that fails to read is skipped, not the whole scrape."""

    def __init__(self, found: Services) -> None:
        self._services = found
        interval = timedelta(seconds=found.settings.system_interval_seconds)
        self.max_age = max(STALE_AFTER_INTERVALS * interval, _STALE_FLOOR)

    def collect(self) -> Iterator[Metric]:
        build = GaugeMetricFamily("vitals_build_info", "Vitals version", labels=["version"])
        build.add_metric([vitals_version()], 1)
        yield build
        yield from self._scheduler()
        names = self._metric_names()
        up = GaugeMetricFamily("vitals_store_up", "1 when the store answers queries, else 0")
        up.add_metric([], 0 if names is None else 1)
        yield up
        counted = {name.removesuffix(_TOTAL) for name in names or [] if name.endswith(_TOTAL)}
        for name in names or []:
            if name in counted:
                continue  # exposed as its counter, name_total
            family = self._latest(name)
            if family is not None:
                yield family

    def _metric_names(self) -> list[str] | None:
        try:
            return self._services.store.metric_names()
        except Exception as exc:  # the scrape still reports the store as down
            log.warning("store unavailable for /metrics: %s", exc)
            return None

    def _scheduler(self) -> Iterator[Metric]:
        scheduler = self._services.scheduler
        if scheduler is None:
            return
        running = GaugeMetricFamily("vitals_scheduler_running", "1 while the embedded scheduler runs")
        running.add_metric([], 1 if scheduler.running else 0)
        runs = CounterMetricFamily("vitals_scheduler_job_runs", "Jobs completed", labels=["job"])
        failures = CounterMetricFamily("vitals_scheduler_job_failures", "Jobs that raised", labels=["job"])
        for job, count in sorted(scheduler.runs.items()):
            runs.add_metric([job], count)
            failures.add_metric([job], scheduler.failures.get(job, 0))
        yield from (running, runs, failures)

    def _latest(self, name: str) -> Metric | None:
        try:
            frame = self._services.store.latest(name, max_age=self.max_age)
        except Exception as exc:
            log.warning("could not read %s for /metrics: %s", name, exc)
            return None
        if frame.empty:
            return None
        return _family(name, frame)


def _family(name: str, frame: pd.DataFrame) -> Metric:
    unit, description = METRIC_CATALOG.get(name, ("", ""))
    text = f"{description or name} ({unit})" if unit else (description or name)
    keys = _label_keys(frame["labels"])
    kind = CounterMetricFamily if name.endswith(_TOTAL) else GaugeMetricFamily
    family = kind(
        f"vitals_{prometheus_name(name)}", f"{text}; Vitals metric {name}", labels=["host", *keys.values()]
    )
    for row in frame.itertuples(index=False):
        labels: dict[str, str] = dict(row.labels)
        family.add_metric([str(row.host), *(labels.get(key, "") for key in keys)], float(row.value))
    return family


def _label_keys(all_labels: Iterable[dict[str, str]]) -> dict[str, str]:
    """Series label keys -> Prometheus label names (a series' own ``host`` label is renamed)."""
    keys = sorted({key for labels in all_labels for key in labels})
    names = {key: prometheus_name(key) for key in keys}
    return {key: "exported_host" if value == "host" else value for key, value in names.items()}
