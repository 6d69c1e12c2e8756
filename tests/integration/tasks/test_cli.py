"""The ``vitals`` command line, run as a real subprocess the way an operator runs it.

Each run costs about two seconds of imports (Dash, pandas, SQLAlchemy), so the independent SQLite
runs all start together when the module begins and each test reads the one it needs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import storage
from collectors.catalog import METRIC_CATALOG
from storage.users import Role, authenticate, count_users, get_user
from tests.support import PROJECT_ROOT

CLI = [sys.executable, "-c", "import app,sys; sys.exit(app.main(sys.argv[1:]))"]
CLI_TIMEOUT_SECONDS = 60
PASSWORD = "operator-pass-123"
BAD_SETTINGS = {"VITALS_SYSTEM_INTERVAL_SECONDS": "-1", "VITALS_BIND_PORT": "notaport"}
SCHEMA_TABLES = {"series", "samples", "users", "audit_log", "alembic_version"}

# name -> (arguments, extra environment, standard input)
CASES: dict[str, tuple[tuple[str, ...], dict[str, str], str]] = {
    "db_upgrade": (("db", "upgrade"), {}, ""),
    "users_create": (
        ("users", "create", "bob", "--role", "operator", "--password-stdin"),
        {},
        PASSWORD + "\n",
    ),
    "short_password": (("users", "create", "bob", "--password-stdin"), {}, "short\n"),
    "metrics": (("metrics",), {}, ""),
    "bad_settings": (("metrics",), BAD_SETTINGS, ""),
    "worker_without_broker": (("worker",), {}, ""),
}


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment minus any VITALS_* variables, with its own data directory."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VITALS_")}
    return {**env, "VITALS_DATA_DIR": str(data_dir), "PYTHONPATH": str(PROJECT_ROOT), **extra}


def run_cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=PROJECT_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
    )


@dataclass
class CliRun:
    data_dir: Path
    future: Future[subprocess.CompletedProcess[str]]

    @property
    def result(self) -> subprocess.CompletedProcess[str]:
        return self.future.result(timeout=CLI_TIMEOUT_SECONDS)

    @property
    def sqlite_url(self) -> str:
        """Where the CLI keeps the embedded store for this data directory."""
        return f"sqlite:///{(self.data_dir / 'vitals.db').resolve()}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, CliRun]]:
    with ThreadPoolExecutor(max_workers=len(CASES)) as pool:
        started = {}
        for name, (args, extra, stdin) in CASES.items():
            data_dir = tmp_path_factory.mktemp(name)
            started[name] = CliRun(
                data_dir, pool.submit(run_cli, *args, env=cli_env(data_dir, **extra), stdin=stdin)
            )
        yield started


def is_log_line(line: str) -> bool:
    """The CLI's logging format: ``2024-05-01 12:00:00,123 INFO name: message``."""
    parts = line.split(" ", 3)
    return len(parts) == 4 and parts[0][:2] == "20" and parts[2] in {"DEBUG", "INFO", "WARNING", "ERROR"}


def message_lines(stderr: str) -> list[str]:
    """What stderr says to the operator, with the log lines around it left out."""
    return [line for line in stderr.splitlines() if line.strip() and not is_log_line(line)]


def table_names(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
            else:
                rows = conn.execute(text("SHOW TABLES"))
            return {row[0] for row in rows}
    finally:
        engine.dispose()


# -- db upgrade ------------------------------------------------------------------------------------


def test_db_upgrade_creates_the_embedded_store(runs: dict[str, CliRun]) -> None:
    run = runs["db_upgrade"]
    result = run.result
    assert result.returncode == 0, result.stderr
    assert "schema is up to date" in result.stdout
    assert str(run.data_dir / "vitals.db") in result.stdout  # says which store it upgraded
    assert "Traceback" not in result.stderr
    assert (run.data_dir / "vitals.db").is_file()
    assert table_names(run.sqlite_url) >= SCHEMA_TABLES


@pytest.fixture
def fresh_mysql_url(mysql_url: str) -> Iterator[str]:
    """A throw-away, empty database vitals_cli_<hex> on the test server, dropped afterwards."""
    server = make_url(mysql_url)
    database = f"vitals_cli_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    try:
        yield server.set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
        admin.dispose()


@pytest.mark.mysql
def test_db_upgrade_on_mysql(fresh_mysql_url: str, tmp_path: Path) -> None:
    assert table_names(fresh_mysql_url) == set()
    result = run_cli("db", "upgrade", env=cli_env(tmp_path, VITALS_DATABASE_URL=fresh_mysql_url))
    assert result.returncode == 0, result.stderr
    assert "schema is up to date" in result.stdout
    assert str(make_url(fresh_mysql_url).database) in result.stdout
    assert table_names(fresh_mysql_url) >= SCHEMA_TABLES
    assert not (tmp_path / "vitals.db").exists()  # the URL wins over the data dir


# -- users create ----------------------------------------------------------------------------------


def test_users_create_reads_the_password_from_stdin(runs: dict[str, CliRun]) -> None:
    run = runs["users_create"]
    result = run.result
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "created bob (operator)"
    assert PASSWORD not in result.stdout + result.stderr
    store = storage.connect(run.sqlite_url)
    try:
        user = get_user(store.engine, "bob")
        assert user is not None
        assert (user.role, user.active) == (Role.OPERATOR, True)
        assert authenticate(store.engine, "bob", PASSWORD) is not None
        assert authenticate(store.engine, "bob", PASSWORD + "\n") is None  # the newline is not part of it
    finally:
        store.close()


def test_users_create_with_a_short_password_fails_with_one_line(runs: dict[str, CliRun]) -> None:
    run = runs["short_password"]
    result = run.result
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = message_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vitals:")
    assert "password" in lines[0] and "8" in lines[0]
    assert "short" not in result.stderr  # the rejected password is not echoed
    assert "created" not in result.stdout
    store = storage.connect(run.sqlite_url)
    try:
        assert count_users(store.engine) == 0
    finally:
        store.close()


def test_users_create_error_is_the_only_line_on_stderr(runs: dict[str, CliRun]) -> None:
    result = runs["short_password"].result
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == message_lines(result.stderr)


# -- metrics ---------------------------------------------------------------------------------------


def test_metrics_lists_the_catalog(runs: dict[str, CliRun]) -> None:
    run = runs["metrics"]
    result = run.result
    assert result.returncode == 0, result.stderr
    rows = [line.split(None, 2) for line in result.stdout.splitlines() if line.strip()]
    names = [row[0] for row in rows]
    assert "system.cpu.percent" in names
    assert names == sorted(METRIC_CATALOG)  # every metric once, sorted
    by_name = {row[0]: row for row in rows}
    assert by_name["system.cpu.percent"][1] == "%"
    assert by_name["system.cpu.percent"][2] == METRIC_CATALOG["system.cpu.percent"][1]
    assert by_name["system.process.count"][1] == "-"  # unitless shown as a dash, not a gap
    assert not (run.data_dir / "vitals.db").exists()  # listing needs no store


# -- configuration errors --------------------------------------------------------------------------


def test_invalid_settings_exit_2_with_one_line_naming_each_variable(runs: dict[str, CliRun]) -> None:
    result = runs["bad_settings"].result
    assert result.returncode == 2
    assert result.stdout == ""  # refused before doing anything
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vitals: ")
    for variable, value in BAD_SETTINGS.items():
        assert variable in lines[0]
        assert repr(value) in lines[0]  # shows what it got


def test_worker_needs_a_broker(runs: dict[str, CliRun]) -> None:
    result = runs["worker_without_broker"].result
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = message_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vitals:")
    assert "VITALS_BROKER_URL" in lines[0]


# -- start-up --------------------------------------------------------------------------------------


def test_a_port_in_use_is_refused_before_anything_is_created_or_printed(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data_dir = tmp_path / "data"
        result = run_cli("run", env=cli_env(data_dir, VITALS_BIND_PORT=str(port)))
    assert result.returncode != 0
    assert result.stdout == ""  # no banner, no first-run password
    assert result.stderr.strip().splitlines() == [
        f"vitals: cannot listen on 127.0.0.1:{port} (Address already in use); is Vitals already running? "
        "Set VITALS_BIND_PORT to use another port"
    ]
    assert not data_dir.exists()
