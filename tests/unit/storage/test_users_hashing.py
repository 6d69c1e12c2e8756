"""Password hashing and role ordering (no database)."""

from __future__ import annotations

import hashlib
import re

import pytest

from storage.users import Role, hash_password, needs_rehash, verify_password

# A hash made by the scrypt scheme used before argon2 (N=2^14, r=8, p=1) for "s3cret-pass".
LEGACY_SALT = bytes(range(16))
LEGACY = (
    "scrypt$16384$"
    + LEGACY_SALT.hex()
    + "$"
    + hashlib.scrypt(b"s3cret-pass", salt=LEGACY_SALT, n=2**14, r=8, p=1).hex()
)


def test_hash_format_is_argon2id_with_a_salt() -> None:
    stored = hash_password("correct horse")
    assert re.fullmatch(r"\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+", stored)
    assert "correct horse" not in stored
    assert needs_rehash(stored) is False


def test_legacy_scrypt_hashes_still_verify_and_ask_to_be_rehashed() -> None:
    assert verify_password("s3cret-pass", LEGACY) is True
    assert verify_password("s3cret-pasS", LEGACY) is False
    assert needs_rehash(LEGACY) is True


def test_same_password_hashes_differently_each_time() -> None:
    first, second = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert first != second
    assert verify_password("s3cret-pass", first)
    assert verify_password("s3cret-pass", second)


@pytest.mark.parametrize("password", ["s3cret-pass", "pässwörd-ünïcode-🔑", " spaces matter "])
def test_verify_accepts_the_right_password(password: str) -> None:
    assert verify_password(password, hash_password(password)) is True


@pytest.mark.parametrize("attempt", ["s3cret-pasS", "s3cret-pass ", "", "s3cret-pas"])
def test_verify_rejects_a_wrong_password(attempt: str) -> None:
    assert verify_password(attempt, hash_password("s3cret-pass")) is False


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        "plain-text-password",
        "bcrypt$12$abcd$ef01",
        "scrypt$16384$00ff",
        "scrypt$not-a-number$00ff$00ff",
        "scrypt$16384$not-hex$00ff",
        "scrypt$1000$00ff$00ff",  # n must be a power of two
        "$argon2id$v=19$m=65536,t=3,p=4$bm90LWEtaGFzaA$bm90LWEtaGFzaA",
        "$argon2id$garbage",
    ],
)
def test_verify_treats_a_malformed_hash_as_no_match(stored: str) -> None:
    assert verify_password("anything", stored) is False


def test_roles_are_ordered_viewer_operator_admin() -> None:
    assert list(Role) == [Role.VIEWER, Role.OPERATOR, Role.ADMIN]
    assert [role.value for role in Role] == ["viewer", "operator", "admin"]
    assert Role("operator") is Role.OPERATOR


@pytest.mark.parametrize(
    ("role", "needed", "allowed"),
    [
        (Role.VIEWER, Role.VIEWER, True),
        (Role.VIEWER, Role.OPERATOR, False),
        (Role.VIEWER, Role.ADMIN, False),
        (Role.OPERATOR, Role.VIEWER, True),
        (Role.OPERATOR, Role.OPERATOR, True),
        (Role.OPERATOR, Role.ADMIN, False),
        (Role.ADMIN, Role.VIEWER, True),
        (Role.ADMIN, Role.OPERATOR, True),
        (Role.ADMIN, Role.ADMIN, True),
    ],
)
def test_role_allows_itself_and_everything_below(role: Role, needed: Role, allowed: bool) -> None:
    assert role.allows(needed) is allowed
