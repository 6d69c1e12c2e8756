"""User actions: create users. Passwords never reach the audit log."""

from __future__ import annotations

from storage import Store
from storage.users import Role, User, create_user
from tasks.actions.gate import Actor, audited

__all__ = ["add_user"]


def add_user(store: Store, actor: Actor | None, username: str, password: str, role: str) -> User:
    """Create a user (admin)."""
    with audited(store, actor, Role.ADMIN, "create_user", username) as after:
        user = create_user(store.engine, username, password, role)
        after["role"] = user.role.value
    return user
