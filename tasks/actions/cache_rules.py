"""Eviction-rule actions of the Cache page: create, edit, enable/disable, delete (admin: a rule removes
keys on its own, like a policy change) and preview (any signed-in user: it removes nothing).

Every change is audited (``cache.rule_create`` / ``rule_update`` / ``rule_enable`` / ``rule_disable`` /
``rule_delete``, with the rule before and after) and lands in the Cache history as ``rule_change``.
Bad input raises ``RuleInvalid`` naming the field; an unknown rule or target raises LookupError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from storage import Settings, Store, cache_rules
from storage import cache as cachestore
from storage.users import Role
from tasks import cache_jobs
from tasks.actions.cache import _client
from tasks.actions.gate import Actor, audited, require

__all__ = [
    "RuleInvalid",
    "create_rule",
    "delete_rule",
    "preview_rule",
    "set_rule_enabled",
    "update_rule",
]


class RuleInvalid(ValueError):
    """A rule field is wrong; ``field`` names it (the form marks that input)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def _validated(settings: Settings, values: Mapping[str, Any]) -> Any:
    try:
        rule = cache_rules.validate_rule(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else _field_of(first["msg"])
        raise RuleInvalid(field, str(first["msg"]).removeprefix("Value error, ")) from None
    try:
        cache_jobs.target_url(settings, rule.target)
    except LookupError as exc:
        raise RuleInvalid("target", str(exc)) from None
    return rule


def _field_of(message: str) -> str:
    """The model-level checks say which field they are about first ("pattern: ...")."""
    head = message.removeprefix("Value error, ").split(" ", 1)[0].rstrip(":")
    return head if head in cache_rules.RULE_FIELDS else "pattern"


def _history(store: Store, actor: Actor, verb: str, stored: cache_rules.StoredRule) -> None:
    cachestore.record_action(
        store.engine,
        target=stored.rule.target,
        action="rule_change",
        pattern=stored.rule.pattern,
        username=actor.username,
        detail={"change": verb, "rule": stored.as_dict()},
    )


def create_rule(
    store: Store, settings: Settings, actor: Actor | None, *, values: Mapping[str, Any], enabled: bool = False
) -> cache_rules.StoredRule:
    """Store a new rule (admin); disabled unless ``enabled``."""
    require(store, actor, Role.ADMIN, "cache.rule_create", values.get("target"))
    rule = _validated(settings, values)
    with audited(store, actor, Role.ADMIN, "cache.rule_create", rule.target) as after:
        assert actor is not None
        stored = cache_rules.create_rule(store.engine, rule, enabled=enabled, by=actor.username)
        after.update(stored.as_dict())
        _history(store, actor, "created", stored)
    return stored


def update_rule(
    store: Store, settings: Settings, actor: Actor | None, *, rule_id: int, values: Mapping[str, Any]
) -> cache_rules.StoredRule:
    """Replace a rule's definition (admin); its enabled flag is kept."""
    before = _existing(store, actor, "cache.rule_update", rule_id)
    rule = _validated(settings, values)
    with audited(
        store, actor, Role.ADMIN, "cache.rule_update", rule.target, before=before.as_dict()
    ) as after:
        assert actor is not None
        stored = cache_rules.update_rule(store.engine, rule_id, rule=rule, by=actor.username)
        after.update(stored.as_dict())
        _history(store, actor, "edited", stored)
    return stored


def set_rule_enabled(
    store: Store, actor: Actor | None, *, rule_id: int, enabled: bool
) -> cache_rules.StoredRule:
    """Switch a rule on or off (admin)."""
    action = "cache.rule_enable" if enabled else "cache.rule_disable"
    before = _existing(store, actor, action, rule_id)
    with audited(store, actor, Role.ADMIN, action, before.rule.target, before=before.as_dict()) as after:
        assert actor is not None
        stored = cache_rules.update_rule(store.engine, rule_id, enabled=enabled, by=actor.username)
        after.update(stored.as_dict())
        _history(store, actor, "enabled" if enabled else "disabled", stored)
    return stored


def delete_rule(store: Store, actor: Actor | None, *, rule_id: int) -> cache_rules.StoredRule:
    """Remove a rule (admin)."""
    before = _existing(store, actor, "cache.rule_delete", rule_id)
    with audited(store, actor, Role.ADMIN, "cache.rule_delete", before.rule.target, before=before.as_dict()):
        assert actor is not None
        gone = cache_rules.delete_rule(store.engine, rule_id)
        _history(store, actor, "deleted", gone)
    return gone


def preview_rule(store: Store, settings: Settings, actor: Actor | None, *, rule_id: int) -> dict[str, Any]:
    """What a stored rule would do now, removing nothing (any signed-in user; audited)."""
    stored = _existing(store, actor, "cache.eviction_preview", rule_id, needed=Role.VIEWER)
    with audited(store, actor, Role.VIEWER, "cache.eviction_preview", stored.rule.target) as after:
        with _client(settings, stored.rule.target, stored.rule.db) as client:
            report = cache_jobs.evaluate_rule(client, stored.rule, apply=False)
        after.update(rule=rule_id, triggered=report["triggered"], candidates=report["candidates"])
    return report


def _existing(
    store: Store, actor: Actor | None, action: str, rule_id: int, needed: Role = Role.ADMIN
) -> cache_rules.StoredRule:
    require(store, actor, needed, action, None)  # the role first: a viewer learns nothing of rule ids
    found = cache_rules.get_rule(store.engine, rule_id)
    if found is None:
        raise LookupError(f"rule: no eviction rule #{rule_id}")
    return found
