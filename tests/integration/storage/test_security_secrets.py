"""Secrets at rest (SQLite and MariaDB): every stored credential is a Fernet token under a key derived from
VITALS_SECRET_KEY, rotation through VITALS_SECRET_KEY_PREVIOUS, nothing echoed by the API or a page, and a
one-line refusal to start when the key that encrypted them is missing or wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import storage
from app import create_app, main
from dashboard.pages.settings.environment import configuration_rows
from storage.schema import monitored_targets, notification_channels
from storage.secrets import (
    ENCRYPTED_COLUMNS,
    SecretError,
    check_secret_key,
    rotate_stored_secrets,
    secret_box,
)
from storage.tokens import create_token
from storage.users import Role, create_user
from tasks.actions import Actor
from tasks.actions.alerts import create_channel
from tasks.actions.config import add_target
from tests.support import free_port

OLD_KEY = "the-old-secret-key-0123456789abcdef"
NEW_KEY = "the-new-secret-key-0123456789abcdef"
SMTP_PASSWORD = "smtp-Pa55word-never-shown"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/slack-token-never-shown"
DB_PASSWORD = "db-Pa55word-never-shown"
ADMIN = Actor(username="ada", role=Role.ADMIN)


def _settings(tmp_path: Path, **overrides: Any) -> storage.Settings:
    return storage.load_settings(data_dir=tmp_path, **overrides)


def _store_secrets(store: storage.Store, settings: storage.Settings) -> str:
    """One credential of every kind Vitals keeps; returns the webhook's signing secret (shown once)."""
    create_channel(
        store,
        settings,
        ADMIN,
        {
            "name": "mail",
            "kind": "email",
            "host": "smtp.example",
            "to": "ops@example.com",
            "password": SMTP_PASSWORD,
        },
    )
    create_channel(store, settings, ADMIN, {"name": "chat", "kind": "slack", "url": SLACK_URL})
    signing = create_channel(
        store, settings, ADMIN, {"name": "hook", "kind": "webhook", "url": "https://h.example/x"}
    )
    store.config.use_secret_key(key=settings.secret_key or "", older=settings.secret_key_previous)
    add_target(store, ADMIN, "mysql", "orders", f"mysql://monitor:{DB_PASSWORD}@db1.example:3306/")
    assert signing.signing_secret
    return signing.signing_secret


def _every_stored_value(store: storage.Store) -> str:
    with store.engine.connect() as conn:
        rows = [
            *conn.execute(select(notification_channels)).mappings(),
            *conn.execute(select(monitored_targets)).mappings(),
        ]
    return json.dumps([dict(row) for row in rows], default=str)


def test_every_stored_credential_is_a_fernet_token(store: storage.Store, tmp_path: Path) -> None:
    settings = _settings(tmp_path, secret_key=OLD_KEY)
    signing = _store_secrets(store, settings)
    stored = _every_stored_value(store)
    for secret in (SMTP_PASSWORD, SLACK_URL, DB_PASSWORD, signing, "slack-token"):
        assert secret not in stored
    box = secret_box(settings)
    with store.engine.connect() as conn:
        tokens = [
            token
            for _table, _key, column in ENCRYPTED_COLUMNS
            for token in conn.execute(select(column).where(column.is_not(None))).scalars()
        ]
    assert len(tokens) == 4  # email, slack, webhook signing secret, the MySQL target
    assert all(token.startswith("gAAAAA") for token in tokens)  # Fernet version byte, base64
    plain = " ".join(box.decrypt(token) for token in tokens)
    assert SMTP_PASSWORD in plain and SLACK_URL in plain and DB_PASSWORD in plain and signing in plain


def test_the_key_is_derived_not_the_session_key_itself(tmp_path: Path) -> None:
    box = secret_box(_settings(tmp_path, secret_key=OLD_KEY))
    from cryptography.fernet import Fernet, InvalidToken

    raw = Fernet(__import__("base64").urlsafe_b64encode(OLD_KEY.encode()[:32]))
    with pytest.raises(InvalidToken):
        raw.decrypt(box.encrypt("x").encode())


def test_rotation_through_the_previous_key_setting(store: storage.Store, tmp_path: Path) -> None:
    old = _settings(tmp_path, secret_key=OLD_KEY)
    _store_secrets(store, old)
    rotated = _settings(tmp_path, secret_key=NEW_KEY, secret_key_previous=OLD_KEY)
    check_secret_key(store.engine, rotated)  # readable during the rotation
    assert rotate_stored_secrets(store.engine, secret_box(rotated)) == 4
    only_new = _settings(tmp_path, secret_key=NEW_KEY)
    check_secret_key(store.engine, only_new)  # the previous key can be dropped now
    store.config.use_secret_key(key=NEW_KEY)
    assert store.config.targets(kind="mysql")[0].name == "orders"
    with pytest.raises(SecretError):
        check_secret_key(store.engine, old)  # the old key alone no longer reads them


def test_start_up_refuses_a_missing_key_in_one_line(store: storage.Store, tmp_path: Path) -> None:
    _store_secrets(store, _settings(tmp_path / "first-host", secret_key=OLD_KEY))
    keyless = _settings(tmp_path / "second-host")
    with pytest.raises(SecretError) as refused:
        create_app(keyless, store, run_scheduler=False)
    message = str(refused.value)
    assert "\n" not in message and "VITALS_SECRET_KEY is not set" in message
    assert not (tmp_path / "second-host" / "secret_key").exists(), "no key of its own was generated"


def test_start_up_refuses_a_wrong_key(store: storage.Store, tmp_path: Path) -> None:
    _store_secrets(store, _settings(tmp_path, secret_key=OLD_KEY))
    with pytest.raises(SecretError, match="cannot be decrypted with the configured secret key"):
        create_app(_settings(tmp_path, secret_key=NEW_KEY), store, run_scheduler=False)


def test_the_command_line_says_it_in_one_line(
    store: storage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _store_secrets(store, _settings(tmp_path / "first-host", secret_key=OLD_KEY))
    monkeypatch.setenv("VITALS_DATA_DIR", str(tmp_path / "second-host"))
    monkeypatch.setenv("VITALS_DATABASE_URL", store.engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("VITALS_SECRET_KEY", raising=False)
    monkeypatch.setenv("VITALS_BIND_PORT", str(free_port()))
    assert main(["web"]) != 0  # refused before gunicorn is started
    refusals = [line for line in capsys.readouterr().err.splitlines() if line.startswith("vitals:")]
    assert refusals == [refusals[0]] and refusals[0].startswith("vitals: VITALS_SECRET_KEY is not set")


def test_without_encrypted_values_a_keyless_start_generates_its_key(
    store: storage.Store, tmp_path: Path
) -> None:
    create_app(_settings(tmp_path), store, run_scheduler=False)
    assert (tmp_path / "secret_key").exists()


def test_the_api_and_pages_never_show_a_secret(store: storage.Store, tmp_path: Path) -> None:
    settings = _settings(tmp_path, secret_key=OLD_KEY, secret_key_previous="an-older-key-0123456789abcdef")
    signing = _store_secrets(store, settings)
    app = create_app(settings, store, run_scheduler=False)
    create_user(store.engine, "ada", "correct-horse-battery", "admin")
    token = create_token(store.engine, "ci", "ada", "admin")[1]
    client = app.server.test_client()
    answers = []
    for path in ("/api/webhooks", "/api/config", "/api/openapi.json", "/metrics"):
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, path
        answers.append(response.get_data(as_text=True))
    with app.server.test_request_context():
        answers.append(json.dumps(configuration_rows()))
    shown = "\n".join(answers)
    for secret in (SMTP_PASSWORD, SLACK_URL, DB_PASSWORD, signing, OLD_KEY, "an-older-key"):
        assert secret not in shown
    hints = {hook["name"]: hook["secret_hint"] for hook in json.loads(answers[0])["webhooks"]}
    assert hints == {"mail": "…hown", "chat": "…hown", "hook": "…" + signing[-4:]}, "only the last characters"
