"""Settings: ``VITALS_*`` environment variables in, one typed object out, readable errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest

from storage.settings import Settings, SettingsError, get_settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No stray VITALS_* variable from the developer's shell, and a known working directory."""
    for name in list(os.environ):
        if name.upper().startswith("VITALS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_defaults() -> None:
    settings = load_settings()
    assert settings.data_dir == Path("data")
    assert settings.database_url is None
    assert settings.broker_url is None
    assert settings.mysql_urls == []
    assert settings.redis_urls == []
    assert settings.system_interval_seconds == 5.0
    assert settings.retention_raw_days == 14
    assert settings.secret_key is None
    assert settings.bind_host == "127.0.0.1"
    assert settings.bind_port == 8050
    assert settings.embedded_scheduler is True


def test_store_url_defaults_to_absolute_sqlite_file_in_data_dir(tmp_path: Path) -> None:
    assert load_settings().store_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'vitals.db'}"


def test_store_url_follows_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VITALS_DATA_DIR", str(tmp_path / "elsewhere"))
    settings = load_settings()
    assert settings.data_dir == tmp_path / "elsewhere"
    assert settings.store_url == f"sqlite:///{(tmp_path / 'elsewhere' / 'vitals.db').resolve()}"


def test_store_url_prefers_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALS_DATABASE_URL", "mysql+pymysql://vitals:pw@db:3306/vitals")
    assert load_settings().store_url == "mysql+pymysql://vitals:pw@db:3306/vitals"


def test_env_values_are_read_and_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALS_BIND_HOST", "0.0.0.0")
    monkeypatch.setenv("VITALS_BIND_PORT", "9000")
    monkeypatch.setenv("VITALS_SYSTEM_INTERVAL_SECONDS", "2.5")
    monkeypatch.setenv("VITALS_RETENTION_RAW_DAYS", "30")
    monkeypatch.setenv("VITALS_EMBEDDED_SCHEDULER", "false")
    monkeypatch.setenv("VITALS_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("VITALS_SECRET_KEY", "x" * 32)
    settings = load_settings()
    assert settings.bind_host == "0.0.0.0"
    assert settings.bind_port == 9000
    assert settings.system_interval_seconds == 2.5
    assert settings.retention_raw_days == 30
    assert settings.embedded_scheduler is False
    assert settings.broker_url == "redis://127.0.0.1:6379/0"
    assert settings.secret_key == "x" * 32


def test_env_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("vitals_bind_port", "9100")
    assert load_settings().bind_port == 9100


def test_unknown_vitals_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALS_NO_SUCH_THING", "1")
    assert load_settings().bind_port == 8050


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("mysql://a:3306", ["mysql://a:3306"]),
        ("mysql://a:3306,mysql://b:3307", ["mysql://a:3306", "mysql://b:3307"]),
        (" mysql://a , ,mysql://b ,", ["mysql://a", "mysql://b"]),
        ("", []),
    ],
)
def test_url_lists_are_comma_separated(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("VITALS_MYSQL_URLS", raw)
    monkeypatch.setenv("VITALS_REDIS_URLS", raw.replace("mysql", "redis"))
    settings = load_settings()
    assert settings.mysql_urls == expected
    assert settings.redis_urls == [url.replace("mysql", "redis") for url in expected]


def test_overrides_win_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALS_BIND_PORT", "9000")
    assert load_settings(bind_port=9001).bind_port == 9001
    assert load_settings(mysql_urls="mysql://a,mysql://b").mysql_urls == ["mysql://a", "mysql://b"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VITALS_BIND_PORT", "not-a-port"),
        ("VITALS_BIND_PORT", "0"),
        ("VITALS_BIND_PORT", "70000"),
        ("VITALS_SYSTEM_INTERVAL_SECONDS", "0"),
        ("VITALS_SYSTEM_INTERVAL_SECONDS", "3601"),
        ("VITALS_RETENTION_RAW_DAYS", "0"),
        ("VITALS_RETENTION_RAW_DAYS", "two weeks"),
        ("VITALS_SECRET_KEY", "too-short"),
        ("VITALS_EMBEDDED_SCHEDULER", "perhaps"),
        ("VITALS_DATABASE_URL", "postgresql://db/vitals"),
    ],
)
def test_invalid_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"^invalid configuration: {variable}: ") as info:
        load_settings()
    assert repr(value) in str(info.value)  # says what it got
    assert "Traceback" not in str(info.value)


def test_database_url_error_says_what_is_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALS_DATABASE_URL", "postgresql://db/vitals")
    with pytest.raises(SettingsError, match="expected a sqlite:/// or mysql"):
        load_settings()


@pytest.mark.parametrize("url", ["sqlite:///x.db", "mysql+pymysql://u@h/db", "mariadb+pymysql://u@h/db"])
def test_database_url_accepts_supported_dialects(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("VITALS_DATABASE_URL", url)
    assert load_settings().database_url == url


def test_all_problems_are_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALS_BIND_PORT", "-1")
    monkeypatch.setenv("VITALS_RETENTION_RAW_DAYS", "0")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "VITALS_BIND_PORT" in message
    assert "VITALS_RETENTION_RAW_DAYS" in message


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(pydantic.ValidationError):
        settings.bind_port = 1


def test_get_settings_reads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALS_BIND_PORT", "9200")
    first = get_settings()
    monkeypatch.setenv("VITALS_BIND_PORT", "9300")
    assert get_settings() is first
    assert first.bind_port == 9200
    assert isinstance(first, Settings)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("mysql_urls", "not a url"),
        ("mysql_urls", "redis://127.0.0.1:6379/0"),
        ("redis_urls", "127.0.0.1:6379"),
        ("celery_broker_urls", "http://mq1:15672/"),
        ("http_checks", "ftp://files.example.com/"),
    ],
)
def test_a_monitored_url_of_the_wrong_kind_stops_start_up_naming_the_variable(
    variable: str, value: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(**{variable: value})
    assert f"VITALS_{variable.upper()}" in str(refused.value)
    assert "is not a URL of this kind" in str(refused.value)


def test_a_refused_url_never_shows_its_password() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(redis_urls="redis://:hunter2@cache1:6379/0,http://alice:s3cret@h/")
    assert "hunter2" not in str(refused.value) and "s3cret" not in str(refused.value)
    assert "redis://:***@cache1" in str(refused.value)
