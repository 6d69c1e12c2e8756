"""The configuration REST routes and actions: reads for everyone, writes for admins, bad input named
and nothing half-applied, every write audited (SQLite and MariaDB)."""

from __future__ import annotations

from pathlib import Path

import pytest

import storage
from app import create_app
from storage.audit import audit_entries
from storage.tokens import create_token
from storage.users import Role, create_user
from tasks.actions import PermissionDenied
from tasks.actions.config import add_target, edit_target, probe_target, remove_target, set_config
from tasks.actions.gate import Actor

PASSWORD = "correct-horse-battery"
KEY = "cache.collection_interval_seconds"


@pytest.fixture
def app(store: storage.Store, tmp_path: Path):
    create_user(store.engine, "ada", PASSWORD, "admin")
    create_user(store.engine, "vera", PASSWORD, "viewer")
    settings = storage.load_settings(
        data_dir=tmp_path, secret_key="config-api-secret-key-0123456789", system_interval_seconds=2
    )
    return create_app(settings, store, run_scheduler=False)


def _client(store: storage.Store, app, user: str, role: str):
    secret = create_token(store.engine, f"t-{user}", user, role)[1]
    client = app.server.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


@pytest.fixture
def admin(store, app):
    return _client(store, app, "ada", "admin")


@pytest.fixture
def viewer(store, app):
    return _client(store, app, "vera", "viewer")


def test_list_get_and_categories(viewer) -> None:
    listed = viewer.get("/api/config").get_json()["config"]
    entry = next(item for item in listed if item["key"] == KEY)
    assert entry | {"updated_at": None} == {
        "key": KEY, "category": "cache", "type": "float", "value": 10.0, "default": 10.0, "unit": "s",
        "minimum": 1, "maximum": 3600, "choices": [], "description": "How often each Redis server is read",
        "source": "default", "pinned_by": None, "updated_by": None, "updated_at": None,
    }  # fmt: skip
    pinned = viewer.get("/api/config/system.collection_interval_seconds").get_json()
    assert (pinned["value"], pinned["pinned_by"]) == (2, "VITALS_SYSTEM_INTERVAL_SECONDS")
    only = viewer.get("/api/config?category=security").get_json()["config"]
    assert [item["key"] for item in only] == ["security.session_timeout_minutes"]
    categories = viewer.get("/api/config/categories").get_json()["categories"]
    assert {"database", "cache", "logging", "alerts", "dashboard", "security"} <= {
        c["name"] for c in categories
    }
    assert viewer.get("/api/config?category=nope").get_json()["parameter"] == "category"


def test_admin_changes_and_resets_a_value(admin, store: storage.Store) -> None:
    answer = admin.put(f"/api/config/{KEY}", json={"value": 30})
    assert answer.status_code == 200, answer.get_json()
    assert (answer.get_json()["value"], answer.get_json()["updated_by"]) == (30, "ada")
    assert admin.get(f"/api/config/{KEY}").get_json()["source"] == "stored"
    reset = admin.post(f"/api/config/reset/{KEY}")
    assert (reset.status_code, reset.get_json()["value"], reset.get_json()["source"]) == (
        200,
        10.0,
        "default",
    )
    actions = audit_entries(store.engine)["action"].tolist()
    assert "config.set" in actions and "config.reset" in actions


@pytest.mark.parametrize(
    ("key", "body", "status", "parameter", "words"),
    [
        (KEY, {"value": "fast"}, 400, KEY, "expected a number"),
        (KEY, {"value": 0}, 400, KEY, "at least 1 s"),
        (KEY, {"value": 5000}, 400, KEY, "at most 3600 s"),
        (KEY, {"value": 1, "extra": 2}, 400, "extra", ""),
        ("cache.nope", {"value": 1}, 404, "key", "unknown configuration key"),
        (
            "system.collection_interval_seconds",
            {"value": 3},
            400,
            "system.collection_interval_seconds",
            "pinned",
        ),
    ],
)
def test_bad_writes_are_named_and_change_nothing(admin, store, key, body, status, parameter, words) -> None:
    answer = admin.put(f"/api/config/{key}", json=body)
    assert answer.status_code == status, answer.get_json()
    assert answer.get_json()["parameter"] == parameter
    assert words in answer.get_json()["error"]
    assert store.config.stored() == {}


def test_bulk_update_is_all_or_nothing(admin, store: storage.Store) -> None:
    bad = admin.post(
        "/api/config/bulk-update",
        json={"values": {KEY: 20, "alerts.default_cooldown_minutes": 30, "alerts.dedup_window_seconds": -1}},
    )
    assert bad.status_code == 400
    assert bad.get_json()["parameter"] == "alerts.dedup_window_seconds"
    assert store.config.stored() == {}
    unknown = admin.post("/api/config/bulk-update", json={"values": {KEY: 20, "no.such": 1}})
    assert (unknown.status_code, unknown.get_json()["parameter"]) == (400, "no.such")
    good = admin.post(
        "/api/config/bulk-update", json={"values": {KEY: 20, "alerts.default_cooldown_minutes": 30}}
    )
    assert good.status_code == 200
    assert {item["key"]: item["value"] for item in good.get_json()["config"]} == {
        KEY: 20, "alerts.default_cooldown_minutes": 30,
    }  # fmt: skip
    assert store.config.stored() == {KEY: 20.0, "alerts.default_cooldown_minutes": 30}


def test_a_viewer_reads_but_may_not_write(viewer, store: storage.Store) -> None:
    assert viewer.put(f"/api/config/{KEY}", json={"value": 30}).status_code == 403
    assert viewer.post("/api/config/bulk-update", json={"values": {KEY: 30}}).status_code == 403
    assert viewer.post(f"/api/config/reset/{KEY}").status_code == 403
    assert store.config.stored() == {}
    denied = audit_entries(store.engine)
    assert set(denied.loc[denied["outcome"] == "denied", "action"]) == {
        "config.set", "config.bulk_update", "config.reset",
    }  # fmt: skip


def test_anonymous_is_refused(app) -> None:
    assert app.server.test_client().get("/api/config").status_code == 401


def test_target_actions_check_the_role_and_audit_masked(store: storage.Store, tmp_path: Path) -> None:
    store.config.use_secret_key(key="target-actions-secret-0123456789")
    settings = storage.load_settings(data_dir=tmp_path)
    ada, vera = Actor("ada", Role.ADMIN), Actor("vera", Role.VIEWER)
    with pytest.raises(PermissionDenied):
        add_target(store, vera, "redis", "r", "redis://:pw-1234@127.0.0.1:6399/0")
    target = add_target(store, ada, "redis", "r", "redis://:pw-1234@127.0.0.1:6399/0")
    assert target.id is not None  # stored, not from the environment
    result = probe_target(store, ada, target.id, settings)
    assert result.status == "fail" and "pw-1234" not in result.message  # nothing listens on 6399
    edit_target(store, ada, target.id, enabled=False)
    with pytest.raises(PermissionDenied):
        remove_target(store, vera, target.id)
    remove_target(store, ada, target.id)
    with pytest.raises(PermissionDenied):
        set_config(store, vera, KEY, 5)
    log = audit_entries(store.engine)
    assert "pw-1234" not in log.to_json(date_format="iso")
    assert set(log["action"]) >= {
        "config.add_target",
        "config.test_target",
        "config.edit_target",
        "config.remove_target",
    }
