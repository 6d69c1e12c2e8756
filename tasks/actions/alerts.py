"""Alerting actions: rules (admin), acknowledge/resolve (operator), silences (operator), channels (admin).

Each one checks the role on the server and lands in the audit log (``audited``), so the page, the
REST API and a hand-posted callback get the same answer. Form problems raise
:class:`~tasks.alerting.model.RuleInvalid` with one message per field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from collectors.catalog import METRIC_CATALOG
from storage import Settings, Store
from storage import alerts as alertstore
from storage.alerts import CHANNEL_KINDS, secret_hint
from storage.timeparse import parse_duration, parse_time, utc_now
from storage.users import Role
from tasks.actions.gate import Actor, audited
from tasks.alerting.delivery import send_test
from tasks.alerting.evaluate import rule_from_row
from tasks.alerting.model import SEVERITIES, Rule, RuleInvalid, duration_seconds, parse_labels, rule_from_form
from tasks.alerting.notify import SendResult, validate_http_url
from tasks.alerting.secrets import new_signing_secret, secret_box
from tasks.alerting.silencing import validate_cron

__all__ = [
    "CreatedChannel",
    "acknowledge_alerts",
    "clone_rule",
    "create_channel",
    "default_repeat",
    "delete_alert",
    "delete_channel",
    "delete_rule",
    "delete_silence",
    "known_labels",
    "known_metrics",
    "resolve_alerts",
    "save_rule",
    "save_silence",
    "set_rule_enabled",
    "silence_from_form",
    "test_channel",
    "toggle_channel",
    "update_channel",
    "validate_rule",
]


def known_metrics(store: Store) -> list[str]:
    """Every metric a rule may watch: the catalog plus whatever the store holds."""
    stored = set(store.list_series()["metric"].unique().tolist())
    return sorted(set(METRIC_CATALOG) | stored)


def known_labels(store: Store, metric: str) -> dict[str, set[str]]:
    """Label names the series of ``metric`` carry (templates may use them)."""
    found = store.list_series(metric=metric) if metric else pd.DataFrame()
    names: set[str] = set()
    if not found.empty:
        for labels in found["labels"]:
            names |= set((labels or {}).keys())
    description = METRIC_CATALOG.get(metric, ("", ""))[1]
    names |= {part.split("}")[0] for part in description.split("{")[1:]}  # "{mount}" in the catalog
    return {metric: names}


def default_repeat(store: Store) -> str:
    """``alerts.default_cooldown_minutes`` as a duration ("15m"): a new rule's repeat interval."""
    return f"{int(store.config.value(key='alerts.default_cooldown_minutes', max_age_s=0))}m"


def validate_rule(store: Store, form: Mapping[str, Any], rule_id: int | None = None) -> Rule:
    """The rule the form describes, or ``RuleInvalid`` (no role needed: nothing changes)."""
    metric = str(form.get("metric") or "").strip()
    channels = [channel["id"] for channel in alertstore.list_channels(store.engine)]
    if form.get("repeat") in (None, ""):
        # No repeat interval of its own: the configured default cooldown (Settings, alerts).
        form = {**form, "repeat": default_repeat(store)}
    rule = rule_from_form(
        form,
        known_metrics=known_metrics(store),
        known_labels=known_labels(store, metric),
        known_channels=channels,
        rule_id=rule_id,
    )
    if alertstore.rule_name_taken(store.engine, rule.name, except_id=rule_id):
        raise RuleInvalid({"name": f"a rule named {rule.name!r} already exists"})
    return rule


def save_rule(store: Store, actor: Actor | None, form: Mapping[str, Any], rule_id: int | None = None) -> Rule:
    """Create (``rule_id=None``) or change a rule (admin)."""
    before = alertstore.get_rule(store.engine, rule_id) if rule_id is not None else None
    target = str(form.get("name") or rule_id or "new rule")
    with audited(store, actor, Role.ADMIN, "alerts.rule.save", target, before=_jsonable(before)) as after:
        if rule_id is not None and before is None:
            raise LookupError(f"rule: no rule with id {rule_id}")
        rule = validate_rule(store, form, rule_id)
        assert actor is not None
        data = rule.as_dict()
        if rule_id is None:
            rule_id = alertstore.insert_rule(store.engine, data, actor.username)
        else:
            alertstore.update_rule(store.engine, rule_id, data, actor.username)
        after.update(id=rule_id, rule=_jsonable(data))
    saved = alertstore.get_rule(store.engine, rule_id)
    assert saved is not None
    return rule_from_row(saved)


def clone_rule(store: Store, actor: Actor | None, rule_id: int) -> Rule:
    """A disabled copy of a rule named "<name> (copy)" (admin)."""
    with audited(store, actor, Role.ADMIN, "alerts.rule.clone", str(rule_id)) as after:
        found = alertstore.get_rule(store.engine, rule_id)
        if found is None:
            raise LookupError(f"rule: no rule with id {rule_id}")
        name, n = f"{found['name']} (copy)", 2
        while alertstore.rule_name_taken(store.engine, name):
            name, n = f"{found['name']} (copy {n})", n + 1
        copy = {**found, "name": name, "enabled": False, "default_key": None}
        assert actor is not None
        new_id = alertstore.insert_rule(store.engine, copy, actor.username)
        after.update(id=new_id, name=name)
    saved = alertstore.get_rule(store.engine, new_id)
    assert saved is not None
    return rule_from_row(saved)


def set_rule_enabled(store: Store, actor: Actor | None, rule_id: int, enabled: bool) -> None:
    """Enable or disable a rule (admin)."""
    with audited(
        store, actor, Role.ADMIN, "alerts.rule.enable" if enabled else "alerts.rule.disable", str(rule_id)
    ):
        assert actor is not None
        if not alertstore.set_rule_enabled(store.engine, rule_id, enabled, actor.username):
            raise LookupError(f"rule: no rule with id {rule_id}")


def delete_rule(store: Store, actor: Actor | None, rule_id: int) -> None:
    """Delete a rule and its alerts (admin)."""
    before = alertstore.get_rule(store.engine, rule_id)
    with audited(store, actor, Role.ADMIN, "alerts.rule.delete", str(rule_id), before=_jsonable(before)):
        if not alertstore.delete_rule(store.engine, rule_id):
            raise LookupError(f"rule: no rule with id {rule_id}")


def acknowledge_alerts(
    store: Store, actor: Actor | None, alert_ids: Sequence[int], comment: str = ""
) -> list[int]:
    """Acknowledge open alerts (operator): repeats stop until the alert changes state."""
    ids = [int(i) for i in alert_ids]
    with audited(store, actor, Role.OPERATOR, "alerts.acknowledge", ",".join(map(str, ids))[:255]) as after:
        assert actor is not None
        done = alertstore.acknowledge_alerts(store.engine, ids, actor.username, comment.strip()[:2000])
        after.update(acknowledged=done, comment=comment.strip()[:200])
    return done


def resolve_alerts(
    store: Store, actor: Actor | None, alert_ids: Sequence[int], comment: str = ""
) -> list[int]:
    """Close open alerts by hand (operator)."""
    ids = [int(i) for i in alert_ids]
    with audited(store, actor, Role.OPERATOR, "alerts.resolve", ",".join(map(str, ids))[:255]) as after:
        assert actor is not None
        done = alertstore.resolve_alerts(store.engine, ids, actor.username, comment.strip()[:2000])
        after["resolved"] = done
    return done


def delete_alert(store: Store, actor: Actor | None, alert_id: int) -> None:
    """Delete an alert and its history (admin)."""
    with audited(store, actor, Role.ADMIN, "alerts.delete", str(alert_id)):
        if not alertstore.delete_alert(store.engine, alert_id):
            raise LookupError(f"alert: no alert with id {alert_id}")


# --- silences ---------------------------------------------------------------------------------


def silence_from_form(form: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A silence from form/JSON fields, or ``RuleInvalid`` naming each bad field."""
    now = now or utc_now()
    errors: dict[str, str] = {}
    matchers: dict[str, Any] = {}
    rule_id = form.get("rule_id")
    if rule_id not in (None, ""):
        try:
            matchers["rule_id"] = int(rule_id)
        except (TypeError, ValueError):
            errors["rule_id"] = f"{rule_id!r} is not a rule id"
    if str(form.get("host") or "").strip():
        matchers["host"] = str(form["host"]).strip()
    severity = str(form.get("severity") or "").strip()
    if severity:
        if severity not in SEVERITIES:
            errors["severity"] = f"{severity!r} is not one of {', '.join(SEVERITIES)}"
        matchers["severity"] = severity
    try:
        labels = parse_labels(form.get("labels"), "labels")
    except ValueError as exc:
        errors["labels"] = str(exc).split(": ", 1)[-1]
        labels = {}
    if labels:
        matchers["labels"] = labels
    if not matchers and "rule_id" not in errors:
        errors["rule_id"] = "match at least a rule, a target, a severity or a label"
    comment = str(form.get("comment") or "").strip()
    if not comment:
        errors["comment"] = "say why (it is shown with every muted alert)"
    cron = str(form.get("cron") or "").strip() or None
    starts = ends = None
    duration = None
    for key in ("starts_at", "ends_at"):
        raw = form.get(key)
        if raw in (None, ""):
            continue
        try:
            if key == "ends_at" and _is_duration(raw):
                # "2h" as an end means two hours from the start (or from now), not two hours ago.
                moment = (starts or now) + timedelta(seconds=duration_seconds(raw, key, allow_zero=False))
            else:
                moment = parse_time(raw, name=key, now=now)
        except ValueError as exc:
            errors[key] = str(exc).split(": ", 1)[-1]
            continue
        if key == "starts_at":
            starts = moment
        else:
            ends = moment
    if cron:
        try:
            cron = validate_cron(cron)
        except ValueError as exc:
            errors["cron"] = str(exc)
        try:
            duration = duration_seconds(form.get("duration") or "", "duration", allow_zero=False)
        except ValueError as exc:
            errors["duration"] = str(exc).split(": ", 1)[-1]
    elif ends is None and "ends_at" not in errors:
        errors["ends_at"] = "give an end, or a recurring window (cron and duration)"
    if starts is None and not cron and "starts_at" not in errors:
        starts = now
    if starts is not None and ends is not None and ends <= starts:
        errors["ends_at"] = "must be after the start"
    if errors:
        raise RuleInvalid(errors)
    return {
        "matchers": matchers,
        "starts_at": starts,
        "ends_at": ends,
        "cron": cron,
        "duration_seconds": duration,
        "comment": comment,
        "enabled": bool(form.get("enabled", True)),
    }


def _is_duration(text: object) -> bool:
    try:
        parse_duration(str(text).strip())
    except ValueError:
        return False
    return True


def save_silence(
    store: Store, actor: Actor | None, form: Mapping[str, Any], silence_id: int | None = None
) -> int:
    """Create or change a silence (operator)."""
    with audited(store, actor, Role.OPERATOR, "alerts.silence.save", str(silence_id or "new")) as after:
        silence = silence_from_form(form)
        assert actor is not None
        if silence_id is None:
            silence_id = alertstore.insert_silence(store.engine, silence, actor.username)
        elif not alertstore.update_silence(store.engine, silence_id, silence):
            raise LookupError(f"silence: no silence with id {silence_id}")
        after.update(id=silence_id, matchers=silence["matchers"], cron=silence["cron"])
    return silence_id


def delete_silence(store: Store, actor: Actor | None, silence_id: int) -> None:
    """Delete a silence (operator)."""
    with audited(store, actor, Role.OPERATOR, "alerts.silence.delete", str(silence_id)):
        if not alertstore.delete_silence(store.engine, silence_id):
            raise LookupError(f"silence: no silence with id {silence_id}")


# --- channels ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedChannel:
    id: int
    # The webhook signing secret, returned once at creation; never readable again.
    signing_secret: str | None


def _channel_parts(
    form: Mapping[str, Any], creating: bool
) -> tuple[str, str, dict[str, Any], dict[str, str] | None]:
    errors: dict[str, str] = {}
    name = str(form.get("name") or "").strip()
    if not name:
        errors["name"] = "give the channel a name"
    kind = str(form.get("kind") or "").strip()
    if kind not in CHANNEL_KINDS:
        errors["kind"] = f"{kind!r} is not one of {', '.join(CHANNEL_KINDS)}"
    config: dict[str, Any] = {}
    secret: dict[str, str] | None = None
    if kind == "webhook":
        try:
            config["url"] = validate_http_url(str(form.get("url") or ""))
        except ValueError as exc:
            errors["url"] = str(exc).split(": ", 1)[-1]
    elif kind == "slack":
        raw = str(form.get("url") or "").strip()
        if raw or creating:
            try:
                secret = {"url": validate_http_url(raw, "url")}
            except ValueError as exc:
                errors["url"] = str(exc).split(": ", 1)[-1]
    elif kind == "email":
        config["host"] = str(form.get("host") or "localhost").strip()
        try:
            config["port"] = int(form.get("port") or 25)
            if not 0 < config["port"] < 65536:
                raise ValueError
        except (TypeError, ValueError):
            errors["port"] = f"{form.get('port')!r} is not a port number"
        recipients = form.get("to") or []
        if isinstance(recipients, str):
            recipients = [part.strip() for part in recipients.split(",") if part.strip()]
        if not recipients or any("@" not in r for r in recipients):
            errors["to"] = "give one or more e-mail addresses, comma separated"
        config.update(
            to=list(recipients),
            sender=str(form.get("sender") or "vitals@localhost").strip(),
            starttls=bool(form.get("starttls")),
            username=str(form.get("username") or "").strip(),
        )
        if form.get("password"):
            secret = {"password": str(form["password"])}
        elif creating:
            secret = {}
    elif kind == "apprise":
        raw = str(form.get("url") or "").strip()
        if raw or creating:
            import apprise  # loading Apprise's plugins is slow: only when an Apprise channel is saved

            if not raw or not apprise.Apprise().add(raw):
                errors["url"] = "Apprise does not understand this URL (e.g. discord://webhook_id/token)"
            secret = {"url": raw}
    if errors:
        raise RuleInvalid(errors)
    return name, kind, config, secret


def create_channel(
    store: Store, settings: Settings, actor: Actor | None, form: Mapping[str, Any]
) -> CreatedChannel:
    """Add a notification channel (admin). A webhook gets a new signing secret, returned only here."""
    with audited(store, actor, Role.ADMIN, "alerts.channel.create", str(form.get("name") or "")) as after:
        name, kind, config, secret = _channel_parts(form, creating=True)
        signing = None
        if kind == "webhook":
            signing = new_signing_secret()
            secret = {"signing_secret": signing}
        shown = next(iter((secret or {}).values()), "")
        channel_id = alertstore.insert_channel(
            store.engine,
            name=name,
            kind=kind,
            config=config,
            secret=secret or {},
            box=secret_box(settings),
            hint=secret_hint(shown) if shown else "",
            enabled=bool(form.get("enabled", True)),
        )
        after.update(id=channel_id, kind=kind)
    return CreatedChannel(channel_id, signing)


def update_channel(
    store: Store, settings: Settings, actor: Actor | None, channel_id: int, form: Mapping[str, Any]
) -> None:
    """Change a channel's name and settings (admin); a blank secret field keeps the stored secret."""
    with audited(store, actor, Role.ADMIN, "alerts.channel.update", str(channel_id)):
        found = alertstore.get_channel(store.engine, channel_id)
        if found is None:
            raise LookupError(f"channel: no channel with id {channel_id}")
        name, _kind, config, secret = _channel_parts({**form, "kind": found["kind"]}, creating=False)
        shown = next(iter((secret or {}).values()), "")
        alertstore.update_channel(
            store.engine,
            channel_id,
            name=name,
            config=config,
            secret=secret,
            box=secret_box(settings),
            hint=secret_hint(shown) if shown else None,
        )


def toggle_channel(store: Store, actor: Actor | None, channel_id: int) -> bool:
    """Enable a disabled channel or disable an enabled one (admin); returns the new state."""
    with audited(store, actor, Role.ADMIN, "alerts.channel.toggle", str(channel_id)) as after:
        found = alertstore.get_channel(store.engine, channel_id)
        if found is None:
            raise LookupError(f"channel: no channel with id {channel_id}")
        alertstore.set_channel_enabled(store.engine, channel_id, not found["enabled"])
        after["enabled"] = not found["enabled"]
    return not found["enabled"]


def delete_channel(store: Store, actor: Actor | None, channel_id: int) -> None:
    """Delete a channel and its delivery log (admin)."""
    with audited(store, actor, Role.ADMIN, "alerts.channel.delete", str(channel_id)):
        if not alertstore.delete_channel(store.engine, channel_id):
            raise LookupError(f"channel: no channel with id {channel_id}")


def test_channel(
    store: Store, settings: Settings, actor: Actor | None, channel_id: int, base_url: str
) -> SendResult:
    """Send a test message now (operator); logged in the delivery log."""
    with audited(store, actor, Role.OPERATOR, "alerts.channel.test", str(channel_id)) as after:
        result = send_test(store, secret_box(settings), channel_id, base_url)
        after.update(ok=result.ok, status_code=result.status_code)
    return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
