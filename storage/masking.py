"""The one place secrets are taken out of what people see: URLs (passwords and secret-looking query
parameters) and free text that may contain them. Pure functions with no dependencies, so every layer
uses these (collectors included; see the import contracts in pyproject.toml)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "mask_url", "mask_urls_in_text", "redact", "url_secrets"]

MASK = "***"
SECRET_PARAMS = frozenset(
    {"password", "passwd", "pass", "pwd", "token", "secret", "key", "api_key", "apikey", "access_token"}
)
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def mask_url(url: str) -> str:
    """``url`` with its password and secret-looking query parameters as ``***`` (the rest unchanged);
    a string that is not a URL comes back as it is."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{hostport}"
    pairs = [(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(pairs, safe="*"), parts.fragment))


def mask_urls_in_text(text: str) -> str:
    """``scheme://user:secret@host`` anywhere in ``text`` -> ``scheme://user:***@host`` (error messages)."""
    return _PASSWORD_IN_URL.sub(rf"\1{MASK}@", text)


def url_secrets(url: str) -> tuple[str, ...]:
    """The passwords and tokens in a URL (userinfo and secret-looking query parameters), longest first."""
    parts = urlsplit(url)
    found = [parts.password, unquote(parts.password or "")]
    found += [value for name, value in parse_qsl(parts.query) if name.lower() in SECRET_PARAMS]
    return tuple(sorted({secret for secret in found if secret}, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (a driver may echo what it was given)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
