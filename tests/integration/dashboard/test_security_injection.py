"""Injection, one test per input surface: every user-controlled value that reaches SQL (API search and
filters, on SQLite and MariaDB), Redis (SCAN patterns), a log line shown on a page, or a name rendered in
HTML is passed as a parameter or escaped, never spliced into a statement or markup."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import redis
from sqlalchemy import inspect

import storage
from app import create_app
from collectors.logs import LogTailer
from collectors.redis_monitor import keys as rkeys
from storage.tokens import create_token
from storage.users import create_user
from tasks.log_jobs import tail_logs
from tests.support import PROJECT_ROOT, claim_redis_db, form_token

SQL_ATTACKS = [
    "' OR '1'='1",
    "x'; DROP TABLE log_entries; --",
    '" OR ""="',
    "%' UNION SELECT username, password_hash FROM users --",
    "a) OR (1=1",
    "\\'; DELETE FROM users; #",
    "NEAR(* OR *)",  # FTS5 operators: the full-text query is a bound value, not syntax
]
HTML_NAME = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def _json_line(message: str, **extra: object) -> str:
    return json.dumps({"timestamp": "2026-03-01T12:00:00Z", "level": "error", "message": message, **extra})


def _api(store: storage.Store, tmp_path: Path):
    create_user(store.engine, "ada", "correct-horse-battery", "admin")
    log = tmp_path / "app.log"
    log.write_text("\n".join([_json_line("payment ok", host_hint="web1"), _json_line(HTML_NAME)]) + "\n")
    assert tail_logs(store, LogTailer([str(log)]), "web1") == 2
    store.write(
        pd.DataFrame(
            {
                "ts": [pd.Timestamp("2026-03-01T12:00:00Z")],
                "metric": ["system.cpu.percent"],
                "host": ["web1"],
                "value": [1.0],
            }
        )
    )
    settings = storage.load_settings(
        data_dir=tmp_path / "data", secret_key="injection-test-secret-0123456789"
    )
    app = create_app(settings, store, run_scheduler=False)
    client = app.server.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + create_token(store.engine, "t", "ada", "admin")[1]
    return client


@pytest.fixture
def api(store: storage.Store, tmp_path: Path):
    """On both dialects: for what reaches SQL."""
    return _api(store, tmp_path)


@pytest.fixture
def web(make_store, tmp_path: Path):
    """SQLite only: for what reaches a page (escaping does not depend on the dialect)."""
    return _api(make_store("sqlite"), tmp_path)


def _tables(store: storage.Store) -> set[str]:
    return set(inspect(store.engine).get_table_names())


WINDOW = "since=2026-03-01T00:00:00Z&until=2026-03-02T00:00:00Z"


def test_sql_in_search_and_filters_is_a_value(api, store: storage.Store) -> None:
    for attack in SQL_ATTACKS:
        _attack_every_filter(api, store, attack)


def _attack_every_filter(api, store: storage.Store, attack: str) -> None:
    tables = _tables(store)
    with store.engine.connect() as conn:
        users = conn.exec_driver_sql("SELECT COUNT(*) FROM users").scalar()
        stored_hash = conn.exec_driver_sql("SELECT password_hash FROM users").scalar()
    answers = [
        api.get(
            "/api/logs",
            query_string={"q": attack, "since": "2026-03-01T00:00:00Z", "until": "2026-03-02T00:00:00Z"},
        ),
        api.post(
            "/api/logs/search",
            json={"q": attack, "since": "2026-03-01T00:00:00Z", "until": "2026-03-02T00:00:00Z"},
        ),
        api.get(
            "/api/logs", query_string={"host": attack, "channel": attack, "request_id": attack, "since": "7d"}
        ),
        api.get("/api/metrics", query_string={"host": attack}),
        api.get("/api/alerts", query_string={"category": attack, "host": attack}),
        api.get("/api/incidents", query_string={"target": attack}),
        api.get(f"/api/metrics/{attack}/history"),
    ]
    for answer in answers:
        assert answer.status_code in (200, 400, 404), answer.get_data(as_text=True)
        body = answer.get_data(as_text=True)
        assert stored_hash not in body  # no UNION reached the users table
        if answer.status_code == 200 and "entries" in (answer.get_json() or {}):
            # Only entries sharing a word with the text come back: the WHERE was not widened.
            words = re.findall(r"\w+", attack.lower())
            for entry in answer.get_json()["entries"]:
                assert any(word in entry["message"].lower() for word in words), (attack, entry)
    assert _tables(store) == tables
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM users").scalar() == users


def test_a_log_line_with_markup_comes_back_as_text(web) -> None:
    found = web.get(f"/api/logs?{WINDOW}&q=onerror").get_json()["entries"]
    assert [entry["message"] for entry in found] == [HTML_NAME]  # stored and answered verbatim, as JSON text


def test_the_logs_grid_renders_text_nodes_only() -> None:
    """The page's cell renderer builds React text nodes and <mark> elements; nothing is parsed as HTML."""
    script = (PROJECT_ROOT / "assets" / "logs.js").read_text()
    assert "innerHTML" not in script and "dangerouslySetInnerHTML" not in script
    assert "React.createElement" in script


def test_no_page_turns_user_text_into_markup() -> None:
    offenders = []
    for path in (PROJECT_ROOT / "dashboard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.keyword)
                and node.arg in {"dangerously_allow_html", "dangerouslySetInnerHTML"}
                and not (isinstance(node.value, ast.Constant) and node.value.value is False)
            ):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert offenders == []


def test_no_module_runs_a_shell() -> None:
    """Commands are argument lists (``os.execv``, ``subprocess`` without ``shell=True``): no value can reach a shell."""
    offenders = []
    for package in ("app.py", "storage", "collectors", "tasks", "dashboard"):
        for path in (
            [PROJECT_ROOT / package] if package.endswith(".py") else (PROJECT_ROOT / package).rglob("*.py")
        ):
            text = path.read_text()
            if re.search(r"shell\s*=\s*True|os\.system\(|os\.popen\(", text):
                offenders.append(str(path.relative_to(PROJECT_ROOT)))
    assert offenders == []


def test_a_name_with_markup_is_escaped_on_the_login_page(web) -> None:
    page = web.get("/login?next=/" + HTML_NAME).get_data(as_text=True)
    assert "<script>alert(2)" not in page and 'onerror="alert' not in page
    form = web.get("/login").get_data(as_text=True)
    csrf = form_token(form)
    answer = web.post("/login", data={"csrf": csrf, "username": HTML_NAME, "password": "x", "next": "/"})
    assert "<script>alert(2)" not in answer.get_data(as_text=True)
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in answer.get_data(as_text=True)


def test_an_incident_title_with_markup_is_data_in_the_api_and_the_postmortem(web) -> None:
    created = web.post("/api/incidents", json={"title": HTML_NAME, "severity": "low"}).get_json()
    assert created["title"] == HTML_NAME
    markdown = web.get(f"/api/incidents/{created['id']}/postmortem.md")
    assert markdown.status_code == 200
    assert markdown.headers["Content-Type"].startswith("text/markdown") or markdown.headers[
        "Content-Type"
    ].startswith("text/plain")
    assert markdown.headers["X-Content-Type-Options"] == "nosniff"  # a browser never sniffs it as HTML


# --- Redis ---------------------------------------------------------------------------------------


@pytest.fixture
def redis_url() -> Iterator[str]:
    yield from claim_redis_db(range(11, 14), "injection tests")


@pytest.mark.parametrize(
    "pattern", ["app:*\r\nFLUSHDB\r\n", "app:* FLUSHDB", 'app:"*" ; FLUSHALL', "app:[*]"]
)
def test_a_redis_pattern_is_one_scan_argument(redis_url: str, pattern: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.mset({"app:1": "a", "app:2": "b", "other:1": "c"})
    try:
        rkeys.validate_clear_pattern(pattern)
    except ValueError:
        assert len(client.mget("app:1", "app:2", "other:1")) == 3 and client.exists("app:1", "app:2") == 2
        return
    page = rkeys.scan_page(client, pattern=pattern, with_memory=False)
    assert all(row.key.startswith("app:") for row in page.rows)
    rkeys.clear_pattern(client, pattern)
    assert client.get("other:1") == b"c", "no command hidden in the pattern ran"
