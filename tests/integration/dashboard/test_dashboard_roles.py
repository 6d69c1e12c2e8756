"""Roles are enforced on the server: posting a callback by hand gets the same answer as the button.

Uses Flask's test client against the real app and store (both dialects); no browser needed to
forge a request.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

import storage
from app import create_app
from storage.audit import audit_entries
from storage.schema import samples
from storage.users import create_user, get_user
from tests.support import signed_in

PASSWORD = "correct-horse-battery"
COLLECT_OUTPUT = "system-collect-result.children"
CREATE_USER_OUTPUTS = [
    ("settings-create-result", "children"),
    ("settings-new-username", "invalid"),
    ("settings-username-feedback", "children"),
    ("settings-new-password", "invalid"),
    ("settings-password-feedback", "children"),
    ("settings-new-password", "value"),
    ("settings-users", "data"),
    ("settings-audit", "data"),
]


@pytest.fixture
def app_with_users(store: storage.Store, tmp_path: Path):
    for username, role in (("ada", "admin"), ("otto", "operator"), ("vera", "viewer")):
        create_user(store.engine, username, PASSWORD, role)
    settings = storage.load_settings(data_dir=tmp_path, secret_key="roles-test-secret-key-0123456789")
    app = create_app(settings, store, run_scheduler=True)
    yield app
    app.server.extensions["vitals"].scheduler.stop()


def _client(app, username: str | None):
    if username is not None:
        return signed_in(app, username, PASSWORD)
    return app.server.test_client()


def _post_collect(client):
    return client.post(
        "/_dash-update-component",
        json={
            "output": COLLECT_OUTPUT,
            "outputs": {"id": "system-collect-result", "property": "children"},
            "inputs": [{"id": "system-collect-now", "property": "n_clicks", "value": 1}],
            "changedPropIds": ["system-collect-now.n_clicks"],
            "state": [],
        },
    )


def _post_create_user(client, username: str, password: str, role: str):
    output = "".join(f"..{component}.{prop}.." for component, prop in CREATE_USER_OUTPUTS).replace(
        "....", "..."
    )
    return client.post(
        "/_dash-update-component",
        json={
            "output": output,
            "outputs": [{"id": component, "property": prop} for component, prop in CREATE_USER_OUTPUTS],
            "inputs": [{"id": "settings-create-user", "property": "n_clicks", "value": 1}],
            "changedPropIds": ["settings-create-user.n_clicks"],
            "state": [
                {"id": "settings-new-username", "property": "value", "value": username},
                {"id": "settings-new-password", "property": "value", "value": password},
                {"id": "settings-new-role", "property": "value", "value": role},
            ],
        },
    )


def _sample_count(store: storage.Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(samples)).scalar_one())


def test_anonymous_callback_post_is_rejected(app_with_users):
    response = _post_collect(_client(app_with_users, None))
    assert response.status_code == 401
    assert response.get_json() == {"error": "login required"}


def test_viewer_cannot_collect_even_by_posting_the_callback(app_with_users, store):
    app_with_users.server.extensions["vitals"].scheduler.stop()  # only the action may write now
    before = _sample_count(store)
    response = _post_collect(_client(app_with_users, "vera"))
    assert response.status_code == 200
    assert "needs the operator role; you are viewer" in response.get_data(as_text=True)
    assert _sample_count(store) == before
    denied = audit_entries(store.engine).query("action == 'collect_now'")
    assert denied[["username", "outcome"]].values.tolist() == [["vera", "denied"]]


def test_operator_collects_and_it_is_audited(app_with_users, store):
    app_with_users.server.extensions["vitals"].scheduler.stop()
    before = _sample_count(store)
    response = _post_collect(_client(app_with_users, "otto"))
    assert "Collected this host" in response.get_data(as_text=True)
    assert _sample_count(store) > before
    done = audit_entries(store.engine).query("action == 'collect_now'")
    assert done[["username", "outcome"]].values.tolist() == [["otto", "ok"]]


@pytest.mark.parametrize("username", ["vera", "otto"])
def test_only_admins_create_users_even_by_posting_the_callback(app_with_users, store, username):
    response = _post_create_user(_client(app_with_users, username), "mallory", "long-enough-pw", "admin")
    assert "this needs the admin role" in response.get_data(as_text=True)
    assert get_user(store.engine, "mallory") is None


def test_admin_creates_a_user_and_the_password_never_reaches_the_audit_log(app_with_users, store):
    response = _post_create_user(_client(app_with_users, "ada"), "newbie", "a-secret-password", "operator")
    body = response.get_data(as_text=True)
    assert "Created newbie (operator)" in body
    assert "a-secret-password" not in body
    newbie = get_user(store.engine, "newbie")
    assert newbie is not None and newbie.role.value == "operator"
    entry = audit_entries(store.engine).query("action == 'create_user'").iloc[0]
    assert (entry.username, entry.target, entry.after) == ("ada", "newbie", {"role": "operator"})
    assert "a-secret-password" not in str(entry.to_dict())


def test_bad_user_form_input_answers_next_to_the_field(app_with_users, store):
    client = _client(app_with_users, "ada")
    response = _post_create_user(client, "shorty", "short", "viewer").get_json()["response"]
    assert response["settings-new-password"]["invalid"] is True
    assert "at least 8 characters" in response["settings-password-feedback"]["children"]
    assert response["settings-new-username"]["invalid"] is False
    assert get_user(store.engine, "shorty") is None

    response = _post_create_user(client, "vera", "long-enough-pw", "viewer").get_json()["response"]
    assert response["settings-new-username"]["invalid"] is True
    assert "already exists" in response["settings-username-feedback"]["children"]
