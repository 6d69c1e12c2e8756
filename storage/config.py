"""Typed system configuration and monitored targets, stored so they change without a restart.

Three layers make a value, highest first:

1. an environment variable (``VITALS_*``) that is set: it *pins* the value, the form shows it read-only;
2. a stored value (``system_config``, every change in ``system_config_history``);
3. the default declared here (:data:`DEFINITIONS`).

:meth:`ConfigSection.effective` turns that into a ``Settings`` object every layer already reads, so
jobs, collectors and pages need no new code path: they get the current settings instead of the ones
read at start-up. It is cached per process and re-read when the configuration *version* (the newest
history id, one indexed lookup) has moved, checked at most every ``max_age_s`` seconds.

Monitored targets (MySQL, Redis, Celery brokers, log paths, HTTP checks) live in ``monitored_targets``
with their URL encrypted (``storage.secrets``); only a masked form is ever returned to a page or API.
Targets from the environment are added to the stored ones, shown as pinned.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from sqlalchemy import Engine, delete, func, select, update

from storage.engine import write_transaction
from storage.masking import mask_url
from storage.schema import monitored_targets, system_config, system_config_history
from storage.secrets import SecretBox, secret_box
from storage.settings import Settings, get_settings
from storage.timeparse import parse_duration, utc_now

__all__ = [
    "CATEGORIES",
    "DEFINITIONS",
    "TARGET_KINDS",
    "ConfigDefinition",
    "ConfigEntry",
    "ConfigError",
    "ConfigSection",
    "HistoryEntry",
    "Target",
    "backup_location",
    "coerce_value",
]

ValueType = Literal["int", "float", "choice"]

CATEGORIES: dict[str, str] = {
    "database": "Monitored MySQL/MariaDB: collection and thresholds",
    "cache": "Monitored Redis: collection and thresholds",
    "logging": "Log tailing, hot retention and archiving",
    "alerts": "Alert evaluation, cooldown, deduplication and host thresholds",
    "dashboard": "What a new browser session starts with",
    "security": "Sessions",
    "system": "This host, Celery queues and health checks",
    "storage": "Rollups and retention of the time series",
}


class ConfigError(ValueError):
    """A value or key the configuration refuses; the message starts with the key (``key: reason``)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class ConfigDefinition:
    """One typed configuration value: what it is, its unit and allowed range, and its default."""

    key: str
    category: str
    type: ValueType
    default: int | float | str
    description: str
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    # The Settings field this value feeds (and whose VITALS_* variable pins it), if any.
    setting: str | None = None

    @property
    def env_var(self) -> str | None:
        return f"VITALS_{self.setting.upper()}" if self.setting else None


def _d(key: str, type_: ValueType, default: Any, description: str, **extra: Any) -> ConfigDefinition:
    return ConfigDefinition(key, key.split(".", 1)[0], type_, default, description, **extra)


# Defaults: the product's thresholds as warning/critical pairs (docs/engineering-notes.md) and ``Settings``'s.
DEFINITIONS: dict[str, ConfigDefinition] = {
    d.key: d
    for d in (
        # database
        _d("database.collection_interval_seconds", "float", 10.0, "How often each MySQL/MariaDB server is read",
           unit="s", minimum=1, maximum=3600, setting="mysql_interval_seconds"),
        _d("database.slow_query_threshold_ms", "int", 1000, "A statement slower than this counts as slow",
           unit="ms", minimum=1, maximum=600_000),
        _d("database.connection_warn_percent", "float", 70.0, "Connection utilization that warns",
           unit="%", minimum=1, maximum=100),
        _d("database.connection_critical_percent", "float", 90.0, "Connection utilization that is critical",
           unit="%", minimum=1, maximum=100),
        _d("database.slow_queries_warn_per_minute", "float", 10.0, "Slow queries per minute that warn",
           unit="/min", minimum=0, maximum=1_000_000),
        _d("database.slow_queries_critical_per_minute", "float", 50.0, "Slow queries per minute that are critical",
           unit="/min", minimum=0, maximum=1_000_000),
        _d("database.replication_lag_warn_seconds", "float", 5.0, "Replication lag that warns",
           unit="s", minimum=0, maximum=86_400),
        _d("database.replication_lag_critical_seconds", "float", 30.0, "Replication lag that is critical",
           unit="s", minimum=0, maximum=86_400),
        # cache
        _d("cache.collection_interval_seconds", "float", 10.0, "How often each Redis server is read",
           unit="s", minimum=1, maximum=3600, setting="redis_interval_seconds"),
        _d("cache.hit_rate_warn_percent", "float", 60.0, "Hit rate below this warns",
           unit="%", minimum=0, maximum=100),
        _d("cache.hit_rate_critical_percent", "float", 40.0, "Hit rate below this is critical",
           unit="%", minimum=0, maximum=100),
        _d("cache.memory_warn_percent", "float", 80.0, "Memory use (of maxmemory) that warns",
           unit="%", minimum=1, maximum=100),
        _d("cache.memory_critical_percent", "float", 95.0, "Memory use (of maxmemory) that is critical",
           unit="%", minimum=1, maximum=100),
        # logging
        _d("logging.tail_interval_seconds", "float", 2.0, "How often log files are read for new lines",
           unit="s", minimum=0.5, maximum=3600, setting="logs_interval_seconds"),
        _d("logging.retention_days", "int", 30, "Log entries kept in the hot (searchable) table",
           unit="days", minimum=1, maximum=3650, setting="logs_hot_retention_days"),
        _d("logging.archive_after_days", "int", 7, "Entries older than this are archived",
           unit="days", minimum=1, maximum=3650, setting="logs_archive_after_days"),
        _d("logging.archive_retention_days", "int", 365, "Archives older than this are removed",
           unit="days", minimum=1, maximum=36_500, setting="logs_archive_retention_days"),
        # alerts
        _d("alerts.evaluation_interval_seconds", "float", 60.0, "How often alert rules are evaluated",
           unit="s", minimum=5, maximum=3600, setting="alert_evaluation_interval_seconds"),
        _d("alerts.default_cooldown_minutes", "int", 15, "A rule without its own repeat interval notifies at most this often",
           unit="min", minimum=0, maximum=10_080),
        _d("alerts.dedup_window_seconds", "float", 600.0, "Critical alerts of one target within this window join one incident",
           unit="s", minimum=10, maximum=86_400, setting="incident_group_window_seconds"),
        _d("alerts.cpu_warn_percent", "float", 70.0, "Host CPU that warns", unit="%", minimum=1, maximum=100),
        _d("alerts.cpu_critical_percent", "float", 90.0, "Host CPU that is critical", unit="%", minimum=1, maximum=100),
        _d("alerts.memory_warn_percent", "float", 80.0, "Host memory that warns", unit="%", minimum=1, maximum=100),
        _d("alerts.memory_critical_percent", "float", 95.0, "Host memory that is critical", unit="%", minimum=1, maximum=100),
        _d("alerts.disk_warn_percent", "float", 80.0, "Disk use that warns", unit="%", minimum=1, maximum=100),
        _d("alerts.disk_critical_percent", "float", 95.0, "Disk use that is critical", unit="%", minimum=1, maximum=100),
        # dashboard
        _d("dashboard.default_refresh_seconds", "choice", "5", "Refresh interval a new session starts with",
           unit="s", choices=("5", "10", "30", "60")),
        _d("dashboard.default_time_range", "choice", "1h", "Time range a new session starts with",
           choices=("15m", "1h", "6h", "24h", "7d", "30d")),
        # security
        _d("security.session_timeout_minutes", "int", 720, "A session ends after this long",
           unit="min", minimum=5, maximum=43_200),
        # system
        _d("system.collection_interval_seconds", "float", 5.0, "How often this host (CPU, memory, disk) is read",
           unit="s", minimum=1, maximum=3600, setting="system_interval_seconds"),
        _d("system.celery_interval_seconds", "float", 10.0, "How often Celery queues and workers are read",
           unit="s", minimum=1, maximum=3600, setting="celery_interval_seconds"),
        _d("system.health_interval_seconds", "float", 15.0, "How often health checks run",
           unit="s", minimum=1, maximum=3600, setting="health_interval_seconds"),
        _d("system.health_fail_after", "int", 3, "Consecutive failures before a check fails",
           minimum=1, maximum=100, setting="health_fail_after"),
        _d("system.disk_free_warn_percent", "float", 15.0, "Free disk below this warns (health check)",
           unit="%", minimum=0, maximum=100, setting="disk_free_warn_percent"),
        _d("system.disk_free_fail_percent", "float", 5.0, "Free disk below this fails (health check)",
           unit="%", minimum=0, maximum=100, setting="disk_free_fail_percent"),
        _d("system.queue_backlog_warn", "int", 1000, "Queued tasks before the queue check warns",
           unit="tasks", minimum=0, maximum=100_000_000, setting="queue_backlog_warn"),
        # storage
        _d("storage.rollup_interval_seconds", "float", 60.0, "How often rollups are brought up to date",
           unit="s", minimum=5, maximum=3600, setting="rollup_interval_seconds"),
        _d("storage.retention_interval_seconds", "float", 3600.0, "How often expired data is deleted",
           unit="s", minimum=60, maximum=86_400, setting="retention_interval_seconds"),
        _d("storage.retention_raw_days", "int", 14, "Raw samples kept this long",
           unit="days", minimum=1, maximum=3650, setting="retention_raw_days"),
        _d("storage.retention_1m_days", "int", 90, "1-minute rollups kept this long",
           unit="days", minimum=1, maximum=3650, setting="retention_1m_days"),
        _d("storage.retention_1h_days", "int", 730, "1-hour rollups kept this long",
           unit="days", minimum=1, maximum=36_500, setting="retention_1h_days"),
    )
}  # fmt: skip

# Pairs that must stay ordered (the warning before the critical level), checked on every write.
_ORDERED: tuple[tuple[str, str, str], ...] = (
    ("database.connection_warn_percent", "database.connection_critical_percent", "<"),
    ("database.slow_queries_warn_per_minute", "database.slow_queries_critical_per_minute", "<"),
    ("database.replication_lag_warn_seconds", "database.replication_lag_critical_seconds", "<"),
    ("cache.hit_rate_warn_percent", "cache.hit_rate_critical_percent", ">"),
    ("cache.memory_warn_percent", "cache.memory_critical_percent", "<"),
    ("alerts.cpu_warn_percent", "alerts.cpu_critical_percent", "<"),
    ("alerts.memory_warn_percent", "alerts.memory_critical_percent", "<"),
    ("alerts.disk_warn_percent", "alerts.disk_critical_percent", "<"),
    ("system.disk_free_warn_percent", "system.disk_free_fail_percent", ">"),
    ("logging.archive_after_days", "logging.archive_retention_days", "<"),
)


def coerce_value(definition: ConfigDefinition, raw: object) -> int | float | str:
    """``raw`` (JSON value or form text) as the definition's type, within its range; else ``ConfigError``."""
    key = definition.key
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ConfigError(key, "a value is required")
    if definition.type == "choice":
        text = str(raw).strip()
        if isinstance(raw, float) and raw.is_integer():
            text = str(int(raw))
        if text not in definition.choices:
            raise ConfigError(key, f"{text!r} is not one of {', '.join(definition.choices)}")
        return text
    if isinstance(raw, bool):
        raise ConfigError(key, f"expected a number, got {raw!r}")
    value: int | float
    try:
        if isinstance(raw, str):
            number = float(raw.strip())
        elif isinstance(raw, int | float):
            number = float(raw)
        else:
            raise TypeError
    except (TypeError, ValueError):
        raise ConfigError(key, f"expected a number, got {raw!r}") from None
    if not math.isfinite(number):
        raise ConfigError(key, f"expected a finite number, got {raw!r}")
    if definition.type == "int":
        if not number.is_integer():
            raise ConfigError(key, f"expected a whole number, got {raw!r}")
        value = int(number)
    else:
        value = number
    unit = f" {definition.unit}" if definition.unit else ""
    if definition.minimum is not None and value < definition.minimum:
        raise ConfigError(key, f"must be at least {_num(definition.minimum)}{unit}, got {_num(value)}")
    if definition.maximum is not None and value > definition.maximum:
        raise ConfigError(key, f"must be at most {_num(definition.maximum)}{unit}, got {_num(value)}")
    return value


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _definition(key: str) -> ConfigDefinition:
    found = DEFINITIONS.get(key)
    if found is None:
        close = [known for known in DEFINITIONS if key.split(".")[-1] in known]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(key, f"unknown configuration key{hint}")
    return found


def _check_order(values: Mapping[str, Any]) -> None:
    for low_key, high_key, relation in _ORDERED:
        low, high = values[low_key], values[high_key]
        if relation == "<" and not low < high:
            raise ConfigError(low_key, f"must be below {high_key} ({_num(high)}), got {_num(low)}")
        if relation == ">" and not low > high:
            raise ConfigError(low_key, f"must be above {high_key} ({_num(high)}), got {_num(low)}")


@dataclass(frozen=True)
class ConfigEntry:
    """A definition with its current effective value and where that value comes from."""

    definition: ConfigDefinition
    value: int | float | str
    source: Literal["environment", "stored", "default"]
    updated_by: str | None = None
    updated_at: datetime | None = None

    @property
    def pinned(self) -> bool:
        return self.source == "environment"

    def as_dict(self) -> dict[str, Any]:
        d = self.definition
        return {
            "key": d.key,
            "category": d.category,
            "type": d.type,
            "value": self.value,
            "default": d.default,
            "unit": d.unit,
            "minimum": d.minimum,
            "maximum": d.maximum,
            "choices": list(d.choices),
            "description": d.description,
            "source": self.source,
            "pinned_by": d.env_var if self.pinned else None,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class HistoryEntry:
    key: str
    old_value: Any
    new_value: Any
    changed_by: str | None
    changed_at: datetime


# --- monitored targets ---------------------------------------------------------------------------

# kind -> the Settings list it extends, and a label for people.
TARGET_KINDS: dict[str, tuple[str, str]] = {
    "mysql": ("mysql_urls", "MySQL / MariaDB"),
    "redis": ("redis_urls", "Redis"),
    "celery": ("celery_broker_urls", "Celery broker"),
    "logs": ("log_paths", "Log path"),
    "http": ("http_checks", "HTTP check"),
    "backup": ("backup_paths", "Backup location"),
}
_SCHEMES: dict[str, tuple[str, ...]] = {
    "mysql": ("mysql", "mysql+pymysql", "mariadb", "mariadb+pymysql"),
    "redis": ("redis", "rediss", "unix"),
    "celery": ("redis", "rediss", "amqp", "amqps", "pyamqp"),
    "http": ("http", "https"),
}


def _with_name(kind: str, url: str, name: str) -> str:
    """MySQL and Redis collectors name a target from ``?name=``: add it unless the URL has one."""
    if kind not in ("mysql", "redis") or "name=" in urlsplit(url).query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode({'name': name})}"


def _valid_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ConfigError("name", "a name is required")
    if len(name) > 64 or any(ch in name for ch in "?&#/\\\n\r\t"):
        raise ConfigError("name", "use at most 64 characters, without ? & # / or backslashes")
    return name


def backup_location(spec: str) -> tuple[str, float | None]:
    """``/var/backups/db/*.sql.gz?max_age=26h`` -> (the directory, file or glob; the max age in seconds,
    None when not given). ``ConfigError`` on ``url`` when it is not one."""
    path, _, query = spec.partition("?")
    if not path.startswith("/"):
        raise ConfigError(
            "url", "an absolute path, directory or glob is required, e.g. /var/backups/db/*.sql.gz"
        )
    max_age = None
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        if key != "max_age":
            raise ConfigError("url", f"unknown option {key!r}: only ?max_age= (e.g. 26h) is understood")
        try:
            max_age = parse_duration(value, name="max_age").total_seconds()
        except ValueError as exc:
            raise ConfigError("url", str(exc)) from None
        if max_age <= 0:
            raise ConfigError("url", "max_age: must be more than 0")
    return path, max_age


def _valid_backup(spec: str) -> str:
    backup_location(spec)
    return spec


def validate_target(kind: str, name: str, url: str) -> tuple[str, str, str]:
    """Cleaned (kind, name, url), or ``ConfigError`` naming the field (``kind``, ``name`` or ``url``)."""
    kind, name, url = (kind or "").strip(), (name or "").strip(), (url or "").strip()
    if kind not in TARGET_KINDS:
        raise ConfigError("kind", f"{kind!r} is not one of {', '.join(TARGET_KINDS)}")
    name = _valid_name(name)
    if not url:
        raise ConfigError("url", "a path is required" if kind in ("logs", "backup") else "a URL is required")
    if len(url) > 2000 or any(ch in url for ch in "\n\r\t"):
        raise ConfigError("url", "must be one line of at most 2000 characters")
    if kind == "logs":
        if not url.startswith("/"):
            raise ConfigError("url", "an absolute path or glob pattern is required, e.g. /var/log/app/*.log")
        return kind, name, url
    if kind == "backup":
        return kind, name, _valid_backup(url)
    scheme = urlsplit(url).scheme
    if scheme not in _SCHEMES[kind]:
        expected = " or ".join(f"{s}://" for s in _SCHEMES[kind])
        raise ConfigError(
            "url", f"expected {expected}, got {url.split('://')[0] + '://' if '://' in url else url!r}"
        )
    if kind != "redis" or scheme != "unix":
        try:
            host, port = urlsplit(url).hostname, urlsplit(url).port
        except ValueError as exc:
            raise ConfigError("url", f"not a valid URL: {exc}") from None
        if not host:
            raise ConfigError("url", "the URL names no host")
        del port
    return kind, name, url


@dataclass(frozen=True)
class Target:
    """A monitored target as pages and the API see it: the URL only masked."""

    id: int | None  # None for a target from the environment
    kind: str
    name: str
    shown: str
    enabled: bool
    origin: str  # manual, discovered, environment
    updated_by: str | None = None
    updated_at: datetime | None = None

    @property
    def pinned(self) -> bool:
        return self.origin == "environment"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "url": self.shown,
            "enabled": self.enabled,
            "origin": self.origin,
            "pinned": self.pinned,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


@dataclass
class _Cached:
    version: int
    checked: float
    settings: Settings
    values: dict[str, Any]


@dataclass
class _Box:
    box: SecretBox | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def _aware(moment: datetime | None) -> datetime | None:
    from datetime import UTC

    return None if moment is None else moment.replace(tzinfo=UTC)


class ConfigSection:
    """``store.config``: typed configuration values, their history, monitored targets, effective settings."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._box = _Box()
        self._cache: dict[int, _Cached] = {}
        self._bases: dict[int, Settings] = {}
        self._cache_lock = threading.Lock()

    # -- secrets --------------------------------------------------------------------------------

    def use_secret_key(self, *, key: str, older: Sequence[str] = ()) -> None:
        """Encrypt target credentials with ``key`` (and read with ``older`` keys too); default: the app's."""
        self._box.box = SecretBox(key, *older)

    def _secrets(self) -> SecretBox:
        with self._box.lock:
            if self._box.box is None:
                self._box.box = secret_box(get_settings())
            return self._box.box

    # -- reading --------------------------------------------------------------------------------

    def definitions(self, *, category: str | None = None) -> list[ConfigDefinition]:
        """Every known configuration value (optionally of one category), in display order."""
        if category is not None and category not in CATEGORIES:
            raise ConfigError("category", f"{category!r} is not one of {', '.join(CATEGORIES)}")
        return [d for d in DEFINITIONS.values() if category is None or d.category == category]

    def categories(self) -> dict[str, str]:
        """Category name -> what it covers, in display order."""
        return dict(CATEGORIES)

    def stored(self) -> dict[str, Any]:
        """The stored values (key -> value) of known keys; unknown legacy rows are ignored."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(system_config.c.key, system_config.c.value)).all()
        return {key: value for key, value in rows if key in DEFINITIONS}

    def entries(self, *, settings: Settings | None = None, category: str | None = None) -> list[ConfigEntry]:
        """Each value as in effect: pinned by the environment (of ``settings``), stored, or default."""
        settings = settings or get_settings()
        pinned = settings.model_fields_set
        with self._engine.connect() as conn:
            rows = {row.key: row for row in conn.execute(select(system_config)).all()}
        found = []
        for d in self.definitions(category=category):
            if d.setting and d.setting in pinned:
                value = getattr(settings, d.setting)
                found.append(ConfigEntry(d, int(value) if d.type == "int" else value, "environment"))
            elif d.key in rows:
                row = rows[d.key]
                value = float(row.value) if d.type == "float" else row.value
                found.append(ConfigEntry(d, value, "stored", row.updated_by, _aware(row.updated_at)))
            else:
                found.append(ConfigEntry(d, d.default, "default"))
        return found

    def get(self, *, key: str, settings: Settings | None = None) -> ConfigEntry:
        """One value as in effect; ``ConfigError`` for an unknown key."""
        definition = _definition(key)
        return next(
            e
            for e in self.entries(settings=settings, category=definition.category)
            if e.definition.key == key
        )

    def value(
        self, *, key: str, settings: Settings | None = None, max_age_s: float = 5.0
    ) -> int | float | str:
        """The effective value of ``key`` alone, through the per-process cache (cheap to call often)."""
        _definition(key)
        return self._current(settings or get_settings(), max_age_s).values[key]

    def history(self, *, key: str | None = None, limit: int = 100) -> list[HistoryEntry]:
        """Changes, newest first: who, when, before and after (targets appear as ``target.<kind>.<name>``)."""
        h = system_config_history
        query = select(h).order_by(h.c.id.desc()).limit(limit)
        if key is not None:
            query = query.where(h.c.key == key)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            HistoryEntry(r.key, r.old_value, r.new_value, r.changed_by, _aware(r.changed_at) or utc_now())
            for r in rows
        ]

    def version(self) -> int:
        """A number that grows with every change of a value or a target (the newest history id)."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.max(system_config_history.c.id))).scalar() or 0)

    # -- writing --------------------------------------------------------------------------------

    def set(self, *, key: str, value: object, by: str | None) -> ConfigEntry:
        """Store one value (validated: type, range, ordering with its pair); recorded in the history."""
        return self.bulk_update(values={key: value}, by=by)[0]

    def bulk_update(self, *, values: Mapping[str, object], by: str | None) -> list[ConfigEntry]:
        """Store several values in one transaction: one bad value (the first found is raised) changes nothing."""
        if not values:
            raise ConfigError("values", "nothing to update")
        cleaned = {key: coerce_value(_definition(key), raw) for key, raw in values.items()}
        now = _naive(utc_now())
        with write_transaction(self._engine) as conn:
            current = {
                k: v for k, v in conn.execute(select(system_config.c.key, system_config.c.value)).all()
            }
            merged = {k: current.get(k, d.default) for k, d in DEFINITIONS.items()} | cleaned
            _check_order(merged)
            for key, new in cleaned.items():
                old = current.get(key)
                if key in current and old == new:
                    continue
                if key in current:
                    conn.execute(
                        update(system_config)
                        .where(system_config.c.key == key)
                        .values(value=new, updated_by=by, updated_at=now)
                    )
                else:
                    conn.execute(
                        system_config.insert().values(key=key, value=new, updated_by=by, updated_at=now)
                    )
                conn.execute(
                    system_config_history.insert().values(
                        key=key,
                        old_value=old if key in current else None,
                        new_value=new,
                        changed_by=by,
                        changed_at=now,
                    )
                )
        return [self.get(key=key) for key in cleaned]

    def reset(self, *, key: str, by: str | None) -> ConfigEntry:
        """Back to the default: the stored value is removed (the history keeps it as ``old_value``)."""
        definition = _definition(key)
        now = _naive(utc_now())
        with write_transaction(self._engine) as conn:
            old = conn.execute(select(system_config.c.value).where(system_config.c.key == key)).first()
            if old is not None:
                merged = {k: d.default for k, d in DEFINITIONS.items()}
                merged |= dict(conn.execute(select(system_config.c.key, system_config.c.value)).all())
                merged[key] = definition.default
                _check_order({k: merged[k] for k in DEFINITIONS})
                conn.execute(delete(system_config).where(system_config.c.key == key))
                conn.execute(
                    system_config_history.insert().values(
                        key=key, old_value=old[0], new_value=None, changed_by=by, changed_at=now
                    )
                )
        return self.get(key=key)

    # -- monitored targets ----------------------------------------------------------------------

    def targets(self, *, kind: str | None = None, settings: Settings | None = None) -> list[Target]:
        """Monitored targets, masked: those from the environment (pinned) first, then the stored ones."""
        settings = settings or get_settings()
        found: list[Target] = []
        for k, (field_name, _label) in TARGET_KINDS.items():
            if kind is not None and k != kind:
                continue
            for i, url in enumerate(getattr(settings, field_name)):
                found.append(Target(None, k, _env_name(k, url, i), mask_url(url), True, "environment"))
        t = monitored_targets
        query = select(t).order_by(t.c.kind, t.c.name)
        if kind is not None:
            query = query.where(t.c.kind == kind)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        found += [
            Target(
                r.id, r.kind, r.name, r.shown, bool(r.enabled), r.origin, r.updated_by, _aware(r.updated_at)
            )
            for r in rows
        ]
        return found

    def target(self, *, target_id: int) -> Target:
        """One stored target (masked); ``ConfigError`` on ``id`` when there is none."""
        found = next((t for t in self.targets(settings=_NO_ENV) if t.id == target_id), None)
        if found is None:
            raise ConfigError("id", f"no monitored target with id {target_id}")
        return found

    def target_url(self, *, target_id: int) -> str:
        """The decrypted URL of a stored target, for collectors only: never show it to anyone."""
        with self._engine.connect() as conn:
            row = conn.execute(select(monitored_targets).where(monitored_targets.c.id == target_id)).first()
        if row is None:
            raise ConfigError("id", f"no monitored target with id {target_id}")
        return _with_name(row.kind, self._secrets().decrypt(row.secret), row.name)

    def add_target(self, *, kind: str, name: str, url: str, by: str | None, origin: str = "manual") -> Target:
        """Store a new target (URL encrypted); ``ConfigError`` on the field that is wrong or a taken name."""
        kind, name, url = validate_target(kind, name, url)
        now = _naive(utc_now())
        shown = mask_url(url)
        with write_transaction(self._engine) as conn:
            taken = conn.execute(
                select(monitored_targets.c.id).where(
                    monitored_targets.c.kind == kind, monitored_targets.c.name == name
                )
            ).first()
            if taken is not None:
                raise ConfigError("name", f"a {TARGET_KINDS[kind][1]} target named {name!r} already exists")
            inserted = conn.execute(
                monitored_targets.insert().values(
                    kind=kind,
                    name=name,
                    secret=self._secrets().encrypt(url),
                    shown=shown,
                    enabled=True,
                    origin=origin,
                    created_by=by,
                    created_at=now,
                    updated_by=by,
                    updated_at=now,
                )
            ).inserted_primary_key
            assert inserted is not None
            new_id = inserted[0]
            _target_history(conn, kind, name, None, {"url": shown, "enabled": True}, by, now)
        return self.target(target_id=int(new_id))

    def update_target(
        self,
        *,
        target_id: int,
        by: str | None,
        name: str | None = None,
        url: str | None = None,
        enabled: bool | None = None,
    ) -> Target:
        """Change a stored target's name, URL (empty or None keeps the stored one) or enabled flag."""
        before = self.target(target_id=target_id)
        new_url = url.strip() if url and url.strip() else None
        kind, new_name = before.kind, _valid_name(before.name if name is None else name)
        if new_url is not None:
            validate_target(kind, new_name, new_url)
        changes: dict[str, Any] = {"name": new_name, "updated_by": by, "updated_at": _naive(utc_now())}
        if new_url is not None:
            changes |= {"secret": self._secrets().encrypt(new_url), "shown": mask_url(new_url)}
        if enabled is not None:
            changes["enabled"] = enabled
        with write_transaction(self._engine) as conn:
            if new_name != before.name:
                taken = conn.execute(
                    select(monitored_targets.c.id).where(
                        monitored_targets.c.kind == kind, monitored_targets.c.name == new_name
                    )
                ).first()
                if taken is not None:
                    raise ConfigError(
                        "name", f"a {TARGET_KINDS[kind][1]} target named {new_name!r} already exists"
                    )
            conn.execute(
                update(monitored_targets).where(monitored_targets.c.id == target_id).values(**changes)
            )
            after = {
                "name": new_name,
                "url": changes.get("shown", before.shown),
                "enabled": before.enabled if enabled is None else enabled,
            }
            _target_history(
                conn,
                kind,
                before.name,
                {"name": before.name, "url": before.shown, "enabled": before.enabled},
                after,
                by,
                changes["updated_at"],
            )
        return self.target(target_id=target_id)

    def remove_target(self, *, target_id: int, by: str | None) -> Target:
        """Delete a stored target; returns what it was (masked)."""
        before = self.target(target_id=target_id)
        with write_transaction(self._engine) as conn:
            conn.execute(delete(monitored_targets).where(monitored_targets.c.id == target_id))
            _target_history(
                conn,
                before.kind,
                before.name,
                {"url": before.shown, "enabled": before.enabled},
                None,
                by,
                _naive(utc_now()),
            )
        return before

    def rotate_secrets(self) -> int:
        """Re-encrypt every stored credential with the newest key (after ``use_secret_key(key=new, older=...)``)."""
        box = self._secrets()
        with write_transaction(self._engine) as conn:
            rows = conn.execute(select(monitored_targets.c.id, monitored_targets.c.secret)).all()
            for row in rows:
                conn.execute(
                    update(monitored_targets)
                    .where(monitored_targets.c.id == row.id)
                    .values(secret=box.rotate(row.secret))
                )
        return len(rows)

    # -- effective settings ---------------------------------------------------------------------

    def effective(self, *, settings: Settings | None = None, max_age_s: float = 5.0) -> Settings:
        """``settings`` with stored values and targets applied where the environment did not pin them.

        Cached per base settings object; the configuration version is re-checked at most every
        ``max_age_s`` seconds (one indexed lookup) and the settings rebuilt only when it moved.
        """
        return self._current(settings or get_settings(), max_age_s).settings

    def _current(self, base: Settings, max_age_s: float) -> _Cached:
        now = time.monotonic()
        with self._cache_lock:
            cached = self._cache.get(id(base))
            if cached is not None and now - cached.checked < max_age_s:
                return cached
        version = self.version()
        if cached is not None and cached.version == version:
            cached.checked = now
            return cached
        entries = self.entries(settings=base)
        fresh = _Cached(
            version, now, self._build(base, entries), {e.definition.key: e.value for e in entries}
        )
        with self._cache_lock:
            # Keyed by id(): keep the base alive in the entry so the id is never reused meanwhile.
            self._cache[id(base)] = fresh
            self._bases[id(base)] = base
        return fresh

    def _build(self, base: Settings, entries: Sequence[ConfigEntry]) -> Settings:
        updates: dict[str, Any] = {}
        for entry in entries:
            d = entry.definition
            if d.setting and entry.source == "stored":
                updates[d.setting] = float(entry.value) if d.type == "float" else entry.value
        for kind, (field_name, _label) in TARGET_KINDS.items():
            stored = self._enabled_urls(kind)
            if stored:
                updates[field_name] = [*getattr(base, field_name), *stored]
        return base.model_copy(update=updates)

    def _enabled_urls(self, kind: str) -> list[str]:
        t = monitored_targets
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(t.c.name, t.c.secret).where(t.c.kind == kind, t.c.enabled.is_(True)).order_by(t.c.name)
            ).all()
        box = self._secrets()
        return [_with_name(kind, box.decrypt(secret), name) for name, secret in rows]


# Settings with nothing from the environment: used where only stored targets matter.
_NO_ENV = Settings.model_construct()


def _env_name(kind: str, url: str, index: int) -> str:
    if kind in ("mysql", "redis") and "name=" in urlsplit(url).query:
        return dict(parse_qsl(urlsplit(url).query)).get("name") or f"{kind}-{index + 1}"
    if kind in ("logs", "backup"):
        return url.partition("?")[0]
    if "://" in url:
        parts = urlsplit(url)
        return f"{parts.hostname or 'localhost'}{':' + str(parts.port) if parts.port else ''}{parts.path if kind == 'http' else ''}"
    return f"{kind}-{index + 1}"


def _target_history(
    conn: Any, kind: str, name: str, old: Any, new: Any, by: str | None, at: datetime
) -> None:
    conn.execute(
        system_config_history.insert().values(
            key=f"target.{kind}.{name}", old_value=old, new_value=new, changed_by=by, changed_at=at
        )
    )


def pinned_keys(settings: Settings) -> Iterable[str]:
    """The configuration keys the environment of ``settings`` pins."""
    return [d.key for d in DEFINITIONS.values() if d.setting and d.setting in settings.model_fields_set]
