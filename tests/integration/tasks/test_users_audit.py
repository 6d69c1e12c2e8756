"""Users (create, look up, authenticate) and the audit log, on SQLite and MariaDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select, update

from storage import Store
from storage.audit import audit_entries, record_audit
from storage.schema import audit_log, users
from storage.users import (
    Role,
    UserError,
    authenticate,
    count_users,
    create_user,
    get_user,
    get_user_by_id,
    list_users,
)

PASSWORD = "correct-horse-battery"


def test_create_and_get_user(store: Store) -> None:
    before = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    user = create_user(store.engine, "  alice  ", PASSWORD, Role.OPERATOR)
    assert user.username == "alice"
    assert user.role is Role.OPERATOR
    assert user.active is True
    assert user.last_login_at is None
    assert before <= user.created_at <= datetime.now(UTC).replace(tzinfo=None)  # stored as naive UTC
    assert get_user(store.engine, "alice") == user
    assert get_user_by_id(store.engine, user.id) == user
    assert get_user(store.engine, "bob") is None
    assert get_user_by_id(store.engine, user.id + 1000) is None


def test_password_is_stored_hashed(store: Store) -> None:
    create_user(store.engine, "alice", PASSWORD, "viewer")
    with store.engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.username == "alice")).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_a_legacy_scrypt_hash_is_upgraded_to_argon2_at_login(store: Store) -> None:
    import hashlib

    create_user(store.engine, "alice", PASSWORD, "viewer")
    salt = bytes(16)
    legacy = (
        "scrypt$16384$"
        + salt.hex()
        + "$"
        + hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1).hex()
    )
    with store.engine.begin() as conn:
        conn.execute(users.update().where(users.c.username == "alice").values(password_hash=legacy))
    assert authenticate(store.engine, "alice", PASSWORD) is not None
    with store.engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.username == "alice")).scalar_one()
    assert stored.startswith("$argon2id$")
    assert authenticate(store.engine, "alice", PASSWORD) is not None
    assert authenticate(store.engine, "alice", "wrong-password") is None


def test_list_and_count_users(store: Store) -> None:
    assert list_users(store.engine) == []
    assert count_users(store.engine) == 0
    create_user(store.engine, "carol", PASSWORD, "admin")
    create_user(store.engine, "alice", PASSWORD, "viewer")
    create_user(store.engine, "bob", PASSWORD, Role.OPERATOR)
    listed = list_users(store.engine)
    assert [(u.username, u.role) for u in listed] == [
        ("alice", Role.VIEWER),
        ("bob", Role.OPERATOR),
        ("carol", Role.ADMIN),
    ]
    assert len({u.id for u in listed}) == 3
    assert count_users(store.engine) == 3


def test_authenticate(store: Store) -> None:
    created = create_user(store.engine, "alice", PASSWORD, "operator")
    user = authenticate(store.engine, "alice", PASSWORD)
    assert user is not None
    assert (user.id, user.username, user.role) == (created.id, "alice", Role.OPERATOR)
    assert authenticate(store.engine, " alice ", PASSWORD) is not None  # same trimming as at sign-up
    last_login = get_user(store.engine, "alice").last_login_at  # type: ignore[union-attr]
    assert last_login is not None
    assert abs(last_login - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=1)


def test_authenticate_refuses_wrong_password_and_unknown_user(store: Store) -> None:
    create_user(store.engine, "alice", PASSWORD, "operator")
    assert authenticate(store.engine, "alice", PASSWORD + "x") is None
    assert authenticate(store.engine, "alice", "") is None
    assert authenticate(store.engine, "mallory", PASSWORD) is None
    assert get_user(store.engine, "alice").last_login_at is None  # type: ignore[union-attr]


def test_authenticate_refuses_inactive_user(store: Store) -> None:
    create_user(store.engine, "alice", PASSWORD, "admin")
    with store.engine.begin() as conn:
        conn.execute(update(users).where(users.c.username == "alice").values(active=False))
    assert get_user(store.engine, "alice").active is False  # type: ignore[union-attr]
    assert authenticate(store.engine, "alice", PASSWORD) is None


def test_duplicate_username_is_a_user_error(store: Store) -> None:
    create_user(store.engine, "alice", PASSWORD, "viewer")
    with pytest.raises(UserError, match="username: 'alice' already exists"):
        create_user(store.engine, "alice", "another-password", "admin")
    with pytest.raises(UserError, match="already exists"):
        create_user(store.engine, " alice", PASSWORD, "viewer")
    assert count_users(store.engine) == 1
    assert get_user(store.engine, "alice").role is Role.VIEWER  # type: ignore[union-attr]


def test_invalid_users_are_refused_with_the_field_named(store: Store) -> None:
    cases = [
        (("alice", "short", "viewer"), "password: at least 8 characters"),
        (("alice", "", "viewer"), "password: "),
        (("alice", PASSWORD, "superuser"), "role: one of viewer, operator, admin"),
        (("alice", PASSWORD, ""), "role: "),
        (("", PASSWORD, "viewer"), "username: 1 to 64 characters"),
        (("   ", PASSWORD, "viewer"), "username: "),
        (("a" * 65, PASSWORD, "viewer"), "username: "),
    ]
    for args, message in cases:
        with pytest.raises(UserError, match=message):
            create_user(store.engine, *args)
    assert count_users(store.engine) == 0
    assert issubclass(UserError, ValueError)
    assert (
        create_user(store.engine, "a" * 64, "q7-x!k2m", "viewer").username == "a" * 64
    )  # the limits themselves


# --- audit log ---------------------------------------------------------------------------------


def test_audit_entries_newest_first_with_json_intact(store: Store) -> None:
    started = pd.Timestamp.now(tz="UTC").floor("s")
    before = {
        "maxmemory-policy": "noeviction",
        "keys": 1200,
        "dbs": [0, 1],
        "nested": {"ok": True, "x": None},
    }
    after = {"maxmemory-policy": "allkeys-lru", "keys": 0, "note": "zürich ✓"}
    record_audit(
        store.engine, "alice", "cache.clear", target="redis://cache:6379/0", before=before, after=after
    )
    record_audit(store.engine, "bob", "alert.ack", target="alert:17", outcome="denied")
    record_audit(store.engine, None, "retention.run")

    entries = audit_entries(store.engine)
    assert entries["action"].tolist() == ["retention.run", "alert.ack", "cache.clear"]
    assert entries["outcome"].tolist() == ["ok", "denied", "ok"]
    # Missing text reads back as missing (pandas' string columns show it as NaN, not None).
    assert entries["username"].tolist()[1:] == ["bob", "alice"]
    assert entries["target"].tolist()[1:] == ["alert:17", "redis://cache:6379/0"]
    assert entries["username"].isna().tolist() == [True, False, False]
    assert entries["target"].isna().tolist() == [True, False, False]

    clear = entries.iloc[2]
    assert clear["before"] == before
    assert clear["after"] == after
    assert entries.iloc[1]["before"] is None
    assert entries.iloc[1]["after"] is None

    assert isinstance(entries["ts"].dtype, pd.DatetimeTZDtype)
    assert str(entries["ts"].dt.tz) == "UTC"
    assert entries["ts"].is_monotonic_decreasing
    now = pd.Timestamp.now(tz="UTC")
    assert ((entries["ts"] >= started) & (entries["ts"] <= now)).all()


def test_audit_entries_respect_since_and_limit(store: Store) -> None:
    old = (datetime.now(UTC) - timedelta(days=40)).replace(tzinfo=None, microsecond=0)
    with store.engine.begin() as conn:
        conn.execute(
            audit_log.insert(), {"ts": old, "username": "ops", "action": "config.set", "outcome": "ok"}
        )
    for i in range(5):
        record_audit(store.engine, "alice", f"action.{i}")

    recent = audit_entries(store.engine)
    assert recent["action"].tolist() == [f"action.{i}" for i in (4, 3, 2, 1, 0)]
    everything = audit_entries(store.engine, since="60d")
    assert everything["action"].tolist()[-1] == "config.set"
    assert everything["ts"].iloc[-1] == pd.Timestamp(old, tz="UTC")
    assert audit_entries(store.engine, limit=2)["action"].tolist() == ["action.4", "action.3"]


def test_audit_entries_of_an_empty_log(store: Store) -> None:
    entries = audit_entries(store.engine)
    assert entries.empty
    assert list(entries.columns) == [column.name for column in audit_log.columns]
    assert str(entries["ts"].dt.tz) == "UTC"
