"""Sessions: idle timeout, absolute lifetime from the live configuration, ended by password/role/state
changes, ``Secure`` over HTTPS, and X-Forwarded-* believed only from trusted proxies (Flask's test client)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import storage
from storage.audit import audit_entries
from storage.users import create_user
from tasks.actions import SYSTEM_ACTOR
from tasks.actions.users import change_password, change_role, set_user_enabled
from tests.support import login_form, send_csrf_token, web_app

PASSWORD = "correct-horse-battery"


@pytest.fixture
def store(make_store) -> storage.Store:
    # Sessions live in the signed cookie; the store only holds the users (both dialects: test_auth_users.py).
    found = make_store("sqlite")
    create_user(found.engine, "ada", PASSWORD, "admin")
    create_user(found.engine, "vera", PASSWORD, "viewer")
    return found


def _login(app, username: str, base_url: str = "http://localhost", **headers: str) -> Any:
    client = app.server.test_client()
    answer = login_form(client, username, PASSWORD, base_url=base_url, headers=headers)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client, answer


def _session_cookie(answer) -> str:
    return next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("session="))


def _signed_in(client) -> bool:
    return client.get("/").status_code == 200


def _age(client, **seconds_ago: int) -> None:
    with client.session_transaction() as session:
        for key, ago in seconds_ago.items():
            session[key] = int(time.time()) - ago


def test_an_idle_session_ends(store, tmp_path: Path) -> None:
    app = web_app(store, tmp_path, session_idle_minutes=10)
    client, _ = _login(app, "vera")
    _age(client, seen=9 * 60)
    assert _signed_in(client)  # used within the idle timeout: it goes on, and counts as used now
    _age(client, seen=11 * 60)
    assert not _signed_in(client)
    ended = audit_entries(store.engine).iloc[0]
    assert (ended["action"], ended["username"], ended["after"]) == ("logout", "vera", {"reason": "idle"})


def test_the_absolute_lifetime_follows_the_stored_configuration_without_restart(
    store, tmp_path: Path
) -> None:
    app = web_app(store, tmp_path)  # already running when the configuration changes
    client, _ = _login(app, "vera")
    _age(client, born=30 * 60)
    store.config.set(key="security.session_timeout_minutes", value=20, by="ada")
    time.sleep(1.1)  # the web tier re-reads the configuration at most once a second
    assert not _signed_in(client)  # busy all along (seen just now), but older than 20 minutes
    fresh, _ = _login(app, "vera")
    assert _signed_in(fresh)


@pytest.mark.parametrize(
    "change",
    [
        lambda store: change_password(store, SYSTEM_ACTOR, "vera", "a-brand-new-secret"),
        lambda store: change_role(store, SYSTEM_ACTOR, "vera", "operator"),
        lambda store: set_user_enabled(store, SYSTEM_ACTOR, "vera", enabled=False),
    ],
    ids=["password", "role", "disabled"],
)
def test_a_password_role_or_state_change_ends_the_users_sessions(store, tmp_path: Path, change) -> None:
    app = web_app(store, tmp_path)
    vera, _ = _login(app, "vera")
    ada, _ = _login(app, "ada")
    change(store)
    assert not _signed_in(vera)
    assert _signed_in(ada)  # only that user's sessions end


def test_changing_your_own_password_keeps_this_session_and_ends_the_others(store, tmp_path: Path) -> None:
    app = web_app(store, tmp_path)
    here, _ = _login(app, "vera")
    there, _ = _login(app, "vera")
    send_csrf_token(here)
    outputs = ["result.children", "current.invalid", "current-feedback.children", "new.invalid"]
    outputs += ["new-feedback.children", "repeat.invalid", "repeat-feedback.children"]
    outputs += ["current.value", "new.value", "repeat.value"]
    ids = [f"settings-own-{o}" for o in outputs]
    answer = here.post(
        "/_dash-update-component",
        json={
            "output": ".." + "...".join(ids) + "..",
            "outputs": [{"id": i.rsplit(".", 1)[0], "property": i.rsplit(".", 1)[1]} for i in ids],
            "inputs": [{"id": "settings-own-save", "property": "n_clicks", "value": 1}],
            "changedPropIds": ["settings-own-save.n_clicks"],
            "state": [
                {"id": "settings-own-current", "property": "value", "value": PASSWORD},
                {"id": "settings-own-new", "property": "value", "value": "vera-new-secret-2"},
                {"id": "settings-own-repeat", "property": "value", "value": "vera-new-secret-2"},
            ],
        },
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert "Password changed" in answer.get_data(as_text=True)
    assert _signed_in(here)
    assert not _signed_in(there)
    changed = audit_entries(store.engine)
    assert ("vera", "change_password", "ok") in set(
        zip(changed.username, changed.action, changed.outcome, strict=True)
    )


def test_the_cookie_is_secure_over_https_only(store, tmp_path: Path) -> None:
    app = web_app(store, tmp_path)
    _client, plain = _login(app, "vera")
    _client, secure = _login(app, "vera", base_url="https://localhost")
    assert "Secure" not in _session_cookie(plain)
    assert "Secure" in _session_cookie(secure) and "HttpOnly" in _session_cookie(secure)


def test_forwarded_headers_are_believed_only_from_a_trusted_proxy(store, tmp_path: Path) -> None:
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    direct = web_app(store, tmp_path)
    _client, answer = _login(direct, "vera", **forged)
    assert "Secure" not in _session_cookie(answer)  # anyone could have sent those headers
    proxied = web_app(store, tmp_path, trusted_proxies="127.0.0.1/32")
    _client, answer = _login(proxied, "vera", **forged)
    assert "Secure" in _session_cookie(answer)
    logins = audit_entries(store.engine)
    addresses = [r.after["address"] for r in logins.itertuples() if r.action == "login"]
    assert addresses == ["203.0.113.9", "127.0.0.1"]  # newest first: the proxy's client, then the real peer
