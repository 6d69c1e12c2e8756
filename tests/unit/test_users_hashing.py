"""Password hashing and role ordering (no database)."""

from __future__ import annotations

import re

import pytest

from storage.users import Role, hash_password, verify_password


def test_hash_format_is_salted_scrypt() -> None:
    stored = hash_password("correct horse")
    assert re.fullmatch(r"scrypt\$16384\$[0-9a-f]{32}\$[0-9a-f]{128}", stored)
    assert "correct horse" not in stored


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
