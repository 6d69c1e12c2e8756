"""Shared fixtures: a real store on SQLite and on MariaDB/MySQL.

``store`` runs a test once per dialect. ``make_store(dialect)`` makes further fresh stores (tasks and
dashboard tests reuse it). MySQL stores each get their own throw-away database, dropped afterwards.
Without a reachable server the MySQL cases skip with the reason, except under ``CI=true``, where an
absent service is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

import storage
from tests.support import PrivateRedis, unavailable

DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
DIALECTS = ("sqlite", "mysql")
CONNECT_TIMEOUT_SECONDS = 3

MakeStore = Callable[..., storage.Store]


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _server_engine(url: URL) -> Engine:
    """A pool-less engine for admin statements (CREATE/DROP DATABASE) with a short connect timeout."""
    return create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """The MariaDB/MySQL server URL for tests; skips (or fails under CI) when the server is absent."""
    url = make_url(os.environ.get("VITALS_TEST_MYSQL_URL", DEFAULT_MYSQL_URL))
    engine = _server_engine(url)
    problem = None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver or network error means "not reachable"
        problem = getattr(exc, "orig", None) or exc  # the driver's own words, without SQLAlchemy's wrapper
    finally:
        engine.dispose()
    if problem is not None:
        reason = f"MariaDB not reachable at {_shown(url)}: {problem}"
        unavailable(f"{reason} (set VITALS_TEST_MYSQL_URL to point the MySQL tests at a server)")
    return url.render_as_string(hide_password=False)


@pytest.fixture
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    """A factory ``make_store(dialect, migrate=True)`` for fresh, empty stores, cleaned up after the test."""
    cleanups: list[Callable[[], None]] = []
    counter = 0

    def make(dialect: str, *, migrate: bool = True) -> storage.Store:
        nonlocal counter
        counter += 1
        if dialect == "sqlite":
            name = "vitals.db" if counter == 1 else f"vitals-{counter}.db"
            store = storage.connect(f"sqlite:///{tmp_path / name}", migrate=migrate)
            cleanups.append(store.close)
            return store
        if dialect == "mysql":
            return _make_mysql_store(make_url(request.getfixturevalue("mysql_url")), migrate, cleanups)
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {DIALECTS}")

    yield make
    for cleanup in reversed(cleanups):
        cleanup()


def _make_mysql_store(server: URL, migrate: bool, cleanups: list[Callable[[], None]]) -> storage.Store:
    database = f"vitals_t_{uuid.uuid4().hex[:8]}"
    admin = _server_engine(server)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
        admin.dispose()

    cleanups.append(drop)
    store = storage.connect(
        server.set(database=database).render_as_string(hide_password=False), migrate=migrate
    )
    cleanups.append(store.close)  # runs before drop(): cleanups are undone in reverse
    return store


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("mysql", id="mysql", marks=pytest.mark.mysql)]
)
def store(request: pytest.FixtureRequest, make_store: MakeStore) -> storage.Store:
    """A fresh, migrated, empty store; each test using it runs on SQLite and on MariaDB."""
    return make_store(request.param)


@pytest.fixture
def private_redis() -> Iterator[Callable[..., PrivateRedis]]:
    """``private_redis(*server_args)`` starts a redis-server of this test's own; killed afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    servers: list[PrivateRedis] = []

    def start(*args: str) -> PrivateRedis:
        server = PrivateRedis(binary or "", *args)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()
