"""The Database page against the real MariaDB (performance_schema ON): a known slow statement shows in
the top-queries table with its count, its EXPLAIN highlights the full scan, a real deadlock shows in the
timeline, a stopped target says unreachable, and a statement made slower on purpose is marked."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pymysql
import pytest
from selenium.webdriver.common.by import By
from sqlalchemy.engine import make_url

import storage
from app import create_app
from storage import database as dbstore
from storage.timeparse import utc_now
from storage.users import create_user
from tests.browser.conftest import PASSWORD, USERS, click_centered, login, wait_until
from tests.support import free_port, unavailable

TARGET = "testdb"
SLOW_RUNS = 3


@pytest.fixture
def server(mysql_url: str) -> dict[str, Any]:
    url = make_url(mysql_url)
    return {"host": url.host or "127.0.0.1", "port": url.port or 3306, "user": url.username or "root",
            "password": url.password or ""}  # fmt: skip


def _connect(server: dict[str, Any], **extra: Any) -> Any:
    return pymysql.connect(**{**server, "autocommit": True, "connect_timeout": 5, **extra})


def _run(conn: Any, *statements: str) -> None:
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
            cursor.fetchall()


@pytest.fixture
def scratch(server: dict[str, Any]) -> Iterator[str]:
    """A scratch schema with an unindexed table, and the statement history consumers on (restored after)."""
    name = f"vitals_dbpage_{uuid.uuid4().hex[:8]}"
    admin = _connect(server)
    try:
        if int(_fetch(admin, "SELECT @@performance_schema")[0][0]) != 1:
            unavailable("performance_schema is OFF on the test server")
        size = int(_fetch(admin, "SELECT @@performance_schema_digests_size")[0][0])
        used = int(
            _fetch(admin, "SELECT COUNT(*) FROM performance_schema.events_statements_summary_by_digest")[0][0]
        )
        if used >= size:  # full: new statements would all land in the NULL-digest row
            _run(admin, "TRUNCATE TABLE performance_schema.events_statements_summary_by_digest")
        before = dict(
            _fetch(
                admin,
                "SELECT NAME, ENABLED FROM performance_schema.setup_consumers WHERE NAME LIKE 'events_statements_%'",
            )
        )
        _run(
            admin,
            "UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME IN ('events_statements_current', 'events_statements_history')",
        )
        _run(admin, f"CREATE DATABASE `{name}`",
             f"CREATE TABLE `{name}`.orders (id INT PRIMARY KEY, status VARCHAR(10), created INT) ENGINE=InnoDB",
             f"INSERT INTO `{name}`.orders SELECT seq, IF(seq % 3 = 0, 'open', 'done'), 5000 - CAST(seq AS SIGNED) FROM `{name}`.seq_1_to_2000")  # fmt: skip
        yield name
    finally:
        for consumer, enabled in locals().get("before", {}).items():
            _run(
                admin,
                f"UPDATE performance_schema.setup_consumers SET ENABLED = '{enabled}' WHERE NAME = '{consumer}'",
            )
        _run(admin, f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def _fetch(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def _deadlock(server: dict[str, Any], schema: str) -> None:
    """Two transactions taking rows 1 and 2 in opposite order: InnoDB rolls one back."""
    first, second = _connect(server, autocommit=False), _connect(server, autocommit=False)
    try:
        _run(first, f"UPDATE `{schema}`.orders SET created = created + 1 WHERE id = 1")
        _run(second, f"UPDATE `{schema}`.orders SET created = created + 1 WHERE id = 2")
        errors: list[BaseException] = []

        def cross() -> None:
            try:
                _run(first, f"UPDATE `{schema}`.orders SET created = created + 1 WHERE id = 2")
            except pymysql.err.OperationalError as exc:
                errors.append(exc)

        waiting = threading.Thread(target=cross)
        waiting.start()
        time.sleep(0.5)
        try:
            _run(second, f"UPDATE `{schema}`.orders SET created = created + 1 WHERE id = 1")
        except pymysql.err.OperationalError as exc:
            errors.append(exc)
        waiting.join(10)
        assert any(exc.args[0] == 1213 for exc in errors), errors
    finally:
        for conn in (first, second):
            conn.rollback()
            conn.close()


@pytest.fixture
def database_app(tmp_path: Path, make_store: Any, server: dict[str, Any]) -> Iterator[Any]:
    store = make_store("sqlite")
    for username, role in USERS.items():
        create_user(store.engine, username, PASSWORD, role)
    auth = server["user"] + (f":{server['password']}" if server["password"] else "")
    settings = storage.load_settings(
        data_dir=tmp_path, secret_key="browser-db-secret-key-0123456789",
        mysql_urls=[f"mysql://{auth}@{server['host']}:{server['port']}/?name={TARGET}",
                    f"mysql://root@127.0.0.1:{free_port()}/?name=stopped"],
        mysql_interval_seconds=2, system_interval_seconds=60,
    )  # fmt: skip
    app = create_app(settings, store, run_scheduler=True)
    yield app
    app.server.extensions["vitals"].scheduler.stop()


def _wait_text(dash_duo: Any, selector: str, text: str, timeout: float) -> str:
    def found() -> str | None:
        words = dash_duo.driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText).join(' ');",
            selector,
        )
        return words if text in words else None

    return str(wait_until(found, timeout, f"{text!r} in {selector}"))


def _store(app: Any) -> storage.Store:
    return app.server.extensions["vitals"].store


def _grid_rows(dash_duo: Any) -> list[str]:
    """The visible rows' texts, read in one script (rows are replaced while the grid refreshes)."""
    return list(
        dash_duo.driver.execute_script(
            "return Array.from(document.querySelectorAll('.database-grid .ag-center-cols-container .ag-row'))"
            ".map(row => Array.from(row.querySelectorAll('.ag-cell')).map(c => c.innerText).join('\\n'));"
        )
    )


def _filter_text(dash_duo: Any, text: str) -> None:
    """Type into the statement column's floating filter... via the grid's API (the header menu is hidden)."""
    dash_duo.driver.execute_script(
        "const grid = document.querySelector('.database-grid');"
        "const api = dash_ag_grid.getApi(grid.id);"
        "api.setColumnFilterModel('digest_text', {filterType: 'text', type: 'contains', filter: arguments[0]})"
        ".then(() => api.onFilterChanged());",
        text,
    )


def test_slow_statement_explain_and_deadlock(
    dash_duo: Any, database_app: Any, scratch: str, server: dict[str, Any]
) -> None:
    store = _store(database_app)
    # The statement made slower on purpose: fast a week ago, three times slower now.
    week_ago = utc_now() - timedelta(days=7)
    probe = {"schema": scratch, "digest": "wow" + "0" * 29, "digest_text": "select * from wow_probe where x = ?",
             "sample_query": None, "first_seen": week_ago - timedelta(days=1), "last_seen": utc_now()}  # fmt: skip
    for at, count, latency in ((week_ago - timedelta(hours=23), 100, 100.0), (week_ago - timedelta(minutes=5), 200, 200.0),
                               (utc_now() - timedelta(hours=20), 300, 300.0), (utc_now() - timedelta(minutes=1), 400, 600.0)):  # fmt: skip
        dbstore.write_digests(store.engine, TARGET, [{**probe, "exec_count": count, "total_latency_ms": latency,
                              "max_latency_ms": 3.0, "rows_examined": count, "rows_sent": count}], at)  # fmt: skip

    session = _connect(server, database=scratch)  # kept open: its statement history gives the sample
    try:
        for _ in range(SLOW_RUNS):
            _run(session, "SELECT SLEEP(0.3), COUNT(*) FROM orders WHERE status = 'open' ORDER BY created")
        _deadlock(server, scratch)

        dash_duo.start_server(database_app, navigate=False)
        login(dash_duo, "otto")
        dash_duo.driver.get(f"{dash_duo.server.url}/database?target={TARGET}")
        try:
            _wait_text(dash_duo, "#database-status", "MariaDB", 20)
        finally:
            dash_duo.driver.save_screenshot("/tmp/database_first.png")
            print("BROWSER LOGS", dash_duo.get_logs())

        def slow_row() -> str | None:
            rows = [row for row in _grid_rows(dash_duo) if "sleep" in row.lower()]
            if rows and str(SLOW_RUNS) in rows[0].split("\n"):  # the collector may not have seen all runs yet
                return rows[0]
            # a new grid picks up the latest collection
            dash_duo.driver.execute_script(
                "const g=document.querySelector('.database-grid'); dash_ag_grid.getApi(g.id).refreshInfiniteCache();"
            )
            return None

        _filter_text(dash_duo, "sleep")
        try:
            row = wait_until(slow_row, timeout=40, message="the slow statement in the top-queries table")
        finally:
            dash_duo.driver.save_screenshot("/tmp/database_top.png")
            found = store.database.query_table(target=TARGET, since="1h", text="sleep")["rows"]
            print("STORED", found[["digest_text", "exec_count"]].to_dict("records"))
        assert row is not None
        cells = row.split("\n")
        assert str(SLOW_RUNS) in cells, cells  # the count column
        dash_duo.driver.save_screenshot("/tmp/database_top.png")

        # open its detail and run EXPLAIN (the sample comes from the statement history)
        dash_duo.driver.execute_script(
            "const rows = document.querySelectorAll('.database-grid .ag-center-cols-container .ag-row');"
            "const row = Array.from(rows).find(r => r.innerText.toLowerCase().includes('sleep'));"
            "row.querySelector(\"[col-id='digest_text']\").click();"
        )
        _wait_text(dash_duo, "#database-detail", "Normalized text", 15)
        assert "#digest=" in dash_duo.driver.current_url
        wait_until(
            lambda: dash_duo.driver.find_element(By.ID, "database-explain-now").is_enabled(),
            30,
            "a sample statement",
        )
        click_centered(dash_duo, "#database-explain-now")
        dash_duo.wait_for_element(".database-finding-full_scan", timeout=20)
        finding = dash_duo.find_element(".database-finding-full_scan").text
        assert "Full table scan of `orders`" in finding and "index" in finding
        dash_duo.driver.save_screenshot("/tmp/database_explain.png")

        # the deadlock in the timeline, and its detail
        # The server's previous latest deadlock (another test's) may be collected too: ours is the newest.
        _wait_text(dash_duo, ".database-deadlock-count", "in the window", 40)
        detail = _wait_text(dash_duo, ".database-deadlock", scratch, 40)
        assert "rolled back" in detail and "orders" in detail
        dash_duo.driver.save_screenshot("/tmp/database_deadlock.png")

        # the statement made slower on purpose
        _filter_text(dash_duo, "wow_probe")
        wow = wait_until(
            lambda: [r for r in _grid_rows(dash_duo) if "wow_probe" in r], 20, "the slower statement"
        )
        assert "slower by 200 %" in wow[0]
        dash_duo.driver.save_screenshot("/tmp/database_wow.png")

        # SQL and HTML typed into the filter are shown literally and match nothing
        _filter_text(dash_duo, "<b>x</b>' OR 1=1 --")
        wait_until(lambda: not _grid_rows(dash_duo), 15, "no rows for a hostile filter")
        assert (
            dash_duo.driver.find_elements(By.CSS_SELECTOR, ".database-page b") == []
        )  # never rendered as HTML
    finally:
        session.close()

    # a stopped target says so; the page still renders its other parts
    dash_duo.driver.get(f"{dash_duo.server.url}/database?target=stopped")
    _wait_text(dash_duo, "#database-status", "stopped is unreachable", 20)
    _wait_text(dash_duo, "#database-kpi-status", "down", 20)
    _wait_text(dash_duo, "#database-kpi-version", "no data", 20)  # never a stale number
    dash_duo.driver.save_screenshot("/tmp/database_stopped.png")
    severe = [entry for entry in dash_duo.get_logs() or [] if entry.get("level") == "SEVERE"]
    assert severe == [], severe
