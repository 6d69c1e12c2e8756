"""Every state change the CLI makes goes through an action and lands in the audit log, named after
the operating-system user who ran it; refusals and errors are audited too (real processes)."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path

import pytest

import storage
from storage.audit import audit_entries
from storage.tokens import list_tokens
from storage.users import create_user
from tests.support import PROJECT_ROOT

ACTOR = f"cli:{getpass.getuser()}"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'vitals.db'}"
    store = storage.connect(url)
    create_user(store.engine, "vera", "correct-horse-battery", "viewer")
    store.close()
    base = {key: value for key, value in os.environ.items() if not key.startswith("VITALS_")}
    return {**base, "VITALS_DATABASE_URL": url, "VITALS_DATA_DIR": str(tmp_path)}


def _vitals(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import app, sys; sys.exit(app.main(sys.argv[1:]))", *args],
        cwd=PROJECT_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _audit(env: dict[str, str]) -> list[tuple[str, str, str | None, str]]:
    store = storage.connect(env["VITALS_DATABASE_URL"])
    try:
        rows = audit_entries(store.engine).iloc[::-1]  # oldest first
        return [(r.username, r.action, r.target, r.outcome) for r in rows.itertuples()]
    finally:
        store.close()


def test_every_cli_state_change_is_audited_with_who_ran_it(env: dict[str, str]) -> None:
    steps = [
        (("users", "create", "otto", "--role", "operator", "--password-stdin"), "operator-pass-123\n"),
        (("tokens", "create", "prometheus", "--user", "vera"), ""),
        (("db", "upgrade"), ""),
        (("retention", "--enforce"), ""),
    ]
    for args, stdin in steps:
        done = _vitals(env, *args, stdin=stdin)
        assert done.returncode == 0, done.stderr
    store = storage.connect(env["VITALS_DATABASE_URL"])
    token_id = list_tokens(store.engine)[0].id
    store.close()
    assert _vitals(env, "tokens", "revoke", str(token_id)).returncode == 0
    assert _audit(env) == [
        (ACTOR, "create_user", "otto", "ok"),
        (ACTOR, "create_api_token", "prometheus", "ok"),
        (ACTOR, "upgrade_schema", "sqlite", "ok"),
        (ACTOR, "enforce_retention", None, "ok"),
        (ACTOR, "revoke_api_token", str(token_id), "ok"),
    ]


def test_a_failed_cli_action_is_audited_as_an_error_and_says_why_in_one_line(env: dict[str, str]) -> None:
    done = _vitals(env, "tokens", "revoke", "999")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["vitals: id: no active token with id 999"]
    refused = _vitals(env, "tokens", "create", "root", "--user", "vera", "--role", "admin")
    assert refused.returncode != 0
    assert _audit(env) == [
        (ACTOR, "revoke_api_token", "999", "error"),
        (ACTOR, "create_api_token", "root", "error"),
    ]


def test_version_and_help_name_the_main_settings(env: dict[str, str]) -> None:
    version = _vitals(env, "--version")
    assert version.returncode == 0 and version.stdout.startswith("vitals ")
    run_help = _vitals(env, "run", "--help")
    assert run_help.returncode == 0
    for words in ("VITALS_DATA_DIR", "VITALS_BIND_PORT"):
        assert words in run_help.stdout
