"""Failed-login limits (per username, per address, shared through Redis), the identical answer of a
locked-out attempt, and the audit of every login, refusal and logout; Flask's test client against the
real app and store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import storage
from storage.audit import audit_entries
from storage.users import create_user
from tests.support import claim_redis_db, login_form, web_app

PASSWORD = "correct-horse-battery"
WRONG = "Wrong username or password."


@pytest.fixture
def users(make_store) -> storage.Store:
    # The limits live in the limiter's storage, not the store: one dialect is enough here (the
    # users' storage runs on both in test_auth_users.py).
    store = make_store("sqlite")
    create_user(store.engine, "ada", PASSWORD, "admin")
    create_user(store.engine, "bob", PASSWORD, "viewer")
    return store


def _login(client, username: str, password: str) -> Any:
    return login_form(client, username, password)


def _signed_in(client) -> bool:
    return client.get("/").status_code == 200


def _denials(store: storage.Store) -> list[tuple[str, str]]:
    rows = audit_entries(store.engine, limit=500).iloc[::-1]
    return [
        (r.username, r.after["reason"])
        for r in rows.itertuples()
        if r.action == "login" and r.outcome == "denied"
    ]


def test_25_wrong_passwords_then_the_right_one_is_refused_like_a_wrong_one(users, tmp_path: Path) -> None:
    client = web_app(users, tmp_path).server.test_client()
    answers = [_login(client, "ada", f"guess-{i:02d}-wrong") for i in range(25)]
    assert {(a.status_code, WRONG in a.get_data(as_text=True)) for a in answers} == {(200, True)}
    right = _login(client, "ada", PASSWORD)
    # Nothing tells the attacker the name is locked: the same status, headers and page as a wrong password.
    assert right.status_code == 200
    assert right.get_data(as_text=True) == answers[0].get_data(as_text=True)
    assert "Retry-After" not in right.headers
    assert not _signed_in(client)
    reasons = [reason for name, reason in _denials(users) if name == "ada"]
    assert (
        reasons == ["wrong credentials"] * 5 + ["locked out"] * 21
    )  # every refusal audited, with its reason


def test_a_different_user_from_the_same_address_is_limited_per_address(users, tmp_path: Path) -> None:
    app = web_app(users, tmp_path, login_rate_limit_user="100/minute", login_rate_limit_address="4/minute")
    client = app.server.test_client()
    for i in range(4):  # a spray: one guess for each of many names, so no per-name limit trips
        assert WRONG in _login(client, f"user{i}", "guess-wrong-1").get_data(as_text=True)
    assert WRONG in _login(client, "bob", PASSWORD).get_data(as_text=True)
    assert not _signed_in(client)
    elsewhere = app.server.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert _login(elsewhere, "bob", PASSWORD).status_code == 302  # bob himself, from his own address
    assert _denials(users)[-1] == ("bob", "locked out")


def test_a_correct_password_ends_the_run_of_failures(users, tmp_path: Path) -> None:
    client = web_app(users, tmp_path, login_rate_limit_user="3/minute").server.test_client()
    for _round in range(2):
        for i in range(2):
            _login(client, "ada", f"typo-{i}-wrong")
        assert _login(client, "ada", PASSWORD).status_code == 302
        client.get("/logout")
    assert [e for e in _denials(users) if e[1] == "locked out"] == []


@pytest.fixture
def redis_url() -> Iterator[str]:
    yield from claim_redis_db(range(8, 12), "login limits")


def test_locks_are_shared_by_every_web_worker_through_redis(users, tmp_path: Path, redis_url: str) -> None:
    # Two apps with one Redis: two gunicorn workers (or hosts) behind one load balancer.
    first = web_app(users, tmp_path, rate_limit_storage_url=redis_url).server.test_client()
    for i in range(5):
        _login(first, "ada", f"guess-{i}-wrong")
    second = web_app(users, tmp_path, rate_limit_storage_url=redis_url).server.test_client()
    assert WRONG in _login(second, "ada", PASSWORD).get_data(as_text=True)
    assert not _signed_in(second)


def test_logins_and_logouts_are_audited(users, tmp_path: Path) -> None:
    client = web_app(users, tmp_path).server.test_client()
    assert _login(client, "ada", PASSWORD).status_code == 302
    assert client.get("/logout").status_code == 302
    assert not _signed_in(client)
    rows = audit_entries(users.engine).iloc[::-1]
    assert [(r.username, r.action, r.outcome) for r in rows.itertuples()] == [
        ("ada", "login", "ok"),
        ("ada", "logout", "ok"),
    ]
    assert rows.iloc[0]["after"] == {"address": "127.0.0.1"}


def test_a_long_or_odd_username_is_refused_and_audited_without_error(users, tmp_path: Path) -> None:
    client = web_app(users, tmp_path).server.test_client()
    answer = _login(client, "x" * 300 + "<script>", "whatever-wrong")
    assert answer.status_code == 200 and WRONG in answer.get_data(as_text=True)
    assert "<script>" not in answer.get_data(as_text=True)
    assert _denials(users) == [("x" * 64, "wrong credentials")]
