"""Users and roles. Passwords are stored as argon2id hashes (argon2-cffi's ``PasswordHasher`` with its
current defaults, above OWASP's minimum). Hashes from before argon2 (salted scrypt at N=2^14, below that
minimum) still verify, and are replaced by an argon2 hash at the next successful login.

A new password follows NIST SP 800-63B's advice: at least 8 characters, not the username, and not one of
the most common passwords (``common_passwords.txt`` shipped beside this module); no composition rules.
Every change to a user's password, role or enabled state raises its ``session_epoch``, which ends the
sessions made before it (the web tier compares the epoch on each request).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from importlib.resources import files
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, Row, func, select, update
from sqlalchemy.exc import IntegrityError

from storage.audit import record_audit
from storage.engine import write_transaction
from storage.schema import users
from storage.timeparse import utc_now

__all__ = [
    "Role",
    "User",
    "UserError",
    "authenticate",
    "check_password_policy",
    "check_user_password",
    "count_users",
    "create_user",
    "ensure_first_admin",
    "get_user",
    "get_user_by_id",
    "hash_password",
    "list_users",
    "needs_rehash",
    "set_active",
    "set_password",
    "set_role",
    "validate_new_user",
    "validate_username",
    "verify_password",
]

_HASHER = PasswordHasher()
_LEGACY_SCRYPT_R, _LEGACY_SCRYPT_P = 8, 1
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes any length; this only bounds the work one request can ask for
# Lower-case letters, digits and . _ @ - (so e-mail addresses work), starting with a letter or digit:
# nothing that needs quoting in a shell, a log line or a URL.
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
# Verified against when the username is unknown, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


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
    session_epoch: int = 0
    password_changed_at: datetime | None = None


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
        session_epoch=int(row.session_epoch or 0),  # type: ignore[attr-defined]
        password_changed_at=row.password_changed_at,  # type: ignore[attr-defined]
    )


def validate_username(username: str) -> str:
    """The normalized username, or a UserError saying what is allowed."""
    username = _normal(username)
    if not username or len(username) > 64:
        raise UserError("username: 1 to 64 characters")
    if not _USERNAME.fullmatch(username):
        raise UserError("username: letters, digits and . _ @ - only, starting with a letter or digit")
    return username


@cache
def _common_passwords() -> frozenset[str]:
    text = files("storage").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line and not line.startswith("#"))


def check_password_policy(password: str, username: str) -> None:
    """Raise a UserError (``password: ...``) when ``password`` may not be used by ``username``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"password: at most {MAX_PASSWORD_LENGTH} characters")
    folded = password.strip().lower()
    if folded == _normal(username) or folded == _normal(username).split("@")[0]:
        raise UserError("password: must not be the username")
    if folded in _common_passwords():
        raise UserError("password: this is one of the most common passwords; choose another")


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UserError(f"role: one of {', '.join(r.value for r in Role)}") from None


def validate_new_user(username: str, password: str, role: Role | str) -> tuple[str, Role]:
    """The normalized username and role, or a UserError naming the field that is wrong."""
    username = validate_username(username)
    check_password_policy(password, username)
    return username, _role(role)


def create_user(engine: Engine, username: str, password: str, role: Role | str) -> User:
    username, role = validate_new_user(username, password, role)
    now = utc_now().replace(tzinfo=None)
    row = {
        "username": username,
        "password_hash": hash_password(password),
        "role": role.value,
        "active": True,
        "created_at": now,
        "password_changed_at": now,
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
        # An unknown user costs one hash check too, so response times do not reveal which names exist.
        matches = verify_password(password, row.password_hash if row is not None else _DUMMY_HASH)
        if row is None or not row.active or not matches:
            return None
        changes: dict[str, object] = {"last_login_at": utc_now().replace(tzinfo=None)}
        if needs_rehash(row.password_hash):  # an old scrypt hash upgrades at the first login
            changes["password_hash"] = hash_password(password)
        conn.execute(update(users).where(users.c.id == row.id).values(**changes))
    return _row_to_user(row)


def check_user_password(engine: Engine, username: str, password: str) -> bool:
    """Whether ``password`` is this user's current one (no login is recorded)."""
    with engine.connect() as conn:
        stored = conn.execute(
            select(users.c.password_hash).where(users.c.username == _normal(username))
        ).scalar_one_or_none()
    return verify_password(password, stored if stored is not None else _DUMMY_HASH)


def _existing(conn: Connection, username: str) -> Row[Any]:
    row = conn.execute(select(users).where(users.c.username == _normal(username))).first()
    if row is None:
        raise UserError(f"username: no user named {_normal(username)!r}")
    return row


def _change(engine: Engine, username: str, **values: object) -> tuple[User, User]:
    """Apply ``values`` to the user and raise its session epoch; returns (before, after)."""
    with write_transaction(engine) as conn:
        row = _existing(conn, username)
        before = _row_to_user(row)
        if values.get("role", Role.ADMIN.value) != Role.ADMIN.value or values.get("active") is False:
            _keep_an_admin(conn, before)  # a demotion or a disabling
        conn.execute(
            update(users)
            .where(users.c.id == row.id)
            .values(session_epoch=users.c.session_epoch + 1, **values)
        )
        after = _row_to_user(conn.execute(select(users).where(users.c.id == row.id)).one())
    return before, after


def _keep_an_admin(conn: Connection, user: User) -> None:
    # Demoting or disabling the last enabled admin would leave nobody able to manage the others.
    if user.role is not Role.ADMIN or not user.active:
        return
    query = select(func.count()).select_from(users).where(users.c.role == Role.ADMIN.value, users.c.active)
    if int(conn.execute(query).scalar_one()) <= 1:
        raise UserError(f"username: {user.username} is the only enabled admin; make another admin first")


def set_password(engine: Engine, username: str, password: str) -> User:
    """Give the user a new password (policy-checked); their sessions end."""
    check_password_policy(password, username)
    _before, after = _change(
        engine,
        username,
        password_hash=hash_password(password),
        password_changed_at=utc_now().replace(tzinfo=None),
    )
    return after


def set_role(engine: Engine, username: str, role: Role | str) -> tuple[User, User]:
    """Change the user's role; their sessions end. Returns (before, after)."""
    return _change(engine, username, role=_role(role).value)


def set_active(engine: Engine, username: str, active: bool) -> tuple[User, User]:
    """Enable or disable the user (a disabled user cannot log in, nor use their tokens). Returns (before, after)."""
    return _change(engine, username, active=active)


def ensure_first_admin(engine: Engine, username: str = "admin") -> str | None:
    """On a store with no users, create an admin with a random password and return that password.

    There is never a fixed default password; the caller shows this one once.
    """
    if count_users(engine) > 0:
        return None
    password = secrets.token_urlsafe(12)
    create_user(engine, username, password, Role.ADMIN)
    record_audit(
        engine, "system", "create_user", username, after={"role": Role.ADMIN.value, "first_run": True}
    )
    return password
