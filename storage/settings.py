"""The one typed settings object. Every layer reads configuration from here; nothing else parses env.

It lives in ``storage`` because storage is the bottom of the import graph: collectors, tasks and the
dashboard may all import it, and a notebook gets it with ``import storage`` and nothing else running.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.masking import mask_urls_in_text

__all__ = ["CacheEvictionRule", "Settings", "SettingsError", "get_settings", "load_settings"]


class SettingsError(ValueError):
    """Raised when a ``VITALS_*`` variable holds a value start-up cannot use."""


def _split_csv(value: object) -> object:
    # Lists come from env as "a,b,c" (easier to write in a unit file than JSON).
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]


class CacheEvictionRule(BaseModel):
    """One eviction rule of the Cache page (``VITALS_CACHE_EVICTION_RULES`` is a JSON list of them):
    when ``target``'s memory use passes ``above_percent`` of maxmemory, remove keys matching
    ``pattern`` in db ``db``, least recently used first, until it is at ``down_to_percent``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(min_length=1, description="a monitored Redis target's name")
    pattern: str = Field(min_length=1, description="SCAN glob of the keys the rule may remove")
    db: int = Field(default=0, ge=0, le=1023)
    above_percent: float = Field(default=90.0, gt=0, le=100)
    down_to_percent: float = Field(default=75.0, ge=0, lt=100)
    max_keys: int = Field(default=10_000, ge=1, description="keys removed per run at most")

    @model_validator(mode="after")
    def _down_below_above(self) -> CacheEvictionRule:
        if self.down_to_percent >= self.above_percent:
            raise ValueError("down_to_percent must be below above_percent")
        if set(self.pattern) <= {"*"}:
            raise ValueError("pattern: a rule may not match every key")
        return self


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
    incidents_interval_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="Grouping critical alerts into incidents"
    )
    incident_group_window_seconds: float = Field(
        default=600.0,
        gt=0,
        le=86_400,
        description="Critical alerts of one target this close join one incident",
    )
    log_paths: CsvList = Field(default_factory=list, description="Log files to tail (glob patterns)")
    logs_archive_after_days: int = Field(
        default=7, ge=1, description="Log entries older than this are archived"
    )
    logs_hot_retention_days: int = Field(
        default=30, ge=1, description="Archived log entries stay searchable in the hot table this long"
    )
    logs_archive_retention_days: int = Field(default=365, ge=1, description="Log archives kept this long")
    logs_archive_dir: Path | None = Field(
        default=None, description="Where log archives go; default data_dir/archives/logs"
    )
    logs_archive_interval_seconds: float = Field(default=3600.0, gt=0, description="Scheduled log archiving")
    http_checks: CsvList = Field(default_factory=list, description="URLs to health-check")
    backup_paths: CsvList = Field(
        default_factory=list,
        description="Backup locations to watch (a directory, file or glob; ?max_age=26h overrides the limit)",
    )
    backup_max_age_hours: float = Field(
        default=26.0, gt=0, description="A backup location whose newest file is older than this fails"
    )
    health_fail_after: int = Field(default=3, ge=1, description="Consecutive failures before a check fails")
    disk_free_warn_percent: float = Field(default=15.0, ge=0, le=100)
    disk_free_fail_percent: float = Field(default=5.0, ge=0, le=100)
    queue_backlog_warn: int = Field(
        default=1000, ge=0, description="Queued tasks before the queue check warns"
    )
    celery_queues: CsvList = Field(
        default_factory=list,
        description="Queue names of the watched Celery apps, read from the broker even with no worker up",
    )
    rollup_interval_seconds: float = Field(default=60.0, gt=0, le=3600, description="Rollup maintenance")
    retention_interval_seconds: float = Field(default=3600.0, gt=0, description="Retention enforcement")
    retention_raw_days: int = Field(default=14, ge=1, description="Raw samples kept this long")
    retention_1m_days: int = Field(default=90, ge=1, description="1-minute rollups kept this long")
    retention_1h_days: int = Field(default=730, ge=1, description="1-hour rollups kept this long")
    alert_evaluation_interval_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="How often alert rules are evaluated"
    )
    alert_group_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        le=600,
        description="Alerts firing on one channel within this wait share a message",
    )
    public_url: str | None = Field(
        default=None, description="Base URL notifications link back to; default http://bind_host:bind_port"
    )
    secret_key: str | None = Field(default=None, min_length=16, description="Signs session cookies")
    secret_key_previous: CsvList = Field(
        default_factory=list, description="Older secret keys, still accepted for decrypting (key rotation)"
    )
    # Security of the web tier (dashboard/security.py, dashboard/limits.py).
    health_allow: CsvList = Field(
        default_factory=list, description="CIDR networks allowed to read /api/health*; empty means anyone"
    )
    health_rate_limit: str = Field(default="120/minute", description="Health probes per client address")
    api_token_rate_limit: str = Field(default="600/minute", description="API requests per bearer token")
    rate_limit_storage_url: str | None = Field(
        default=None, description="Rate-limit counters (redis://...); default: a redis broker, else memory"
    )
    # Login and sessions (dashboard/auth.py); the absolute session lifetime is the stored
    # configuration's security.session_timeout_minutes.
    login_rate_limit_user: str = Field(
        default="5/minute;10/15 minutes;20/hour;50/day", description="Failed logins allowed per username"
    )
    login_rate_limit_address: str = Field(
        default="20/minute;60/hour;200/day", description="Failed logins allowed per client address"
    )
    session_idle_minutes: int = Field(
        default=60, ge=1, le=43_200, description="A session idle this long ends"
    )
    trusted_proxies: CsvList = Field(
        default_factory=list,
        description="Reverse proxies (addresses or CIDR networks) whose X-Forwarded-* headers are believed",
    )
    bind_host: str = "127.0.0.1"
    bind_port: int = Field(default=8050, ge=1, le=65535)
    embedded_scheduler: bool = Field(default=True, description="Run collection inside the web process")
    # The Cache page: tag sets of Laravel-style tagged caches are "tag:<name>:entries" sets listing keys.
    cache_tag_set_template: str = Field(
        default="tag:{tag}:entries", description="Key of a tag's set of keys; {tag} is the tag's name"
    )
    cache_tag_key_prefix: str = Field(default="", description="Prefix added to each member of a tag set")
    cache_clear_max_keys: int = Field(default=1_000_000, ge=1, description="Keys one clear removes at most")
    cache_eviction_rules: list[CacheEvictionRule] = Field(
        default_factory=list, description="Eviction rules (JSON list); none means off"
    )
    cache_eviction_interval_seconds: float = Field(
        default=60.0, gt=0, le=86_400, description="Eviction rules"
    )

    _split_lists = field_validator(
        "mysql_urls",
        "redis_urls",
        "celery_broker_urls",
        "celery_queues",
        "log_paths",
        "http_checks",
        "backup_paths",
        "secret_key_previous",
        "health_allow",
        "trusted_proxies",
        mode="before",
    )(_split_csv)

    @field_validator("mysql_urls", "redis_urls", "celery_broker_urls", "http_checks")
    @classmethod
    def _urls_of_their_kind(cls, urls: list[str], info: ValidationInfo) -> list[str]:
        """A monitored URL that cannot work stops start-up with its variable named, instead of a
        traceback every collection interval."""
        schemes, example = _URL_KINDS[str(info.field_name)]
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in schemes or not (parts.hostname or parts.path):
                raise ValueError(f"{_masked(url)!r} is not a URL of this kind; expected e.g. {example}")
        return urls

    @field_validator("health_allow", "trusted_proxies")
    @classmethod
    def _networks(cls, networks: list[str]) -> list[str]:
        """Each entry is a network (``10.0.0.0/8``) or one address; a typo stops start-up, never opens up."""
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(
                    f"{network!r} is not a network; expected e.g. 10.0.0.0/8,127.0.0.1/32"
                ) from None
        return networks

    @field_validator(
        "health_rate_limit", "api_token_rate_limit", "login_rate_limit_user", "login_rate_limit_address"
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        if not _RATE.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not a rate; expected e.g. 120/minute or 10 per second")
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _known_dialect(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite", "mysql", "mariadb")):
            raise ValueError("expected a sqlite:/// or mysql+pymysql:// URL")
        return value

    def stale_after_seconds(self, interval_seconds: float) -> float:
        """A reading older than this is "no data", never a current value: three collection intervals,
        and at least 30 s so one slow cycle does not blank a panel. Every page and check uses this rule."""
        return max(STALE_FLOOR_SECONDS, STALE_INTERVALS * interval_seconds)

    @property
    def spool_dir(self) -> Path:
        """Where collected records wait, durably, while the store is unreachable."""
        return self.data_dir / "spool"

    @property
    def log_archive_dir(self) -> Path:
        """Where log archives are written (``logs_archive_dir``, else data_dir/archives/logs)."""
        return self.logs_archive_dir or self.data_dir / "archives" / "logs"

    @property
    def store_url(self) -> str:
        """The URL the store connects to: the configured one, else the embedded SQLite file."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'vitals.db').resolve()}"


_URL_KINDS = {
    "mysql_urls": (
        {"mysql", "mysql+pymysql", "mariadb", "mariadb+pymysql"},
        "mysql://user:password@db1:3306/",
    ),
    "redis_urls": ({"redis", "rediss", "unix"}, "redis://:password@cache1:6379/0?name=cache"),
    "celery_broker_urls": (
        {"redis", "rediss", "amqp", "amqps", "pyamqp", "sentinel"},
        "amqp://guest:guest@mq1:5672// or redis://cache1:6379/0",
    ),
    "http_checks": ({"http", "https"}, "https://app.example.com/health"),
}
# The rate syntax of the ``limits`` library (what Flask-Limiter accepts): "120/minute", "10 per 2 seconds"; ";"-joined.
_ONE_RATE = r"\d+\s*(?:/|per)\s*(?:\d+\s*)?(?:second|minute|hour|day|month|year)s?"
_RATE = re.compile(rf"{_ONE_RATE}(?:\s*[;,]\s*{_ONE_RATE})*")
# Configuration errors never echo passwords.
_masked = mask_urls_in_text


STALE_INTERVALS = 3
STALE_FLOOR_SECONDS = 30.0


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning validation errors into one readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            got = _masked(repr(error.get("input")))
            problems.append(f"VITALS_{field.upper()}: {error['msg']} (got {got})")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
