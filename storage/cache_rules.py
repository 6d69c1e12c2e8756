"""The Cache page's eviction rules, stored so they are edited without a restart.

A rule's fields are validated by the same model the environment form uses
(``storage.settings.CacheEvictionRule``), so a stored rule and a ``VITALS_CACHE_EVICTION_RULES`` one
obey the same limits (percentages in range, ``down_to`` below ``above``, no match-everything pattern).
New rules start disabled: the issue's "off by default".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, select, update

from storage.engine import write_transaction
from storage.schema import cache_eviction_rules
from storage.settings import CacheEvictionRule
from storage.timeparse import utc_now

__all__ = [
    "RULE_FIELDS",
    "StoredRule",
    "create_rule",
    "delete_rule",
    "get_rule",
    "list_rules",
    "mark_rule_run",
    "update_rule",
    "validate_rule",
]

RULE_FIELDS = ("target", "db", "pattern", "above_percent", "down_to_percent", "max_keys")


@dataclass(frozen=True)
class StoredRule:
    """One stored rule; ``rule`` is its validated definition (what the evaluator runs)."""

    id: int
    rule: CacheEvictionRule
    enabled: bool
    created_by: str | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime
    last_run_at: datetime | None
    last_result: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.rule.model_dump(),
            "enabled": self.enabled,
            "created_by": self.created_by,
            "updated_by": self.updated_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
        }


def _stored(row: Any) -> StoredRule:
    return StoredRule(
        id=int(row.id),
        rule=CacheEvictionRule(**{name: getattr(row, name) for name in RULE_FIELDS}),
        enabled=bool(row.enabled),
        created_by=row.created_by,
        updated_by=row.updated_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_run_at=row.last_run_at,
        last_result=row.last_result,
    )


def validate_rule(values: Mapping[str, Any]) -> CacheEvictionRule:
    """The rule these form values make; pydantic's ValidationError names each bad field."""
    return CacheEvictionRule(**{name: values[name] for name in RULE_FIELDS if name in values})


def list_rules(engine: Engine, target: str | None = None, *, enabled_only: bool = False) -> list[StoredRule]:
    """Stored rules, oldest first (optionally of one target, or only the enabled ones)."""
    query = select(cache_eviction_rules).order_by(cache_eviction_rules.c.id)
    if target is not None:
        query = query.where(cache_eviction_rules.c.target == target)
    if enabled_only:
        query = query.where(cache_eviction_rules.c.enabled.is_(True))
    with engine.connect() as conn:
        return [_stored(row) for row in conn.execute(query)]


def get_rule(engine: Engine, rule_id: int) -> StoredRule | None:
    with engine.connect() as conn:
        row = conn.execute(select(cache_eviction_rules).where(cache_eviction_rules.c.id == rule_id)).first()
    return _stored(row) if row is not None else None


def create_rule(
    engine: Engine, rule: CacheEvictionRule, *, enabled: bool = False, by: str | None
) -> StoredRule:
    now = utc_now().replace(tzinfo=None)
    with write_transaction(engine) as conn:
        result = conn.execute(
            cache_eviction_rules.insert(),
            {
                **rule.model_dump(),
                "enabled": enabled,
                "created_by": by,
                "updated_by": by,
                "created_at": now,
                "updated_at": now,
            },
        )
        rule_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    found = get_rule(engine, rule_id)
    assert found is not None
    return found


def update_rule(
    engine: Engine,
    rule_id: int,
    *,
    rule: CacheEvictionRule | None = None,
    enabled: bool | None = None,
    by: str | None,
) -> StoredRule:
    """Change a rule's definition and/or its enabled flag; LookupError when there is no such rule."""
    values: dict[str, Any] = {"updated_by": by, "updated_at": utc_now().replace(tzinfo=None)}
    if rule is not None:
        values.update(rule.model_dump())
    if enabled is not None:
        values["enabled"] = enabled
    with write_transaction(engine) as conn:
        changed = conn.execute(
            update(cache_eviction_rules).where(cache_eviction_rules.c.id == rule_id).values(**values)
        ).rowcount
    found = get_rule(engine, rule_id)
    if not changed or found is None:
        raise LookupError(f"rule: no eviction rule #{rule_id}")
    return found


def delete_rule(engine: Engine, rule_id: int) -> StoredRule:
    """Remove a rule; returns what it was (for the audit); LookupError when there is none."""
    found = get_rule(engine, rule_id)
    if found is None:
        raise LookupError(f"rule: no eviction rule #{rule_id}")
    with write_transaction(engine) as conn:
        conn.execute(delete(cache_eviction_rules).where(cache_eviction_rules.c.id == rule_id))
    return found


def mark_rule_run(engine: Engine, rule_id: int, result: Mapping[str, Any]) -> None:
    """Remember a scheduled run's report on the rule (the history has every run that acted)."""
    with write_transaction(engine) as conn:
        conn.execute(
            update(cache_eviction_rules)
            .where(cache_eviction_rules.c.id == rule_id)
            .values(last_run_at=utc_now().replace(tzinfo=None), last_result=dict(result))
        )
