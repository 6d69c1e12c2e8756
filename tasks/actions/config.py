"""Configuration actions (admin): change, bulk-update and reset values; add, edit, test, remove and
discover monitored targets. Every attempt is audited; credentials never reach the audit log (only
the masked URL does)."""

from __future__ import annotations

import glob
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collectors import probes
from storage import Settings, Store
from storage.config import TARGET_KINDS, ConfigEntry, ConfigError, Target, backup_location, validate_target
from storage.masking import mask_url, redact, url_secrets
from storage.users import Role
from tasks.actions.gate import Actor, audited, require
from tasks.health_rules import probe_queue

__all__ = [
    "DISCOVERABLE",
    "Discovered",
    "ProbeResult",
    "add_target",
    "bulk_update_config",
    "discover_local_services",
    "edit_target",
    "probe_target",
    "probe_target_url",
    "remove_target",
    "reset_config",
    "set_config",
    "watch_discovered",
]

# What first run looks for: (kind, name, URL) on the default local ports.
DISCOVERABLE: tuple[tuple[str, str, str, int], ...] = (
    ("mysql", "local-mysql", "mysql://root@127.0.0.1:3306/", 3306),
    ("redis", "local-redis", "redis://127.0.0.1:6379/0", 6379),
    ("celery", "local-rabbitmq", "amqp://guest:guest@127.0.0.1:5672//", 5672),
)
PORT_TIMEOUT_S = 0.5


def set_config(store: Store, actor: Actor | None, key: str, value: object) -> ConfigEntry:
    """Store one value (admin); a wrong type, range or unknown key raises ``ConfigError``."""
    before = _current(store, key)
    with audited(store, actor, Role.ADMIN, "config.set", key, before={"value": before}) as after:
        entry = store.config.set(key=key, value=value, by=_name(actor))
        after["value"] = entry.value
    return entry


def bulk_update_config(store: Store, actor: Actor | None, values: Mapping[str, object]) -> list[ConfigEntry]:
    """Store several values at once (admin): all of them or, on one bad value, none."""
    before = {key: _current(store, key) for key in values}
    target = ", ".join(sorted(values))[:191] or None
    with audited(store, actor, Role.ADMIN, "config.bulk_update", target, before=before) as after:
        entries = store.config.bulk_update(values=values, by=_name(actor))
        after.update({entry.definition.key: entry.value for entry in entries})
    return entries


def reset_config(store: Store, actor: Actor | None, key: str) -> ConfigEntry:
    """Back to the default (admin)."""
    before = _current(store, key)
    with audited(store, actor, Role.ADMIN, "config.reset", key, before={"value": before}) as after:
        entry = store.config.reset(key=key, by=_name(actor))
        after["value"] = entry.value
    return entry


def add_target(
    store: Store, actor: Actor | None, kind: str, name: str, url: str, origin: str = "manual"
) -> Target:
    """Watch a new target (admin); the URL is stored encrypted, audited masked."""
    label = f"{kind}:{name}"
    with audited(store, actor, Role.ADMIN, "config.add_target", label[:191]) as after:
        target = store.config.add_target(kind=kind, name=name, url=url, by=_name(actor), origin=origin)
        after.update({"id": target.id, "url": target.shown, "origin": origin})
    return target


def edit_target(
    store: Store,
    actor: Actor | None,
    target_id: int,
    name: str | None = None,
    url: str | None = None,
    enabled: bool | None = None,
) -> Target:
    """Rename, re-point or pause a stored target (admin); an empty URL keeps the stored one."""
    require(store, actor, Role.ADMIN, "config.edit_target", str(target_id))
    before = store.config.target(target_id=target_id)
    with audited(
        store,
        actor,
        Role.ADMIN,
        "config.edit_target",
        f"{before.kind}:{before.name}",
        before=_audit_view(before),
    ) as after:
        target = store.config.update_target(
            target_id=target_id, by=_name(actor), name=name, url=url, enabled=enabled
        )
        after.update({"name": target.name, "url": target.shown, "enabled": target.enabled})
    return target


def remove_target(store: Store, actor: Actor | None, target_id: int) -> Target:
    """Stop watching a stored target (admin); its collected history stays."""
    require(store, actor, Role.ADMIN, "config.remove_target", str(target_id))
    before = store.config.target(target_id=target_id)
    with audited(
        store,
        actor,
        Role.ADMIN,
        "config.remove_target",
        f"{before.kind}:{before.name}",
        before=_audit_view(before),
    ):
        return store.config.remove_target(target_id=target_id, by=_name(actor))


@dataclass(frozen=True)
class ProbeResult:
    """The collector's own verdict on a target: ok, warn or fail, with its words."""

    status: str
    message: str
    response_ms: float | None = None

    @property
    def ok(self) -> bool:
        return self.status != "fail"


def probe_target(store: Store, actor: Actor | None, target_id: int, settings: Settings) -> ProbeResult:
    """Connect to a stored target now (admin) and report what its collector's probe says."""
    target = store.config.target(target_id=target_id)
    with audited(store, actor, Role.ADMIN, "config.test_target", f"{target.kind}:{target.name}") as after:
        result = _probe(target.kind, store.config.target_url(target_id=target_id), settings)
        after.update({"status": result.status, "message": result.message})
    return result


def probe_target_url(
    store: Store, actor: Actor | None, kind: str, name: str, url: str, settings: Settings
) -> ProbeResult:
    """Probe a target typed in the form before it is saved (admin): nothing is stored but the audit."""
    kind, name, url = validate_target(kind, name or "unsaved", url)
    with audited(store, actor, Role.ADMIN, "config.test_target", f"{kind}:{mask_url(url)}"[:191]) as after:
        result = _probe(kind, url, settings)
        after.update({"status": result.status, "message": result.message})
    return result


def _probe(kind: str, url: str, settings: Settings) -> ProbeResult:
    secrets = url_secrets(url)
    if kind == "mysql":
        outcome = probes.probe_mysql(url)
    elif kind == "redis":
        outcome = probes.probe_redis(url)
    elif kind == "http":
        outcome = probes.probe_http(url)
    elif kind == "celery":
        outcome = probe_queue(url, settings.queue_backlog_warn)
    elif kind == "backup":
        pattern, max_age = backup_location(url)
        outcome = probes.probe_backup(pattern, max_age or settings.backup_max_age_hours * 3600)
    else:
        return _probe_path(url)
    return ProbeResult(outcome.status, redact(outcome.message, secrets), outcome.response_ms)


def _probe_path(pattern: str) -> ProbeResult:
    matches = sorted(glob.glob(pattern))
    if not matches:
        return ProbeResult("fail", f"no file matches {pattern} yet (it is tailed as soon as one appears)")
    readable = [path for path in matches if _readable(path)]
    if not readable:
        return ProbeResult("fail", f"{len(matches)} file(s) match but none is readable by this process")
    return ProbeResult("ok", f"{len(readable)} readable file(s), e.g. {readable[0]}")


def _readable(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class Discovered:
    """A service answering on its default local port, and whether it is already watched."""

    kind: str
    name: str
    url: str  # masked
    port: int
    watched: bool


def discover_local_services(store: Store, settings: Settings) -> list[Discovered]:
    """MySQL/MariaDB, Redis and RabbitMQ answering on their default local ports (read-only look)."""
    watched = {(t.kind, t.shown) for t in store.config.targets(settings=settings)}
    watched_names = {(t.kind, t.name) for t in store.config.targets(settings=settings)}
    found = []
    for kind, name, url, port in DISCOVERABLE:
        if not _port_open("127.0.0.1", port):
            continue
        shown = mask_url(url)
        is_watched = (
            (kind, shown) in watched
            or (kind, name) in watched_names
            or _same_address(store, settings, kind, port)
        )
        found.append(Discovered(kind, name, shown, port, is_watched))
    return found


def watch_discovered(store: Store, actor: Actor | None, kind: str) -> Target:
    """Start watching the discovered local service of ``kind`` (admin, one click, audited)."""
    match = next((entry for entry in DISCOVERABLE if entry[0] == kind), None)
    if match is None:
        raise ConfigError("kind", f"nothing to discover for {kind!r}")
    _kind, name, url, _port = match
    return add_target(store, actor, kind, name, url, origin="discovered")


def _same_address(store: Store, settings: Settings, kind: str, port: int) -> bool:
    for target in store.config.targets(kind=kind, settings=settings):
        shown = target.shown
        if f":{port}" in shown and ("127.0.0.1" in shown or "localhost" in shown):
            return True
    return False


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PORT_TIMEOUT_S):
            return True
    except OSError:
        return False


def _audit_view(target: Target) -> dict[str, Any]:
    """What the audit log keeps of a target: never the credentials, only the masked URL."""
    return {"kind": target.kind, "name": target.name, "url": target.shown, "enabled": target.enabled}


def _current(store: Store, key: str) -> Any:
    try:
        return store.config.get(key=key).value
    except ConfigError:
        return None


def _name(actor: Actor | None) -> str | None:
    return actor.username if actor else None


def target_kinds() -> dict[str, str]:
    """Kind -> label, for forms."""
    return {kind: label for kind, (_field, label) in TARGET_KINDS.items()}
