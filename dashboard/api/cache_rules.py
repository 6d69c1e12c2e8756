"""Cache eviction rules over REST: list, create, edit, switch on/off, delete (admin) and preview (anyone
signed in; it removes nothing). Each call goes through ``tasks.actions.cache_rules`` (role check,
audit, Cache history), exactly as the Cache page's rule editor does."""

from __future__ import annotations

from typing import Any

import flask
from pydantic import BaseModel, Field, StrictBool

from dashboard.api.cache import TAGS, _call
from dashboard.api.core import BadParameter, Query, api, responses, spec, validated
from dashboard.services import current_actor, live_settings, services
from storage.cache_rules import StoredRule
from tasks.actions import cache_rules as actions

__all__ = [
    "eviction_rule_create",
    "eviction_rule_delete",
    "eviction_rule_preview",
    "eviction_rule_update",
    "eviction_rules",
]


@api.errorhandler(actions.RuleInvalid)
def _bad_rule(exc: actions.RuleInvalid) -> tuple[flask.Response, int]:
    return flask.jsonify(error=str(exc), parameter=exc.field), 400


class RulesQuery(Query):
    target: str | None = Field(None, min_length=1, description="one Redis target's rules; default all")


class RuleBody(Query):
    # The same limits as storage.settings.CacheEvictionRule (which the action checks again, with the
    # rules between fields: down_to below above, a pattern that is not all `*`, a known target).
    target: str = Field(min_length=1, description="a configured Redis target's name")
    pattern: str = Field(min_length=1, description="SCAN glob of the keys the rule may remove (not `*`)")
    db: int = Field(0, ge=0, le=1023, description="database number")
    above_percent: float = Field(
        90.0, gt=0, le=100, description="act when memory use passes this % of maxmemory"
    )
    down_to_percent: float = Field(
        75.0, ge=0, lt=100, description="remove keys until memory use is at this %"
    )
    max_keys: int = Field(10_000, ge=1, description="keys removed per run at most")
    enabled: StrictBool | None = Field(
        None, description="create: default false (off until switched on); edit: unchanged when left out"
    )


class RuleOut(BaseModel):
    id: int
    target: str
    db: int
    pattern: str
    above_percent: float
    down_to_percent: float
    max_keys: int
    enabled: bool
    created_by: str | None
    updated_by: str | None
    created_at: str
    updated_at: str
    last_run_at: str | None = None
    last_result: dict[str, Any] | None = None


class RulesOut(BaseModel):
    rules: list[RuleOut]


class PreviewOut(BaseModel):
    triggered: bool = Field(description="whether memory use is past the rule's threshold now")
    reason: str | None = None
    candidates: int | None = Field(None, description="keys the rule would remove, least recently used first")
    sample: list[Any] | None = None

    model_config = {"extra": "allow"}


def _rule(stored: StoredRule) -> dict[str, Any]:
    return {**stored.as_dict(), "last_result": stored.last_result}


def _values(body: RuleBody) -> dict[str, Any]:
    return body.model_dump(exclude={"enabled"})


def _not_found(call: Any) -> Any:
    """Run an action on one rule; an unknown rule is a 404 (the role is checked before the lookup,
    so a viewer learns nothing of rule ids)."""
    try:
        return _call("rule_id", call)
    except LookupError as exc:
        raise BadParameter("rule_id", str(exc).replace("rule:", "rule_id:", 1), status=404) from None


@api.get("/cache/eviction-rules")
@spec.validate(query=RulesQuery, resp=responses(RulesOut), tags=TAGS)
def eviction_rules() -> flask.Response:
    """The stored eviction rules, on and off."""
    q = validated(RulesQuery)
    return flask.jsonify(rules=[_rule(stored) for stored in services().store.cache.rules(target=q.target)])


@api.post("/cache/eviction-rules")
@spec.validate(json=RuleBody, resp=responses(None, HTTP_201=RuleOut), tags=TAGS)
def eviction_rule_create() -> tuple[flask.Response, int]:
    """Store a new rule (admin); off unless `enabled` is true."""
    body = validated(RuleBody, "json")
    stored = actions.create_rule(
        services().store, live_settings(), current_actor(), values=_values(body), enabled=bool(body.enabled)
    )
    return flask.jsonify(_rule(stored)), 201


@api.put("/cache/eviction-rules/<int:rule_id>")
@spec.validate(json=RuleBody, resp=responses(RuleOut, 404), tags=TAGS)
def eviction_rule_update(rule_id: int) -> flask.Response:
    """Replace a rule's definition (admin); `enabled` switches it on or off as well."""
    body = validated(RuleBody, "json")
    store, actor = services().store, current_actor()
    stored = _not_found(
        lambda: actions.update_rule(store, live_settings(), actor, rule_id=rule_id, values=_values(body))
    )
    if body.enabled is not None and body.enabled != stored.enabled:
        stored = actions.set_rule_enabled(store, actor, rule_id=rule_id, enabled=body.enabled)
    return flask.jsonify(_rule(stored))


@api.delete("/cache/eviction-rules/<int:rule_id>")
@spec.validate(resp=responses(RuleOut, 404), tags=TAGS)
def eviction_rule_delete(rule_id: int) -> flask.Response:
    """Remove a rule (admin); answers with the rule as it was."""
    gone = _not_found(lambda: actions.delete_rule(services().store, current_actor(), rule_id=rule_id))
    return flask.jsonify(_rule(gone))


@api.post("/cache/eviction-rules/<int:rule_id>/preview")
@spec.validate(resp=responses(PreviewOut, 404, 503), tags=TAGS)
def eviction_rule_preview(rule_id: int) -> flask.Response:
    """What the rule would remove now, against the live server; removes nothing (any signed-in user)."""
    report = _not_found(
        lambda: actions.preview_rule(services().store, live_settings(), current_actor(), rule_id=rule_id)
    )
    return flask.jsonify(report)
