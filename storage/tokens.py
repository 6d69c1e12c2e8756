"""API tokens for scripts and scrapers: ``Authorization: Bearer <token>``.

A token is shown once, when it is created; the store keeps only its SHA-256, so a leaked database
does not leak working tokens. A token acts for a user with a role no higher than that user's.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from storage.engine import write_transaction
from storage.schema import api_tokens, users
from storage.timeparse import utc_now
from storage.users import Role, UserError, get_user

__all__ = ["TOKEN_PREFIX", "ApiToken", "create_token", "list_tokens", "revoke_token", "verify_token"]

TOKEN_PREFIX = "vt_"  # recognisable in logs and by secret scanners
# last_used_at is refreshed at most this often, so busy scrapers do not turn every read into a write.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    username: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _row_to_token(row: object) -> ApiToken:
    return ApiToken(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        username=row.username,  # type: ignore[attr-defined]
        role=Role(row.role),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        last_used_at=row.last_used_at,  # type: ignore[attr-defined]
        revoked_at=row.revoked_at,  # type: ignore[attr-defined]
    )


def create_token(
    engine: Engine, name: str, username: str, role: Role | str = Role.VIEWER
) -> tuple[ApiToken, str]:
    """A new token for ``username``; returns its record and the token itself (shown only now)."""
    name = name.strip()
    if not name or len(name) > 191:
        raise UserError("name: 1 to 191 characters")
    try:
        role = Role(role)
    except ValueError:
        raise UserError(f"role: one of {', '.join(r.value for r in Role)}") from None
    user = get_user(engine, username.strip())
    if user is None or not user.active:
        raise UserError(f"user: no active user named {username!r}")
    if not user.role.allows(role):
        raise UserError(f"role: {user.username} is {user.role.value}, so a token cannot be {role.value}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created_at = utc_now().replace(tzinfo=None)
    row = {
        "name": name,
        "token_hash": _hash(token),
        "username": user.username,
        "role": role.value,
        "created_at": created_at,
    }
    with write_transaction(engine) as conn:
        token_id = conn.execute(api_tokens.insert(), row).inserted_primary_key[0]  # type: ignore[index]
    return ApiToken(int(token_id), name, user.username, role, created_at, None, None), token


def verify_token(engine: Engine, token: str) -> ApiToken | None:
    """The token's record if it is known, not revoked and its user still active; else None.

    Its role is capped at the user's current role.
    """
    if not token.startswith(TOKEN_PREFIX):
        return None
    query = (
        select(api_tokens, users.c.role.label("user_role"))
        .join(users, users.c.username == api_tokens.c.username)
        .where(api_tokens.c.token_hash == _hash(token), api_tokens.c.revoked_at.is_(None), users.c.active)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    found = _row_to_token(row)
    if not Role(row.user_role).allows(found.role):  # the user was demoted since: so is the token
        found = replace(found, role=Role(row.user_role))
    now = utc_now().replace(tzinfo=None)
    if found.last_used_at is None or now - found.last_used_at >= _TOUCH_EVERY:
        with write_transaction(engine) as conn:
            conn.execute(update(api_tokens).where(api_tokens.c.id == found.id).values(last_used_at=now))
    return found


def list_tokens(engine: Engine, include_revoked: bool = True) -> list[ApiToken]:
    query = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id)
    if not include_revoked:
        query = query.where(api_tokens.c.revoked_at.is_(None))
    with engine.connect() as conn:
        return [_row_to_token(row) for row in conn.execute(query)]


def revoke_token(engine: Engine, token_id: int) -> bool:
    """Revoke a token; False when there is no such active token."""
    with write_transaction(engine) as conn:
        result = conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utc_now().replace(tzinfo=None))
        )
    return bool(result.rowcount)
