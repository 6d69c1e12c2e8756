"""Incidents in the store, on SQLite and MariaDB: the status flow (every refused jump), automatic
grouping of critical alerts per target, MTTA/MTTR from known times, the timeline, all-or-nothing edits."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from storage import Store
from storage.incidents import TRANSITIONS, IncidentInputError, UnknownIncident
from storage.schema import (
    alert_rules,
    alerts,
    incident_alerts,
    incidents,
    notification_channels,
    notification_deliveries,
    series,
)
from tasks.incidents_jobs import group_alerts
from tests.support import inserted_id

NOW = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
_counter = itertools.count(1)


def add_rule(store: Store, severity: str = "critical", metric: str = "mysql.threads_connected") -> int:
    with store.engine.begin() as conn:
        return int(
            inserted_id(
                conn.execute(
                    alert_rules.insert().values(
                        name=f"rule-{next(_counter)}-{severity}",
                        metric=metric,
                        condition=">",
                        threshold=10,
                        severity=severity,
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
            )
        )


def add_series(store: Store, target: str, metric: str = "mysql.threads_connected") -> int:
    with store.engine.begin() as conn:
        return int(
            inserted_id(
                conn.execute(
                    series.insert().values(
                        metric=metric,
                        host="web1",
                        labels={"target": target},
                        labels_hash=f"h{next(_counter)}",
                        created_at=NOW,
                    )
                )
            )
        )


def add_alert(
    store: Store, rule_id: int, series_id: int | None, started: datetime, state: str = "firing"
) -> int:
    with store.engine.begin() as conn:
        return int(
            inserted_id(
                conn.execute(
                    alerts.insert().values(
                        rule_id=rule_id,
                        series_id=series_id,
                        state=state,
                        value=42.0,
                        started_at=started,
                        # What the engine writes: firing_at only once the alert fired.
                        firing_at=None if state in ("pending", "inactive") else started,
                        summary="threads above 10",
                    )
                )
            )
        )


def new_incident(store: Store, **extra: object) -> int:
    values: dict = {"title": "Checkout is slow", "severity": "high", "username": "otto", **extra}
    return store.incidents.create(**values)


def test_create_and_read_back(store: Store) -> None:
    incident_id = new_incident(store, description="p95 over 2 s", targets="db1, cache1", owner="otto")
    found = store.incidents.get(incident_id=incident_id)
    assert found["status"] == "investigating"
    assert found["severity"] == "high"
    assert found["targets"] == ["db1", "cache1"]
    assert found["description"] == "p95 over 2 s"
    assert found["acknowledged_at"] is not None  # an owner from the start has acknowledged it
    assert found["allowed_statuses"] == list(TRANSITIONS["investigating"])
    listed = store.incidents(status="open")
    assert list(listed["id"]) == [incident_id]
    assert list(store.incidents.find(target="cache1")["id"]) == [incident_id]
    assert store.incidents.find(target="cache").empty  # whole names, not substrings
    assert store.incidents.find(severity="low").empty
    kinds = list(store.incidents.timeline(incident_id=incident_id)["kind"])
    assert kinds == ["created", "owner"]


def test_status_flow_through_every_step_and_reopen(store: Store) -> None:
    incident_id = new_incident(store)
    for status in ("identified", "monitoring", "resolved"):
        store.incidents.set_status(incident_id=incident_id, status=status, username="otto")
    found = store.incidents.get(incident_id=incident_id)
    assert found["status"] == "resolved"
    assert found["acknowledged_at"] and found["mitigated_at"] and found["resolved_at"]
    assert found["allowed_statuses"] == []
    store.incidents.reopen(incident_id=incident_id, username="otto", reason="errors came back")
    reopened = store.incidents.get(incident_id=incident_id)
    assert reopened["status"] == "investigating"
    assert reopened["resolved_at"] is None
    timeline = store.incidents.timeline(incident_id=incident_id)
    assert list(timeline["kind"]) == ["created", "status", "status", "status", "reopened"]
    assert timeline["body"].iloc[-1] == "reopened: errors came back"
    assert set(timeline["username"]) == {"otto"}


def _every_pair() -> list[tuple[str, str]]:
    statuses = list(TRANSITIONS)
    return [(a, b) for a in statuses for b in statuses]


def _move_to(store: Store, incident_id: int, status: str) -> None:
    path = {
        "investigating": [],
        "identified": ["identified"],
        "monitoring": ["monitoring"],
        "resolved": ["resolved"],
    }
    for step in path[status]:
        store.incidents.set_status(incident_id=incident_id, status=step, username="otto")


def test_every_refused_jump_is_refused_and_changes_nothing(store: Store) -> None:
    refused = [(a, b) for a, b in _every_pair() if b not in TRANSITIONS[a]]
    # The refused ones, spelled out so a change to the flow is a deliberate change to this test.
    assert refused == [
        ("investigating", "investigating"),
        ("identified", "identified"),
        ("monitoring", "identified"),
        ("monitoring", "monitoring"),
        ("resolved", "investigating"),
        ("resolved", "identified"),
        ("resolved", "monitoring"),
        ("resolved", "resolved"),
    ]
    for current, wanted in refused:
        incident_id = new_incident(store, title=f"{current} -> {wanted}")
        _move_to(store, incident_id, current)
        before = store.incidents.get(incident_id=incident_id)
        entries = len(store.incidents.timeline(incident_id=incident_id))
        with pytest.raises(IncidentInputError) as refusal:
            store.incidents.set_status(incident_id=incident_id, status=wanted, username="otto")
        assert refusal.value.field == "status"
        assert str(refusal.value).startswith("status: ")
        assert ("reopen" in str(refusal.value)) == (current == "resolved")
        assert store.incidents.get(incident_id=incident_id) == before
        assert len(store.incidents.timeline(incident_id=incident_id)) == entries


def test_every_allowed_jump_is_taken(store: Store) -> None:
    for current, wanted in _every_pair():
        if wanted not in TRANSITIONS[current]:
            continue
        incident_id = new_incident(store, title=f"{current} -> {wanted}")
        _move_to(store, incident_id, current)
        assert store.incidents.set_status(incident_id=incident_id, status=wanted, username="otto") == current
        assert store.incidents.get(incident_id=incident_id)["status"] == wanted


def test_unknown_status_severity_and_reopen_of_an_open_incident(store: Store) -> None:
    incident_id = new_incident(store)
    with pytest.raises(IncidentInputError, match=r"^status: 'closed' is not one of investigating"):
        store.incidents.set_status(incident_id=incident_id, status="closed", username="otto")
    with pytest.raises(
        IncidentInputError, match=r"^severity: 'sev1' is not one of low, medium, high, critical"
    ):
        new_incident(store, severity="sev1")
    with pytest.raises(IncidentInputError, match=r"^severity: "):
        store.incidents.update(incident_id=incident_id, username="otto", changes={"severity": "urgent"})
    with pytest.raises(IncidentInputError, match=r"^status: incident #\d+ is investigating, not resolved"):
        store.incidents.reopen(incident_id=incident_id, username="otto", reason="why not")
    with pytest.raises(UnknownIncident, match=r"^incident_id: no incident #999"):
        store.incidents.get(incident_id=999)
    assert len(store.incidents.find()) == 1  # the refused create left nothing


def test_impact_start_after_resolution_is_refused_and_nothing_is_half_applied(store: Store) -> None:
    incident_id = new_incident(store)
    store.incidents.set_status(incident_id=incident_id, status="resolved", username="otto")
    resolved_at = store.incidents.get(incident_id=incident_id)["resolved_at"]
    before = store.incidents.get(incident_id=incident_id)
    with pytest.raises(IncidentInputError, match=r"^impact_started_at: .* is after the resolution"):
        store.incidents.update(
            incident_id=incident_id,
            username="otto",
            changes={"title": "renamed", "impact_started_at": resolved_at + timedelta(seconds=30)},
        )
    assert store.incidents.get(incident_id=incident_id) == before
    # A start before the resolution, and a postmortem, are fine after resolution.
    changed = store.incidents.update(
        incident_id=incident_id,
        username="otto",
        changes={
            "impact_started_at": resolved_at - timedelta(hours=1),
            "postmortem": "## Root cause\n\nDisk.",
        },
    )
    assert set(changed) == {"impact_started_at", "postmortem"}
    assert store.incidents.get(incident_id=incident_id)["postmortem"].startswith("## Root cause")


def test_mtta_and_mttr_from_known_times(store: Store) -> None:
    detected = NOW - timedelta(hours=5)
    times = [  # (severity, acknowledged after, resolved after) in seconds after detection
        ("critical", 120, 1800),
        ("critical", 360, 5400),
        ("high", 60, None),
        ("low", None, None),
    ]
    for severity, ack, resolved in times:
        incident_id = new_incident(store, severity=severity)
        with store.engine.begin() as conn:
            conn.execute(
                update(incidents)
                .where(incidents.c.id == incident_id)
                .values(
                    detected_at=detected,
                    impact_started_at=detected - timedelta(minutes=10),
                    acknowledged_at=detected + timedelta(seconds=ack) if ack is not None else None,
                    resolved_at=detected + timedelta(seconds=resolved) if resolved is not None else None,
                    status="resolved" if resolved is not None else "investigating",
                )
            )
    first = store.incidents.find(severity="critical")["id"].min()
    one = store.incidents.get(incident_id=int(first))
    assert one["mtta_seconds"] == 120
    assert one["mttr_seconds"] == 1800
    assert one["impact_seconds"] == 1800 + 600
    summary = store.incidents.response_times(since="1d").set_index("severity")
    assert list(summary.index) == ["critical", "high", "medium", "low", "all"]
    assert summary.loc["critical", "incidents"] == 2
    assert summary.loc["critical", "mtta_seconds"] == pytest.approx(240)
    assert summary.loc["critical", "mttr_seconds"] == pytest.approx(3600)
    assert summary.loc["high", "mtta_seconds"] == pytest.approx(60)
    assert summary.loc["high", "mttr_seconds"] is None or summary["mttr_seconds"].isna()["high"]
    assert summary.loc["all", "incidents"] == 4
    assert summary.loc["all", "open"] == 2
    assert summary.loc["all", "mtta_seconds"] == pytest.approx((120 + 360 + 60) / 3)
    assert store.incidents.response_times(since="1h").set_index("severity").loc["all", "incidents"] == 0


def test_two_critical_alerts_of_one_target_make_one_incident_another_target_a_second(store: Store) -> None:
    critical, emergency, warning = add_rule(store), add_rule(store, "emergency"), add_rule(store, "warning")
    db1, db2 = add_series(store, "db1"), add_series(store, "db2")
    first = add_alert(store, critical, db1, NOW - timedelta(minutes=8))
    second = add_alert(store, emergency, db1, NOW - timedelta(minutes=3))
    other = add_alert(store, critical, db2, NOW - timedelta(minutes=2))
    add_alert(store, warning, db1, NOW - timedelta(minutes=1))  # not critical: never grouped
    add_alert(store, critical, db1, NOW - timedelta(minutes=1), state="pending")  # not yet an alert
    # A spike that cleared before its 'for' elapsed (a busy machine just after start): never an incident.
    add_alert(store, critical, db1, NOW - timedelta(minutes=2), state="inactive")

    report = group_alerts(store, window_seconds=600)
    assert report == {"alerts_linked": 3, "incidents_opened": 2, "timeline_entries": 0}
    listed = store.incidents.find().sort_values("id")
    assert len(listed) == 2
    by_target = {tuple(row.targets): int(row.id) for row in listed.itertuples()}
    assert set(by_target) == {("db1",), ("db2",)}
    db1_incident = store.incidents.get(incident_id=by_target[("db1",)])
    assert db1_incident["source"] == "auto"
    assert db1_incident["severity"] == "critical"  # raised by the emergency alert joining
    assert db1_incident["detected_at"].replace(tzinfo=None) == NOW - timedelta(minutes=8)
    linked = store.incidents.linked_alerts(incident_id=by_target[("db1",)])
    assert sorted(linked["id"]) == sorted([first, second])
    assert list(store.incidents.linked_alerts(incident_id=by_target[("db2",)])["id"]) == [other]
    kinds = list(store.incidents.timeline(incident_id=by_target[("db1",)])["kind"])
    assert kinds == ["created", "alert_linked", "severity", "alert_linked"]

    # Running again links nothing twice.
    assert group_alerts(store, window_seconds=600)["alerts_linked"] == 0


def test_an_alert_outside_the_window_or_after_resolution_opens_a_new_incident(store: Store) -> None:
    rule, db1 = add_rule(store), add_series(store, "db1")
    # Grouping looks back one hour from the real clock, so these times are taken now, not when the
    # module was imported (in a long run that was long enough ago to push 50 minutes out of reach).
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    add_alert(store, rule, db1, now - timedelta(minutes=50))
    add_alert(store, rule, db1, now - timedelta(minutes=30))  # 20 minutes later: outside 10 minutes
    group_alerts(store, window_seconds=600)
    assert len(store.incidents.find()) == 2
    # With a wider window the next one joins the newest open incident of its target...
    add_alert(store, rule, db1, now - timedelta(minutes=20))
    group_alerts(store, window_seconds=3600)
    assert sorted(
        store.incidents.find()["id"].map(lambda i: store.incidents.get(incident_id=i)["alert_count"])
    ) == [1, 2]
    # ... but never a resolved one.
    for incident_id in store.incidents.find()["id"]:
        store.incidents.set_status(incident_id=int(incident_id), status="resolved", username="otto")
    add_alert(store, rule, db1, now - timedelta(minutes=1))
    assert group_alerts(store, window_seconds=3600)["incidents_opened"] == 1


def test_linked_alert_resolving_and_its_notifications_reach_the_timeline_once(store: Store) -> None:
    rule, db1 = add_rule(store), add_series(store, "db1")
    alert_id = add_alert(store, rule, db1, NOW - timedelta(minutes=5))
    group_alerts(store, window_seconds=600)
    incident_id = int(store.incidents.find()["id"].iloc[0])
    with store.engine.begin() as conn:
        channel = inserted_id(
            conn.execute(
                notification_channels.insert().values(
                    name="ops-mail", kind="email", config={}, created_at=NOW
                )
            )
        )
        conn.execute(
            notification_deliveries.insert().values(
                channel_id=channel,
                alert_id=alert_id,
                ts=NOW - timedelta(minutes=4),
                status="sent",
                attempts=1,
            )
        )
        conn.execute(
            update(alerts)
            .where(alerts.c.id == alert_id)
            .values(state="resolved", resolved_at=NOW - timedelta(minutes=1))
        )
    assert group_alerts(store, window_seconds=600)["timeline_entries"] == 2
    assert group_alerts(store, window_seconds=600)["timeline_entries"] == 0
    timeline = store.incidents.timeline(incident_id=incident_id)
    # Each entry at the moment it happened: the notification went out before the incident was opened.
    assert sorted(timeline["kind"]) == ["alert_linked", "alert_resolved", "created", "notification"]
    assert timeline["ts"].is_monotonic_increasing
    sent = timeline[timeline["kind"] == "notification"].iloc[0]
    assert sent["body"] == f"notification for alert #{alert_id} via ops-mail: sent"
    assert sent["ts"].tz_convert(None) == NOW - timedelta(minutes=4)


def test_create_from_alert_and_link_refusals(store: Store) -> None:
    rule, db1 = add_rule(store, "emergency"), add_series(store, "db1")
    started = NOW - timedelta(minutes=7)
    alert_id = add_alert(store, rule, db1, started)
    incident_id = store.incidents.create_from_alert(alert_id=alert_id, username="otto")
    found = store.incidents.get(incident_id=incident_id)
    assert found["source"] == "alert"
    assert found["severity"] == "critical"
    assert found["targets"] == ["db1"]
    assert found["title"].endswith("on db1")
    assert found["detected_at"].replace(tzinfo=None) == started
    with pytest.raises(
        IncidentInputError, match=rf"^alert_id: alert #{alert_id} is already part of incident #{incident_id}"
    ):
        store.incidents.create_from_alert(alert_id=alert_id, username="otto")
    with pytest.raises(UnknownIncident, match=r"^alert_id: no alert #12345"):
        store.incidents.create_from_alert(alert_id=12345, username="otto")
    other = new_incident(store)
    with pytest.raises(IncidentInputError, match="already part of"):
        store.incidents.link_alert(incident_id=other, alert_id=alert_id, username="otto")
    with store.engine.connect() as conn:
        assert conn.execute(select(incident_alerts.c.incident_id)).scalars().all() == [incident_id]
    # The automatic grouping leaves an alert that is already in an incident alone.
    assert group_alerts(store, window_seconds=600)["alerts_linked"] == 0


def test_comments_keep_author_and_text_literally(store: Store) -> None:
    incident_id = new_incident(store)
    store.incidents.comment(incident_id=incident_id, username="vera", body="<b>DROP TABLE</b>; -- hi")
    with pytest.raises(IncidentInputError, match=r"^body: a comment must not be empty"):
        store.incidents.comment(incident_id=incident_id, username="vera", body="   ")
    last = store.incidents.timeline(incident_id=incident_id).iloc[-1]
    assert (last["kind"], last["username"], last["body"]) == ("comment", "vera", "<b>DROP TABLE</b>; -- hi")
    assert last["ts"].tzinfo is not None


def test_the_scheduled_job_uses_the_configured_window(store: Store, tmp_path) -> None:
    from storage import load_settings
    from tasks.context import JobContext
    from tasks.incidents_jobs import job_specs
    from tasks.schedule import job_specs as schedule

    settings = load_settings(data_dir=tmp_path, secret_key="x" * 32, incident_group_window_seconds=1800)
    assert load_settings(data_dir=tmp_path, secret_key="x" * 32).incident_group_window_seconds == 600
    (spec,) = job_specs(settings)
    assert spec.name == "vitals.group_incidents"
    assert spec.name in {found.name for found in schedule(settings)}
    rule, db1 = add_rule(store), add_series(store, "db1")
    add_alert(store, rule, db1, NOW - timedelta(minutes=40))
    add_alert(store, rule, db1, NOW - timedelta(minutes=15))  # 25 minutes later: inside 30 minutes
    assert spec.body(JobContext(store=store)) == {
        "alerts_linked": 2,
        "incidents_opened": 1,
        "timeline_entries": 0,
    }


def test_the_alerts_own_target_label_and_host_name_the_target(store: Store) -> None:
    rule = add_rule(store)
    with_label = add_alert(store, rule, None, NOW - timedelta(minutes=3))
    with_host = add_alert(store, rule, None, NOW - timedelta(minutes=2))
    with store.engine.begin() as conn:
        conn.execute(
            update(alerts).where(alerts.c.id == with_label).values(labels={"target": "cache1"}, host="web1")
        )
        conn.execute(update(alerts).where(alerts.c.id == with_host).values(host="web2"))
    group_alerts(store, window_seconds=600)
    targets = sorted(tuple(row) for row in store.incidents.find()["targets"])
    assert targets == [("cache1",), ("web2",)]
