"""Managing users: the password policy, username rules, audited actions with their role checks, the
last-admin guard, and ``vitals users list|passwd|role|disable|enable`` (SQLite and MariaDB)."""

from __future__ import annotations

import io
import logging

import pytest
from sqlalchemy import select

import app
import storage
from storage.audit import audit_entries
from storage.schema import users
from storage.tokens import create_token, verify_token
from storage.users import (
    Role,
    UserError,
    authenticate,
    check_password_policy,
    create_user,
    ensure_first_admin,
    get_user,
)
from tasks.actions import Actor, PermissionDenied
from tasks.actions.users import change_password, change_role, set_user_enabled
from tasks.quiet_logs import RepeatLimiter

PASSWORD = "correct-horse-battery"
ADA = Actor("ada", Role.ADMIN)
VERA = Actor("vera", Role.VIEWER)


@pytest.fixture
def people(store: storage.Store) -> storage.Store:
    create_user(store.engine, "ada", PASSWORD, "admin")
    create_user(store.engine, "vera", PASSWORD, "viewer")
    return store


def _audit(store: storage.Store) -> list[tuple[str, str, str, str]]:
    rows = audit_entries(store.engine).iloc[::-1]
    return [(r.username, r.action, r.target, r.outcome) for r in rows.itertuples()]


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 8 characters"),
        ("password1", "one of the most common passwords"),
        ("Iloveyou1", "one of the most common passwords"),  # case does not help
        ("Margaret.Hamilton", "must not be the username"),
        ("x" * 1025, "at most 1024 characters"),
    ],
)
def test_the_password_policy_names_the_field_and_the_reason(password: str, reason: str) -> None:
    with pytest.raises(UserError, match=f"^password: .*{reason}"):
        check_password_policy(password, "margaret.hamilton")


def test_the_shipped_common_password_list_is_large_and_used() -> None:
    from importlib.resources import files

    lines = files("storage").joinpath("common_passwords.txt").read_text().splitlines()
    entries = [line for line in lines if line and not line.startswith("#")]
    assert len(entries) >= 4000 and "qwertyuiop" in entries
    check_password_policy("a-long-and-unusual-phrase", "ada")  # an ordinary good password passes


def test_usernames_are_limited_to_a_sane_character_set(store: storage.Store) -> None:
    for username in ("bob smith", "bob;rm", "<b>", "bob/..", "-bob", "bøb"):
        with pytest.raises(UserError, match=r"^username: letters, digits"):
            create_user(store.engine, username, PASSWORD, "viewer")
    assert (
        create_user(store.engine, "Grace.Hopper@navy-1_x", PASSWORD, "viewer").username
        == "grace.hopper@navy-1_x"
    )


def test_own_password_needs_the_current_one_and_ends_other_sessions(people: storage.Store) -> None:
    epoch = get_user(people.engine, "vera").session_epoch  # type: ignore[union-attr]
    with pytest.raises(UserError, match=r"^current_password: "):
        change_password(people, VERA, "vera", "vera-second-secret", current_password="not-it-at-all")
    user = change_password(people, VERA, "vera", "vera-second-secret", current_password=PASSWORD)
    assert user.session_epoch == epoch + 1 and user.password_changed_at is not None
    assert authenticate(people.engine, "vera", "vera-second-secret") is not None
    assert authenticate(people.engine, "vera", PASSWORD) is None
    assert _audit(people)[-2:] == [
        ("vera", "change_password", "vera", "error"),
        ("vera", "change_password", "vera", "ok"),
    ]
    with people.engine.connect() as conn:
        audited = str(conn.execute(select(users.c.password_hash)).all()) + str(
            audit_entries(people.engine).to_dict()
        )
    assert "vera-second-secret" not in audited


def test_only_an_admin_resets_changes_or_disables_someone_else(people: storage.Store) -> None:
    for attempt in (
        lambda: change_password(people, VERA, "ada", "taken-over-admin"),
        lambda: change_role(people, VERA, "vera", "admin"),
        lambda: set_user_enabled(people, VERA, "ada", enabled=False),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    assert [entry[1:] for entry in _audit(people)] == [
        ("reset_password", "ada", "denied"),
        ("change_role", "vera", "denied"),
        ("disable_user", "ada", "denied"),
    ]
    assert get_user(people.engine, "vera").role is Role.VIEWER  # type: ignore[union-attr]
    change_password(people, ADA, "vera", "reset-by-the-admin")  # no current password for a reset
    assert authenticate(people.engine, "vera", "reset-by-the-admin") is not None
    assert change_role(people, ADA, "vera", "operator").role is Role.OPERATOR
    assert _audit(people)[-1] == ("ada", "change_role", "vera", "ok")


def test_a_disabled_user_cannot_log_in_nor_use_tokens_until_enabled(people: storage.Store) -> None:
    _record, secret = create_token(people.engine, "scraper", "vera")
    assert verify_token(people.engine, secret) is not None
    assert set_user_enabled(people, ADA, "vera", enabled=False).active is False
    assert authenticate(people.engine, "vera", PASSWORD) is None
    assert verify_token(people.engine, secret) is None
    set_user_enabled(people, ADA, "vera", enabled=True)
    assert authenticate(people.engine, "vera", PASSWORD) is not None
    assert [entry[1:] for entry in _audit(people)] == [
        ("disable_user", "vera", "ok"),
        ("enable_user", "vera", "ok"),
    ]


def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(people: storage.Store) -> None:
    with pytest.raises(UserError, match="only enabled admin"):
        change_role(people, ADA, "ada", "viewer")
    with pytest.raises(UserError, match="cannot disable yourself"):
        set_user_enabled(people, ADA, "ada", enabled=False)
    change_role(people, ADA, "vera", "admin")
    assert change_role(people, ADA, "ada", "operator").role is Role.OPERATOR  # another admin exists now
    with pytest.raises(UserError, match=r"^username: no user named 'nobody'"):
        change_role(people, ADA, "nobody", "viewer")


def test_the_first_run_admin_is_audited(store: storage.Store) -> None:
    assert ensure_first_admin(store.engine) is not None
    assert ensure_first_admin(store.engine) is None
    assert _audit(store) == [("system", "create_user", "admin", "ok")]


# --- the command line (in process: the same click group `vitals` runs) ----------------------------
# The commands call the actions above (tested on both dialects), so SQLite is enough here.


@pytest.fixture
def box(make_store) -> storage.Store:
    store = make_store("sqlite")
    create_user(store.engine, "ada", PASSWORD, "admin")
    create_user(store.engine, "vera", PASSWORD, "viewer")
    return store


def _vitals(monkeypatch, capsys, store: storage.Store, *args: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setenv("VITALS_DATABASE_URL", store.engine.url.render_as_string(hide_password=False))
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = app.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_users_commands_recover_manage_and_list(box: storage.Store, monkeypatch, capsys) -> None:
    done = _vitals(
        monkeypatch,
        capsys,
        box,
        "users",
        "passwd",
        "ada",
        "--password-stdin",
        stdin="recovered-on-the-box\n",
    )
    assert done == (0, "password of ada changed; their sessions have ended\n", "")
    assert authenticate(box.engine, "ada", "recovered-on-the-box") is not None
    assert _vitals(monkeypatch, capsys, box, "users", "role", "vera", "operator")[:2] == (
        0,
        "vera is now operator\n",
    )
    assert _vitals(monkeypatch, capsys, box, "users", "disable", "vera")[:2] == (0, "vera is disabled\n")
    listed = _vitals(monkeypatch, capsys, box, "users", "list")[1].splitlines()
    assert [line.split()[:3] for line in listed] == [
        ["ada", "admin", "active"],
        ["vera", "operator", "disabled"],
    ]
    assert _vitals(monkeypatch, capsys, box, "users", "enable", "vera")[:2] == (0, "vera is enabled\n")
    actor = _audit(box)[0][0]
    assert actor.startswith("cli:")
    assert [entry[1:] for entry in _audit(box)] == [
        ("reset_password", "ada", "ok"),
        ("change_role", "vera", "ok"),
        ("disable_user", "vera", "ok"),
        ("enable_user", "vera", "ok"),
    ]


def test_users_commands_refuse_bad_input_in_one_line(box: storage.Store, monkeypatch, capsys) -> None:
    code, out, err = _vitals(
        monkeypatch, capsys, box, "users", "passwd", "vera", "--password-stdin", stdin="qwertyuiop\n"
    )
    assert (code, out) == (2, "")
    assert err == "vitals: password: this is one of the most common passwords; choose another\n"
    assert "qwertyuiop" not in out
    code, _out, err = _vitals(monkeypatch, capsys, box, "users", "role", "nobody", "admin")
    assert (code, err) == (2, "vitals: username: no user named 'nobody'\n")
    code, _out, err = _vitals(monkeypatch, capsys, box, "users", "role", "vera", "superuser")
    assert code == 2 and err.count("\n") == 1 and "superuser" in err
    assert authenticate(box.engine, "vera", PASSWORD) is not None


def test_an_in_process_command_leaves_the_host_processs_log_handlers_alone(
    box: storage.Store, monkeypatch, capsys
) -> None:
    """The CLI limits repeats on the handler it makes, never on one its host installed (here pytest's
    own capture handlers, which live for the whole session and would hide later tests' warnings)."""
    host = logging.Handler()
    logging.getLogger().addHandler(host)
    try:
        code, _out, _err = _vitals(monkeypatch, capsys, box, "users", "list")
        assert code == 0
        limited = [
            h for h in logging.getLogger().handlers if any(isinstance(f, RepeatLimiter) for f in h.filters)
        ]
        assert limited == []
    finally:
        logging.getLogger().removeHandler(host)
