"""Alert rules, open-alert state and its history, silences, notification channels, outbox and deliveries.

The alert engine (``tasks.alerting``) keeps its per-(rule, series) state in the ``alerts`` table
itself: an open alert carries ``open_key`` ("rule:series"), unique, so the database guarantees one
open alert per (rule, series), and a restarted engine reads its state back instead of re-firing.
Rules travel as plain dicts whose keys are the fields of ``tasks.alerting.model.Rule``.

Channel secrets (signing key, Slack/Apprise URL, SMTP password) are stored as Fernet tokens from
``storage.secrets`` (keyed from the application's secret key, with rotation), so the database alone
does not reveal them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    Engine,
    Integer,
    Text,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from storage.engine import write_transaction
from storage.fetch import numeric_frame
from storage.frames import check_choice, utc_frame
from storage.schema import (
    alert_meta,
    alert_rules,
    alert_state_history,
    alerts,
    notification_channels,
    notification_deliveries,
    notification_outbox,
    series,
    silences,
)
from storage.secrets import SecretBox
from storage.timeparse import TimeInput, resolve_range, utc_now

__all__ = [
    "ALERT_STATES",
    "AlertsSection",
    "StateChange",
    "read_alerts",
]

ALERT_STATES = ("pending", "firing", "nodata", "error", "acknowledged", "resolved", "inactive")
OPEN_STATES = ("pending", "firing", "nodata", "error")
SEVERITY_ORDER = ("emergency", "critical", "warning", "info")


def _naive(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment is not None else None


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _new_id(result: Any) -> int:
    """The primary key an INSERT created."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


# --- secrets ----------------------------------------------------------------------------------


def _seal(box: SecretBox, secret: Mapping[str, str]) -> str:
    return box.encrypt(json.dumps(dict(secret)))


def _unseal(box: SecretBox, token: str | None) -> dict[str, str]:
    if not token:
        return {}
    found: dict[str, str] = json.loads(box.decrypt(token))
    return found


def secret_hint(secret: str) -> str:
    """What may be shown of a secret: its last four characters."""
    return "…" + secret[-4:] if len(secret) > 8 else "…"


# --- rules ------------------------------------------------------------------------------------

_RULE_FIELDS = (
    "name",
    "metric",
    "host",
    "aggregation",
    "threshold",
    "threshold2",
    "severity",
    "category",
    "enabled",
    "no_data",
    "default_key",
)


def _rule_values(rule: Mapping[str, Any], by: str | None, now: datetime) -> dict[str, Any]:
    values = {key: rule.get(key) for key in _RULE_FIELDS}
    for key, default in (
        ("aggregation", "avg"),
        ("severity", "warning"),
        ("category", "general"),
        ("no_data", "ok"),
    ):
        values[key] = values[key] or default
    values.update(
        condition=rule["operator"],
        labels=dict(rule.get("labels") or {}),
        window_seconds=int(rule.get("window_seconds", 300)),
        for_seconds=int(rule.get("for_seconds", 0)),
        keep_firing_seconds=int(rule.get("keep_firing_seconds", 0)),
        repeat_seconds=int(rule.get("repeat_seconds", 900)),
        alert_labels=dict(rule.get("alert_labels") or {}),
        annotations={
            "summary": rule.get("summary") or "",
            "description": rule.get("description") or "",
            "runbook_url": rule.get("runbook_url") or "",
        },
        channels=[int(c) for c in rule.get("channels") or ()],
        enabled=bool(rule.get("enabled", True)),
        updated_at=_naive(now),
        updated_by=by,
    )
    return values


def _rule_dict(row: Any) -> dict[str, Any]:
    notes = _json(row["annotations"]) or {}
    return {
        "id": int(row["id"]),
        "name": row["name"],
        "metric": row["metric"],
        "host": row["host"],
        "labels": _json(row["labels"]) or {},
        "aggregation": row["aggregation"],
        "window_seconds": int(row["window_seconds"]),
        "operator": row["condition"],
        "threshold": float(row["threshold"]),
        "threshold2": None if row["threshold2"] is None else float(row["threshold2"]),
        "for_seconds": int(row["for_seconds"]),
        "keep_firing_seconds": int(row["keep_firing_seconds"]),
        "repeat_seconds": int(row["repeat_seconds"]),
        "severity": row["severity"],
        "category": row["category"],
        "alert_labels": _json(row["alert_labels"]) or {},
        "summary": notes.get("summary", ""),
        "description": notes.get("description", ""),
        "runbook_url": notes.get("runbook_url", ""),
        "channels": tuple(int(c) for c in _json(row["channels"]) or ()),
        "enabled": bool(row["enabled"]),
        "no_data": row["no_data"],
        "default_key": row["default_key"],
    }


def list_rules(engine: Engine, enabled: bool | None = None) -> list[dict[str, Any]]:
    statement = select(alert_rules).order_by(alert_rules.c.name)
    if enabled is not None:
        statement = statement.where(alert_rules.c.enabled == enabled)
    with engine.connect() as conn:
        return [_rule_dict(row) for row in conn.execute(statement).mappings()]


def get_rule(engine: Engine, rule_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(alert_rules).where(alert_rules.c.id == rule_id)).mappings().first()
    return _rule_dict(row) if row is not None else None


def rule_name_taken(engine: Engine, name: str, except_id: int | None = None) -> bool:
    statement = select(alert_rules.c.id).where(alert_rules.c.name == name)
    if except_id is not None:
        statement = statement.where(alert_rules.c.id != except_id)
    with engine.connect() as conn:
        return conn.execute(statement).first() is not None


def insert_rule(engine: Engine, rule: Mapping[str, Any], by: str | None, now: datetime | None = None) -> int:
    now = now or utc_now()
    with write_transaction(engine) as conn:
        result = conn.execute(
            insert(alert_rules).values(**_rule_values(rule, by, now), created_at=_naive(now))
        )
        return _new_id(result)


def update_rule(engine: Engine, rule_id: int, rule: Mapping[str, Any], by: str | None) -> bool:
    with write_transaction(engine) as conn:
        values = _rule_values(rule, by, utc_now())
        values.pop("default_key")
        found = conn.execute(update(alert_rules).where(alert_rules.c.id == rule_id).values(**values))
        return found.rowcount > 0


def set_rule_enabled(engine: Engine, rule_id: int, enabled: bool, by: str | None) -> bool:
    with write_transaction(engine) as conn:
        found = conn.execute(
            update(alert_rules)
            .where(alert_rules.c.id == rule_id)
            .values(enabled=enabled, updated_by=by, updated_at=_naive(utc_now()))
        )
        return found.rowcount > 0


def delete_rule(engine: Engine, rule_id: int) -> bool:
    with write_transaction(engine) as conn:
        return conn.execute(delete(alert_rules).where(alert_rules.c.id == rule_id)).rowcount > 0


def meta_value(engine: Engine, key: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(alert_meta.c.value).where(alert_meta.c.key == key)).scalar()


def install_rules_once(engine: Engine, key: str, rules: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rules`` unless ``key`` was already recorded (so a deleted default stays deleted)."""
    now = utc_now()
    with write_transaction(engine) as conn:
        if conn.execute(select(alert_meta.c.value).where(alert_meta.c.key == key)).first() is not None:
            return 0
        names = set(conn.execute(select(alert_rules.c.name)).scalars())
        fresh = [rule for rule in rules if rule["name"] not in names]
        for rule in fresh:
            conn.execute(
                insert(alert_rules).values(**_rule_values(rule, "system", now), created_at=_naive(now))
            )
        conn.execute(insert(alert_meta).values(key=key, value=now.isoformat()))
        return len(fresh)


def set_meta_value(engine: Engine, key: str, value: str) -> None:
    with write_transaction(engine) as conn:
        if conn.execute(update(alert_meta).where(alert_meta.c.key == key).values(value=value)).rowcount == 0:
            conn.execute(insert(alert_meta).values(key=key, value=value))


def update_default_rules(
    engine: Engine, changes: Sequence[tuple[str, str, Any, Any]], by: str | None = "system"
) -> int:
    """Apply ``(default_key, column, old, new)`` changes to the installed default rules, each only
    where the column still holds ``old``: a default rule someone edited by hand keeps its value.
    Returns how many rules changed."""
    allowed = {"threshold", "for_seconds", "repeat_seconds"}
    changed = 0
    now = _naive(utc_now())
    with write_transaction(engine) as conn:
        for default_key, column, old, new in changes:
            if column not in allowed:
                raise ValueError(f"column: {column!r} is not one of {', '.join(sorted(allowed))}")
            target = alert_rules.c[column]
            result = conn.execute(
                update(alert_rules)
                .where(alert_rules.c.default_key == default_key, target == old)
                .values({column: new, "updated_at": now, "updated_by": by})
            )
            changed += result.rowcount
    return changed


# --- series and samples for the engine --------------------------------------------------------


def rules_fingerprint(engine: Engine) -> tuple[Any, ...]:
    """Changes whenever a rule is added, changed or deleted: lets an evaluator keep rules between cycles."""
    with engine.connect() as conn:
        row = conn.execute(
            select(func.count(), func.max(alert_rules.c.updated_at), func.max(alert_rules.c.id))
        ).one()
    return tuple(row)


def series_fingerprint(engine: Engine) -> tuple[Any, ...]:
    """Changes whenever a series is created or deleted (series rows are never updated)."""
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count(), func.max(series.c.id))).one())


def series_for_metrics(engine: Engine, metrics: Iterable[str]) -> pd.DataFrame:
    """Every series of the given metrics: id, metric, host, labels (dict), in one query."""
    names = sorted(set(metrics))
    columns = ["id", "metric", "host", "labels"]
    if not names:
        return pd.DataFrame(columns=columns)
    statement = select(series.c.id, series.c.metric, series.c.host, series.c.labels).where(
        series.c.metric.in_(names)
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(statement).all(), columns=columns)
    frame["labels"] = frame["labels"].map(_json)
    return frame


def window_samples(engine: Engine, series_ids: Sequence[int], start_ms: int, end_ms: int) -> pd.DataFrame:
    """Raw samples with ``start_ms < ts <= end_ms`` for the series, ordered by series then time."""
    columns, dtypes = ["series_id", "ts", "value"], ["int64", "int64", "float64"]
    parts: list[pd.DataFrame] = []
    ids = list(series_ids)
    with engine.connect() as conn:
        for at in range(0, len(ids), 500):
            chunk = ids[at : at + 500]
            marks = ", ".join(str(int(i)) for i in chunk)  # ints only: safe to inline, and faster
            sql = (
                "SELECT series_id AS series_id, ts AS ts, value AS value FROM samples "
                f"WHERE series_id IN ({marks}) AND ts > :start AND ts <= :end"
            )
            parts.append(numeric_frame(conn, sql, {"start": start_ms, "end": end_ms}, columns, dtypes))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in zip(columns, dtypes, strict=True)})
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["series_id", "ts"], kind="stable", ignore_index=True)


# --- open alert state -------------------------------------------------------------------------


@dataclass
class StateChange:
    """One (rule, series) after an evaluation, as the engine wants it stored."""

    rule_id: int
    series_key: str
    series_id: int | None
    host: str | None
    labels: Mapping[str, Any]
    state: str
    value: float | None
    started_at: datetime | None
    firing_at: datetime | None
    last_true_at: datetime | None
    last_notified_at: datetime | None
    alert_id: int | None
    summary: str | None
    notified: bool = False
    transition: tuple[str, str, float | None, str] | None = None  # from, to, value, note


_STATE_COLUMNS = (
    alerts.c.id,
    alerts.c.rule_id,
    alerts.c.series_key,
    alerts.c.state,
    alerts.c.value,
    alerts.c.started_at,
    alerts.c.firing_at,
    alerts.c.last_true_at,
    alerts.c.last_notified_at,
    alerts.c.acknowledged_at,
)


_STATE_TIMES = ("started_at", "firing_at", "last_true_at", "last_notified_at", "acknowledged_at")


def open_states(engine: Engine) -> dict[tuple[int, str], dict[str, Any]]:
    """Every open alert keyed by (rule_id, series_key): the engine's memory across restarts.

    Read straight from the driver and the times parsed with ``datetime.fromisoformat`` (SQLite
    keeps them as ISO text; PyMySQL already returns datetimes): SQLAlchemy's per-row result
    processing was most of this read, which every cycle makes.
    """
    names = [column.name for column in _STATE_COLUMNS]
    sql = f"SELECT {', '.join(names)} FROM alerts WHERE open_key IS NOT NULL"
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(sql).all()
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for row in rows:
        entry = dict(zip(names, row, strict=True))
        for key in _STATE_TIMES:
            entry[key] = _utc_time(entry[key])
        found[(int(entry["rule_id"]), str(entry["series_key"]))] = entry
    return found


def _utc_time(raw: Any) -> datetime | None:
    if raw is None:
        return None
    moment = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _is_quiet(change: StateChange) -> bool:
    """A stored open alert whose value (and last-true time) moved, nothing else: the bulk of a cycle."""
    return (
        change.alert_id is not None
        and change.transition is None
        and not change.notified
        and change.state in OPEN_STATES
    )


def save_changes(engine: Engine, changes: Sequence[StateChange], now: datetime) -> dict[tuple[int, str], int]:
    """Store an evaluation's changes in one transaction; returns the alert id of each change.

    Three bulk statements, whatever the number of changes: the new values of open alerts (one
    UPDATE ... CASE per 500), the newly opened alerts (one INSERT ... RETURNING), and the alerts
    that changed state (one executemany UPDATE); then their history rows in one INSERT.
    """
    stamp = _naive(now)
    quiet = [c for c in changes if _is_quiet(c)]
    loud = [c for c in changes if not _is_quiet(c)]
    ids = {(c.rule_id, c.series_key): int(c.alert_id) for c in quiet if c.alert_id is not None}
    with write_transaction(engine) as conn:
        for at in range(0, len(quiet), 500):
            _update_values(conn, quiet[at : at + 500], stamp)
        opened = [c for c in loud if c.alert_id is None]
        moved = [c for c in loud if c.alert_id is not None]
        ids.update(_insert_opened(conn, opened, now, stamp))
        _update_moved(conn, moved, stamp)
        ids.update({(c.rule_id, c.series_key): int(c.alert_id) for c in moved if c.alert_id is not None})
        history = [
            {
                "alert_id": ids[(c.rule_id, c.series_key)],
                "ts": stamp,
                "from_state": c.transition[0],
                "to_state": c.transition[1],
                "value": c.transition[2],
                "note": c.transition[3],
            }
            for c in loud
            if c.transition is not None
        ]
        if history:
            conn.execute(insert(alert_state_history), history)
    return ids


def _update_values(conn: Any, chunk: Sequence[StateChange], stamp: datetime | None) -> None:
    """One ``UPDATE ... SET value = CASE id WHEN ...`` for up to 500 alerts.

    Sent as the driver's own SQL: through SQLAlchemy, ``case()`` costs ~20 us per alert in
    coercions and even ``text()`` ~50 us per bound parameter to compile, and PyMySQL would run an
    executemany UPDATE row by row. Ids are ints (inlined); values and times are parameters, times
    through the column type's own binder (SQLite stores them as strings).
    """
    to_db = _time_binder(conn)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    value_params: list[Any] = []
    true_params: list[Any] = []
    value_cases: list[str] = []
    true_cases: list[str] = []
    for change in chunk:
        alert_id = int(change.alert_id or 0)
        value_cases.append(f"WHEN {alert_id} THEN {mark}")
        value_params.append(change.value)
        if change.last_true_at is not None:
            true_cases.append(f"WHEN {alert_id} THEN {mark}")
            true_params.append(to_db(_naive(change.last_true_at)))
    id_list = ", ".join(str(int(c.alert_id or 0)) for c in chunk)
    last_true = f"CASE id {' '.join(true_cases)} ELSE last_true_at END" if true_cases else "last_true_at"
    conn.exec_driver_sql(
        f"UPDATE alerts SET value = CASE id {' '.join(value_cases)} ELSE value END, "
        f"last_true_at = {last_true}, last_eval_at = {mark} WHERE id IN ({id_list})",
        (*value_params, *true_params, to_db(stamp)),
    )


def _time_binder(conn: Any) -> Any:
    """How the dialect wants a naive datetime bound (SQLite: its string form; MySQL: as is)."""
    column_type = alerts.c.last_true_at.type
    process = column_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process or (lambda value: value)


def _state_values(change: StateChange, stamp: datetime | None) -> dict[str, Any]:
    open_now = change.state in OPEN_STATES
    return {
        "state": change.state,
        "value": change.value,
        "firing_at": _naive(change.firing_at),
        "last_eval_at": stamp,
        "last_true_at": _naive(change.last_true_at),
        "last_notified_at": _naive(change.last_notified_at),
        "open_key": f"{change.rule_id}:{change.series_key}"[:191] if open_now else None,
        "resolved_at": None if open_now else stamp,
    }


def _insert_opened(
    conn: Any, opened: Sequence[StateChange], now: datetime, stamp: datetime | None
) -> dict[tuple[int, str], int]:
    """Insert new alerts in one statement; their ids come back in parameter order (RETURNING)."""
    if not opened:
        return {}
    rows = [
        {
            **_state_values(c, stamp),
            "rule_id": c.rule_id,
            "series_id": c.series_id,
            "series_key": c.series_key,
            "host": c.host,
            "labels": dict(c.labels),
            "started_at": _naive(c.started_at or now),
            "summary": c.summary,
            "notifications": 1 if c.notified else 0,
        }
        for c in opened
    ]
    if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
        result = conn.execute(insert(alerts).returning(alerts.c.id, sort_by_parameter_order=True), rows)
        new_ids = [int(row_id) for row_id in result.scalars()]
    else:  # a driver without sorted RETURNING: one insert each
        new_ids = [_new_id(conn.execute(insert(alerts).values(**row))) for row in rows]
    return {(c.rule_id, c.series_key): i for c, i in zip(opened, new_ids, strict=True)}


def _update_moved(conn: Any, moved: Sequence[StateChange], stamp: datetime | None) -> None:
    """Alerts that changed state (or notified): an executemany UPDATE per kind of change."""
    clearing: list[dict[str, Any]] = []
    keeping: list[dict[str, Any]] = []
    for c in moved:
        row = {
            **{f"b_{name}": value for name, value in _state_values(c, stamp).items()},
            "_id": c.alert_id,
            "_summary": c.summary,
            "_sent": 1 if c.notified else 0,
        }
        # A new state clears an acknowledgement: it only covers the state it was given in.
        new_state = c.transition is not None and c.transition[1] != c.transition[0]
        (clearing if new_state else keeping).append(row)
    columns = (
        "state",
        "value",
        "firing_at",
        "last_eval_at",
        "last_true_at",
        "last_notified_at",
        "open_key",
        "resolved_at",
    )
    # Parameters may not share a column's name in an executemany UPDATE: hence the b_ prefix.
    base: dict[str, Any] = {name: bindparam(f"b_{name}") for name in columns} | {
        "summary": func.coalesce(bindparam("_summary", type_=Text), alerts.c.summary),
        "notifications": alerts.c.notifications + bindparam("_sent", type_=Integer),
    }
    statement = update(alerts).where(alerts.c.id == bindparam("_id"))
    if clearing:
        cleared = {"acknowledged_at": None, "acknowledged_by": None, "ack_comment": None}
        conn.execute(statement.values(**base, **cleared), clearing)
    if keeping:
        conn.execute(statement.values(**base), keeping)


def touch_evaluated(engine: Engine, alert_ids: Sequence[int], now: datetime) -> None:
    """Record that open alerts were evaluated again (without a change)."""
    if not alert_ids:
        return
    with write_transaction(engine) as conn:
        for at in range(0, len(alert_ids), 500):
            chunk = list(alert_ids[at : at + 500])
            conn.execute(update(alerts).where(alerts.c.id.in_(chunk)).values(last_eval_at=_naive(now)))


# --- reading alerts ---------------------------------------------------------------------------

_LIST_COLUMNS = (
    alerts.c.id,
    alerts.c.rule_id,
    alert_rules.c.name.label("rule"),
    alert_rules.c.metric,
    alert_rules.c.severity,
    alert_rules.c.category,
    alerts.c.state,
    alerts.c.value,
    alerts.c.host,
    alerts.c.labels,
    alerts.c.series_id,
    alerts.c.started_at,
    alerts.c.firing_at,
    alerts.c.resolved_at,
    alerts.c.acknowledged_by,
    alerts.c.acknowledged_at,
    alerts.c.ack_comment,
    alerts.c.resolved_by,
    alerts.c.notifications,
    alerts.c.summary,
)
_TIME_COLUMNS = ["started_at", "firing_at", "resolved_at", "acknowledged_at"]


def _alert_filters(
    state: str | None,
    severity: str | None,
    category: str | None,
    host: str | None,
    rule_id: int | None,
    start: datetime | None,
    end: datetime | None,
) -> list[Any]:
    where: list[Any] = []
    if state == "acknowledged":
        where += [alerts.c.open_key.is_not(None), alerts.c.acknowledged_at.is_not(None)]
    elif state == "open":
        where.append(alerts.c.open_key.is_not(None))
    elif state is not None:
        where.append(alerts.c.state == state)
    if severity:
        where.append(alert_rules.c.severity == severity)
    if category:
        where.append(alert_rules.c.category == category)
    if host:
        where.append(alerts.c.host == host)
    if rule_id is not None:
        where.append(alerts.c.rule_id == rule_id)
    if start is not None and end is not None:
        # In the window: started before its end and (still open or) closed after its start.
        where += [
            alerts.c.started_at <= _naive(end),
            or_(alerts.c.resolved_at.is_(None), alerts.c.resolved_at >= _naive(start)),
        ]
    return where


def read_alerts(
    engine: Engine,
    state: str | None = None,
    since: TimeInput = "30d",
    until: TimeInput = None,
    severity: str | None = None,
    category: str | None = None,
    host: str | None = None,
    rule_id: int | None = None,
    limit: int = 500,
    offset: int = 0,
    include_inactive: bool = False,
) -> pd.DataFrame:
    """Alerts active in the window, open ones first (worst severity first), then newest first."""
    if state != "open":
        state = check_choice("state", state, ALERT_STATES)
    start, end = resolve_range(since, until)
    where = _alert_filters(state, severity, category, host, rule_id, start, end)
    if state is None and not include_inactive:
        where.append(alerts.c.state != "inactive")  # pending that never fired
    severity_rank = case(
        {name: i for i, name in enumerate(SEVERITY_ORDER)}, value=alert_rules.c.severity, else_=9
    )
    statement = (
        select(*_LIST_COLUMNS)
        .join(alert_rules, alert_rules.c.id == alerts.c.rule_id)
        .where(and_(*where))
        .order_by(
            case((alerts.c.open_key.is_not(None), 0), else_=1),
            severity_rank,
            alerts.c.started_at.desc(),
            alerts.c.id.desc(),
        )
        .limit(limit)
        .offset(offset)
    )
    frame = utc_frame(engine, statement, _TIME_COLUMNS)
    frame["labels"] = frame["labels"].map(_json)
    return frame


def count_alerts(
    engine: Engine,
    state: str | None = None,
    since: TimeInput = "30d",
    until: TimeInput = None,
    severity: str | None = None,
    category: str | None = None,
    host: str | None = None,
    rule_id: int | None = None,
) -> int:
    start, end = resolve_range(since, until)
    where = _alert_filters(state, severity, category, host, rule_id, start, end)
    if state is None:
        where.append(alerts.c.state != "inactive")
    statement = (
        select(func.count())
        .select_from(alerts.join(alert_rules, alert_rules.c.id == alerts.c.rule_id))
        .where(*where)
    )
    with engine.connect() as conn:
        return int(conn.execute(statement).scalar() or 0)


def get_alert(engine: Engine, alert_id: int) -> dict[str, Any] | None:
    statement = (
        select(
            *_LIST_COLUMNS,
            alerts.c.open_key,
            alert_rules.c.condition,
            alert_rules.c.threshold,
            alert_rules.c.threshold2,
            alert_rules.c.annotations,
        )
        .join(alert_rules, alert_rules.c.id == alerts.c.rule_id)
        .where(alerts.c.id == alert_id)
    )
    with engine.connect() as conn:
        row = conn.execute(statement).mappings().first()
    if row is None:
        return None
    found = dict(row)
    for key in _TIME_COLUMNS:
        found[key] = _aware(found[key])
    found["labels"] = _json(found["labels"]) or {}
    found["annotations"] = _json(found["annotations"]) or {}
    return found


def alert_history(engine: Engine, alert_id: int) -> pd.DataFrame:
    statement = (
        select(
            alert_state_history.c.ts,
            alert_state_history.c.from_state,
            alert_state_history.c.to_state,
            alert_state_history.c.value,
            alert_state_history.c.note,
        )
        .where(alert_state_history.c.alert_id == alert_id)
        .order_by(alert_state_history.c.ts, alert_state_history.c.id)
    )
    return utc_frame(engine, statement, ["ts"])


def acknowledge_alerts(engine: Engine, alert_ids: Sequence[int], by: str, comment: str) -> list[int]:
    """Acknowledge the open ones among ``alert_ids``; returns those acknowledged."""
    now = _naive(utc_now())
    with write_transaction(engine) as conn:
        found = list(
            conn.execute(
                select(alerts.c.id, alerts.c.state).where(
                    alerts.c.id.in_(list(alert_ids)), alerts.c.open_key.is_not(None)
                )
            ).all()
        )
        if not found:
            return []
        ids = [int(row.id) for row in found]
        conn.execute(
            update(alerts)
            .where(alerts.c.id.in_(ids))
            .values(acknowledged_by=by, acknowledged_at=now, ack_comment=comment)
        )
        conn.execute(
            insert(alert_state_history),
            [
                {
                    "alert_id": int(row.id),
                    "ts": now,
                    "from_state": row.state,
                    "to_state": row.state,
                    "value": None,
                    "note": f"acknowledged by {by}" + (f": {comment}" if comment else ""),
                }
                for row in found
            ],
        )
        return ids


def resolve_alerts(engine: Engine, alert_ids: Sequence[int], by: str, comment: str = "") -> list[int]:
    """Close the open ones among ``alert_ids`` by hand; the engine opens a new alert if the condition holds."""
    now = _naive(utc_now())
    with write_transaction(engine) as conn:
        found = list(
            conn.execute(
                select(alerts.c.id, alerts.c.state).where(
                    alerts.c.id.in_(list(alert_ids)), alerts.c.open_key.is_not(None)
                )
            ).all()
        )
        if not found:
            return []
        ids = [int(row.id) for row in found]
        conn.execute(
            update(alerts)
            .where(alerts.c.id.in_(ids))
            .values(state="resolved", open_key=None, resolved_at=now, resolved_by=by)
        )
        conn.execute(
            insert(alert_state_history),
            [
                {
                    "alert_id": int(row.id),
                    "ts": now,
                    "from_state": row.state,
                    "to_state": "resolved",
                    "value": None,
                    "note": f"resolved by {by}" + (f": {comment}" if comment else ""),
                }
                for row in found
            ],
        )
        return ids


def delete_alert(engine: Engine, alert_id: int) -> bool:
    with write_transaction(engine) as conn:
        return conn.execute(delete(alerts).where(alerts.c.id == alert_id)).rowcount > 0


# --- analytics --------------------------------------------------------------------------------


def alert_analytics(
    engine: Engine, since: TimeInput = "7d", until: TimeInput = None
) -> dict[str, pd.DataFrame]:
    """Alerts over time by severity (per hour, or per day beyond 3 days), noisiest and flapping rules,
    MTTA and MTTR per rule (seconds), all over alerts that fired in the window."""
    start, end = resolve_range(since, until)
    statement = (
        select(
            alerts.c.id,
            alerts.c.rule_id,
            alert_rules.c.name.label("rule"),
            alert_rules.c.severity,
            alerts.c.started_at,
            alerts.c.firing_at,
            alerts.c.acknowledged_at,
            alerts.c.resolved_at,
            alerts.c.notifications,
        )
        .join(alert_rules, alert_rules.c.id == alerts.c.rule_id)
        .where(
            alerts.c.firing_at.is_not(None),
            alerts.c.firing_at >= _naive(start),
            alerts.c.firing_at <= _naive(end),
        )
    )
    frame = utc_frame(engine, statement, ["started_at", "firing_at", "acknowledged_at", "resolved_at"])
    every = "1h" if end - start <= timedelta(days=3) else "1D"
    if frame.empty:
        over_time = pd.DataFrame(columns=["ts", "severity", "count"])
        per_rule = pd.DataFrame(
            columns=["rule_id", "rule", "alerts", "notifications", "mtta_seconds", "mttr_seconds"]
        )
    else:
        over_time = (
            frame.assign(ts=frame["firing_at"].dt.floor(every))
            .groupby(["ts", "severity"], as_index=False)
            .size()
            .rename(columns={"size": "count"})
        )
        tta = (frame["acknowledged_at"] - frame["firing_at"]).dt.total_seconds()
        ttr = (frame["resolved_at"] - frame["firing_at"]).dt.total_seconds()
        per_rule = (
            frame.assign(tta=tta, ttr=ttr)
            .groupby(["rule_id", "rule"], as_index=False)
            .agg(
                alerts=("id", "count"),
                notifications=("notifications", "sum"),
                mtta_seconds=("tta", "mean"),
                mttr_seconds=("ttr", "mean"),
            )
            .sort_values("alerts", ascending=False, ignore_index=True)
        )
    flapping = _flapping(engine, start, end)
    return {"over_time": over_time, "rules": per_rule, "flapping": flapping}


def _flapping(engine: Engine, start: datetime, end: datetime) -> pd.DataFrame:
    """Rules by how often their alerts changed between firing and resolved in the window."""
    statement = (
        select(alerts.c.rule_id, alert_rules.c.name.label("rule"), func.count().label("flips"))
        .select_from(
            alert_state_history.join(alerts, alerts.c.id == alert_state_history.c.alert_id).join(
                alert_rules, alert_rules.c.id == alerts.c.rule_id
            )
        )
        .where(
            alert_state_history.c.ts >= _naive(start),
            alert_state_history.c.ts <= _naive(end),
            alert_state_history.c.to_state.in_(("firing", "resolved")),
            alert_state_history.c.from_state != alert_state_history.c.to_state,
        )
        .group_by(alerts.c.rule_id, alert_rules.c.name)
        .order_by(func.count().desc())
        .limit(20)
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(statement).all(), columns=["rule_id", "rule", "flips"])


# --- silences ---------------------------------------------------------------------------------


def _silence_dict(row: Any) -> dict[str, Any]:
    found = dict(row)
    found["matchers"] = _json(found["matchers"]) or {}
    for key in ("starts_at", "ends_at", "created_at"):
        found[key] = _aware(found[key])
    found["enabled"] = bool(found["enabled"])
    return found


def list_silences(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(silences).order_by(silences.c.created_at.desc())).mappings().all()
    return [_silence_dict(row) for row in rows]


def get_silence(engine: Engine, silence_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(silences).where(silences.c.id == silence_id)).mappings().first()
    return _silence_dict(row) if row is not None else None


def insert_silence(engine: Engine, silence: Mapping[str, Any], by: str) -> int:
    with write_transaction(engine) as conn:
        result = conn.execute(
            insert(silences).values(
                matchers=dict(silence["matchers"]),
                starts_at=_naive(silence.get("starts_at")),
                ends_at=_naive(silence.get("ends_at")),
                cron=silence.get("cron"),
                duration_seconds=silence.get("duration_seconds"),
                comment=silence["comment"],
                created_by=by,
                created_at=_naive(utc_now()),
                enabled=bool(silence.get("enabled", True)),
            )
        )
        return _new_id(result)


def update_silence(engine: Engine, silence_id: int, silence: Mapping[str, Any]) -> bool:
    values = {
        "matchers": dict(silence["matchers"]),
        "starts_at": _naive(silence.get("starts_at")),
        "ends_at": _naive(silence.get("ends_at")),
        "cron": silence.get("cron"),
        "duration_seconds": silence.get("duration_seconds"),
        "comment": silence["comment"],
        "enabled": bool(silence.get("enabled", True)),
    }
    with write_transaction(engine) as conn:
        return conn.execute(update(silences).where(silences.c.id == silence_id).values(**values)).rowcount > 0


def delete_silence(engine: Engine, silence_id: int) -> bool:
    with write_transaction(engine) as conn:
        return conn.execute(delete(silences).where(silences.c.id == silence_id)).rowcount > 0


# --- channels ---------------------------------------------------------------------------------

CHANNEL_KINDS = ("webhook", "slack", "email", "apprise")


def _channel_dict(row: Any) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "name": row["name"],
        "kind": row["kind"],
        "config": _json(row["config"]) or {},
        "enabled": bool(row["enabled"]),
        "created_at": _aware(row["created_at"]),
        "secret_hint": row["secret_hint"],
    }


def list_channels(engine: Engine) -> list[dict[str, Any]]:
    """Channels without their secrets (only ``secret_hint``)."""
    with engine.connect() as conn:
        rows = (
            conn.execute(select(notification_channels).order_by(notification_channels.c.name))
            .mappings()
            .all()
        )
    return [_channel_dict(row) for row in rows]


def get_channel(engine: Engine, channel_id: int, box: SecretBox | None = None) -> dict[str, Any] | None:
    """One channel; with ``box`` also its decrypted ``secret`` dict (for sending only)."""
    with engine.connect() as conn:
        row = (
            conn.execute(select(notification_channels).where(notification_channels.c.id == channel_id))
            .mappings()
            .first()
        )
    if row is None:
        return None
    found = _channel_dict(row)
    if box is not None:
        found["secret"] = _unseal(box, row["secret_enc"])
    return found


def insert_channel(
    engine: Engine,
    *,
    name: str,
    kind: str,
    config: Mapping[str, Any],
    secret: Mapping[str, str],
    box: SecretBox,
    hint: str,
    enabled: bool = True,
) -> int:
    with write_transaction(engine) as conn:
        result = conn.execute(
            insert(notification_channels).values(
                name=name,
                kind=kind,
                config=dict(config),
                enabled=enabled,
                created_at=_naive(utc_now()),
                secret_enc=_seal(box, secret) if secret else None,
                secret_hint=hint,
            )
        )
        return _new_id(result)


def update_channel(
    engine: Engine,
    channel_id: int,
    *,
    name: str,
    config: Mapping[str, Any],
    secret: Mapping[str, str] | None,
    box: SecretBox,
    hint: str | None,
) -> bool:
    """Change a channel; ``secret=None`` keeps the stored secret."""
    values: dict[str, Any] = {"name": name, "config": dict(config)}
    if secret is not None:
        values.update(secret_enc=_seal(box, secret), secret_hint=hint)
    with write_transaction(engine) as conn:
        return (
            conn.execute(
                update(notification_channels).where(notification_channels.c.id == channel_id).values(**values)
            ).rowcount
            > 0
        )


def set_channel_enabled(engine: Engine, channel_id: int, enabled: bool) -> bool:
    with write_transaction(engine) as conn:
        statement = update(notification_channels).where(notification_channels.c.id == channel_id)
        return conn.execute(statement.values(enabled=enabled)).rowcount > 0


def delete_channel(engine: Engine, channel_id: int) -> bool:
    with write_transaction(engine) as conn:
        statement = delete(notification_channels).where(notification_channels.c.id == channel_id)
        return conn.execute(statement).rowcount > 0


# --- outbox and deliveries --------------------------------------------------------------------


def enqueue(
    engine: Engine, channel_id: int, event: str, alert_ids: Sequence[int], now: datetime, group_wait: float
) -> int:
    """Queue a notification; joins a message for the same channel and event still in its grouping wait."""
    with write_transaction(engine) as conn:
        waiting = conn.execute(
            select(notification_outbox.c.id, notification_outbox.c.alert_ids).where(
                notification_outbox.c.channel_id == channel_id,
                notification_outbox.c.event == event,
                notification_outbox.c.status == "queued",
                notification_outbox.c.attempts == 0,
                notification_outbox.c.due_at > _naive(now),
            )
        ).first()
        if waiting is not None:
            merged = sorted({*(_json(waiting.alert_ids) or []), *map(int, alert_ids)})
            conn.execute(
                update(notification_outbox)
                .where(notification_outbox.c.id == waiting.id)
                .values(alert_ids=merged)
            )
            return int(waiting.id)
        result = conn.execute(
            insert(notification_outbox).values(
                channel_id=channel_id,
                event=event,
                alert_ids=sorted(map(int, alert_ids)),
                status="queued",
                attempts=0,
                due_at=_naive(now + timedelta(seconds=group_wait)),
                created_at=_naive(now),
            )
        )
        return _new_id(result)


def due_messages(engine: Engine, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
    statement = (
        select(notification_outbox)
        .where(notification_outbox.c.status == "queued", notification_outbox.c.due_at <= _naive(now))
        .order_by(notification_outbox.c.due_at, notification_outbox.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(statement).mappings().all()
    return [
        {**dict(row), "alert_ids": _json(row["alert_ids"]) or [], "payload": _json(row["payload"])}
        for row in rows
    ]


def claim_message(engine: Engine, message_id: int, attempts: int) -> bool:
    """Take a due message for sending: false when another worker took it first."""
    with write_transaction(engine) as conn:
        claimed = conn.execute(
            update(notification_outbox)
            .where(
                notification_outbox.c.id == message_id,
                notification_outbox.c.status == "queued",
                notification_outbox.c.attempts == attempts,
            )
            .values(status="sending", attempts=attempts + 1)
        )
        return claimed.rowcount == 1


def finish_attempt(
    engine: Engine,
    message: Mapping[str, Any],
    *,
    attempt: int,
    ok: bool,
    status_code: int | None,
    response: str,
    duration_ms: float,
    now: datetime,
    retry_at: datetime | None,
    payload: Any = None,
) -> None:
    """Log one attempt and move the message on: sent, queued again for ``retry_at``, or failed."""
    status = "sent" if ok else ("queued" if retry_at is not None else "failed")
    with write_transaction(engine) as conn:
        conn.execute(
            insert(notification_deliveries).values(
                channel_id=message["channel_id"],
                alert_id=(message["alert_ids"] or [None])[0],
                message_id=message["id"],
                event=message["event"],
                ts=_naive(now),
                status="ok" if ok else "error",
                attempts=attempt,
                status_code=status_code,
                response=response[:2000],
                duration_ms=duration_ms,
            )
        )
        values: dict[str, Any] = {"status": status}
        if ok:
            values["sent_at"] = _naive(now)
        if retry_at is not None and not ok:
            values["due_at"] = _naive(retry_at)
        if payload is not None:
            values["payload"] = payload
        conn.execute(
            update(notification_outbox).where(notification_outbox.c.id == message["id"]).values(**values)
        )


def read_deliveries(
    engine: Engine, channel_id: int | None = None, since: TimeInput = "7d", limit: int = 200
) -> pd.DataFrame:
    start, end = resolve_range(since)
    statement = (
        select(
            notification_deliveries.c.id,
            notification_deliveries.c.ts,
            notification_channels.c.name.label("channel"),
            notification_deliveries.c.channel_id,
            notification_deliveries.c.message_id,
            notification_deliveries.c.event,
            notification_deliveries.c.alert_id,
            notification_deliveries.c.attempts.label("attempt"),
            notification_deliveries.c.status,
            notification_deliveries.c.status_code,
            notification_deliveries.c.response,
            notification_deliveries.c.duration_ms,
        )
        .join(notification_channels, notification_channels.c.id == notification_deliveries.c.channel_id)
        .where(notification_deliveries.c.ts >= _naive(start), notification_deliveries.c.ts <= _naive(end))
        .order_by(notification_deliveries.c.ts.desc(), notification_deliveries.c.id.desc())
        .limit(limit)
    )
    if channel_id is not None:
        statement = statement.where(notification_deliveries.c.channel_id == channel_id)
    return utc_frame(engine, statement, ["ts"])


def outbox_frame(engine: Engine, channel_id: int | None = None, limit: int = 200) -> pd.DataFrame:
    statement = (
        select(
            notification_outbox.c.id,
            notification_outbox.c.channel_id,
            notification_outbox.c.event,
            notification_outbox.c.alert_ids,
            notification_outbox.c.status,
            notification_outbox.c.attempts,
            notification_outbox.c.due_at,
            notification_outbox.c.created_at,
            notification_outbox.c.sent_at,
        )
        .order_by(notification_outbox.c.id.desc())
        .limit(limit)
    )
    if channel_id is not None:
        statement = statement.where(notification_outbox.c.channel_id == channel_id)
    frame = utc_frame(engine, statement, ["due_at", "created_at", "sent_at"])
    frame["alert_ids"] = frame["alert_ids"].map(_json)
    return frame


def failing_channels(engine: Engine, since: TimeInput = "24h") -> pd.DataFrame:
    """Enabled channels whose latest messages in the window did not get through.

    A channel fails while its newest messages (newest first, up to its last sent one) failed for
    good or are waiting for a retry after a failed attempt; one success clears it. Columns: id, name,
    kind, failed (messages given up), retrying, sent (in the window), last_error, last_error_at,
    last_ok_at. Empty when every channel delivers.
    """
    start, _ = resolve_range(since)
    columns = [
        "id",
        "name",
        "kind",
        "failed",
        "retrying",
        "sent",
        "last_error",
        "last_error_at",
        "last_ok_at",
    ]
    o, d, ch = notification_outbox, notification_deliveries, notification_channels
    with engine.connect() as conn:
        messages = conn.execute(
            select(o.c.channel_id, o.c.status, o.c.attempts)
            .join(ch, ch.c.id == o.c.channel_id)
            .where(o.c.created_at >= _naive(start), ch.c.enabled.is_(True))
            .order_by(o.c.channel_id, o.c.id.desc())
        ).all()
        streaks: dict[int, list[int]] = {}  # channel -> [failed, retrying, sent, streak over]
        for channel_id, status, attempts in messages:
            counts = streaks.setdefault(int(channel_id), [0, 0, 0, 0])
            if status == "sent":
                counts[2] += 1
                counts[3] = 1
            elif not counts[3] and status == "failed":
                counts[0] += 1
            elif not counts[3] and status == "queued" and int(attempts or 0) > 0:
                counts[1] += 1
        failing = [cid for cid, c in streaks.items() if c[0] or c[1]]
        if not failing:
            return pd.DataFrame(columns=columns)
        names = {
            int(r.id): (r.name, r.kind)
            for r in conn.execute(select(ch.c.id, ch.c.name, ch.c.kind).where(ch.c.id.in_(failing)))
        }
        last_error = {
            int(r.channel_id): (r.response, r.status_code, r.ts)
            for r in conn.execute(
                select(d.c.channel_id, d.c.response, d.c.status_code, d.c.ts)
                .where(d.c.channel_id.in_(failing), d.c.status == "error")
                .order_by(d.c.ts, d.c.id)
            )
        }
        last_ok = dict(
            conn.execute(
                select(d.c.channel_id, func.max(d.c.ts))
                .where(d.c.channel_id.in_(failing), d.c.status == "ok")
                .group_by(d.c.channel_id)
            ).all()
        )
    rows = []
    for cid in sorted(failing, key=lambda c: names[c][0]):
        failed, retrying, sent, _ = streaks[cid]
        response, code, error_at = last_error.get(cid, ("", None, None))
        error = (f"HTTP {code}: " if code else "") + str(response or "no response")
        rows.append(
            [
                cid,
                *names[cid],
                failed,
                retrying,
                sent,
                error[:300],
                _aware(error_at),
                _aware(last_ok.get(cid)),
            ]
        )
    return pd.DataFrame(rows, columns=columns)


# --- the facade -------------------------------------------------------------------------------


class AlertsSection:
    """``store.alerts``: call it to list alerts (``store.alerts(state="firing")``); its methods read
    rules, one alert with its history, analytics, silences, channels and the delivery log."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __call__(self, state: str | None = None, since: TimeInput = "30d") -> pd.DataFrame:
        """Alerts active in the window (pending, firing, nodata, error, acknowledged, resolved), open first."""
        return read_alerts(self._engine, state, since)

    def find(
        self,
        *,
        state: str | None = None,
        since: TimeInput = "30d",
        until: TimeInput = None,
        severity: str | None = None,
        category: str | None = None,
        host: str | None = None,
        rule_id: int | None = None,
        limit: int = 500,
        offset: int = 0,
    ) -> pd.DataFrame:
        """Alerts filtered like the alert center (``state="open"`` for every open one), open first."""
        return read_alerts(
            self._engine, state, since, until, severity, category, host, rule_id, limit, offset
        )

    def count(
        self,
        *,
        state: str | None = None,
        since: TimeInput = "30d",
        until: TimeInput = None,
        severity: str | None = None,
        category: str | None = None,
        host: str | None = None,
        rule_id: int | None = None,
    ) -> int:
        """How many alerts :meth:`find` would return without a limit."""
        return count_alerts(self._engine, state, since, until, severity, category, host, rule_id)

    def alert(self, *, alert_id: int) -> dict[str, Any] | None:
        """One alert with its rule's condition, thresholds and annotations (None if unknown)."""
        return get_alert(self._engine, alert_id)

    def history(self, *, alert_id: int) -> pd.DataFrame:
        """Every state transition of one alert, oldest first, with the value that caused it."""
        return alert_history(self._engine, alert_id)

    def rules(self, *, enabled: bool | None = None) -> pd.DataFrame:
        """Alert rules, one row each (every field of the rule)."""
        return pd.DataFrame(list_rules(self._engine, enabled))

    def rule(self, *, rule_id: int) -> dict[str, Any] | None:
        """One rule as a dict (None if unknown)."""
        return get_rule(self._engine, rule_id)

    def analytics(self, *, since: TimeInput = "7d", until: TimeInput = None) -> dict[str, pd.DataFrame]:
        """``over_time`` (count per bucket and severity), ``rules`` (alerts, notifications, MTTA, MTTR)
        and ``flapping`` (firing/resolved flips per rule) for alerts that fired in the window."""
        return alert_analytics(self._engine, since, until)

    def silences(self) -> pd.DataFrame:
        """Silences and recurring maintenance windows, newest first."""
        return pd.DataFrame(list_silences(self._engine))

    def channels(self) -> pd.DataFrame:
        """Notification channels (secrets are never returned; ``secret_hint`` shows the last characters)."""
        return pd.DataFrame(list_channels(self._engine))

    def deliveries(
        self, *, channel_id: int | None = None, since: TimeInput = "7d", limit: int = 200
    ) -> pd.DataFrame:
        """The delivery log: one row per attempt with status code, response excerpt and attempt number."""
        return read_deliveries(self._engine, channel_id, since, limit)

    def failing_channels(self, *, since: TimeInput = "24h") -> pd.DataFrame:
        """Enabled channels whose latest messages did not get through (failed or retrying), with the
        last error; one successful delivery clears a channel (Overview and Alerts show them)."""
        return failing_channels(self._engine, since)
