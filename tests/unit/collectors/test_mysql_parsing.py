"""Pure parsing and arithmetic of the MySQL collector: no server needed.

The InnoDB status text is captured from MariaDB 10.11 after a real deadlock between two connections
(two UPDATEs taking rows 1 and 2 of a table in opposite order).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collectors.mysql import (
    StatusSample,
    normalize_sql,
    parse_deadlock,
    parse_target,
    read_only_refusal,
    replication_state,
    sql_digest,
    status_readings,
)
from tests.support import FIXTURES

# Captured server output lives in tests/fixtures/mysql/.
MARIADB_INNODB_STATUS = (FIXTURES / "mysql" / "mariadb-innodb-status.txt").read_text()

# MySQL 8 prints HOLDS THE LOCK(S) sections and a numeric thread handle after the time.
MYSQL8_DEADLOCK = (FIXTURES / "mysql" / "mysql8-deadlock.txt").read_text()


# --- deadlocks ---------------------------------------------------------------------------------


def test_mariadb_deadlock_has_both_transactions_locks_and_victim() -> None:
    deadlock = parse_deadlock(MARIADB_INNODB_STATUS)

    assert deadlock is not None
    assert deadlock.detected_at == datetime(2026, 11, 23, 18, 7, 40, tzinfo=UTC)
    assert deadlock.victim == "1"
    first, second = deadlock.transactions
    assert (first["number"], first["trx_id"], first["thread_id"]) == (1, "594592", 11)
    assert first["query"] == "UPDATE vitals_dl_probe.t SET v=v+1 WHERE id=2"
    assert second["query"] == "UPDATE vitals_dl_probe.t SET v=v+1 WHERE id=1"
    assert (first["victim"], second["victim"]) == (True, False)
    waited = first["waits_for"][0]
    assert waited["table"] == "`vitals_dl_probe`.`t`"
    assert waited["index"] == "PRIMARY"
    assert waited["mode"] == "X locks rec but not gap waiting"
    # MariaDB shows what each waits for and what it conflicts with; the conflict is the other's lock.
    assert first["conflicts_with"][0]["trx_id"] == "594593"
    assert [lock["trx_id"] for lock in second["holds"]] == ["594593"]
    assert [lock["trx_id"] for lock in first["holds"]] == ["594592"]
    assert deadlock.raw_text.startswith("2026-11-23 18:07:40")
    assert deadlock.raw_text.endswith("*** WE ROLL BACK TRANSACTION (1)")


def test_mysql8_deadlock_reads_holds_sections_and_multi_line_queries() -> None:
    deadlock = parse_deadlock(MYSQL8_DEADLOCK)

    assert deadlock is not None
    assert deadlock.victim == "2"
    first, second = deadlock.transactions
    assert first["thread_id"] == 8
    assert first["query"] == "UPDATE accounts\n   SET balance = balance - 10 WHERE id = 2"
    assert [lock["kind"] for lock in second["holds"]] == ["table", "record"]
    assert second["holds"][0]["mode"] == "IX"
    assert second["waits_for"][0]["table"] == "`bank`.`accounts`"
    assert second["victim"] is True


def test_deadlock_time_is_converted_from_server_local_time() -> None:
    deadlock = parse_deadlock(MYSQL8_DEADLOCK, utc_offset=timedelta(hours=2))

    assert deadlock is not None
    assert deadlock.detected_at == datetime(2024, 3, 5, 7, 15, 2, tzinfo=UTC)


def test_fingerprint_is_stable_for_the_same_deadlock_and_differs_for_another() -> None:
    again = MARIADB_INNODB_STATUS.replace(
        "Per second averages calculated from the last 55 seconds", "... 12 s"
    )
    one, two, other = (
        parse_deadlock(MARIADB_INNODB_STATUS),
        parse_deadlock(again),
        parse_deadlock(MYSQL8_DEADLOCK),
    )

    assert one is not None and two is not None and other is not None
    assert one.fingerprint == two.fingerprint
    assert one.fingerprint != other.fingerprint


def test_status_without_a_deadlock_gives_none() -> None:
    without = MARIADB_INNODB_STATUS.split("------------------------\nLATEST DETECTED DEADLOCK")[0]

    assert parse_deadlock(without) is None
    assert parse_deadlock("") is None


# --- digests and EXPLAIN -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT SLEEP(0.3)", "select sleep(?)"),
        (
            "select  *\n from `Orders` where id = 42 and name='o''x'",
            "select * from `Orders` where id = ? and name=?",
        ),
        ("SELECT * FROM t WHERE id IN (1, 2, 3)", "select * from t where id in (...)"),
        ("SELECT * FROM t WHERE id IN (7)", "select * from t where id in (...)"),
        ("INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c');", "insert into t values (...)"),
        ("SELECT /* from the app */ a FROM t1 -- trailing\n WHERE b = 0x1F", "select a from t1 where b = ?"),
        ('SELECT "it\'s" FROM t WHERE x > 1.5e3', "select ? from t where x > ?"),
    ],
)
def test_normalize_sql(sql: str, expected: str) -> None:
    assert normalize_sql(sql) == expected


def test_statements_that_differ_only_in_literals_share_a_digest() -> None:
    one = sql_digest(normalize_sql("SELECT * FROM t WHERE id IN (1,2) AND s = 'a'"))
    two = sql_digest(normalize_sql("select * from t where id in (9, 8, 7) and s = 'zzz'"))

    assert one == two
    assert len(one) == 32


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("UPDATE t SET a = 1", "not UPDATE"),
        ("delete from t where id = 1", "not DELETE"),
        ("SELECT 1; DROP TABLE t", "several"),
        ("SELECT 1; SELECT 2", "several"),
        ("WITH x AS (SELECT 1) DELETE FROM t", "contains DELETE"),
        ("SELECT a INTO OUTFILE '/tmp/x' FROM t", "contains INTO"),
        ("SELECT * FROM t WHERE id = ?", "placeholders"),
        ("   ", "empty"),
    ],
)
def test_explain_refuses_anything_but_one_read_only_select(sql: str, words: str) -> None:
    refusal = read_only_refusal(sql)

    assert refusal is not None
    assert words in refusal


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM t WHERE name = 'a;b'",
        "select * from t where id = 1;",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
        "SELECT * FROM t WHERE id = 1 FOR UPDATE",
        "/* app */ SELECT '?' FROM t",
    ],
)
def test_explain_accepts_read_only_selects(sql: str) -> None:
    assert read_only_refusal(sql) is None


# --- status arithmetic -------------------------------------------------------------------------

BEFORE = {
    "Uptime": 100,
    "Queries": 1000,
    "Com_commit": 10,
    "Com_rollback": 2,
    "Threads_connected": 5,
    "Threads_running": 1,
    "Aborted_connects": 3,
    "Slow_queries": 4,
    "Innodb_buffer_pool_read_requests": 10_000,
    "Innodb_buffer_pool_reads": 100,
    "Innodb_row_lock_waits": 1,
    "Innodb_row_lock_time": 50,
    "Created_tmp_disk_tables": 7,
}


def _values(readings: list) -> dict[str, float]:
    return {reading.metric: reading.value for reading in readings}


def test_first_cycle_gives_only_gauges() -> None:
    readings = status_readings("db1", None, StatusSample(0.0, {k: float(v) for k, v in BEFORE.items()}, 200))

    assert _values(readings) == {
        "mysql.threads_connected": 5,
        "mysql.threads_running": 1,
        "mysql.connections.percent": 2.5,
    }
    assert all(reading.labels == {"target": "db1"} for reading in readings)


def test_second_cycle_gives_rates_and_per_interval_counts() -> None:
    after = {
        **BEFORE,
        "Queries": 1500,
        "Com_commit": 30,
        "Com_rollback": 2,
        "Aborted_connects": 5,
        "Slow_queries": 6,
        "Innodb_buffer_pool_read_requests": 11_000,
        "Innodb_buffer_pool_reads": 110,
        "Innodb_row_lock_waits": 4,
        "Innodb_row_lock_time": 350,
        "Created_tmp_disk_tables": 9,
    }
    before = StatusSample(0.0, {k: float(v) for k, v in BEFORE.items()}, 200)
    values = _values(
        status_readings("db1", before, StatusSample(10.0, {k: float(v) for k, v in after.items()}, 200))
    )

    assert values["mysql.queries_per_second"] == 50
    assert values["mysql.transactions_per_second"] == 2
    assert values["mysql.aborted_connects"] == 2
    assert values["mysql.slow_queries_per_minute"] == 12
    assert values["mysql.innodb.buffer_pool_hit_percent"] == pytest.approx(99.0)
    assert values["mysql.innodb.row_lock_waits"] == 3
    assert values["mysql.innodb.row_lock_time_ms"] == 300
    assert values["mysql.tmp_disk_tables"] == 2


def test_a_counter_that_went_down_skips_one_interval() -> None:
    before = StatusSample(0.0, {k: float(v) for k, v in BEFORE.items()}, None)
    after = StatusSample(10.0, {**before.values, "Queries": 10.0}, None)
    values = _values(status_readings("db1", before, after))

    assert "mysql.queries_per_second" not in values
    assert "mysql.connections.percent" not in values  # max_connections unknown
    assert values["mysql.innodb.row_lock_waits"] == 0
    assert "mysql.innodb.buffer_pool_hit_percent" not in values  # no logical reads in the interval


# --- replication and targets -------------------------------------------------------------------


def test_no_replica_rows_means_not_configured() -> None:
    state = replication_state([])

    assert state.configured is False
    assert state.lag_seconds is None


def test_replica_status_in_old_and_new_column_names() -> None:
    old = replication_state(
        [
            {
                "Seconds_Behind_Master": 12,
                "Slave_IO_Running": "Yes",
                "Slave_SQL_Running": "No",
                "Last_SQL_Error": "dup key",
                "Last_IO_Error": "",
            }
        ]
    )
    new = replication_state(
        [
            {
                "Seconds_Behind_Source": None,
                "Replica_IO_Running": "Connecting",
                "Replica_SQL_Running": "Yes",
                "Last_IO_Error": "cannot reach source",
            }
        ]
    )

    assert (old.configured, old.lag_seconds, old.io_running, old.sql_running, old.last_error) == (
        True,
        12.0,
        "Yes",
        "No",
        "dup key",
    )
    assert (new.lag_seconds, new.io_running, new.last_error) == (None, "Connecting", "cannot reach source")


def test_target_name_defaults_to_host_port_and_vitals_parameters_are_stripped() -> None:
    plain = parse_target("mysql+pymysql://app:p%40ss@db.internal/orders")
    named = parse_target("mysql://root@127.0.0.1:3307/?name=primary&digest_source=slow_log")

    assert (plain.name, plain.user, plain.password, plain.database, plain.port) == (
        "db.internal:3306",
        "app",
        "p@ss",
        "orders",
        3306,
    )
    assert (named.name, named.port, named.database, named.digest_source) == (
        "primary",
        3307,
        None,
        "slow_log",
    )


def test_bad_target_urls_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="not a MySQL"):
        parse_target("redis://localhost:6379")
    with pytest.raises(ValueError, match="digest_source"):
        parse_target("mysql://localhost/?digest_source=guess")
