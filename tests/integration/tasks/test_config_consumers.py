"""Each group of stored configuration values drives what it configures, without a restart: the value
is changed through the audited action, and the running job (or the next request) behaves differently."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import storage
from storage.timeparse import utc_now
from storage.users import Role
from tasks.actions import config as config_actions
from tasks.actions.gate import Actor
from tasks.config_live import LiveSchedule, kpi_thresholds
from tasks.context import JobContext
from tasks.log_jobs import job_specs as log_job_specs

ADA = Actor("ada", Role.ADMIN)
HOST = "config-consumers-host"


@pytest.fixture
def config_store(store: storage.Store) -> storage.Store:
    store.config.use_secret_key(key="consumer-test-secret-key-0123456789")
    return store


def test_the_log_tailer_follows_a_log_path_added_and_removed_while_running(
    config_store: storage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: HOST)
    base = storage.load_settings(data_dir=tmp_path / "data", log_paths=[])
    live = LiveSchedule(base, config_store, specs_for=log_job_specs, only=frozenset({"vitals.tail_logs"}))
    context = JobContext(store=config_store)  # one per process: it outlives the schedule's rebuilds

    def run_tail() -> None:
        specs = live()
        if specs is not None:
            run_tail.spec = specs[0]  # type: ignore[attr-defined]
        run_tail.spec.body(context)  # type: ignore[attr-defined]

    app_log = tmp_path / "app.log"
    app_log.write_text("2026-01-01 10:00:00,000 ERROR app: first-marker happened\n")
    run_tail()
    since, until = utc_now() - timedelta(days=3650), utc_now() + timedelta(minutes=1)
    assert config_store.logs(query="first-marker", since=since, until=until).empty  # not watched yet

    target = config_actions.add_target(config_store, ADA, "logs", "app", str(app_log))
    assert target.id is not None  # stored, not from the environment
    run_tail()
    assert len(config_store.logs(query="first-marker", since=since, until=until)) == 1
    with app_log.open("a") as out:
        out.write("2026-01-01 10:00:01,000 ERROR app: second-marker happened\n")
    run_tail()
    assert len(config_store.logs(query="second-marker", since=since, until=until)) == 1
    assert len(config_store.logs(query="first-marker", since=since, until=until)) == 1  # not read twice

    config_actions.remove_target(config_store, ADA, target.id)
    with app_log.open("a") as out:
        out.write("2026-01-01 10:00:02,000 ERROR app: third-marker happened\n")
    run_tail()
    assert config_store.logs(query="third-marker", since=since, until=until).empty
    assert [k for k in context.state if k.startswith("logs.tailer:")] == ["logs.tailer:()"]


def test_kpi_thresholds_follow_the_stored_configuration(config_store: storage.Store) -> None:
    found = kpi_thresholds(config_store, max_age_s=0)
    assert found["cpu"] == (70.0, 90.0)
    assert found["cache_hit_rate"] == (60.0, 40.0)
    config_actions.bulk_update_config(
        config_store, ADA, {"alerts.cpu_warn_percent": 55, "cache.hit_rate_critical_percent": 30}
    )
    found = kpi_thresholds(config_store, max_age_s=0)
    assert found["cpu"] == (55.0, 90.0)
    assert found["cache_hit_rate"] == (60.0, 30.0)


def _app(store: storage.Store, tmp_path: Path):
    from app import create_app

    settings = storage.load_settings(data_dir=tmp_path, secret_key="consumer-test-secret-key-0123456789")
    return create_app(settings, store, run_scheduler=False)


def test_the_health_api_uses_the_stored_disk_thresholds(config_store: storage.Store, tmp_path: Path) -> None:
    client = _app(config_store, tmp_path).server.test_client()  # started with the defaults (15 / 5 %)
    config_actions.bulk_update_config(
        config_store, ADA, {"system.disk_free_warn_percent": 100, "system.disk_free_fail_percent": 0.5}
    )
    checks = {check["name"]: check for check in client.get("/api/health").get_json()["checks"]}
    assert checks["disk"]["status"] == "warn", checks["disk"]


def test_pages_draw_the_stored_thresholds(config_store: storage.Store, tmp_path: Path) -> None:
    from dashboard.pages.cache.overview import chart_specs as cache_specs
    from dashboard.pages.database.charts import chart_specs as database_specs
    from dashboard.pages.database.queries import rebuild_grid

    app = _app(config_store, tmp_path)
    config_actions.bulk_update_config(
        config_store,
        ADA,
        {
            "database.connection_warn_percent": 50,
            "database.replication_lag_critical_seconds": 120,
            "cache.memory_warn_percent": 60,
            "database.slow_query_threshold_ms": 250,
        },
    )
    with app.server.app_context():
        database = {spec.key: spec.thresholds for spec in database_specs("db1")}
        cache = {spec.metric: spec.thresholds for spec in cache_specs("cache")}
        columns = {c["field"]: c for c in rebuild_grid("db1", "1h", None, None).columnDefs}
    assert database["database-connections"] == (50.0, 90.0)
    assert database["database-replication-lag"] == (5.0, 120.0)
    assert cache["redis.memory.percent"] == (60.0, 95.0)
    rule = columns["avg_latency_ms"]["cellClassRules"]
    assert list(rule.values()) == ["params.value >= 250.0"]
