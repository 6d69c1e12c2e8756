"""API token actions: create (the secret is returned once, never audited) and revoke."""

from __future__ import annotations

from storage import Store
from storage.tokens import ApiToken, create_token, revoke_token
from storage.users import Role
from tasks.actions.gate import Actor, audited

__all__ = ["create_api_token", "revoke_api_token"]


def create_api_token(
    store: Store, actor: Actor | None, name: str, username: str, role: str
) -> tuple[ApiToken, str]:
    """A token acting for ``username`` with at most that user's role (admin). Returns it and its secret."""
    with audited(store, actor, Role.ADMIN, "create_api_token", name) as after:
        token, secret = create_token(store.engine, name, username, role)
        after.update(token_id=token.id, username=token.username, role=token.role.value)
    return token, secret


def revoke_api_token(store: Store, actor: Actor | None, token_id: int) -> None:
    """Revoke an active token (admin); a token that does not exist or is already revoked is an error."""
    with audited(store, actor, Role.ADMIN, "revoke_api_token", str(token_id)):
        if not revoke_token(store.engine, token_id):
            raise ValueError(f"id: no active token with id {token_id}")
