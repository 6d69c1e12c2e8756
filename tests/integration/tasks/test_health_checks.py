"""Health checks against the real thing: MariaDB, a private redis-server, a local HTTP server, the store.

Each failure mode must produce a message that says exactly what is wrong, the "fail after N" rule
must come from stored history (SQLite and MariaDB), and ``/api/health`` must answer 503 only for a
critical failure and never show a password from a configured URL.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import redis
from celery import Celery
from flask.testing import FlaskClient
from kombu import Connection as KombuConnection
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import storage
from app import create_app
from collectors.probes import FAIL, OK, Outcome, probe_http, probe_mysql, probe_redis
from storage.engine import create_store_engine
from storage.health import health_history, latest_health
from tasks.health_jobs import build_checks, run_checks
from tasks.health_rules import CheckSpec, probe_queue

# --- helpers ------------------------------------------------------------------------------------
from tests.support import PrivateRedis, free_port, unavailable


def settings_for(tmp_path: Path, **overrides: object) -> storage.Settings:
    return storage.load_settings(
        data_dir=tmp_path, secret_key="health-test-secret-key-0123456789", **overrides
    )


class _Handler(BaseHTTPRequestHandler):
    """``/ok`` 200, ``/moved`` 302, ``/broken`` 500, ``/slow`` answers after 2 s."""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/slow":
            time.sleep(2.0)
        status = {"/ok": 200, "/moved": 302, "/broken": 500, "/slow": 200}.get(path, 404)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:  # keep the test output clean
        pass


@pytest.fixture
def http_base() -> Iterator[str]:
    """A tiny local HTTP server on a free port for the duration of the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def mysql_user(mysql_url: str) -> Iterator[tuple[str, str]]:
    """A MariaDB user with a password and no grants at all, dropped afterwards."""
    name, password = f"vh_{uuid.uuid4().hex[:8]}", "Right-Pass-42"
    admin = create_engine(make_url(mysql_url), poolclass=NullPool)
    try:
        with admin.begin() as conn:
            for host in ("%", "localhost"):
                conn.execute(text(f"CREATE USER '{name}'@'{host}' IDENTIFIED BY '{password}'"))
        yield name, password
    finally:
        with admin.begin() as conn:
            for host in ("%", "localhost"):
                conn.execute(text(f"DROP USER IF EXISTS '{name}'@'{host}'"))
        admin.dispose()


def _server(mysql_url: str) -> str:
    url = make_url(mysql_url)
    return f"{url.host or '127.0.0.1'}:{url.port or 3306}"


# --- MySQL --------------------------------------------------------------------------------------


def test_mysql_unreachable_says_connection_refused() -> None:
    port = free_port()
    found = probe_mysql(f"mysql://root@127.0.0.1:{port}/", timeout=2)
    assert found.status == FAIL
    assert found.message == f"unreachable: connection refused to 127.0.0.1:{port}"


def test_mysql_wrong_password_says_access_denied(mysql_url: str, mysql_user: tuple[str, str]) -> None:
    name, _password = mysql_user
    found = probe_mysql(f"mysql://{name}:Wrong-Pass-1@{_server(mysql_url)}/")
    assert found.status == FAIL
    assert found.message.startswith(f"access denied for user '{name}'@")
    assert "using password: YES" in found.message
    assert "Wrong-Pass-1" not in found.message


def test_mysql_without_performance_schema_privilege_says_so(
    mysql_url: str, mysql_user: tuple[str, str]
) -> None:
    name, password = mysql_user
    found = probe_mysql(f"mysql://{name}:{password}@{_server(mysql_url)}/")
    assert found.status == "warn"
    assert found.message.startswith(f"missing privilege: user '{name}' may not read performance_schema")
    assert f"GRANT SELECT ON performance_schema.* TO '{name}'" in found.message


def test_mysql_with_the_privilege_is_ok(mysql_url: str, mysql_user: tuple[str, str]) -> None:
    name, password = mysql_user
    admin = create_engine(make_url(mysql_url), poolclass=NullPool)
    with admin.begin() as conn:
        for host in ("%", "localhost"):
            conn.execute(text(f"GRANT SELECT ON performance_schema.* TO '{name}'@'{host}'"))
    admin.dispose()
    found = probe_mysql(f"mysql://{name}:{password}@{_server(mysql_url)}/")
    assert (found.status, found.message) == (OK, "connected, SELECT 1 answered, performance_schema readable")


# --- Redis --------------------------------------------------------------------------------------


def test_redis_wrong_and_missing_password(private_redis: Callable[..., PrivateRedis]) -> None:
    port = private_redis("--requirepass", "Redis-Right-7").port
    wrong = probe_redis(f"redis://:Redis-Wrong-7@127.0.0.1:{port}/0")
    assert wrong.status == FAIL
    assert wrong.message.startswith("authentication failed: wrong user name or password")
    assert "Redis-Wrong-7" not in wrong.message
    missing = probe_redis(f"redis://127.0.0.1:{port}/0")
    assert missing.status == FAIL
    assert missing.message.startswith("authentication failed: the server requires a password")
    right = probe_redis(f"redis://:Redis-Right-7@127.0.0.1:{port}/0")
    assert right.status == OK


def test_redis_unreachable() -> None:
    port = free_port()
    found = probe_redis(f"redis://127.0.0.1:{port}/14")
    assert found.status == FAIL
    assert found.message.startswith("unreachable:")
    assert str(port) in found.message


# --- HTTP ---------------------------------------------------------------------------------------


def test_http_200_and_302_are_ok_500_and_timeout_fail(http_base: str) -> None:
    ok = probe_http(f"{http_base}/ok")
    assert (ok.status, ok.message) == (OK, "HTTP 200 OK")
    assert ok.response_ms is not None and ok.response_ms >= 0
    assert probe_http(f"{http_base}/moved").status == OK
    broken = probe_http(f"{http_base}/broken")
    assert (broken.status, broken.message) == (
        FAIL,
        f"HTTP 500 Internal Server Error from {http_base}/broken",
    )
    slow = probe_http(f"{http_base}/slow", timeout=0.3)
    assert (slow.status, slow.message) == (FAIL, f"timeout: no answer from {http_base}/slow within 0.3 s")


def test_http_unreachable() -> None:
    port = free_port()
    found = probe_http(f"http://127.0.0.1:{port}/")
    assert (found.status, found.message) == (FAIL, f"unreachable: connection refused to 127.0.0.1:{port}")


# --- fail after N consecutive failures, from stored history --------------------------------------


def _scripted(outcomes: list[Outcome]) -> CheckSpec:
    def probe() -> Outcome:
        return outcomes.pop(0)

    return CheckSpec("mysql:db1:3306", "mysql", probe, target="mysql://db1:3306", fail_after=3)


def test_fail_after_three_in_a_row_survives_a_restart(store: storage.Store, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, health_fail_after=3)
    refused = Outcome(FAIL, "unreachable: connection refused to db1:3306")
    script = [refused, refused, refused, Outcome(OK, "connected")]
    spec = _scripted(script)

    assert [(r.status, r.message) for r in run_checks(store, settings, [spec])] == [
        ("warn", "failing 1/3: unreachable: connection refused to db1:3306")
    ]
    # A "restarted process": a new engine on the same store, knowing nothing but what is stored.
    again = storage.connect(store.engine.url.render_as_string(hide_password=False))
    try:
        second = run_checks(again, settings, [spec])
    finally:
        again.close()
    assert [(r.status, r.message) for r in second] == [
        ("warn", "failing 2/3: unreachable: connection refused to db1:3306")
    ]
    third = run_checks(store, settings, [spec])
    assert [(r.status, r.message) for r in third] == [("fail", "unreachable: connection refused to db1:3306")]
    fourth = run_checks(store, settings, [spec])
    assert [r.status for r in fourth] == ["ok"]

    history = health_history(store.engine, "mysql:db1:3306", since="1h")
    assert history["status"].tolist() == ["warn", "warn", "fail", "ok"]
    assert str(history["checked_at"].dt.tz) == "UTC"
    assert [r.name for r in latest_health(store.engine)] == ["mysql:db1:3306"]


def test_a_raising_check_becomes_its_own_fail_result(store: storage.Store, tmp_path: Path) -> None:
    def boom() -> Outcome:
        raise RuntimeError("probe exploded")

    specs = [
        CheckSpec("broken", "http", boom),
        CheckSpec("fine", "http", lambda: Outcome(OK, "fine")),
    ]
    results = {r.name: r for r in run_checks(store, settings_for(tmp_path), specs)}
    assert (results["broken"].status, results["broken"].message) == (
        "fail",
        "error: RuntimeError: probe exploded",
    )
    assert results["fine"].status == "ok"


def test_a_stale_collector_is_no_data_never_healthy(store: storage.Store, tmp_path: Path) -> None:
    ten_minutes_ago = pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=10)
    store.write(
        pd.DataFrame(
            {"ts": [ten_minutes_ago], "metric": ["system.memory.percent"], "host": ["web1"], "value": [40.0]}
        )
    )
    results = {r.name: r for r in run_checks(store, settings_for(tmp_path))}
    scheduler = results["scheduler"]
    assert scheduler.status == "fail"
    assert scheduler.message.startswith("no data for 6")  # 600 s (a second or so more on a slow run)
    assert scheduler.message.endswith("s (newest sample: system.memory.percent; stale after 15 s)")

    store.write(
        pd.DataFrame(
            {
                "ts": [pd.Timestamp.now(tz="UTC")],
                "metric": ["system.memory.percent"],
                "host": ["web1"],
                "value": [41.0],
            }
        )
    )
    fresh = {r.name: r for r in run_checks(store, settings_for(tmp_path))}
    assert fresh["scheduler"].status == "ok"


# --- the endpoints --------------------------------------------------------------------------------


def _client(store: storage.Store, settings: storage.Settings) -> FlaskClient:
    return create_app(settings, store, run_scheduler=False).server.test_client()


def test_critical_failure_is_503(store: storage.Store, tmp_path: Path) -> None:
    # Vitals' own broker is down: "cache" (critical) fails, and so does "queue" (not critical).
    port = free_port()
    settings = settings_for(
        tmp_path, broker_url=f"redis://:Broker-Pw-9@127.0.0.1:{port}/14", health_fail_after=1
    )
    client = _client(store, settings)

    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == "fail"
    checks = {check["name"]: check for check in body["checks"]}
    assert checks["cache"]["critical"] is True
    assert checks["cache"]["status"] == "fail"
    assert checks["cache"]["message"].startswith("unreachable:")
    assert checks["database"] == {**checks["database"], "status": "ok", "critical": True}
    assert set(checks["database"]) == {
        "name",
        "kind",
        "critical",
        "status",
        "message",
        "response_ms",
        "checked_at",
    }

    ready = client.get("/api/health/ready")
    assert ready.status_code == 503
    assert [entry["name"] for entry in ready.get_json()["failing"]] == ["cache"]
    assert client.get("/api/health/live").status_code == 200
    for answer in (response, ready):
        assert "Broker-Pw-9" not in answer.get_data(as_text=True)


def test_only_non_critical_failures_are_200_and_no_password_shows(
    store: storage.Store, tmp_path: Path, http_base: str
) -> None:
    closed = free_port()
    settings = settings_for(
        tmp_path,
        health_fail_after=1,
        mysql_urls=[f"mysql://watcher:My-Secret-Pw@127.0.0.1:{closed}/app"],
        redis_urls=[f"redis://:Redis-Secret-Pw@127.0.0.1:{closed}/14"],
        http_checks=[
            f"http://probe:Http-Secret-Pw@127.0.0.1:{http_base.rsplit(':', 1)[1]}/broken?token=Tok-Secret"
        ],
    )
    response = _client(store, settings).get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    checks = {check["name"]: check for check in body["checks"]}
    assert (
        checks[f"mysql:127.0.0.1:{closed}"]["message"]
        == f"unreachable: connection refused to 127.0.0.1:{closed}"
    )
    http = next(check for check in body["checks"] if check["kind"] == "http")
    assert http["status"] == "fail"
    assert http["message"].startswith("HTTP 500 Internal Server Error")
    assert all(check["critical"] is False for check in body["checks"] if check["status"] == "fail")

    text_body = response.get_data(as_text=True)
    for secret in ("My-Secret-Pw", "Redis-Secret-Pw", "Http-Secret-Pw", "Tok-Secret"):
        assert secret not in text_body
    assert "***" in text_body  # the masked URL still says which target it is
    stored_targets = " ".join(str(r.target) + r.message + r.name for r in latest_health(store.engine))
    assert "Secret" not in stored_targets


def test_health_without_recent_results_runs_the_checks_once(store: storage.Store, tmp_path: Path) -> None:
    client = _client(store, settings_for(tmp_path))
    first = client.get("/api/health").get_json()
    second = client.get("/api/health").get_json()
    assert first == second  # the second answer is the stored run, not a new one
    assert len(health_history(store.engine, "database", since="1h")) == 1


# --- the queue ------------------------------------------------------------------------------------


def test_queue_without_workers_fails_and_with_one_is_ok(
    private_redis: Callable[..., PrivateRedis], tmp_path: Path
) -> None:
    port = private_redis().port
    broker = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(broker)
    client.lpush("celery", "a", "b", "c")
    idle = probe_queue(broker, backlog_warn=2, timeout=0.5)
    assert (idle.status, idle.message) == (
        FAIL,
        "no workers answered ping within 0.5 s; 3 tasks waiting in 'celery'",
    )
    client.delete("celery")

    celery = Path(sys.executable).with_name("celery")
    worker = subprocess.Popen(
        [
            str(celery),
            "-b",
            broker,
            "worker",
            "--pool",
            "solo",
            "--without-mingle",
            "--without-gossip",
            "-n",
            "hc@%h",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        found = probe_queue(broker, backlog_warn=2, timeout=0.5)
        while found.status != OK and time.monotonic() < deadline:
            found = probe_queue(broker, backlog_warn=2, timeout=0.5)
        assert (found.status, found.message) == (OK, "1 worker online; 0 tasks waiting in 'celery'")
    finally:
        worker.kill()
        worker.wait(10)
    client.close()


def test_store_down_is_503_without_its_password(tmp_path: Path) -> None:
    port = free_port()
    url = f"mysql+pymysql://vitals:Store-Secret-Pw@127.0.0.1:{port}/vitals"
    settings = settings_for(tmp_path, database_url=url)
    client = _client(storage.Store(create_store_engine(url)), settings)
    for path in ("/api/health", "/api/health/ready"):
        response = client.get(path)
        assert response.status_code == 503
        assert "Store-Secret-Pw" not in response.get_data(as_text=True)
    body = client.get("/api/health").get_json()
    assert body["status"] == "fail"
    assert body["checks"][0]["name"] == "database"
    assert body["checks"][0]["message"].startswith("unreachable: the store does not answer:")
    assert "Connection refused" in body["checks"][0]["message"]
    assert client.get("/api/health/live").status_code == 200


def test_status_since_is_when_the_current_streak_began(store) -> None:
    from datetime import timedelta

    from storage.health import CheckRow, record_results, register_checks, status_since
    from storage.timeparse import utc_now

    ids = register_checks(store.engine, [CheckRow("mysql:db1", "mysql"), CheckRow("redis:c", "redis")])
    start = utc_now().replace(microsecond=0) - timedelta(minutes=10)
    for minute, status in enumerate(["ok", "ok", "fail", "fail", "ok", "fail", "fail", "fail"]):
        record_results(
            store.engine, [(ids["mysql:db1"], status, "", 1.0)], at=start + timedelta(minutes=minute)
        )
    record_results(store.engine, [(ids["redis:c"], "ok", "", 1.0)], at=start)
    since = status_since(store.engine)
    assert since["mysql:db1"] == start + timedelta(minutes=5)  # the fail streak after the last ok
    assert since["redis:c"] == start  # never changed: since its first result


def test_each_watched_celery_app_has_a_check_that_sees_its_backlog(tmp_path: Path) -> None:
    """RabbitMQ, no worker, 3 messages in a configured queue: the app's check fails and says so."""
    rabbit = "amqp://guest:guest@127.0.0.1:5672//"
    queue = f"vitals_test_{uuid.uuid4().hex[:8]}"
    try:
        with KombuConnection(rabbit, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        unavailable(f"RabbitMQ not reachable at 127.0.0.1:5672: {exc}")
    client = Celery(broker=rabbit, set_as_current=False)
    try:
        for i in range(3):
            client.send_task("vt.add", args=(i, i), queue=queue)
        settings = settings_for(
            tmp_path, celery_broker_urls=rabbit, celery_queues=queue, queue_backlog_warn=2
        )
        specs = {spec.name: spec for spec in build_checks(settings, storage.connect(settings.store_url))}
        spec = specs["celery:127.0.0.1:5672//"]
        assert (spec.kind, spec.target) == ("celery", "amqp://guest:***@127.0.0.1:5672//")  # masked
        found = spec.probe()
    finally:
        client.close()
        with KombuConnection(rabbit) as conn:
            conn.default_channel.queue_delete(queue)
    assert found.status == FAIL
    assert found.message.startswith("no workers answered ping")
    assert f"{queue}: 3" in found.message


def test_backup_locations_are_checked_for_a_fresh_non_empty_newest_file(tmp_path: Path) -> None:
    """A directory, a glob and a bad entry from VITALS_BACKUP_PATHS: each becomes a check that says
    which file it judged, and why it fails (none, empty, too old), or warns (it shrank by half)."""
    import os

    nightly = tmp_path / "nightly"
    nightly.mkdir()
    old = nightly / "db-1.sql.gz"
    old.write_bytes(b"x" * 4000)
    os.utime(old, (time.time() - 30 * 3600, time.time() - 30 * 3600))
    settings = settings_for(
        tmp_path,
        backup_paths=f"{nightly},{tmp_path}/dumps/*.dump?max_age=2h,relative/path",
        backup_max_age_hours=26,
    )
    specs = {spec.name: spec for spec in build_checks(settings, storage.connect(settings.store_url))}
    too_old = specs[f"backup:{nightly}"].probe()
    assert (
        too_old.status == FAIL
        and "db-1.sql.gz" in too_old.message
        and "older than the 26.0 h allowed" in too_old.message
    )
    fresh = nightly / "db-2.sql.gz"
    fresh.write_bytes(b"x" * 1000)  # newest, but a quarter of the one before
    shrank = specs[f"backup:{nightly}"].probe()
    assert shrank.status == "warn" and "less than half the size" in shrank.message
    fresh.write_bytes(b"x" * 5000)
    assert specs[f"backup:{nightly}"].probe().status == OK
    missing = specs[f"backup:{tmp_path}/dumps/*.dump"].probe()
    assert missing.status == FAIL and "no backup file" in missing.message
    (tmp_path / "dumps").mkdir()
    (tmp_path / "dumps" / "a.dump").write_bytes(b"")
    empty = specs[f"backup:{tmp_path}/dumps/*.dump"].probe()
    assert empty.status == FAIL and "empty" in empty.message
    bad = specs["backup:relative/path"].probe()
    assert bad.status == FAIL and "absolute path" in bad.message
