"""Secret masking at ingestion: values that look like credentials never reach the store.

The rules (listed in the README's logs part as well):

1. ``Authorization`` / ``Proxy-Authorization`` headers: the value after the scheme -> ``***``
   (``Authorization: Bearer ***``).
2. ``Bearer <token>`` anywhere -> ``Bearer ***``.
3. ``key=value``, ``key: value`` and ``"key": "value"`` where the key names a secret (password, passwd,
   pwd, secret, token, api_key/apikey/api-key, access_key, private_key, client_secret, auth, session
   id, cookie, credential) -> the value becomes ``***``.
4. Credentials in URLs: ``scheme://user:password@host`` -> ``scheme://user:***@host`` (also with no
   user, ``redis://:password@host``).
5. Well-known token shapes: JWTs (``eyJ...``), AWS access key ids (``AKIA...``), GitHub tokens
   (``ghp_...``), Slack tokens (``xox?-...``) -> ``***``.
6. Card numbers: 13-19 digits (spaces or dashes allowed) that pass the Luhn check -> all digits but
   the last four become ``*``.

Structured context fields are masked too: a field whose key names a secret gets ``***``; string
values go through the same text rules. A cheap pre-check skips the rules for the (usual) line that
contains none of their triggers, so the ingest path stays fast.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MASK", "mask_context", "mask_text"]

MASK = "***"

_SECRET_KEY = (
    r"(?:passw(?:or)?d|pwd|secret|client[_-]?secret|(?:auth|access|refresh|api|bearer|csrf)[_-]?token|token"
    r"|api[_-]?key|apikey|access[_-]?key|private[_-]?key|secret[_-]?key|session[_-]?id|sessionid"
    r"|cookie|credentials?|auth)"
)
_SECRET_KEY_NAME = re.compile(rf"(?i)^[\w.-]*{_SECRET_KEY}$")

# Anything that could start a rule: one search decides whether the slower rules run at all.
_TRIGGER = re.compile(
    rf"(?i)authorization|bearer|{_SECRET_KEY}|://[^/\s:@]*:[^/\s@]+@|eyJ|AKIA|gh[pousr]_|xox[abprs]-|\d{{4}}[ -]?\d{{4}}[ -]?\d{{4}}[ -]?\d"
)
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic|digest|token|negotiate)\s+)?"
    r"([^\s\"',;]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9\-._~+/]+=*)")
_KEY_VALUE = re.compile(
    rf"(?i)((?<![\w-])[\"']?[\w.-]*{_SECRET_KEY}[\"']?\s*(?:=|:)\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&}})\]]+)"
)
# The user may be empty: ``redis://:password@host`` is how Redis URLs carry a password.
_URL_CREDENTIALS = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^/\s:@]*:)([^/\s@]+)(@)")
_TOKEN_SHAPES = re.compile(
    r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]{5,}\b|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}\b"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}\b"
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _mask_card(found: re.Match[str]) -> str:
    text = found.group(0)
    digits = "".join(ch for ch in text if ch.isdigit())
    if not _luhn(digits):
        return text
    keep = 4
    out = []
    for char in reversed(text):
        if char.isdigit():
            out.append(char if keep > 0 else "*")
            keep -= 1
        else:
            out.append(char)
    return "".join(reversed(out))


def _mask_auth(found: re.Match[str]) -> str:
    prefix, scheme, _value = found.groups()
    return f"{prefix}{scheme + ' ' if scheme else ''}{MASK}"


def _mask_pair(found: re.Match[str]) -> str:
    prefix, value = found.groups()
    if value[:1] in "\"'":
        return f"{prefix}{value[0]}{MASK}{value[0]}"
    return prefix + MASK


def mask_text(text: str) -> str:
    """``text`` with every secret-looking value replaced (rules in the module docstring)."""
    if not text or _TRIGGER.search(text) is None:
        return text
    text = _AUTH_HEADER.sub(_mask_auth, text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK if m.group(2) != MASK else m.group(0), text)
    text = _KEY_VALUE.sub(_mask_pair, text)
    text = _URL_CREDENTIALS.sub(rf"\1{MASK}\3", text)
    text = _TOKEN_SHAPES.sub(MASK, text)
    return _CARD.sub(_mask_card, text)


def mask_context(context: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy of structured fields with secret-named keys and secret-looking strings masked."""
    if not context:
        return context
    masked: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(key, str) and _SECRET_KEY_NAME.match(key) and value not in (None, ""):
            masked[key] = MASK
        elif isinstance(value, str):
            masked[key] = mask_text(value)
        elif isinstance(value, dict):
            masked[key] = mask_context(value)
        elif isinstance(value, list):
            masked[key] = [mask_text(item) if isinstance(item, str) else item for item in value]
        else:
            masked[key] = value
    return masked
