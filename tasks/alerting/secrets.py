"""Channel secrets: encrypted with the installation's secret box (``storage.secrets``, keyed from the
application's secret key), plus the webhook signing secrets shown to the user once."""

from __future__ import annotations

import secrets as _random

from storage.secrets import SecretBox, secret_box

__all__ = ["SecretBox", "new_signing_secret", "secret_box"]


def new_signing_secret() -> str:
    """A webhook signing secret: shown to the user once, stored encrypted."""
    return "whsec_" + _random.token_urlsafe(32)
