"""Control actions: the role check happens on the server and every attempt lands in the audit log."""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd
import pytest
from sqlalchemy import select

from storage import Store, load_settings
from storage.audit import audit_entries
from storage.schema import audit_log
from storage.users import Role, UserError, authenticate, count_users, get_user
from tasks.actions import Actor, PermissionDenied, add_user, collect_now
from tasks.schedule import JobContext, JobSpec, job_specs
from tasks.scheduler import EmbeddedScheduler

VIEWER = Actor("vera", Role.VIEWER)
OPERATOR = Actor("otto", Role.OPERATOR)
ADMIN = Actor("ada", Role.ADMIN)
PASSWORD = "s3cret-Passw0rd-xyz"


def collection_scheduler(store: Store) -> EmbeddedScheduler:
    """The real collection job, not started: collect_now runs it in the caller's thread."""
    return EmbeddedScheduler(job_specs(load_settings(system_interval_seconds=60)), JobContext(store=store))


@pytest.fixture
def sqlite_store(make_store: Callable[..., Store]) -> Store:
    """For checks whose outcome cannot depend on the dialect (the role check runs before any SQL)."""
    return make_store("sqlite")


def entries(store: Store) -> pd.DataFrame:
    """Audit entries, oldest first."""
    return audit_entries(store.engine, since="1h").iloc[::-1].reset_index(drop=True)


def usernames(log: pd.DataFrame) -> list[str | None]:
    """Who acted, with an anonymous attempt as None (pandas shows a missing string as NaN)."""
    return [None if pd.isna(name) else name for name in log["username"]]


def samples_of(store: Store, metric: str) -> int:
    if metric not in store.metric_names():
        return 0
    return int(store.metrics(metric, since="5m", agg="count")["count"].sum())


# -- collect_now -----------------------------------------------------------------------------------


def test_collect_now_denied_to_viewer_and_anonymous_and_audited(store: Store) -> None:
    scheduler = collection_scheduler(store)
    with pytest.raises(PermissionDenied, match="operator") as denied:
        collect_now(store, scheduler, VIEWER)
    assert "viewer" in str(denied.value)
    with pytest.raises(PermissionDenied, match="anonymous"):
        collect_now(store, scheduler, None)
    assert scheduler.runs["vitals.collect_system"] == 0
    assert store.list_series().empty  # nothing was collected
    log = entries(store)
    assert usernames(log) == ["vera", None]
    assert log["action"].tolist() == ["collect_now", "collect_now"]
    assert log["target"].tolist() == ["vitals.collect_system", "vitals.collect_system"]
    assert log["outcome"].tolist() == ["denied", "denied"]
    assert str(log["ts"].dt.tz) == "UTC"


def test_collect_now_by_an_operator_collects_and_audits(store: Store) -> None:
    scheduler = collection_scheduler(store)
    assert collect_now(store, scheduler, OPERATOR) == "Collected this host's metrics."
    assert scheduler.runs["vitals.collect_system"] == 1
    assert samples_of(store, "system.memory.percent") == 1
    assert samples_of(store, "system.process.count") == 1
    collect_now(store, scheduler, ADMIN)  # admin includes operator
    assert samples_of(store, "system.memory.percent") == 2
    log = entries(store)
    assert log["username"].tolist() == ["otto", "ada"]
    assert log["action"].tolist() == ["collect_now", "collect_now"]
    assert log["target"].tolist() == ["vitals.collect_system", "vitals.collect_system"]
    assert log["outcome"].tolist() == ["ok", "ok"]


def test_collect_now_without_a_scheduler_is_refused_after_the_role_check(sqlite_store: Store) -> None:
    with pytest.raises(PermissionDenied):
        collect_now(sqlite_store, None, VIEWER)  # permission first, even in distributed mode
    with pytest.raises(RuntimeError, match="Celery"):
        collect_now(sqlite_store, None, OPERATOR)
    # The refused attempt and the one that could not run are both on record; neither is "ok".
    assert entries(sqlite_store)["outcome"].tolist() == ["denied", "error"]


def test_collect_now_reports_a_failed_collection(sqlite_store: Store) -> None:
    def broken(_context: JobContext) -> None:
        raise RuntimeError("psutil exploded")

    scheduler = EmbeddedScheduler(
        [JobSpec("vitals.collect_system", 60, broken)], JobContext(store=sqlite_store)
    )
    with pytest.raises(Exception, match="psutil exploded"):
        collect_now(sqlite_store, scheduler, OPERATOR)
    assert entries(sqlite_store)["outcome"].tolist() == ["error"]


# -- add_user --------------------------------------------------------------------------------------


def test_add_user_denied_below_admin_and_audited(store: Store) -> None:
    with pytest.raises(PermissionDenied, match="admin") as denied:
        add_user(store, OPERATOR, "mallory", PASSWORD, "admin")
    assert "operator" in str(denied.value)
    for actor in (VIEWER, None):
        with pytest.raises(PermissionDenied):
            add_user(store, actor, "mallory", PASSWORD, "viewer")
    assert get_user(store.engine, "mallory") is None
    assert count_users(store.engine) == 0
    log = entries(store)
    assert usernames(log) == ["otto", "vera", None]
    assert log["action"].tolist() == ["create_user"] * 3
    assert log["target"].tolist() == ["mallory"] * 3
    assert log["outcome"].tolist() == ["denied"] * 3


def test_add_user_by_admin_creates_the_user_and_audits_the_role_only(store: Store) -> None:
    user = add_user(store, ADMIN, "bob", PASSWORD, "operator")
    assert (user.username, user.role, user.active) == ("bob", Role.OPERATOR, True)
    assert get_user(store.engine, "bob") == user
    assert authenticate(store.engine, "bob", PASSWORD) is not None  # the password given is the one stored
    with pytest.raises(PermissionDenied):
        add_user(store, OPERATOR, "eve", PASSWORD + "-eve", "viewer")

    log = entries(store)
    assert log["outcome"].tolist() == ["ok", "denied"]
    entry = log.iloc[0]
    assert (entry["username"], entry["action"], entry["target"]) == ("ada", "create_user", "bob")
    assert entry["after"] == {"role": "operator"}
    assert entry["before"] is None

    # The raw rows, every column: no password, no hash, not even a redacted password field.
    with store.engine.connect() as conn:
        rows = conn.execute(select(audit_log)).mappings().all()
    assert len(rows) == 2
    for row in rows:
        flat = json.dumps(dict(row), default=str)
        assert PASSWORD not in flat
        assert "argon2" not in flat
        assert "password" not in flat.lower()


def test_add_user_invalid_input_creates_nothing(sqlite_store: Store) -> None:
    with pytest.raises(UserError, match="password"):
        add_user(sqlite_store, ADMIN, "bob", "short", "viewer")
    with pytest.raises(UserError, match="role"):
        add_user(sqlite_store, ADMIN, "bob", PASSWORD, "superuser")
    assert count_users(sqlite_store.engine) == 0
    assert "ok" not in entries(sqlite_store)["outcome"].tolist()
