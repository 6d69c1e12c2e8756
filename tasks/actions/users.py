"""User actions: create, change password, change role, disable and enable. Passwords never reach the
audit log. Each change but creation ends the user's sessions (``storage.users`` raises their epoch).

Who may do what: an admin manages everyone; anyone logged in may change their own password, but only by
giving their current one, so a session left open on someone's desk cannot be turned into a takeover.
"""

from __future__ import annotations

from storage import Store
from storage.users import (
    Role,
    User,
    UserError,
    check_user_password,
    create_user,
    set_active,
    set_password,
    set_role,
    validate_username,
)
from tasks.actions.gate import Actor, audited

__all__ = ["add_user", "change_password", "change_role", "set_user_enabled"]


def add_user(store: Store, actor: Actor | None, username: str, password: str, role: str) -> User:
    """Create a user (admin)."""
    with audited(store, actor, Role.ADMIN, "create_user", username) as after:
        user = create_user(store.engine, username, password, role)
        after["role"] = user.role.value
    return user


def change_password(
    store: Store, actor: Actor | None, username: str, new_password: str, current_password: str | None = None
) -> User:
    """Set ``username``'s password: their own (any role, with ``current_password``) or anyone's (admin).

    The CLI acts as an admin (``cli:<os user>``), so a lost password is reset on the box with no other
    admin needed.
    """
    name = validate_username(username)
    own = actor is not None and actor.username == name
    needed, action = (Role.VIEWER, "change_password") if own else (Role.ADMIN, "reset_password")
    with audited(store, actor, needed, action, name):
        if own and not check_user_password(store.engine, name, current_password or ""):
            raise UserError("current_password: that is not your current password")
        return set_password(store.engine, name, new_password)


def change_role(store: Store, actor: Actor | None, username: str, role: str) -> User:
    """Give ``username`` another role (admin); their sessions end so the new role applies at once."""
    with audited(store, actor, Role.ADMIN, "change_role", username) as after:
        before, user = set_role(store.engine, username, role)
        after.update(role=user.role.value, was=before.role.value)
    return user


def set_user_enabled(store: Store, actor: Actor | None, username: str, enabled: bool) -> User:
    """Enable or disable ``username`` (admin). A disabled user's sessions end and their tokens stop working."""
    with audited(store, actor, Role.ADMIN, "enable_user" if enabled else "disable_user", username):
        if not enabled and actor is not None and actor.username == validate_username(username):
            raise UserError("username: you cannot disable yourself")
        _before, user = set_active(store.engine, username, enabled)
    return user
