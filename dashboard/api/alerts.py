"""Alerts: the alert center (list, one alert, acknowledge, resolve, delete), rules (CRUD, test now,
backtest), analytics, silences (CRUD + preview) and webhooks/channels (CRUD, test, toggle).

Every change goes through ``tasks.actions.alerts`` (role check + audit there). A form problem is a
400 naming the first bad field, with ``errors`` listing every field's message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

import flask
import pandas as pd
from pydantic import BaseModel, Field

from dashboard.api.core import BadParameter, Query, TimeText, api, iso, responses, spec, validated
from dashboard.services import current_actor, services
from storage import alerts as alertstore
from tasks.actions import alerts as actions
from tasks.alerting.evaluate import rule_from_row
from tasks.alerting.model import AGGREGATIONS, NO_DATA_MODES, OPERATORS, SEVERITIES, RuleInvalid
from tasks.alerting.preview import backtest_rule, check_rule_now, silence_preview
from tasks.alerts_jobs import base_url

__all__ = [
    "alert_acknowledge",
    "alert_analytics",
    "alert_delete",
    "alert_get",
    "alert_list",
    "alert_resolve",
    "rule_backtest",
    "rule_create",
    "rule_delete",
    "rule_get",
    "rule_list",
    "rule_test",
    "rule_update",
    "silence_create",
    "silence_delete",
    "silence_list",
    "silence_preview_route",
    "silence_update",
    "webhook_create",
    "webhook_delete",
    "webhook_list",
    "webhook_test",
    "webhook_toggle",
    "webhook_update",
]

TAGS = ["alerts"]
T = TypeVar("T")
_TIME = "A duration ago (`15m`, `24h`, `7d`) or an ISO 8601 time."


@api.errorhandler(RuleInvalid)
def _invalid(exc: RuleInvalid) -> tuple[flask.Response, int]:
    field, message = next(iter(exc.errors.items()))
    return flask.jsonify(error=f"{field}: {message}", parameter=field, errors=exc.errors), 400


def _found(parameter: str, call: Callable[[], T]) -> T:
    """Run an action; its LookupError ("rule: no rule with id 3") becomes a 404 naming the parameter."""
    try:
        return call()
    except LookupError as exc:
        raise BadParameter(parameter, f"{parameter}: {str(exc).split(': ', 1)[-1]}", status=404) from None
    except ValueError as exc:
        if isinstance(exc, RuleInvalid):
            raise
        raise BadParameter(parameter, str(exc)) from None


def _iso(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return iso(value) if isinstance(value, datetime) else str(value)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, datetime | pd.Timestamp) or value is pd.NaT:
        return _iso(value)
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


# --- alerts -----------------------------------------------------------------------------------


class AlertsQuery(Query):
    state: str | None = Field(
        None,
        description="open, pending, firing, nodata, error, acknowledged, resolved",
        json_schema_extra={"enum": ["open", *alertstore.ALERT_STATES]},
    )
    severity: Literal["info", "warning", "critical", "emergency"] | None = None
    category: str | None = None
    host: str | None = Field(None, description="the target host")
    rule_id: int | None = None
    since: TimeText = Field("7d", description=f"Start of the window. {_TIME}")
    until: TimeText | None = Field(None, description=f"End of the window. {_TIME} Default now.")
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class AlertOut(BaseModel):
    id: int
    rule_id: int
    rule: str
    metric: str
    severity: str
    category: str
    state: str
    value: float | None
    host: str | None
    labels: dict[str, Any] | None
    started_at: str | None
    firing_at: str | None
    resolved_at: str | None
    acknowledged_by: str | None
    acknowledged_at: str | None
    ack_comment: str | None
    resolved_by: str | None
    notifications: int
    summary: str | None


class AlertsOut(BaseModel):
    alerts: list[AlertOut]
    total: int


class HistoryEntry(BaseModel):
    ts: str
    from_state: str | None
    to_state: str
    value: float | None
    note: str | None


class AlertDetail(AlertOut):
    operator: str
    threshold: float
    threshold2: float | None
    annotations: dict[str, Any]
    history: list[HistoryEntry]


class AlertComment(Query):
    comment: str = Field("", max_length=2000)


class Changed(BaseModel):
    ids: list[int]


class Deleted(BaseModel):
    deleted: int


def _alert_row(row: dict[str, Any]) -> dict[str, Any]:
    keys = AlertOut.model_fields
    return {key: _clean(row.get(key)) for key in keys}


@api.get("/alerts")
@spec.validate(query=AlertsQuery, resp=responses(AlertsOut), tags=TAGS)
def alert_list() -> flask.Response:
    """Alerts active in the window, open first (worst severity first), then newest; paginated."""
    q = validated(AlertsQuery)
    store = services().store
    filters = {
        "state": q.state,
        "since": q.since,
        "until": q.until,
        "severity": q.severity,
        "category": q.category,
        "host": q.host,
        "rule_id": q.rule_id,
    }
    frame = _found("state", lambda: store.alerts.find(**filters, limit=q.limit, offset=q.offset))
    total = store.alerts.count(**filters)
    return flask.jsonify(alerts=[_alert_row(row) for row in frame.to_dict("records")], total=total)


def _alert_or_404(alert_id: int) -> dict[str, Any]:
    found = services().store.alerts.alert(alert_id=alert_id)
    if found is None:
        raise BadParameter("alert_id", f"alert_id: no alert with id {alert_id}", status=404)
    return found


@api.get("/alerts/<int:alert_id>")
@spec.validate(resp=responses(AlertDetail, 404), tags=TAGS)
def alert_get(alert_id: int) -> flask.Response:
    """One alert with its rule's condition and its whole state history."""
    found = _alert_or_404(alert_id)
    history = services().store.alerts.history(alert_id=alert_id)
    body = _alert_row(found)
    body.update(
        operator=found["condition"],
        threshold=found["threshold"],
        threshold2=found["threshold2"],
        annotations=found["annotations"],
        history=_clean(history.to_dict("records")),
    )
    return flask.jsonify(body)


@api.post("/alerts/<int:alert_id>/acknowledge")
@spec.validate(json=AlertComment, resp=responses(Changed, 404), tags=TAGS)
def alert_acknowledge(alert_id: int) -> flask.Response:
    """Acknowledge an open alert with a comment (operator): repeats stop until its state changes."""
    body = validated(AlertComment, "json")
    _alert_or_404(alert_id)
    done = actions.acknowledge_alerts(services().store, current_actor(), [alert_id], body.comment)
    if not done:
        raise BadParameter("alert_id", f"alert_id: alert {alert_id} is not open", status=409)
    return flask.jsonify(ids=done)


@api.post("/alerts/<int:alert_id>/resolve")
@spec.validate(json=AlertComment, resp=responses(Changed, 404), tags=TAGS)
def alert_resolve(alert_id: int) -> flask.Response:
    """Resolve an open alert by hand (operator)."""
    body = validated(AlertComment, "json")
    _alert_or_404(alert_id)
    done = actions.resolve_alerts(services().store, current_actor(), [alert_id], body.comment)
    if not done:
        raise BadParameter("alert_id", f"alert_id: alert {alert_id} is not open", status=409)
    return flask.jsonify(ids=done)


@api.delete("/alerts/<int:alert_id>")
@spec.validate(resp=responses(Deleted, 404), tags=TAGS)
def alert_delete(alert_id: int) -> flask.Response:
    """Delete an alert and its history (admin)."""
    _found("alert_id", lambda: actions.delete_alert(services().store, current_actor(), alert_id))
    return flask.jsonify(deleted=alert_id)


class AnalyticsQuery(Query):
    since: TimeText = Field("7d", description=f"Start of the window. {_TIME}")
    until: TimeText | None = None


class AnalyticsOut(BaseModel):
    over_time: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    flapping: list[dict[str, Any]]


@api.get("/alerts/analytics")
@spec.validate(query=AnalyticsQuery, resp=responses(AnalyticsOut), tags=TAGS)
def alert_analytics() -> flask.Response:
    """Alerts over time by severity, noisiest rules with MTTA/MTTR (seconds), and flapping rules."""
    q = validated(AnalyticsQuery)
    found = _found("since", lambda: services().store.alerts.analytics(since=q.since, until=q.until))
    return flask.jsonify({name: _clean(frame.to_dict("records")) for name, frame in found.items()})


# --- rules ------------------------------------------------------------------------------------


class RuleBody(Query):
    name: str = Field(description="unique name")
    metric: str = Field(description="a metric name from /api/metrics")
    host: str | None = None
    labels: dict[str, str] | str | None = Field(
        None, description="series matchers: {name: value} or 'a=b, c=d'"
    )
    aggregation: str = Field("avg", json_schema_extra={"enum": list(AGGREGATIONS)})
    window: str = Field("5m", description="aggregation window, e.g. 5m")
    operator: str = Field("gt", json_schema_extra={"enum": list(OPERATORS)})
    threshold: float | str | None = None
    threshold2: float | str | None = Field(None, description="upper bound for between/outside")
    for_: str = Field("0", alias="for", description="how long the condition must hold before firing")
    keep_firing_for: str = Field("0", description="keep firing this long after the condition clears")
    repeat: str | None = Field(
        None,
        description="repeat interval (cooldown) while firing; 0 = never repeat; "
        "omitted: the configured alerts.default_cooldown_minutes (15m by default)",
    )
    severity: str = Field("warning", json_schema_extra={"enum": list(SEVERITIES)})
    category: str = "general"
    alert_labels: dict[str, str] | str | None = None
    summary: str = ""
    description: str = ""
    runbook_url: str = ""
    channels: list[int] = Field(default_factory=list)
    enabled: bool = True
    no_data: str = Field("ok", json_schema_extra={"enum": list(NO_DATA_MODES)})


class RuleOut(BaseModel):
    id: int
    name: str
    metric: str
    host: str | None
    labels: dict[str, Any]
    aggregation: str
    window_seconds: int
    operator: str
    threshold: float
    threshold2: float | None
    for_seconds: int
    keep_firing_seconds: int
    repeat_seconds: int
    severity: str
    category: str
    alert_labels: dict[str, Any]
    summary: str
    description: str
    runbook_url: str
    channels: list[int]
    enabled: bool
    no_data: str
    condition: str


class RulesOut(BaseModel):
    rules: list[RuleOut]


def _rule_out(row: dict[str, Any]) -> dict[str, Any]:
    body = {key: _clean(row.get(key)) for key in RuleOut.model_fields if key != "condition"}
    body["condition"] = rule_from_row(row).condition_text
    return body


def _rule_or_404(rule_id: int) -> dict[str, Any]:
    found = services().store.alerts.rule(rule_id=rule_id)
    if found is None:
        raise BadParameter("rule_id", f"rule_id: no rule with id {rule_id}", status=404)
    return found


def _form(body: RuleBody) -> dict[str, Any]:
    form = body.model_dump(by_alias=True)
    return form


@api.get("/alerts/rules")
@spec.validate(resp=responses(RulesOut), tags=TAGS)
def rule_list() -> flask.Response:
    """Every alert rule."""
    rows = alertstore.list_rules(services().store.engine)
    return flask.jsonify(rules=[_rule_out(row) for row in rows])


@api.post("/alerts/rules")
@spec.validate(json=RuleBody, resp=responses(RuleOut), tags=TAGS)
def rule_create() -> flask.Response:
    """Create a rule (admin); validated like the editor, a 400 names the first bad field."""
    body = validated(RuleBody, "json")
    rule = actions.save_rule(services().store, current_actor(), _form(body))
    assert rule.id is not None
    return flask.jsonify(_rule_out(_rule_or_404(rule.id)))


@api.get("/alerts/rules/<int:rule_id>")
@spec.validate(resp=responses(RuleOut, 404), tags=TAGS)
def rule_get(rule_id: int) -> flask.Response:
    """One rule."""
    return flask.jsonify(_rule_out(_rule_or_404(rule_id)))


@api.put("/alerts/rules/<int:rule_id>")
@spec.validate(json=RuleBody, resp=responses(RuleOut, 404), tags=TAGS)
def rule_update(rule_id: int) -> flask.Response:
    """Replace a rule's fields (admin)."""
    body = validated(RuleBody, "json")
    _rule_or_404(rule_id)
    actions.save_rule(services().store, current_actor(), _form(body), rule_id)
    return flask.jsonify(_rule_out(_rule_or_404(rule_id)))


@api.delete("/alerts/rules/<int:rule_id>")
@spec.validate(resp=responses(Deleted, 404), tags=TAGS)
def rule_delete(rule_id: int) -> flask.Response:
    """Delete a rule and its alerts (admin)."""
    _found("rule_id", lambda: actions.delete_rule(services().store, current_actor(), rule_id))
    return flask.jsonify(deleted=rule_id)


class SeriesValue(BaseModel):
    series_id: int
    host: str
    labels: dict[str, Any]
    value: float | None
    met: bool


class RuleTestOut(BaseModel):
    condition: str
    series: list[SeriesValue]


@api.post("/alerts/rules/<int:rule_id>/test")
@spec.validate(resp=responses(RuleTestOut, 404), tags=TAGS)
def rule_test(rule_id: int) -> flask.Response:
    """Evaluate the rule now without storing anything: each series' window value and the verdict."""
    rule = rule_from_row(_rule_or_404(rule_id))
    found = check_rule_now(services().store, rule)
    return flask.jsonify(condition=rule.condition_text, series=[_clean(vars(s)) for s in found])


class BacktestBody(Query):
    range: Literal["24h", "7d", "30d"] = "24h"


class EpisodeOut(BaseModel):
    state: str
    started_at: str
    ended_at: str | None
    peak: float | None
    notifications: int


class SeriesBacktestOut(BaseModel):
    series_id: int
    host: str
    labels: dict[str, Any]
    notifications: int
    episodes: list[EpisodeOut]


class BacktestOut(BaseModel):
    since: str
    until: str
    every_seconds: float
    series_total: int
    samples: int
    notifications: int
    episodes: int
    series: list[SeriesBacktestOut]


@api.post("/alerts/rules/<int:rule_id>/backtest")
@spec.validate(json=BacktestBody, resp=responses(BacktestOut, 404), tags=TAGS)
def rule_backtest(rule_id: int) -> flask.Response:
    """Replay the engine over stored history: when it would have fired and resolved, and how many
    notifications its repeat interval would have let through."""
    body = validated(BacktestBody, "json")
    rule = rule_from_row(_rule_or_404(rule_id))
    settings = services().settings
    result = backtest_rule(services().store, rule, body.range, settings.alert_evaluation_interval_seconds)
    return flask.jsonify(
        since=iso(result.since),
        until=iso(result.until),
        every_seconds=result.every_seconds,
        series_total=result.series_total,
        samples=result.samples,
        notifications=result.notifications,
        episodes=result.episodes,
        series=[
            {
                "series_id": s.series_id,
                "host": s.host,
                "labels": s.labels,
                "notifications": s.notifications,
                "episodes": [_clean(vars(e)) for e in s.episodes],
            }
            for s in result.series
        ],
    )


# --- silences ---------------------------------------------------------------------------------


class SilenceBody(Query):
    rule_id: int | None = None
    host: str | None = None
    severity: str | None = None
    labels: dict[str, str] | str | None = None
    starts_at: TimeText | None = Field(None, description=f"{_TIME} Default now (fixed windows).")
    ends_at: TimeText | None = Field(None, description="end of a fixed window")
    cron: str | None = Field(
        None, description="recurring window start, cron syntax: '0 2 * * 0' = Sundays 02:00"
    )
    duration: str | None = Field(None, description="length of each recurring window, e.g. 2h")
    comment: str = ""
    enabled: bool = True


class SilenceOut(BaseModel):
    id: int
    matchers: dict[str, Any]
    starts_at: str | None
    ends_at: str | None
    cron: str | None
    duration_seconds: int | None
    comment: str
    created_by: str
    created_at: str | None
    enabled: bool


class SilencesOut(BaseModel):
    silences: list[SilenceOut]


class SilencePreviewOut(BaseModel):
    muted: list[AlertOut]
    open: list[AlertOut]


def _silence_out(row: dict[str, Any]) -> dict[str, Any]:
    return {key: _clean(row.get(key)) for key in SilenceOut.model_fields}


def _silence_or_404(silence_id: int) -> dict[str, Any]:
    found = alertstore.get_silence(services().store.engine, silence_id)
    if found is None:
        raise BadParameter("silence_id", f"silence_id: no silence with id {silence_id}", status=404)
    return found


@api.get("/silences")
@spec.validate(resp=responses(SilencesOut), tags=TAGS)
def silence_list() -> flask.Response:
    """Silences and recurring maintenance windows."""
    rows = alertstore.list_silences(services().store.engine)
    return flask.jsonify(silences=[_silence_out(row) for row in rows])


@api.post("/silences")
@spec.validate(json=SilenceBody, resp=responses(SilenceOut), tags=TAGS)
def silence_create() -> flask.Response:
    """Create a silence (operator)."""
    body = validated(SilenceBody, "json")
    silence_id = actions.save_silence(services().store, current_actor(), body.model_dump())
    return flask.jsonify(_silence_out(_silence_or_404(silence_id)))


@api.put("/silences/<int:silence_id>")
@spec.validate(json=SilenceBody, resp=responses(SilenceOut, 404), tags=TAGS)
def silence_update(silence_id: int) -> flask.Response:
    """Change a silence (operator)."""
    body = validated(SilenceBody, "json")
    _silence_or_404(silence_id)
    actions.save_silence(services().store, current_actor(), body.model_dump(), silence_id)
    return flask.jsonify(_silence_out(_silence_or_404(silence_id)))


@api.delete("/silences/<int:silence_id>")
@spec.validate(resp=responses(Deleted, 404), tags=TAGS)
def silence_delete(silence_id: int) -> flask.Response:
    """Delete a silence (operator)."""
    _found("silence_id", lambda: actions.delete_silence(services().store, current_actor(), silence_id))
    return flask.jsonify(deleted=silence_id)


@api.post("/silences/preview")
@spec.validate(json=SilenceBody, resp=responses(SilencePreviewOut), tags=TAGS)
def silence_preview_route() -> flask.Response:
    """What this silence would have muted over the last 7 days, and the open alerts it mutes now."""
    body = validated(SilenceBody, "json")
    silence = actions.silence_from_form({**body.model_dump(), "comment": body.comment or "preview"})
    found = silence_preview(services().store, silence)
    return flask.jsonify(
        muted=[_alert_row(a) for a in found["muted"]], open=[_alert_row(a) for a in found["open"]]
    )


# --- webhooks (notification channels) ---------------------------------------------------------


class ChannelBody(Query):
    name: str = Field(min_length=1, max_length=191, pattern=r"\S")
    kind: Literal["webhook", "slack", "email", "apprise"] = "webhook"
    url: str | None = Field(
        None, description="webhook URL, Slack incoming-webhook URL or Apprise URL (http(s) for webhooks)"
    )
    host: str | None = Field(None, description="SMTP host (email)")
    port: int | None = Field(None, description="SMTP port (email)")
    sender: str | None = None
    to: list[str] | str | None = Field(None, description="recipients (email)")
    starttls: bool = False
    username: str | None = None
    password: str | None = Field(None, description="SMTP password; stored encrypted, never returned")
    enabled: bool = True


class ChannelOut(BaseModel):
    id: int
    name: str
    kind: str
    config: dict[str, Any]
    enabled: bool
    created_at: str | None
    secret_hint: str | None
    signing_secret: str | None = Field(
        None, description="only in the answer that created a webhook: shown once"
    )


class WebhooksOut(BaseModel):
    webhooks: list[ChannelOut]


class TestOut(BaseModel):
    ok: bool
    status_code: int | None
    response: str


class ToggleOut(BaseModel):
    id: int
    enabled: bool


def _channel_out(row: dict[str, Any]) -> dict[str, Any]:
    return {key: _clean(row.get(key)) for key in ChannelOut.model_fields if key != "signing_secret"}


def _channel_or_404(channel_id: int) -> dict[str, Any]:
    found = alertstore.get_channel(services().store.engine, channel_id)
    if found is None:
        raise BadParameter("webhook_id", f"webhook_id: no webhook with id {channel_id}", status=404)
    return found


@api.get("/webhooks")
@spec.validate(resp=responses(WebhooksOut), tags=TAGS)
def webhook_list() -> flask.Response:
    """Notification channels (webhook, Slack, email, Apprise); secrets are never returned."""
    return flask.jsonify(
        webhooks=[_channel_out(row) for row in alertstore.list_channels(services().store.engine)]
    )


@api.post("/webhooks")
@spec.validate(json=ChannelBody, resp=responses(ChannelOut), tags=TAGS)
def webhook_create() -> flask.Response:
    """Add a channel (admin). A webhook's signing secret is in this answer only."""
    body = validated(ChannelBody, "json")
    found = services()
    created = actions.create_channel(found.store, found.settings, current_actor(), body.model_dump())
    return flask.jsonify(
        {**_channel_out(_channel_or_404(created.id)), "signing_secret": created.signing_secret}
    )


@api.put("/webhooks/<int:webhook_id>")
@spec.validate(json=ChannelBody, resp=responses(ChannelOut, 404), tags=TAGS)
def webhook_update(webhook_id: int) -> flask.Response:
    """Change a channel (admin); leave url/password out to keep the stored secret."""
    body = validated(ChannelBody, "json")
    found = services()
    _channel_or_404(webhook_id)
    actions.update_channel(found.store, found.settings, current_actor(), webhook_id, body.model_dump())
    return flask.jsonify(_channel_out(_channel_or_404(webhook_id)))


@api.delete("/webhooks/<int:webhook_id>")
@spec.validate(resp=responses(Deleted, 404), tags=TAGS)
def webhook_delete(webhook_id: int) -> flask.Response:
    """Delete a channel and its delivery log (admin)."""
    _found("webhook_id", lambda: actions.delete_channel(services().store, current_actor(), webhook_id))
    return flask.jsonify(deleted=webhook_id)


@api.post("/webhooks/<int:webhook_id>/test")
@spec.validate(resp=responses(TestOut, 404), tags=TAGS)
def webhook_test(webhook_id: int) -> flask.Response:
    """Send a test notification now (operator); the attempt is in the delivery log."""
    found = services()
    _channel_or_404(webhook_id)
    result = actions.test_channel(
        found.store, found.settings, current_actor(), webhook_id, base_url(found.settings)
    )
    return flask.jsonify(ok=result.ok, status_code=result.status_code, response=result.response[:500])


@api.post("/webhooks/<int:webhook_id>/toggle")
@spec.validate(resp=responses(ToggleOut, 404), tags=TAGS)
def webhook_toggle(webhook_id: int) -> flask.Response:
    """Enable or disable a channel (admin)."""
    enabled = _found(
        "webhook_id", lambda: actions.toggle_channel(services().store, current_actor(), webhook_id)
    )
    return flask.jsonify(id=webhook_id, enabled=enabled)
