"""Users and roles. Passwords are stored as argon2id hashes (argon2-cffi's ``PasswordHasher`` with its
current defaults, above OWASP's minimum). Hashes from before argon2 (salted scrypt at N=2^14, below that
minimum) still verify, and are replaced by an argon2 hash at the next successful login."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from storage.engine import write_transaction
from storage.schema import users
from storage.timeparse import utc_now

__all__ = [
    "Role",
    "User",
    "UserError",
    "authenticate",
    "count_users",
    "create_user",
    "ensure_first_admin",
    "get_user",
    "get_user_by_id",
    "hash_password",
    "list_users",
    "needs_rehash",
    "validate_new_user",
    "verify_password",
]

_HASHER = PasswordHasher()
_LEGACY_SCRYPT_R, _LEGACY_SCRYPT_P = 8, 1
MIN_PASSWORD_LENGTH = 8


class Role(StrEnum):
    """Roles in increasing power: each can do everything the ones before it can."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


class UserError(ValueError):
    """A user could not be created or changed; the message says which field and why."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    active: bool
    created_at: datetime
    last_login_at: datetime | None


def _normal(username: str) -> str:
    # Case-insensitive everywhere: MySQL's collation already is, so SQLite must agree.
    return username.strip().lower()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (argon2, or a legacy scrypt hash); a corrupt stored
    hash is "no match", never an error page at login."""
    if stored.startswith("scrypt$"):
        return _verify_legacy_scrypt(password, stored)
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """A legacy scrypt hash, or argon2 with weaker parameters than today's: rehash at login."""
    if stored.startswith("scrypt$"):
        return True
    try:
        return _HASHER.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


def _verify_legacy_scrypt(password: str, stored: str) -> bool:
    try:
        _scheme, n, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=_LEGACY_SCRYPT_R, p=_LEGACY_SCRYPT_P
        )
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def _row_to_user(row: object) -> User:
    return User(
        id=row.id,  # type: ignore[attr-defined]
        username=row.username,  # type: ignore[attr-defined]
        role=Role(row.role),  # type: ignore[attr-defined]
        active=bool(row.active),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        last_login_at=row.last_login_at,  # type: ignore[attr-defined]
    )


def validate_new_user(username: str, password: str, role: Role | str) -> tuple[str, Role]:
    """The normalized username and role, or a UserError naming the field that is wrong."""
    username = _normal(username)
    if not username or len(username) > 64:
        raise UserError("username: 1 to 64 characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    try:
        return username, Role(role)
    except ValueError:
        raise UserError(f"role: one of {', '.join(r.value for r in Role)}") from None


def create_user(engine: Engine, username: str, password: str, role: Role | str) -> User:
    username, role = validate_new_user(username, password, role)
    row = {
        "username": username,
        "password_hash": hash_password(password),
        "role": role.value,
        "active": True,
        "created_at": utc_now().replace(tzinfo=None),
    }
    try:
        with write_transaction(engine) as conn:
            conn.execute(users.insert(), row)
    except IntegrityError:
        raise UserError(f"username: {username!r} already exists") from None
    user = get_user(engine, username)
    assert user is not None
    return user


def get_user(engine: Engine, username: str) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == _normal(username))).first()
    return _row_to_user(row) if row else None


def get_user_by_id(engine: Engine, user_id: int) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return _row_to_user(row) if row else None


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        return [_row_to_user(row) for row in conn.execute(select(users).order_by(users.c.username))]


def count_users(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(users)).scalar_one())


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The active user with these credentials (and records the login), or None."""
    with write_transaction(engine) as conn:
        row = conn.execute(select(users).where(users.c.username == _normal(username))).first()
        if row is None or not row.active or not verify_password(password, row.password_hash):
            return None
        changes: dict[str, object] = {"last_login_at": utc_now().replace(tzinfo=None)}
        if needs_rehash(row.password_hash):  # an old scrypt hash upgrades at the first login
            changes["password_hash"] = hash_password(password)
        conn.execute(update(users).where(users.c.id == row.id).values(**changes))
    return _row_to_user(row)


def ensure_first_admin(engine: Engine, username: str = "admin") -> str | None:
    """On a store with no users, create an admin with a random password and return that password.

    There is never a fixed default password; the caller shows this one once.
    """
    if count_users(engine) > 0:
        return None
    password = secrets.token_urlsafe(12)
    create_user(engine, username, password, Role.ADMIN)
    return password
