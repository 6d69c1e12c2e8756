"""Server-side prepared statements against the real MariaDB (performance_schema ON).

A binary-protocol client (mysql-connector-python with ``prepared=True``: COM_STMT_PREPARE and
COM_STMT_EXECUTE, what sysbench and JDBC ``useServerPrepStmts`` send) runs a statement; PyMySQL only
speaks the text protocol, so it cannot produce the case itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import mysql.connector
import pymysql
import pytest
from sqlalchemy.engine import make_url

from collectors.mysql import MySQLCollector, normalize_sql, prepared_statements, sql_digest
from storage import Settings
from tasks import database_targets
from tests.support import wait_until

EXECUTIONS = 7


@pytest.fixture
def server(mysql_url: str) -> dict[str, Any]:
    url = make_url(mysql_url)
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 3306,
        "user": url.username,
        "password": url.password or "",
    }


@pytest.fixture
def scratch(server: dict[str, Any]) -> Iterator[str]:
    """A scratch database with one table; skips nothing: performance_schema must be ON here."""
    name = f"vitals_ps_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(**server, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@performance_schema")
            row = cur.fetchone()
            assert row is not None and int(row[0]) == 1, "the test server needs performance_schema=ON"
            cur.execute(f"CREATE DATABASE {name}")
            cur.execute(f"CREATE TABLE {name}.items (id INT PRIMARY KEY, v INT)")
            cur.execute(f"INSERT INTO {name}.items VALUES (1, 10), (2, 20), (3, 30)")
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


def _status(conn: Any, name: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
        return int(cur.fetchone()["Value"])


def test_prepared_statements_are_named_but_not_counted(server: dict[str, Any], scratch: str) -> None:
    """The binary protocol leaves no digest; prepared_statements_instances names the statement while
    it is held, with COUNT_EXECUTE 0 on MariaDB, and the collector reports it, never as a digest."""
    marker = scratch  # the scratch database's name: a shape no other test runs
    sql = f"SELECT v FROM {scratch}.items WHERE id = %s AND v > 5"
    watcher = pymysql.connect(**server, autocommit=True, cursorclass=pymysql.cursors.DictCursor)
    client = mysql.connector.connect(**server, database=scratch)
    try:
        before = _status(watcher, "Com_stmt_execute")
        cursor = client.cursor(prepared=True)
        for n in range(EXECUTIONS):
            cursor.execute(sql, (n % 3 + 1,))
            cursor.fetchall()
        assert _status(watcher, "Com_stmt_execute") - before >= EXECUTIONS

        held = [stmt for stmt in prepared_statements(watcher) if marker in stmt.digest_text]
        expected = normalize_sql(sql.replace("%s", "?"))
        assert [stmt.digest_text for stmt in held] == [expected]
        assert held[0].digest == sql_digest(expected)
        assert held[0].instances == 1
        # MariaDB does not fill the execution counters: this is why they are not added to the table.
        version = watcher.get_server_info()
        if "MariaDB" in version:
            assert held[0].executions == 0 and not held[0].counted

        with watcher.cursor() as cur:
            cur.execute(
                "SELECT COUNT_STAR FROM performance_schema.events_statements_summary_by_digest"
                " WHERE DIGEST_TEXT LIKE %s",
                (f"SELECT%{marker}%",),  # the fixture's CREATE and INSERT name the marker too
            )
            digests = cur.fetchall()
        if "MariaDB" in version:
            assert list(digests) == []  # the blind spot itself

        url = "mysql://{user}{pw}@{host}:{port}/?name=prep".format(
            pw=f":{server['password']}" if server["password"] else "", **server
        )
        collection = MySQLCollector(url, digest_source="performance_schema").collect()
        selects = [d for d in collection.digests if d.digest_text.lower().startswith("select")]
        assert not [d for d in selects if marker in d.digest_text]
        found = database_targets.prepared_on(Settings(mysql_urls=[url]), "prep")
        assert expected in [stmt.digest_text for stmt in found]

        cursor.close()
        client.close()
        # The server frees a closed connection's statements in its own time, just after the close.
        wait_until(
            lambda: not [stmt for stmt in prepared_statements(watcher) if marker in stmt.digest_text],
            10,
            "the server freeing the statement after the close",
            every=0.1,
        )
    finally:
        if client.is_connected():
            client.close()
        watcher.close()
