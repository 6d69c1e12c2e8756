"""Engine factory: one place that knows how to talk to SQLite and to MySQL/MariaDB well."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

__all__ = ["create_store_engine", "is_sqlite", "write_transaction"]

SQLITE_BUSY_TIMEOUT_MS = 10_000
GROUP_CONCAT_MAX_LEN = 64 * 1024 * 1024


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_store_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine tuned for the store's dialect.

    SQLite: WAL (readers never block the writer), foreign keys on, a busy timeout so the web
    process and the collector thread wait for each other instead of failing, synchronous=NORMAL
    (safe with WAL, several times faster commits).
    MySQL/MariaDB: PyMySQL with utf8mb4 and pre-ping, so a restarted server costs one retry, not errors.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    if parsed.get_backend_name() in {"mysql", "mariadb"}:
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_recycle", 3600)
        engine = create_engine(parsed, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_mysql_connect(dbapi_connection: Any, _record: Any) -> None:
            # Numeric reads come back as one GROUP_CONCAT value (storage.fetch): let it be long.
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET SESSION group_concat_max_len = {GROUP_CONCAT_MAX_LEN}")

        return engine
    raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}")


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (the documented
        # workaround that makes SAVEPOINT and BEGIN behave; see SQLAlchemy's pysqlite notes).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


_WRITE_OPTION = "vitals_write"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write. Use it instead of ``engine.begin()`` for every write.

    On SQLite it starts with BEGIN IMMEDIATE: a deferred BEGIN that reads and then writes fails at
    once with "database is locked" if another writer committed in between (the busy timeout does
    not apply to that case), while IMMEDIATE waits for the write lock up front. MySQL ignores it.
    """
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE_OPTION: True})
        with conn.begin():
            yield conn
