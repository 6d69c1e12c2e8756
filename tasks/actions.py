"""Control actions. Each checks the caller's role on the server and lands in the audit log.

Pages call these; they never decide permissions themselves, so posting a callback by hand
gets exactly the same answer as clicking the button.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage import Store
from storage.audit import record_audit
from storage.users import Role, User, UserError, create_user
from tasks.scheduler import EmbeddedScheduler

__all__ = ["Actor", "PermissionDenied", "add_user", "collect_now"]


class PermissionDenied(Exception):
    """The actor's role does not allow the action."""


@dataclass(frozen=True)
class Actor:
    username: str
    role: Role


def _require(store: Store, actor: Actor | None, needed: Role, action: str, target: str | None) -> Actor:
    if actor is None or not actor.role.allows(needed):
        who = actor.username if actor else None
        record_audit(store.engine, who, action, target, outcome="denied")
        role = actor.role.value if actor else "anonymous"
        raise PermissionDenied(f"{action} needs the {needed.value} role; you are {role}")
    return actor


def collect_now(store: Store, scheduler: EmbeddedScheduler | None, actor: Actor | None) -> str:
    """Run host collection immediately (operator)."""
    actor = _require(store, actor, Role.OPERATOR, "collect_now", "vitals.collect_system")
    if scheduler is None:
        record_audit(store.engine, actor.username, "collect_now", "vitals.collect_system", outcome="error")
        raise RuntimeError("collection runs on Celery workers here; nothing to run in this process")
    try:
        scheduler.run_now("vitals.collect_system")
    except Exception as exc:
        record_audit(
            store.engine,
            actor.username,
            "collect_now",
            "vitals.collect_system",
            after={"error": str(exc)},
            outcome="error",
        )
        raise
    record_audit(store.engine, actor.username, "collect_now", "vitals.collect_system")
    return "Collected this host's metrics."


def add_user(store: Store, actor: Actor | None, username: str, password: str, role: str) -> User:
    """Create a user (admin). The password is never written to the audit log."""
    actor = _require(store, actor, Role.ADMIN, "create_user", username)
    try:
        user = create_user(store.engine, username, password, role)
    except UserError as exc:
        record_audit(
            store.engine, actor.username, "create_user", username, after={"error": str(exc)}, outcome="error"
        )
        raise
    record_audit(store.engine, actor.username, "create_user", username, after={"role": user.role.value})
    return user
