"""The MySQL collector against the real local MariaDB, and storage.database on both store dialects.

Server-wide settings a test changes (the slow log) are put back in ``finally``; users and scratch
databases a test creates are dropped again, since other suites use the same server at the same time.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pymysql
import pytest
from sqlalchemy.engine import make_url

import storage
from collectors.mysql import (
    ExplainRefused,
    MySQLCollector,
    digest_source,
    explain,
    probe,
)
from storage import database as dbstore
from storage.timeparse import utc_now
from tasks import mysql_jobs
from tasks.collect import TargetReport, store_collection
from tasks.context import JobContext
from tests.support import free_port, unavailable

TARGET = "local"
SLEEP_SECONDS = 0.3

# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def server(mysql_url: str) -> dict[str, Any]:
    """Connection arguments for the test server (from VITALS_TEST_MYSQL_URL), without a database."""
    url = make_url(mysql_url)
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 3306,
        "user": url.username,
        "password": url.password or "",
    }


@pytest.fixture
def target_url(server: dict[str, Any]) -> str:
    auth = server["user"] + (f":{server['password']}" if server["password"] else "")
    return f"mysql://{auth}@{server['host']}:{server['port']}/?name={TARGET}"


def _connect(server: dict[str, Any], **extra: Any) -> Any:
    return pymysql.connect(**{**server, "autocommit": True, "connect_timeout": 5, **extra})


def _run(server: dict[str, Any], *statements: str) -> None:
    conn = _connect(server)
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
                cursor.fetchall()
    finally:
        conn.close()


@pytest.fixture
def scratch_db(server: dict[str, Any]) -> Iterator[str]:
    name = f"vitals_my_{uuid.uuid4().hex[:8]}"
    _run(server, f"CREATE DATABASE `{name}`")
    try:
        yield name
    finally:
        _run(server, f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def sqlite_store(make_store: Any) -> storage.Store:
    """Collector tests need one store, not both: the dialect tests of storage.database are below."""
    return make_store("sqlite")


def _cycle(collector: MySQLCollector, store: storage.Store, tmp_path: Any) -> TargetReport:
    collection = collector.collect()
    return store_collection(store, collection, tmp_path / "spool", mysql_jobs.events_of(collection))


# --- probes --------------------------------------------------------------------------------------


def test_probe_of_the_real_server_is_ok(target_url: str) -> None:
    found = probe(target_url)

    assert found.ok, found.message
    assert found.reason == "ok"
    assert found.latency_ms is not None and found.latency_ms > 0
    assert "MariaDB" in found.message or "MySQL" in found.message


def test_wrong_password_says_access_denied(server: dict[str, Any]) -> None:
    user = f"vitals_pw_{uuid.uuid4().hex[:6]}"
    _run(server, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'right-password'")
    try:
        found = probe(f"mysql://{user}:wrong-password@{server['host']}:{server['port']}/")
    finally:
        _run(server, f"DROP USER IF EXISTS '{user}'@'%'")

    assert not found.ok
    assert found.reason == "access_denied"
    assert "access denied" in found.message and "wrong user or password" in found.message


def test_unreachable_port_says_unreachable(server: dict[str, Any]) -> None:
    port = free_port()
    found = probe(f"mysql://root@127.0.0.1:{port}/", timeout_s=2)

    assert not found.ok
    assert found.reason == "unreachable"
    assert f"unreachable: cannot connect to 127.0.0.1:{port}" in found.message
    source = digest_source(f"mysql://root@127.0.0.1:{port}/", timeout_s=2)
    assert source.source is None and "unreachable" in source.message


def test_down_target_is_an_error_in_the_job_report_not_an_exception(
    target_url: str, sqlite_store: storage.Store, tmp_path: Any
) -> None:
    down = f"mysql://root@127.0.0.1:{free_port()}/?name=down"
    context = JobContext(store=sqlite_store)

    reports = mysql_jobs.collect_mysql(context, [down, target_url], tmp_path / "spool")

    assert reports["down"].samples == 0
    assert "unreachable" in reports["down"].errors[0]
    assert reports[TARGET].samples > 0


def test_user_without_performance_schema_privilege_is_told_so(server: dict[str, Any]) -> None:
    user = f"vitals_np_{uuid.uuid4().hex[:6]}"
    _run(server, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
    try:
        source = digest_source(f"mysql://{user}:pw@{server['host']}:{server['port']}/")
        collected = MySQLCollector(f"mysql://{user}:pw@{server['host']}:{server['port']}/?name=np").collect()
    finally:
        _run(server, f"DROP USER IF EXISTS '{user}'@'%'")

    assert source.source is None
    assert source.message.startswith("no digest source: ")
    assert f"user {user}@% lacks SELECT on performance_schema" in source.message
    # The rest of the cycle still works for this user: status gauges came back.
    assert {reading.metric for reading in collected.readings} >= {"mysql.threads_connected"}
    assert any("lacks SELECT on performance_schema" in error for error in collected.errors)


# --- status metrics ------------------------------------------------------------------------------


def test_status_metrics_are_sane_after_two_cycles(
    target_url: str, server: dict[str, Any], scratch_db: str, sqlite_store: storage.Store, tmp_path: Any
) -> None:
    _run(
        server,
        f"CREATE TABLE `{scratch_db}`.t (id INT PRIMARY KEY, v VARCHAR(100)) ENGINE=InnoDB",
        f"INSERT INTO `{scratch_db}`.t VALUES (1, 'a'), (2, 'b')",
    )
    collector = MySQLCollector(target_url)
    first = collector.collect()
    _run(server, *["SELECT 1"] * 50)
    time.sleep(0.2)
    second = collector.collect()
    first.at = utc_now() - timedelta(seconds=1)
    for collection in (first, second):
        store_collection(sqlite_store, collection, tmp_path / "spool", mysql_jobs.events_of(collection))

    first_metrics = {reading.metric for reading in first.readings}
    assert "mysql.queries_per_second" not in first_metrics  # no deltas on the first cycle
    assert {
        "mysql.threads_connected",
        "mysql.connections.percent",
        "mysql.schema.size_bytes",
    } <= first_metrics
    sizes = {r.labels["schema"]: r.value for r in first.readings if r.metric == "mysql.schema.size_bytes"}
    assert sizes[scratch_db] > 0
    values = {r.metric: r.value for r in second.readings if not r.metric.endswith("size_bytes")}
    assert values["mysql.queries_per_second"] > 0
    assert values["mysql.threads_connected"] >= 1
    assert 0 < values["mysql.connections.percent"] <= 100
    assert values["mysql.transactions_per_second"] >= 0
    assert values["mysql.aborted_connects"] >= 0
    assert 0 <= values.get("mysql.innodb.buffer_pool_hit_percent", 100) <= 100
    assert second.replication is not None and second.replication.configured is False
    assert "mysql.replication.lag_seconds" not in values
    assert first.errors == [] and second.errors == []
    stored = sqlite_store.latest("mysql.queries_per_second", host=TARGET)
    assert len(stored) == 1 and stored["value"].iloc[0] > 0
    assert stored["labels"].iloc[0] == {"target": TARGET}


# --- digests ---------------------------------------------------------------------------------------


def _sleep_digest(store: storage.Store) -> Any:
    top = dbstore.top_digests(store.engine, TARGET, since="10m", by="total_latency", limit=500)
    found = top[top["digest_text"].str.lower().str.replace("`", "").str.startswith("select sleep")]
    assert not found.empty, f"no SLEEP digest among {top['digest_text'].tolist()[:20]}"
    return found.iloc[0]


def test_slow_query_appears_as_a_digest_via_performance_schema(
    target_url: str, server: dict[str, Any], sqlite_store: storage.Store, tmp_path: Any
) -> None:
    source = digest_source(target_url)
    if source.source != "performance_schema":
        unavailable(f"performance_schema digests unavailable on the test server: {source.message}")
    # The suite's throw-away schemas fill the digest table's 5,000 slots, and a full table drops new
    # digests silently: start from an empty summary so this statement gets one.
    _run(server, "TRUNCATE TABLE performance_schema.events_statements_summary_by_digest")
    collector = MySQLCollector(target_url, digest_source="performance_schema")
    first = _cycle(collector, sqlite_store, tmp_path)
    _run(server, f"SELECT SLEEP({SLEEP_SECONDS})")
    _cycle(collector, sqlite_store, tmp_path)

    assert first.events["mysql.digests"] > 0 and first.errors == []
    row = _sleep_digest(sqlite_store)
    assert row["exec_count"] >= 1
    assert row["max_latency_ms"] >= SLEEP_SECONDS * 1000 * 0.9
    assert row["avg_latency_ms"] >= SLEEP_SECONDS * 1000 * 0.9 / row["exec_count"]
    history = dbstore.digest_history(sqlite_store.engine, int(row["digest_id"]), since="10m")
    assert history["exec_count"].sum() == row["exec_count"]


@pytest.fixture
def slow_log_to_table(server: dict[str, Any]) -> Iterator[None]:
    """The slow log written to mysql.slow_log for statements over 0.2 s; previous settings restored."""
    conn = _connect(server)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT @@global.slow_query_log, @@global.log_output, @@global.long_query_time")
            previous = cursor.fetchone()
            cursor.execute("SET GLOBAL slow_query_log = 1, log_output = 'TABLE', long_query_time = 0.2")
        try:
            yield
        finally:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SET GLOBAL slow_query_log = %s, log_output = %s, long_query_time = %s", previous
                )
    finally:
        conn.close()


def test_slow_query_appears_as_a_digest_via_the_slow_log(
    target_url: str,
    server: dict[str, Any],
    slow_log_to_table: None,
    sqlite_store: storage.Store,
    tmp_path: Any,
) -> None:
    marker = f"vitals-test-{uuid.uuid4().hex[:8]}"
    collector = MySQLCollector(target_url, digest_source="slow_log")
    first = _cycle(collector, sqlite_store, tmp_path)
    _run(server, f"SELECT SLEEP({SLEEP_SECONDS}) /* {marker} */")  # a new session takes long_query_time=0.2
    _cycle(collector, sqlite_store, tmp_path)
    row = _sleep_digest(sqlite_store)
    history = dbstore.digest_history(sqlite_store.engine, int(row["digest_id"]), since="10m")
    third = _cycle(collector, sqlite_store, tmp_path)  # nothing new: the watermark must not count it again

    assert first.errors == [] and third.errors == []
    assert row["digest_text"] == "select sleep(?)"
    assert history["exec_count"].iloc[-1] == 1  # earlier runs may have left rows in mysql.slow_log
    assert marker in row["sample_query"]
    assert row["max_latency_ms"] >= SLEEP_SECONDS * 1000 * 0.9
    assert row["rows_sent"] >= 1
    after_third = dbstore.digest_history(sqlite_store.engine, int(row["digest_id"]), since="10m")
    assert after_third["exec_count"].tolist() == history["exec_count"].tolist()
    # The sample has real values, so it can be explained and the plan kept with the digest.
    plan = mysql_jobs.explain_digest(sqlite_store, [target_url], int(row["digest_id"]), timeout_s=5)
    assert '"query_block"' in plan
    stored = dbstore.get_digest(sqlite_store.engine, int(row["digest_id"]))
    assert stored is not None and stored["explain_json"] == plan


# --- deadlocks -------------------------------------------------------------------------------------


def _provoke_deadlock(server: dict[str, Any], database: str) -> None:
    """Two connections update rows 1 and 2 in opposite order; InnoDB rolls one of them back."""
    _run(
        server,
        f"CREATE TABLE `{database}`.accounts (id INT PRIMARY KEY, balance INT) ENGINE=InnoDB",
        f"INSERT INTO `{database}`.accounts VALUES (1, 100), (2, 100)",
    )
    first, second = _connect(server, autocommit=False), _connect(server, autocommit=False)
    errors: list[Exception] = []
    try:
        first.cursor().execute(f"UPDATE `{database}`.accounts SET balance = balance - 1 WHERE id = 1")
        second.cursor().execute(f"UPDATE `{database}`.accounts SET balance = balance - 1 WHERE id = 2")

        def cross() -> None:
            try:
                second.cursor().execute(
                    f"UPDATE `{database}`.accounts SET balance = balance + 1 WHERE id = 1"
                )
            except pymysql.err.OperationalError as exc:
                errors.append(exc)

        waiter = threading.Thread(target=cross)
        waiter.start()
        time.sleep(0.3)  # let the second connection start waiting for row 1
        try:
            first.cursor().execute(f"UPDATE `{database}`.accounts SET balance = balance + 1 WHERE id = 2")
        except pymysql.err.OperationalError as exc:
            errors.append(exc)
        waiter.join(timeout=30)
    finally:
        for conn in (first, second):
            conn.rollback()
            conn.close()
    assert [exc.args[0] for exc in errors] == [1213], errors  # exactly one "Deadlock found"


def test_a_real_deadlock_is_stored_once_over_two_cycles(
    target_url: str, server: dict[str, Any], scratch_db: str, sqlite_store: storage.Store, tmp_path: Any
) -> None:
    _provoke_deadlock(server, scratch_db)
    collector = MySQLCollector(target_url)
    first = _cycle(collector, sqlite_store, tmp_path)
    second = _cycle(collector, sqlite_store, tmp_path)

    assert (first.events.get("mysql.deadlock"), second.events.get("mysql.deadlock")) == (1, 0)
    events = dbstore.deadlock_events(sqlite_store.engine, TARGET, since="1h")
    assert len(events) == 1
    event = events.iloc[0]
    assert scratch_db in event["raw_text"]
    transactions = event["transactions"]
    assert len(transactions) == 2
    assert all("accounts" in trx["query"] for trx in transactions)
    assert event["victim"] in {"1", "2"}
    assert sum(trx["victim"] for trx in transactions) == 1
    assert abs(event["detected_at"] - datetime.now(UTC)) < timedelta(minutes=2)


# --- EXPLAIN ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    ["UPDATE mysql.user SET x = 1", "DELETE FROM t WHERE id = 1", "SELECT 1; DROP DATABASE test"],
)
def test_explain_refuses_writes_and_multi_statements(target_url: str, sql: str) -> None:
    with pytest.raises(ExplainRefused, match="refused"):
        explain(target_url, sql, timeout_s=2)


def test_explain_of_a_select_returns_a_json_plan(
    target_url: str, scratch_db: str, server: dict[str, Any]
) -> None:
    _run(server, f"CREATE TABLE `{scratch_db}`.t (id INT PRIMARY KEY, v INT, KEY (v)) ENGINE=InnoDB")

    plan = explain(target_url, "SELECT * FROM t WHERE v = 3;", timeout_s=2, schema=scratch_db)

    assert '"query_block"' in plan
    assert '"table_name": "t"' in plan


# --- the schedule --------------------------------------------------------------------------------


def test_job_spec_only_when_servers_are_configured(target_url: str) -> None:
    assert mysql_jobs.job_specs(storage.load_settings(mysql_urls=[])) == []
    specs = mysql_jobs.job_specs(storage.load_settings(mysql_urls=[target_url], mysql_interval_seconds=7))
    assert [(spec.name, spec.interval_seconds) for spec in specs] == [("vitals.collect_mysql", 7)]


# --- storage.database on both dialects ----------------------------------------------------------------


def _digest(
    count: int, latency: float, *, first_seen: datetime, schema: str | None = "shop", digest: str = "d1"
) -> dict[str, Any]:
    return {
        "schema": schema,
        "digest": digest,
        "digest_text": "select * from orders where id = ?",
        "sample_query": "SELECT * FROM orders WHERE id = 7" if count else None,
        "first_seen": first_seen,
        "last_seen": first_seen + timedelta(minutes=count),
        "exec_count": count,
        "total_latency_ms": latency,
        "max_latency_ms": 50.0,
        "rows_examined": count * 100,
        "rows_sent": count,
    }


def test_digest_snapshots_give_per_interval_deltas(store: storage.Store) -> None:
    now = utc_now()
    old = now - timedelta(days=2)
    engine = store.engine
    dbstore.write_digests(engine, TARGET, [_digest(100, 1000.0, first_seen=old)], now - timedelta(minutes=30))
    dbstore.write_digests(engine, TARGET, [_digest(110, 1500.0, first_seen=old)], now - timedelta(minutes=20))
    dbstore.write_digests(engine, TARGET, [_digest(130, 2100.0, first_seen=old)], now - timedelta(minutes=10))
    # A retried batch stores nothing twice.
    dbstore.write_digests(engine, TARGET, [_digest(130, 2100.0, first_seen=old)], now - timedelta(minutes=10))

    top = dbstore.top_digests(engine, TARGET, since="15m")

    assert len(top) == 1
    row = top.iloc[0]
    assert row["exec_count"] == 20  # 130 - 110: the 110 snapshot is the baseline before the window
    assert row["total_latency_ms"] == pytest.approx(600.0)
    assert row["avg_latency_ms"] == pytest.approx(30.0)
    assert row["rows_examined"] == 2000 and row["rows_sent"] == 20
    assert row["rows_examined_per_sent"] == pytest.approx(100.0)
    assert row["schema"] == "shop" and not row["has_explain"]
    history = dbstore.digest_history(engine, int(row["digest_id"]), since="1h")
    # The first snapshot of a digest seen long before is a baseline, not 100 executions in 10 minutes.
    assert history["exec_count"].tolist() == [0, 10, 20]
    assert history["avg_latency_ms"].iloc[1:].tolist() == pytest.approx([50.0, 30.0])
    assert history["interval_seconds"].iloc[1:].tolist() == pytest.approx([600.0, 600.0])


def test_new_digests_count_in_full_and_counter_resets_restart_from_zero(store: storage.Store) -> None:
    now = utc_now()
    engine = store.engine
    fresh = now - timedelta(minutes=15)
    dbstore.write_digests(
        engine, TARGET, [_digest(5, 50.0, first_seen=fresh, schema=None)], now - timedelta(minutes=14)
    )
    dbstore.write_digests(
        engine, TARGET, [_digest(8, 80.0, first_seen=fresh, schema=None)], now - timedelta(minutes=12)
    )
    # Server restarted: the counter starts again from zero, 3 new executions.
    dbstore.write_digests(
        engine, TARGET, [_digest(3, 30.0, first_seen=fresh, schema=None)], now - timedelta(minutes=10)
    )
    other = _digest(1, 900.0, first_seen=fresh, digest="slow")
    dbstore.write_digests(engine, "elsewhere", [other], now - timedelta(minutes=10))

    top = dbstore.top_digests(engine, TARGET, since="1h", by="count")

    assert top["exec_count"].tolist() == [11]  # 5 (new in the window) + 3 + 3
    assert top["schema"].iloc[0] is None
    found = dbstore.get_digest(engine, int(top["digest_id"].iloc[0]))
    assert found is not None and found["schema_name"] is None and found["target"] == TARGET
    assert found["sample_query"] == "SELECT * FROM orders WHERE id = 7"
    with pytest.raises(ValueError, match="by"):
        dbstore.top_digests(engine, TARGET, by="fastest")


def test_explain_is_kept_with_its_digest(store: storage.Store) -> None:
    now = utc_now()
    dbstore.write_digests(store.engine, TARGET, [_digest(1, 5.0, first_seen=now)], now)
    digest_id = int(dbstore.top_digests(store.engine, TARGET, since="5m")["digest_id"].iloc[0])

    dbstore.set_explain(store.engine, digest_id, '{"query_block": {}}')

    stored = dbstore.get_digest(store.engine, digest_id)
    assert stored is not None and stored["explain_json"] == '{"query_block": {}}'
    assert bool(dbstore.top_digests(store.engine, TARGET, since="5m")["has_explain"].iloc[0])
    with pytest.raises(ValueError, match="no query digest"):
        dbstore.set_explain(store.engine, 999_999, "{}")


def test_the_same_deadlock_is_stored_once(store: storage.Store) -> None:
    deadlock = {
        "detected_at": utc_now() - timedelta(minutes=1),
        "fingerprint": "f" * 64,
        "victim": "2",
        "transactions": [
            {"number": 1, "query": "UPDATE a"},
            {"number": 2, "query": "UPDATE b", "victim": True},
        ],
        "raw_text": "*** (1) TRANSACTION: ...",
    }

    assert dbstore.record_deadlock(store.engine, TARGET, deadlock) is True
    assert dbstore.record_deadlock(store.engine, TARGET, deadlock) is False
    assert dbstore.record_deadlock(store.engine, "other", deadlock) is True

    events = dbstore.deadlock_events(store.engine, TARGET)
    assert len(events) == 1
    assert events["transactions"].iloc[0][1]["query"] == "UPDATE b"
    assert str(events["detected_at"].dt.tz) == "UTC"


def test_replication_not_configured_is_recorded_without_repeating(store: storage.Store) -> None:
    now = utc_now()
    absent = {"configured": False}
    replica = {
        "configured": True,
        "lag_seconds": 4.0,
        "io_running": "Yes",
        "sql_running": "Yes",
        "last_error": None,
    }

    written = [
        dbstore.record_replication(store.engine, TARGET, absent, now - timedelta(minutes=3)),
        dbstore.record_replication(store.engine, TARGET, absent, now - timedelta(minutes=2)),
        dbstore.record_replication(store.engine, TARGET, replica, now - timedelta(minutes=1)),
        dbstore.record_replication(store.engine, TARGET, replica, now),
    ]

    assert written == [True, False, True, True]
    history = dbstore.replication_history(store.engine, TARGET, since="1h")
    assert history["configured"].tolist() == [False, True, True]
    assert history["lag_seconds"].iloc[-1] == 4.0
