"""A stored configuration change reaches a running EmbeddedScheduler within one interval, no restart."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path

import pytest

import storage
from tasks.config_live import LiveSchedule
from tasks.context import JobContext, JobSpec
from tasks.schedule import job_specs
from tasks.scheduler import EmbeddedScheduler
from tests.support import wait_until

RELOAD_EVERY = 0.2
TIMEOUT = 15.0


def _record(into: list[list[str]], urls: list[str], _context: object) -> None:
    into.append(urls)


def wait_for(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    wait_until(condition, timeout, what, every=0.05)


@pytest.fixture
def config_store(store: storage.Store) -> storage.Store:
    store.config.use_secret_key(key="live-test-secret-key-0123456789ab")
    return store


@pytest.fixture
def running() -> Iterator[list[EmbeddedScheduler]]:
    started: list[EmbeddedScheduler] = []
    yield started
    for scheduler in started:
        scheduler.stop()


def test_interval_and_target_changes_reach_a_running_scheduler(
    config_store: storage.Store, tmp_path: Path, running: list[EmbeddedScheduler]
) -> None:
    runs: list[float] = []
    targets: list[list[str]] = []

    def specs_for(settings: storage.Settings) -> Sequence[JobSpec]:
        return [
            JobSpec("tick", settings.system_interval_seconds, lambda _c: runs.append(time.monotonic())),
            JobSpec("targets", 0.2, partial(_record, targets, list(settings.redis_urls))),
        ]

    base = storage.load_settings(data_dir=tmp_path)
    config_store.config.set(key="system.collection_interval_seconds", value=3600, by="ada")
    effective = config_store.config.effective(settings=base, max_age_s=0)
    live = LiveSchedule(base, config_store, specs_for=specs_for)
    scheduler = EmbeddedScheduler(
        specs_for(effective), JobContext(store=config_store), reload=live, reload_every=RELOAD_EVERY
    )
    scheduler.start()
    running.append(scheduler)
    wait_for(lambda: len(runs) == 1 and targets, "the first runs")
    time.sleep(1.0)
    assert len(runs) == 1  # an hour between runs

    changed_at = time.monotonic()
    config_store.config.set(key="system.collection_interval_seconds", value=1, by="ada")
    wait_for(lambda: len(runs) >= 3, "two runs at the new 1 s interval")
    # The first run at the new interval came within one (new) interval plus one reload check.
    assert runs[1] - changed_at <= 1.0 + RELOAD_EVERY + 0.5
    assert scheduler.failures == {"tick": 0, "targets": 0}

    config_store.config.add_target(kind="redis", name="cache-1", url="redis://127.0.0.1:6399/2", by="ada")
    wait_for(
        lambda: targets[-1] == ["redis://127.0.0.1:6399/2?name=cache-1"], "the new target in the job's list"
    )


def test_the_app_schedule_follows_the_stored_configuration(
    config_store: storage.Store, tmp_path: Path, running: list[EmbeddedScheduler]
) -> None:
    """What app.py builds (``job_specs(settings)`` into an EmbeddedScheduler) follows with no new code."""
    settings = storage.load_settings(data_dir=tmp_path)
    scheduler = EmbeddedScheduler(job_specs(settings), JobContext(store=config_store))
    scheduler.start()
    running.append(scheduler)

    def intervals() -> dict[str, float]:
        return {job.name: job.interval_seconds for job in scheduler.jobs}

    assert intervals()["vitals.collect_system"] == 5.0
    assert "vitals.collect_mysql" not in intervals()
    config_store.config.set(key="system.collection_interval_seconds", value=2, by="ada")
    config_store.config.add_target(kind="mysql", name="shop", url="mysql://root@127.0.0.1:3306/", by="ada")
    wait_for(
        lambda: intervals()["vitals.collect_system"] == 2.0 and "vitals.collect_mysql" in intervals(),
        "the new interval and the MySQL job",
    )
    config_store.config.reset(key="system.collection_interval_seconds", by="ada")
    wait_for(lambda: intervals()["vitals.collect_system"] == 5.0, "the default again")


def test_an_environment_pinned_interval_is_not_overridden(
    config_store: storage.Store, tmp_path: Path, running: list[EmbeddedScheduler]
) -> None:
    settings = storage.load_settings(data_dir=tmp_path, system_interval_seconds=3)
    live = LiveSchedule(settings, config_store)
    config_store.config.set(key="system.collection_interval_seconds", value=1, by="ada")
    fresh = live()
    assert fresh is not None
    assert {spec.name: spec.interval_seconds for spec in fresh}["vitals.collect_system"] == 3
    assert live() is None  # nothing changed since


def test_celery_beat_follows_a_changed_interval(config_store: storage.Store, tmp_path: Path) -> None:
    from tasks.celery_app import LiveBeatScheduler, celery_app

    beat = LiveBeatScheduler(app=celery_app, schedule_filename=str(tmp_path / "beat-schedule"), lazy=False)
    try:
        beat._config_store = config_store  # the store beat reads the configuration from
        beat._follow_config()
        assert beat.schedule["vitals.maintain_rollups"].schedule.run_every.total_seconds() == 60
        config_store.config.set(key="storage.rollup_interval_seconds", value=30, by="ada")
        beat._follow_config()
        assert beat.schedule["vitals.maintain_rollups"].schedule.run_every.total_seconds() == 30
        assert "vitals.collect_system" not in beat.schedule  # host jobs stay on each worker's own timer
    finally:
        beat.close()
