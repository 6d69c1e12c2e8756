"""Eviction rules edited through the actions, stored (SQLite and MariaDB), evaluated by the scheduled
job against a real (private) Redis near its maxmemory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import storage
from storage.audit import audit_entries
from storage.users import Role
from tasks import cache_jobs
from tasks.actions import Actor, PermissionDenied
from tasks.actions import cache_rules as rules
from tests.support import PrivateRedis

ADA = Actor("ada", Role.ADMIN)
OTTO = Actor("otto", Role.OPERATOR)
VERA = Actor("vera", Role.VIEWER)
RULE = {
    "target": "cache",
    "db": 0,
    "pattern": "sess:*",
    "above_percent": 90,
    "down_to_percent": 60,
    "max_keys": 5000,
}


@pytest.fixture
def redis_server(private_redis: Callable[..., PrivateRedis]) -> PrivateRedis:
    return private_redis()


@pytest.fixture
def settings(redis_server: PrivateRedis, tmp_path: Path) -> storage.Settings:
    return storage.load_settings(data_dir=tmp_path, redis_urls=[f"{redis_server.url}?name=cache"])


def _fill_to_95_percent(redis_server: PrivateRedis) -> None:
    client = redis_server.client()
    payload = "z" * 1000
    for start in range(0, 4000, 500):
        client.mset({f"sess:{i}": payload for i in range(start, start + 500)})
    client.set("keep:me", payload)
    client.config_set("maxmemory", int(int(client.info("memory")["used_memory"]) / 0.95))


def test_rule_lifecycle_is_admin_only_validated_and_audited(
    store: storage.Store, settings: storage.Settings
) -> None:
    for actor in (OTTO, VERA):
        with pytest.raises(PermissionDenied):
            rules.create_rule(store, settings, actor, values=RULE)
    with pytest.raises(rules.RuleInvalid) as bad:
        rules.create_rule(store, settings, ADA, values={**RULE, "down_to_percent": 95})
    assert bad.value.field == "down_to_percent" or "down_to_percent" in str(bad.value)
    with pytest.raises(rules.RuleInvalid) as bad:
        rules.create_rule(store, settings, ADA, values={**RULE, "above_percent": 150})
    assert bad.value.field == "above_percent"
    with pytest.raises(rules.RuleInvalid) as bad:
        rules.create_rule(store, settings, ADA, values={**RULE, "pattern": "*"})
    assert bad.value.field == "pattern"
    with pytest.raises(rules.RuleInvalid) as bad:
        rules.create_rule(store, settings, ADA, values={**RULE, "target": "nope"})
    assert bad.value.field == "target"
    assert store.cache.rules() == []  # nothing stored by the refusals

    created = rules.create_rule(store, settings, ADA, values=RULE)
    assert not created.enabled  # off by default
    edited = rules.update_rule(store, settings, ADA, rule_id=created.id, values={**RULE, "pattern": "tmp:*"})
    assert edited.rule.pattern == "tmp:*" and edited.updated_by == "ada"
    assert rules.set_rule_enabled(store, ADA, rule_id=created.id, enabled=True).enabled
    with pytest.raises(PermissionDenied):
        rules.delete_rule(store, OTTO, rule_id=created.id)
    rules.delete_rule(store, ADA, rule_id=created.id)
    assert store.cache.rule(rule_id=created.id) is None
    with pytest.raises(LookupError):
        rules.delete_rule(store, ADA, rule_id=created.id)

    audit = audit_entries(store.engine)
    ok = audit[audit["outcome"] == "ok"]["action"].tolist()
    for action in ("cache.rule_create", "cache.rule_update", "cache.rule_enable", "cache.rule_delete"):
        assert action in ok
    denied = audit[audit["outcome"] == "denied"]
    assert set(denied["username"]) == {"otto", "vera"}
    changes = store.cache.history(target="cache", actions=["rule_change"])
    assert sorted(d["change"] for d in changes["detail"]) == ["created", "deleted", "edited", "enabled"]


def test_enabled_rules_run_on_schedule_disabled_ones_only_preview(
    store: storage.Store, settings: storage.Settings, redis_server: PrivateRedis
) -> None:
    _fill_to_95_percent(redis_server)
    client = redis_server.client()
    stored = rules.create_rule(store, settings, ADA, values=RULE)

    preview = rules.preview_rule(store, settings, VERA, rule_id=stored.id)
    assert preview["triggered"] and preview["candidates"] > 0 and preview["removed"] == 0
    assert cache_jobs.run_eviction_rules(store, settings) == []  # disabled: not evaluated
    assert client.dbsize() == 4001

    rules.set_rule_enabled(store, ADA, rule_id=stored.id, enabled=True)
    specs = cache_jobs.job_specs(settings)
    assert [spec.name for spec in specs] == ["vitals.cache_eviction_rules"]
    (report,) = cache_jobs.run_eviction_rules(store, settings)
    assert report["rule_id"] == stored.id and report["removed"] > 0
    assert report["memory_percent_after"] <= 60
    assert client.exists("keep:me")
    after = store.cache.rule(rule_id=stored.id)
    assert after is not None and after.last_run_at is not None
    assert after.last_result is not None and after.last_result["removed"] == report["removed"]
    runs = store.cache.history(target="cache", actions=["eviction_rule"])
    assert int(runs.iloc[0]["keys_affected"]) == report["removed"]
