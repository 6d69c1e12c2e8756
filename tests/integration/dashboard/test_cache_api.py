"""The Cache actions, background jobs and REST routes against a real Redis and both store dialects."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import storage
from app import create_app
from storage.audit import audit_entries
from storage.tokens import create_token
from storage.users import Role, create_user
from tasks import cache_jobs
from tasks.actions import Actor, PermissionDenied
from tasks.actions import cache as actions
from tests.support import PrivateRedis, send_csrf_token, wait_until

PASSWORD = "correct-horse-battery"
ADA = Actor("ada", Role.ADMIN)
OTTO = Actor("otto", Role.OPERATOR)
VERA = Actor("vera", Role.VIEWER)


@pytest.fixture
def redis_server(private_redis: Callable[..., PrivateRedis]) -> PrivateRedis:
    return private_redis("--maxmemory", "256mb")


@pytest.fixture
def settings(redis_server: PrivateRedis, tmp_path: Path) -> storage.Settings:
    return storage.load_settings(
        data_dir=tmp_path,
        secret_key="cache-test-secret-key-0123456789",
        redis_urls=[f"{redis_server.url}?name=cache"],
    )


def wait_finished(store: storage.Store, job_id: str, timeout: float = 20.0) -> Any:
    def finished() -> Any:
        job = store.cache.job(job_id=job_id)
        return job if job is not None and job.finished else None

    return wait_until(finished, timeout, f"job {job_id} finishing", every=0.05)


def _removed(store: storage.Store, job_id: str) -> int:
    job = store.cache.job(job_id=job_id)
    return int(job.progress.get("removed", 0)) if job else 0


def test_clear_job_removes_matches_and_lands_in_history_and_audit(
    store: storage.Store, settings: storage.Settings, redis_server: PrivateRedis
) -> None:
    client = redis_server.client(db=2)
    client.mset({f"page:{i}": "x" * 50 for i in range(3000)})
    client.mset({f"pages:{i}": "y" for i in range(100)})
    preview = actions.preview_clear(store, settings, OTTO, target="cache", db=2, pattern="page:*")
    assert preview.matches == 3000 and preview.complete
    job = actions.start_clear(store, settings, OTTO, target="cache", db=2, pattern="page:*", expected=3000)
    done = wait_finished(store, job.id)
    assert done.status == "done" and done.result["removed"] == 3000 and not done.result["stopped_early"]
    assert client.dbsize() == 100
    history = store.cache.history(target="cache")
    row = history.iloc[0]
    assert (row["action"], row["pattern"], row["keys_affected"], row["username"]) == (
        "clear_pattern",
        "page:*",
        3000,
        "otto",
    )
    assert row["detail"]["memory_freed_bytes"] > 0
    audit = audit_entries(store.engine)
    finished = audit[(audit["action"] == "cache.clear") & (audit["outcome"] == "ok")]
    assert len(finished) == 2  # the start (with its job id) and the outcome


def test_two_clears_at_once_on_one_target_are_refused(
    store: storage.Store, settings: storage.Settings, redis_server: PrivateRedis
) -> None:
    store_job = storage.cache.create_job(
        store.engine,
        job_id="a" * 32,
        target="cache",
        kind="clear_pattern",
        username="otto",
        params={},
        exclusive="clear",
    )
    with pytest.raises(storage.cache.JobConflict, match="already running"):
        actions.start_clear(store, settings, OTTO, target="cache", db=0, pattern="x:*")
    storage.cache.finish_job(store.engine, store_job.id, status="done")
    job = actions.start_clear(store, settings, OTTO, target="cache", db=0, pattern="x:*")
    assert wait_finished(store, job.id).status == "done"


def test_cancel_stops_a_running_clear(
    store: storage.Store,
    settings: storage.Settings,
    redis_server: PrivateRedis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = redis_server.client()
    for start in range(0, 200_000, 20_000):
        client.mset({f"big:{i}": "v" for i in range(start, start + 20_000)})
    monkeypatch.setattr(cache_jobs, "PROGRESS_EVERY_SECONDS", 0.0)
    monkeypatch.setattr("collectors.redis_monitor.keys.CLEAR_BATCH", 100)
    job = storage.cache.create_job(
        store.engine,
        job_id="c" * 32,
        target="cache",
        kind="clear_pattern",
        username="otto",
        params={"db": 0, "pattern": "big:*", "max_keys": 1_000_000},
        exclusive="clear",
    )
    storage.cache.request_cancel(store.engine, job.id)
    result = cache_jobs.run_job(store, settings, job.id)
    assert result["stopped"] == "cancelled" and wait_finished(store, job.id).status == "cancelled"
    assert client.dbsize() == 200_000 - result.get("removed", 0)


def test_cancel_mid_run_stops_after_a_batch(
    store: storage.Store,
    settings: storage.Settings,
    redis_server: PrivateRedis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = redis_server.client()
    for start in range(0, 300_000, 50_000):
        client.mset({f"slow:{i}": "v" for i in range(start, start + 50_000)})
    monkeypatch.setattr(cache_jobs, "PROGRESS_EVERY_SECONDS", 0.02)
    job = actions.start_clear(store, settings, OTTO, target="cache", db=0, pattern="slow:*", max_keys=300_000)
    deadline = time.monotonic() + 10
    while _removed(store, job.id) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    actions.cancel_job(store, OTTO, job_id=job.id)
    done = wait_finished(store, job.id)
    assert done.status == "cancelled" and done.result["stopped"] == "cancelled"
    assert 0 < done.result["removed"] < 300_000
    assert client.dbsize() == 300_000 - done.result["removed"]
    assert store.cache.history(target="cache").iloc[0]["detail"]["stopped"] == "cancelled"


def test_viewer_is_refused_and_audited(store: storage.Store, settings: storage.Settings) -> None:
    for call in (
        lambda: actions.start_clear(store, settings, VERA, target="cache", db=0, pattern="a:*"),
        lambda: actions.open_key(store, settings, VERA, target="cache", db=0, key="a", is_hex=False),
        lambda: actions.flush_database(store, settings, OTTO, target="cache", db=0, confirm="0"),
        lambda: actions.change_policy(store, settings, OTTO, target="cache", policy="allkeys-lru"),
    ):
        with pytest.raises(PermissionDenied):
            call()
    denied = audit_entries(store.engine)
    assert (denied["outcome"] == "denied").sum() == 4


def test_flush_needs_the_typed_db_and_policy_changes_reach_history(
    store: storage.Store, settings: storage.Settings, redis_server: PrivateRedis
) -> None:
    client = redis_server.client(db=5)
    client.mset({"a": 1, "b": 2})
    with pytest.raises(ValueError, match="type 5"):
        actions.flush_database(store, settings, ADA, target="cache", db=5, confirm="0")
    assert client.dbsize() == 2
    assert actions.flush_database(store, settings, ADA, target="cache", db=5, confirm="db5") == 2
    assert client.dbsize() == 0
    changed = actions.change_policy(
        store, settings, ADA, target="cache", maxmemory="128mb", policy="allkeys-lru"
    )
    assert changed.policy == "allkeys-lru" and changed.maxmemory_bytes == 128 * 1024 * 1024
    assert redis_server.client().config_get("maxmemory")["maxmemory"] == str(128 * 1024 * 1024)
    history = store.cache.history(target="cache")
    assert list(history["action"]) == ["policy_change", "flush_db"]
    assert history.iloc[0]["detail"]["before"]["policy"] == "noeviction"


def test_tag_clear_job(store: storage.Store, settings: storage.Settings, redis_server: PrivateRedis) -> None:
    client = redis_server.client()
    client.mset({f"post:{i}": "p" for i in range(30)})
    client.set("keep", 1)
    client.sadd("tag:posts:entries", *[f"post:{i}" for i in range(30)])
    tag_key, dry = actions.preview_tag_clear(store, settings, OTTO, target="cache", db=0, tag="posts")
    assert (tag_key, dry.matches) == ("tag:posts:entries", 30)
    job = actions.start_tag_clear(store, settings, OTTO, target="cache", db=0, tag="posts")
    assert wait_finished(store, job.id).result["removed"] == 30
    assert client.keys("*") == ["keep"]
    with pytest.raises(LookupError, match="no tag set"):
        actions.start_tag_clear(store, settings, OTTO, target="cache", db=0, tag="posts")


def test_eviction_rule_preview_and_run(
    store: storage.Store, tmp_path: Path, redis_server: PrivateRedis
) -> None:
    client = redis_server.client()
    payload = "z" * 1000
    for start in range(0, 4000, 500):
        client.mset({f"sess:{i}": payload for i in range(start, start + 500)})
    client.set("keep:me", payload)
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", int(used / 0.95))  # ~95 % used
    settings = storage.load_settings(
        data_dir=tmp_path,
        redis_urls=[f"{redis_server.url}?name=cache"],
        cache_eviction_rules=[
            {"target": "cache", "pattern": "sess:*", "above_percent": 90, "down_to_percent": 60}
        ],
    )
    preview = actions.preview_eviction_rule(store, settings, VERA, index=0)
    assert preview["triggered"] and preview["candidates"] > 0 and preview["removed"] == 0
    assert client.dbsize() == 4001
    reports = cache_jobs.run_eviction_rules(store, settings)
    assert reports[0]["removed"] > 0 and reports[0]["memory_percent_after"] <= 60
    assert client.exists("keep:me")
    assert store.cache.history(target="cache").iloc[0]["action"] == "eviction_rule"
    assert [spec.name for spec in cache_jobs.job_specs(settings)] == ["vitals.cache_eviction_rules"]


# -- REST -------------------------------------------------------------------------------------------


@pytest.fixture
def app(store: storage.Store, settings: storage.Settings) -> Any:
    create_user(store.engine, "otto", PASSWORD, "operator")
    create_user(store.engine, "vera", PASSWORD, "viewer")
    return create_app(settings, store, run_scheduler=False)


def bearer(store: storage.Store, user: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(store.engine, 'ci-' + user, user, role)[1]}"}


def test_rest_keys_clear_job_and_history(store: storage.Store, app: Any, redis_server: PrivateRedis) -> None:
    redis_server.client().mset({f"k:{i}": i for i in range(150)} | {"other": 1})
    http = app.server.test_client()
    otto = bearer(store, "otto", "operator")
    first = http.get("/api/cache/keys?target=cache&pattern=k:*&count=50", headers=otto).get_json()
    assert first["keys"] and first["keys"][0]["type"] == "string"
    unknown = http.get("/api/cache/keys?target=nope", headers=otto)
    assert unknown.status_code == 404 and unknown.get_json()["parameter"] == "target"
    refused = http.post("/api/cache/clear", json={"target": "cache", "pattern": "*"}, headers=otto)
    assert refused.status_code == 400 and refused.get_json()["parameter"] == "pattern"
    dry = http.post("/api/cache/clear", json={"target": "cache", "pattern": "k:*"}, headers=otto).get_json()
    assert dry["matches"] == 150
    started = http.post(
        "/api/cache/clear", json={"target": "cache", "pattern": "k:*", "dry_run": False}, headers=otto
    )
    assert started.status_code == 202
    job_id = started.get_json()["id"]
    wait_finished(store, job_id)
    job = http.get(f"/api/cache/jobs/{job_id}", headers=otto).get_json()
    assert job["status"] == "done" and job["result"]["removed"] == 150
    assert http.get("/api/cache/jobs/nope", headers=otto).status_code == 404
    history = http.get("/api/cache/eviction-history?target=cache", headers=otto).get_json()["history"]
    assert history[0]["keys_affected"] == 150 and history[0]["username"] == "otto"
    vera = bearer(store, "vera", "viewer")
    denied = http.post(
        "/api/cache/clear", json={"target": "cache", "pattern": "o*", "dry_run": False}, headers=vera
    )
    assert denied.status_code == 403
    assert http.delete(f"/api/cache/jobs/{job_id}", headers=vera).status_code == 403


def test_rest_policies(store: storage.Store, app: Any, redis_server: PrivateRedis) -> None:
    create_user(store.engine, "ada", PASSWORD, "admin")
    http = app.server.test_client()
    ada = bearer(store, "ada", "admin")
    found = http.get("/api/cache/policies?target=cache", headers=ada).get_json()
    assert "allkeys-lru" in found["policies"] and found["maxmemory_bytes"] == 256 * 1024 * 1024
    bad = http.put("/api/cache/policies", json={"target": "cache", "maxmemory": "-1"}, headers=ada)
    assert bad.status_code == 400 and bad.get_json()["parameter"] == "maxmemory"
    bad = http.put("/api/cache/policies", json={"target": "cache", "policy": "lru-ish"}, headers=ada)
    assert bad.status_code == 400 and "unknown policy" in bad.get_json()["error"]
    ok = http.put(
        "/api/cache/policies",
        json={"target": "cache", "maxmemory": "1gb", "policy": "volatile-ttl"},
        headers=ada,
    )
    assert ok.status_code == 200 and ok.get_json()["policy"] == "volatile-ttl"
    assert redis_server.client().config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-ttl"
    stats = http.get("/api/cache/statistics?target=cache", headers=ada)
    assert stats.status_code == 200 and stats.get_json()["target"] == "cache"


def test_rest_eviction_rules(store: storage.Store, app: Any, redis_server: PrivateRedis) -> None:
    """Create, list, edit, switch on, preview and delete a rule over REST: admin only for changes,
    every change audited and in the Cache history; bad fields answer 400 naming the field."""
    create_user(store.engine, "ada", PASSWORD, "admin")
    http = app.server.test_client()
    ada, vera = bearer(store, "ada", "admin"), bearer(store, "vera", "viewer")
    rule = {"target": "cache", "pattern": "sess:*", "above_percent": 90, "down_to_percent": 60}
    assert http.post("/api/cache/eviction-rules", json=rule, headers=vera).status_code == 403
    for bad, field in (
        ({**rule, "pattern": "*"}, "pattern"),
        ({**rule, "down_to_percent": 95}, "down_to_percent"),
        ({**rule, "above_percent": 150}, "above_percent"),
        ({**rule, "target": "nope"}, "target"),
    ):
        answer = http.post("/api/cache/eviction-rules", json=bad, headers=ada)
        assert answer.status_code == 400 and answer.get_json()["parameter"] == field, answer.get_json()
    created = http.post("/api/cache/eviction-rules", json=rule, headers=ada)
    assert created.status_code == 201
    rule_id = created.get_json()["id"]
    assert created.get_json()["enabled"] is False  # off by default
    listed = http.get("/api/cache/eviction-rules?target=cache", headers=vera).get_json()["rules"]
    assert [(r["id"], r["pattern"]) for r in listed] == [(rule_id, "sess:*")]
    edited = http.put(
        f"/api/cache/eviction-rules/{rule_id}",
        json={**rule, "pattern": "tmp:*", "enabled": True},
        headers=ada,
    ).get_json()
    assert edited["pattern"] == "tmp:*" and edited["enabled"] is True and edited["updated_by"] == "ada"
    redis_server.client().set("tmp:1", "x")
    preview = http.post(f"/api/cache/eviction-rules/{rule_id}/preview", headers=vera)
    assert preview.status_code == 200 and preview.get_json()["triggered"] is False  # 256 MB, nearly empty
    assert "below" in preview.get_json()["reason"]
    missing = http.put("/api/cache/eviction-rules/999", json=rule, headers=ada)
    assert missing.status_code == 404 and missing.get_json()["parameter"] == "rule_id"
    assert http.delete(f"/api/cache/eviction-rules/{rule_id}", headers=vera).status_code == 403
    assert http.delete(f"/api/cache/eviction-rules/{rule_id}", headers=ada).get_json()["id"] == rule_id
    assert http.get("/api/cache/eviction-rules", headers=ada).get_json()["rules"] == []
    audit = audit_entries(store.engine)
    done = audit[audit["outcome"] == "ok"]["action"].tolist()
    for action in ("cache.rule_create", "cache.rule_update", "cache.rule_enable", "cache.rule_delete"):
        assert action in done
    assert "cache.eviction_preview" in done
    changes = [d["change"] for d in store.cache.history(target="cache")["detail"]]
    assert changes == ["deleted", "enabled", "edited", "created"]


# -- hand-posted Dash callbacks get the server's refusal -------------------------------------------


def logged_in(app: Any, username: str) -> Any:
    import re

    client = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login", data={"csrf": csrf, "username": username, "password": PASSWORD, "next": "/"}
    )
    assert response.status_code == 302
    return send_csrf_token(client)


def post_callback(client: Any, outputs: list[tuple[str, str]], trigger: str, state: dict[str, Any]) -> str:
    output = "".join(f"..{component}.{prop}.." for component, prop in outputs).replace("....", "...")
    response = client.post(
        "/_dash-update-component",
        json={
            "output": output,
            "outputs": [{"id": component, "property": prop} for component, prop in outputs],
            "inputs": [
                {"id": trigger, "property": "n_clicks", "value": 1},
                *(
                    [{"id": "cache-clear-pattern", "property": "n_submit", "value": None}]
                    if "clear" in trigger
                    else []
                ),
            ],
            "changedPropIds": [f"{trigger}.n_clicks"],
            "state": [
                {"id": component, "property": "value", "value": value} for component, value in state.items()
            ],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_data(as_text=True))


def test_hand_posted_callbacks_are_refused_and_audited(
    store: storage.Store, app: Any, redis_server: PrivateRedis
) -> None:
    redis_server.client().set("a:1", 1)
    viewer = logged_in(app, "vera")
    answer = post_callback(
        viewer,
        [("cache-clear-preview-result", "children"), ("cache-clear-previewed", "data")],
        "cache-clear-preview",
        {"cache-target": "cache", "cache-db": 0, "cache-clear-pattern": "a:*"},
    )
    assert "needs the operator role" in answer
    operator = logged_in(app, "otto")
    answer = post_callback(
        operator,
        [("cache-flush-message", "children"), ("cache-flush-confirm-text", "value")],
        "cache-flush-button",
        {"cache-target": "cache", "cache-db": 0, "cache-flush-confirm-text": "0"},
    )
    assert "needs the admin role" in answer
    assert redis_server.client().exists("a:1")
    audit = audit_entries(store.engine)
    denied = audit[audit["outcome"] == "denied"]
    assert {"cache.clear_preview", "cache.flush"} <= set(denied["action"])
