"""The one typed settings object. Every layer reads configuration from here; nothing else parses env.

It lives in ``storage`` because storage is the bottom of the import graph: collectors, tasks and the
dashboard may all import it, and a notebook gets it with ``import storage`` and nothing else running.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "SettingsError", "get_settings", "load_settings"]


class SettingsError(ValueError):
    """Raised when a ``VITALS_*`` variable holds a value start-up cannot use."""


def _split_csv(value: object) -> object:
    # Lists come from env as "a,b,c" (easier to write in a unit file than JSON).
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Configuration for every Vitals process, read from ``VITALS_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="VITALS_", extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path("data"), description="Where the embedded SQLite store lives")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the store; default: SQLite file in data_dir"
    )
    broker_url: str | None = Field(default=None, description="Celery broker; none means embedded scheduler")
    mysql_urls: CsvList = Field(default_factory=list, description="Monitored MySQL/MariaDB servers")
    redis_urls: CsvList = Field(default_factory=list, description="Monitored Redis servers")
    celery_broker_urls: CsvList = Field(
        default_factory=list, description="Brokers of monitored Celery apps; none means Vitals' own broker"
    )
    system_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    mysql_interval_seconds: float = Field(default=10.0, gt=0, le=3600, description="MySQL collection")
    redis_interval_seconds: float = Field(default=10.0, gt=0, le=3600, description="Redis collection")
    celery_interval_seconds: float = Field(default=10.0, gt=0, le=3600, description="Celery collection")
    logs_interval_seconds: float = Field(default=2.0, gt=0, le=3600, description="Log tailing")
    health_interval_seconds: float = Field(default=15.0, gt=0, le=3600, description="Health checks")
    log_paths: CsvList = Field(default_factory=list, description="Log files to tail (glob patterns)")
    http_checks: CsvList = Field(default_factory=list, description="URLs to health-check")
    health_fail_after: int = Field(default=3, ge=1, description="Consecutive failures before a check fails")
    disk_free_warn_percent: float = Field(default=15.0, ge=0, le=100)
    disk_free_fail_percent: float = Field(default=5.0, ge=0, le=100)
    queue_backlog_warn: int = Field(
        default=1000, ge=0, description="Queued tasks before the queue check warns"
    )
    rollup_interval_seconds: float = Field(default=60.0, gt=0, le=3600, description="Rollup maintenance")
    retention_interval_seconds: float = Field(default=3600.0, gt=0, description="Retention enforcement")
    retention_raw_days: int = Field(default=14, ge=1, description="Raw samples kept this long")
    retention_1m_days: int = Field(default=90, ge=1, description="1-minute rollups kept this long")
    retention_1h_days: int = Field(default=730, ge=1, description="1-hour rollups kept this long")
    secret_key: str | None = Field(default=None, min_length=16, description="Signs session cookies")
    bind_host: str = "127.0.0.1"
    bind_port: int = Field(default=8050, ge=1, le=65535)
    embedded_scheduler: bool = Field(default=True, description="Run collection inside the web process")

    _split_lists = field_validator(
        "mysql_urls", "redis_urls", "celery_broker_urls", "log_paths", "http_checks", mode="before"
    )(_split_csv)

    @field_validator("database_url")
    @classmethod
    def _known_dialect(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite", "mysql", "mariadb")):
            raise ValueError("expected a sqlite:/// or mysql+pymysql:// URL")
        return value

    @property
    def spool_dir(self) -> Path:
        """Where collected records wait, durably, while the store is unreachable."""
        return self.data_dir / "spool"

    @property
    def store_url(self) -> str:
        """The URL the store connects to: the configured one, else the embedded SQLite file."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'vitals.db').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning validation errors into one readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            problems.append(f"VITALS_{field.upper()}: {error['msg']} (got {error.get('input')!r})")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
