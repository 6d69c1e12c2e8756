"""REST routes of the Database section: every route answers on both store dialects, every bad
parameter is a 400 naming it, an unknown target or digest a 404, and EXPLAIN runs for operators only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.engine import make_url

import storage
from app import create_app
from storage import database as dbstore
from storage.audit import audit_entries
from storage.tokens import create_token
from storage.users import create_user
from tests.support import free_port

PASSWORD = "correct-horse-battery"
NOW = datetime.now(UTC).replace(microsecond=0)
ROUTES = ["connections", "queries", "queries/slow", "deadlocks", "replication", "resources"]
PLAN = {
    "query_block": {
        "select_id": 1,
        "filesort": {
            "sort_key": "t.created",
            "temporary_table": {
                "table": {
                    "table_name": "orders",
                    "access_type": "ALL",
                    "rows": 120000,
                    "filtered": 100,
                    "attached_condition": "orders.status = 'open'",
                },
            },
        },
    }
}


def _digest(digest: str, count: int, latency: float, sample: str | None) -> dict[str, Any]:
    return {
        "schema": "mysql", "digest": digest, "digest_text": f"select * from db where db = ? -- {digest}",
        "sample_query": sample, "first_seen": NOW - timedelta(days=3), "last_seen": NOW,
        "exec_count": count, "total_latency_ms": latency, "max_latency_ms": 9.0,
        "rows_examined": count * 10, "rows_sent": count,
    }  # fmt: skip


def _seed(store: storage.Store) -> None:
    for hours_ago, n in ((30, 1), (20, 2), (1, 10)):
        rows = [
            _digest(
                "d" * 32, 100 * n, 2500.0 * n, "SELECT * FROM mysql.db WHERE Select_priv = 'Y' ORDER BY User"
            ),
            _digest("e" * 32, 10 * n, 5.0 * n, "UPDATE t SET password = 'hunter2' WHERE id = 1"),
            _digest("f" * 32, n, 1.0 * n, None),
        ]
        dbstore.write_digests(store.engine, "db1", rows, NOW - timedelta(hours=hours_ago))
    found = store.database.find_digest(target="db1", digest="d" * 32)
    assert found is not None
    store.database.set_explain(digest_id=found["id"], explain_json=json.dumps(PLAN))
    dbstore.record_deadlock(
        store.engine,
        "db1",
        {
            "detected_at": NOW - timedelta(hours=2), "fingerprint": "f1", "victim": "2", "raw_text": "LATEST...",
            "transactions": [{"number": 1, "trx_id": "10", "thread_id": 5, "query": "UPDATE a SET x = 1 WHERE id = 1",
                              "holds": [], "waits_for": [], "victim": False}],
        },
    )  # fmt: skip
    for minutes_ago in range(7, 0, -1):
        dbstore.record_replication(
            store.engine, "db1",
            {"configured": True, "lag_seconds": 70.0 - minutes_ago * 10, "io_running": "Yes", "sql_running": "Yes",
             "last_error": None},
            NOW - timedelta(minutes=minutes_ago),
        )  # fmt: skip
    frame = pd.DataFrame(
        {
            "ts": [NOW - timedelta(minutes=m) for m in (3, 2, 1)] * 2,
            "metric": ["mysql.threads_connected"] * 3 + ["mysql.connections.percent"] * 3,
            "host": "db1",
            "labels": [{"target": "db1"}] * 6,
            "value": [4.0, 5.0, 6.0, 4.0, 5.0, 6.0],
        }
    )
    store.write(frame)


@pytest.fixture
def app(store: storage.Store, tmp_path: Path, mysql_url: str):
    for name, role in (("ada", "admin"), ("otto", "operator"), ("vera", "viewer")):
        create_user(store.engine, name, PASSWORD, role)
    _seed(store)
    server = make_url(mysql_url)
    auth = (server.username or "root") + (f":{server.password}" if server.password else "")
    urls = [
        f"mysql://{auth}@{server.host or '127.0.0.1'}:{server.port or 3306}/?name=db1",
        f"mysql://root@127.0.0.1:{free_port()}/?name=down",
    ]
    settings = storage.load_settings(
        data_dir=tmp_path,
        secret_key="db-api-test-secret-key-0123456789",
        mysql_urls=urls,
        mysql_interval_seconds=600,
    )
    return create_app(settings, store, run_scheduler=False)


class _Client:
    """A test client that sends one user's API token with every request."""

    def __init__(self, app, token: str) -> None:
        self._client = app.server.test_client()
        self._headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str):
        return self._client.get(path, headers=self._headers)

    def post(self, path: str):
        return self._client.post(path, headers=self._headers)


def _client(app, store: storage.Store, user: str, role: str) -> _Client:
    return _Client(app, create_token(store.engine, f"t-{user}", user, role)[1])


@pytest.fixture
def viewer(app, store: storage.Store):
    return _client(app, store, "vera", "viewer")


def test_every_route_answers_json_for_a_viewer(viewer) -> None:
    for route in ROUTES:
        response = viewer.get(f"/api/monitoring/database/{route}?target=db1&since=48h")
        assert response.status_code == 200, (route, response.get_data(as_text=True))
        body = response.get_json()
        assert body["target"] == "db1" and body["since"].endswith("Z")


def test_unknown_target_is_404_and_bad_parameters_are_400(viewer) -> None:
    for route in [*ROUTES, "queries/dddddddddddddddddddddddddddddddd/explain"]:
        unknown = viewer.get(f"/api/monitoring/database/{route}?target=nope")
        assert unknown.status_code == 404, route
        assert unknown.get_json() == {"error": "target: unknown MySQL target 'nope'", "parameter": "target"}
        missing = viewer.get(f"/api/monitoring/database/{route}")
        assert missing.status_code == 400 and missing.get_json()["parameter"] == "target"
        extra = viewer.get(f"/api/monitoring/database/{route}?target=db1&bogus=1")
        assert extra.status_code == 400 and extra.get_json()["parameter"] == "bogus"
        if "explain" in route:
            continue
        for bad, name in (
            ("since=yesterday", "since"),
            ("until=soon", "until"),
            ("since=1h&until=2h", "until"),
        ):
            answer = viewer.get(f"/api/monitoring/database/{route}?target=db1&{bad}")
            assert answer.status_code == 400, (route, bad)
            error = answer.get_json()
            assert error["parameter"] == name and error["error"].startswith(f"{name}:"), error


def test_queries_bad_paging_is_400(viewer) -> None:
    for query, name in (("sort=drop", "sort"), ("order=up", "order"), ("limit=0", "limit"), ("limit=x", "limit"),
                        ("offset=-1", "offset"), ("text=" + "x" * 501, "text")):  # fmt: skip
        answer = viewer.get(f"/api/monitoring/database/queries?target=db1&{query}")
        assert answer.status_code == 400, query
        assert answer.get_json()["parameter"] == name


def test_queries_rows_change_and_masked_samples(viewer) -> None:
    body = viewer.get("/api/monitoring/database/queries?target=db1&since=24h").get_json()
    rows = {row["digest"]: row for row in body["rows"]}
    assert body["matching"] == 3
    top = rows["d" * 32]
    assert top["exec_count"] == 900  # 1000 - 100 at the last snapshot before the window
    assert top["avg_latency_ms"] == pytest.approx(25.0)
    assert top["has_explain"] is True and len(top["sparkline"]) == 24
    assert top["change"] in {"same", "new"} or top["change"].startswith(("slower", "faster"))
    assert "hunter2" not in json.dumps(body) and "password = '***'" in rows["e" * 32]["sample_query"]
    assert body["blind_spot"]["digest_executions"] == body["exec_count"]
    filtered = viewer.get(
        "/api/monitoring/database/queries?target=db1&since=24h&text=%3Cscript%3E"
    ).get_json()
    assert filtered["matching"] == 0 and filtered["rows"] == []
    paged = viewer.get(
        "/api/monitoring/database/queries?target=db1&since=24h&sort=exec_count&order=asc&limit=1&offset=1"
    ).get_json()
    assert [row["digest"] for row in paged["rows"]] == ["e" * 32]


def test_slow_queries_keep_only_the_slow(viewer) -> None:
    body = viewer.get("/api/monitoring/database/queries/slow?target=db1&since=24h&min_ms=10").get_json()
    assert [row["digest"] for row in body["rows"]] == ["d" * 32]
    assert viewer.get("/api/monitoring/database/queries/slow?target=db1&min_ms=0").status_code == 400


def test_explain_plan_is_read_with_findings(viewer) -> None:
    body = viewer.get(f"/api/monitoring/database/queries/{'d' * 32}/explain?target=db1").get_json()
    kinds = {finding["kind"] for finding in body["findings"]}
    assert kinds == {"full_scan", "missing_index", "filesort", "temporary"}
    scan = next(node for node in body["nodes"] if node["table"] == "orders")
    assert (scan["access_type"], scan["rows"]) == ("ALL", 120000.0)
    none = viewer.get(f"/api/monitoring/database/queries/{'f' * 32}/explain?target=db1").get_json()
    assert none["plan"] is None and "no sample statement" in none["message"]
    unknown = viewer.get("/api/monitoring/database/queries/abc/explain?target=db1")
    assert unknown.status_code == 404
    assert unknown.get_json() == {"error": "digest: no statement digest 'abc' on db1", "parameter": "digest"}


def test_run_explain_needs_operator_and_is_audited(app, store: storage.Store, viewer) -> None:
    route = f"/api/monitoring/database/queries/{'d' * 32}/explain?target=db1"
    denied = viewer.post(route)
    assert denied.status_code == 403
    operator = _client(app, store, "otto", "operator")
    ran = operator.post(route)
    assert ran.status_code == 200, ran.get_data(as_text=True)
    body = ran.get_json()
    assert "query_block" in body["plan"] and body["nodes"]  # the real server's plan, now stored
    refused = operator.post(f"/api/monitoring/database/queries/{'e' * 32}/explain?target=db1")
    assert refused.status_code == 409
    assert "only read-only SELECT" in refused.get_json()["error"]
    log = audit_entries(store.engine, limit=10)
    outcomes = [
        (row["username"], row["outcome"])
        for row in log.to_dict("records")
        if row["action"] == "database.explain"
    ]
    assert ("vera", "denied") in outcomes and ("otto", "ok") in outcomes and ("otto", "error") in outcomes


def test_down_target_says_unreachable(viewer) -> None:
    body = viewer.get("/api/monitoring/database/connections?target=down").get_json()
    assert body["status"]["up"] is False and body["status"]["reason"] == "unreachable"
    assert body["threads_connected"] is None


def test_connections_replication_and_deadlocks(viewer) -> None:
    connections = viewer.get("/api/monitoring/database/connections?target=db1&since=1h").get_json()
    assert connections["status"]["up"] is True and connections["status"]["version"]
    assert connections["threads_connected"] == 6.0 and connections["max_connections"] == 100
    assert [p["value"] for p in connections["history"]["threads_connected"]] == [4.0, 5.0, 6.0]
    replication = viewer.get("/api/monitoring/database/replication?target=db1&since=1h").get_json()
    assert replication["role"] == "replica" and replication["not_recovering"] is True
    assert replication["latest"]["lag_seconds"] == 60.0
    deadlocks = viewer.get("/api/monitoring/database/deadlocks?target=db1&since=24h").get_json()["deadlocks"]
    assert len(deadlocks) == 1 and deadlocks[0]["transactions"][0]["query"].startswith("UPDATE a")


def test_openapi_documents_the_database_routes(viewer) -> None:
    paths = viewer.get("/api/openapi.json").get_json()["paths"]
    for route in ROUTES:
        operation = paths[f"/api/monitoring/database/{route}"]["get"]
        assert {"200", "400", "401", "404"} <= set(operation["responses"])
    assert "post" in paths["/api/monitoring/database/queries/{digest}/explain"]
