"""Secrets at rest: credentials of monitored targets, encrypted with Fernet keyed from the app secret key.

The Fernet key is derived from ``VITALS_SECRET_KEY`` (else the key generated once in the data
directory, the same file the web app signs sessions with), so every process of one installation —
web, each Celery worker, a notebook — can read what another stored, and nothing extra has to be
distributed. Rotation: set the new ``VITALS_SECRET_KEY`` and move the old one to
``VITALS_SECRET_KEY_PREVIOUS`` (comma-separated, newest first); reads accept every key, writes use the
first, and :func:`rotate_stored_secrets` re-encrypts every stored token with the new key
(``MultiFernet.rotate``), after which the previous keys can be dropped.

Every encrypted column is listed in :data:`ENCRYPTED_COLUMNS`, so :func:`check_secret_key` (run at
start-up) and rotation cover anything added later by adding it there.
"""

from __future__ import annotations

import base64
import hashlib
import secrets as random_secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Column, Engine, Table, select, update
from sqlalchemy.exc import SQLAlchemyError

from storage.engine import write_transaction
from storage.schema import monitored_targets, notification_channels
from storage.settings import Settings

__all__ = [
    "ENCRYPTED_COLUMNS",
    "SecretBox",
    "SecretError",
    "app_secret_key",
    "check_secret_key",
    "rotate_stored_secrets",
    "secret_box",
]

# Domain separation: the Fernet key is not the session-signing key itself, only derived from it.
_CONTEXT = b"vitals/secrets-at-rest/v1:"
KEY_FILE = "secret_key"


class SecretError(ValueError):
    """A stored secret cannot be read with the configured keys (the key changed without rotation)."""


def _fernet_key(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(_CONTEXT + secret.encode()).digest())


class SecretBox:
    """Encrypts and decrypts short secrets (URLs with passwords) with one or more app secret keys."""

    def __init__(self, key: str, *older: str) -> None:
        if not key:
            raise ValueError("a secret key is needed to encrypt credentials")
        self._fernet = MultiFernet([Fernet(_fernet_key(k)) for k in (key, *older) if k])

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise SecretError(
                "a stored credential cannot be decrypted with the configured secret key "
                "(was VITALS_SECRET_KEY changed? keep the old key after the new one to rotate)"
            ) from None

    def rotate(self, token: str) -> str:
        """The token re-encrypted with the first (newest) key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError):
            raise SecretError("a stored credential cannot be decrypted with any configured key") from None


def app_secret_key(settings: Settings) -> str:
    """``settings.secret_key``, else the key kept in the data directory (created once, mode 0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(random_secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def secret_box(settings: Settings, older: Sequence[str] = ()) -> SecretBox:
    """The box of this installation: its app secret key first, then ``VITALS_SECRET_KEY_PREVIOUS``
    and any ``older`` keys."""
    return SecretBox(app_secret_key(settings), *settings.secret_key_previous, *older)


# (table, primary key, Fernet-token column) of everything stored encrypted.
ENCRYPTED_COLUMNS: tuple[tuple[Table, Column[int], Column[str]], ...] = (
    (notification_channels, notification_channels.c.id, notification_channels.c.secret_enc),
    (monitored_targets, monitored_targets.c.id, monitored_targets.c.secret),
)


def _one_stored_token(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            for _table, key, column in ENCRYPTED_COLUMNS:
                found = conn.execute(
                    select(column).where(column.is_not(None)).order_by(key).limit(1)
                ).scalar()
                if found:
                    return str(found)
    except SQLAlchemyError:
        # The store is down (or not migrated yet): nothing can be checked, and the app must still start
        # so its health endpoint can say so; the first use of a secret reports a wrong key then.
        return None
    return None


def check_secret_key(engine: Engine, settings: Settings) -> None:
    """Refuse to start (one-line :class:`SecretError`) when the store holds encrypted credentials that the
    configured keys cannot read: no key at all (a new web host or worker without ``VITALS_SECRET_KEY``
    would otherwise generate a key of its own and fail on every use), or a key changed without rotation."""
    token = _one_stored_token(engine)
    if token is None:
        return
    if not settings.secret_key and not (settings.data_dir / KEY_FILE).exists():
        raise SecretError(
            "VITALS_SECRET_KEY is not set (and no key file is in the data directory) but the store holds "
            "encrypted credentials; set VITALS_SECRET_KEY to the key the other Vitals processes use"
        )
    secret_box(settings).decrypt(token)


def rotate_stored_secrets(engine: Engine, box: SecretBox) -> int:
    """Re-encrypt every stored secret with ``box``'s newest key, in one transaction; returns how many."""
    count = 0
    with write_transaction(engine) as conn:
        for table, key, column in ENCRYPTED_COLUMNS:
            rows = conn.execute(select(key, column).where(column.is_not(None))).all()
            for row_id, token in rows:
                conn.execute(update(table).where(key == row_id).values({column.name: box.rotate(token)}))
            count += len(rows)
    return count
