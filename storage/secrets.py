"""Secrets at rest: credentials of monitored targets, encrypted with Fernet keyed from the app secret key.

The Fernet key is derived from ``VITALS_SECRET_KEY`` (else the key generated once in the data
directory, the same file the web app signs sessions with), so every process of one installation —
web, each Celery worker, a notebook — can read what another stored, and nothing extra has to be
distributed. Rotation: put the new key first and the old ones after it (``SecretBox(new, old)``);
reads accept every key, writes use the first, and :meth:`SecretBox.rotate` re-encrypts a token
with the first key (``MultiFernet.rotate``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets as random_secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from storage.settings import Settings

__all__ = ["SecretBox", "SecretError", "app_secret_key", "secret_box"]

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
    """The box of this installation: its app secret key first, then any ``older`` keys."""
    return SecretBox(app_secret_key(settings), *older)
