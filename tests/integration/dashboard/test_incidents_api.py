"""The incidents REST API through Flask's test client: the flow, bad input answered with nothing
half-applied, viewers refused (403, audited), opening from an alert, the postmortem download."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import storage
from app import create_app
from storage.schema import alert_rules, alerts, audit_log, series
from storage.tokens import create_token
from storage.users import create_user
from tests.support import inserted_id

PASSWORD = "correct-horse-battery"
NOW = datetime.now(UTC).replace(microsecond=0, tzinfo=None)


@pytest.fixture
def app(store: storage.Store, tmp_path: Path):
    create_user(store.engine, "otto", PASSWORD, "operator")
    create_user(store.engine, "vera", PASSWORD, "viewer")
    settings = storage.load_settings(data_dir=tmp_path, secret_key="api-test-secret-key-0123456789")
    return create_app(settings, store, run_scheduler=False)


@pytest.fixture
def operator(store: storage.Store, app) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(store.engine, 'ops', 'otto', 'operator')[1]}"}


@pytest.fixture
def viewer(store: storage.Store, app) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(store.engine, 'ro', 'vera', 'viewer')[1]}"}


def _alert(store: storage.Store) -> int:
    with store.engine.begin() as conn:
        rule = inserted_id(
            conn.execute(
                alert_rules.insert().values(
                    name="db1 connections",
                    metric="mysql.threads_connected",
                    condition=">",
                    threshold=100,
                    severity="critical",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        )
        series_id = inserted_id(
            conn.execute(
                series.insert().values(
                    metric="mysql.threads_connected",
                    host="db1",
                    labels={"target": "db1"},
                    labels_hash="x",
                    created_at=NOW,
                )
            )
        )
        return int(
            inserted_id(
                conn.execute(
                    alerts.insert().values(
                        rule_id=rule,
                        series_id=series_id,
                        state="firing",
                        value=140.0,
                        started_at=NOW - timedelta(minutes=6),
                        summary="140 connections",
                    )
                )
            )
        )


def test_create_move_comment_and_postmortem(app, operator: dict[str, str]) -> None:
    client = app.server.test_client()
    created = client.post(
        "/api/incidents",
        json={"title": "Checkout slow", "severity": "high", "targets": ["db1"], "description": "p95 2 s"},
        headers=operator,
    )
    assert created.status_code == 200, created.get_json()
    incident = created.get_json()
    assert incident["status"] == "investigating"
    assert incident["allowed_statuses"] == ["identified", "monitoring", "resolved"]
    path = f"/api/incidents/{incident['id']}"
    for status in ("identified", "monitoring", "resolved"):
        moved = client.post(
            f"{path}/status", json={"status": status, "note": f"now {status}"}, headers=operator
        )
        assert moved.status_code == 200, moved.get_json()
    body = client.get(path, headers=operator).get_json()
    assert body["status"] == "resolved"
    assert body["mttr_seconds"] is not None and body["mtta_seconds"] is not None
    assert [entry["kind"] for entry in body["timeline"]] == ["created", "status", "status", "status"]
    assert body["timeline"][1]["body"] == "status: investigating → identified — now identified"
    assert (
        client.post(f"{path}/comments", json={"body": "rolled back v42"}, headers=operator).status_code == 200
    )
    updated = client.put(path, json={"postmortem": "## Root cause\n\n- [ ] add an index"}, headers=operator)
    assert updated.status_code == 200
    assert updated.get_json()["postmortem"].startswith("## Root cause")
    download = client.get(f"{path}/postmortem.md", headers=operator)
    assert download.status_code == 200
    assert download.mimetype == "text/markdown"
    assert "attachment" in download.headers["Content-Disposition"]
    text = download.get_data(as_text=True)
    assert text.startswith("# Postmortem: Checkout slow")
    assert "- [ ] add an index" in text
    listed = client.get(
        "/api/incidents?status=resolved&severity=high&target=db1", headers=operator
    ).get_json()
    assert [row["id"] for row in listed["incidents"]] == [incident["id"]]
    reopened = client.post(
        f"{path}/status", json={"status": "investigating", "reopen": True, "note": "back"}, headers=operator
    )
    assert reopened.get_json()["status"] == "investigating"
    assert reopened.get_json()["timeline"][-1]["body"] == "reopened: back"


@pytest.mark.parametrize(
    ("request_json", "parameter", "words"),
    [
        ({"status": "closed"}, "status", "status: 'closed' is not one of investigating"),
        ({"status": "identified"}, "status", "is resolved; reopen it"),
        ({"status": "investigating", "reopen": True}, "reason", "reason: say why"),
        ({"status": "investigating", "bogus": 1}, "bogus", "bogus: "),
    ],
)
def test_bad_status_requests_are_400_and_change_nothing(
    app, operator: dict[str, str], request_json: dict, parameter: str, words: str
) -> None:
    client = app.server.test_client()
    incident = client.post(
        "/api/incidents", json={"title": "x", "severity": "low"}, headers=operator
    ).get_json()
    path = f"/api/incidents/{incident['id']}"
    client.post(f"{path}/status", json={"status": "resolved"}, headers=operator)
    if request_json["status"] == "closed":
        client.post(
            f"{path}/status",
            json={"status": "investigating", "reopen": True, "note": "again"},
            headers=operator,
        )
    before = client.get(path, headers=operator).get_json()
    answer = client.post(f"{path}/status", json=request_json, headers=operator)
    assert answer.status_code == 400
    assert answer.get_json()["parameter"] == parameter
    assert words in answer.get_json()["error"]
    assert client.get(path, headers=operator).get_json() == before


def test_bad_create_and_update_answers(app, operator: dict[str, str]) -> None:
    client = app.server.test_client()
    answer = client.post("/api/incidents", json={"title": "x", "severity": "sev1"}, headers=operator)
    assert answer.status_code == 400
    assert answer.get_json() == {
        "error": "severity: 'sev1' is not one of low, medium, high, critical",
        "parameter": "severity",
    }
    assert client.get("/api/incidents", headers=operator).get_json()["incidents"] == []
    incident = client.post(
        "/api/incidents", json={"title": "x", "severity": "low"}, headers=operator
    ).get_json()
    path = f"/api/incidents/{incident['id']}"
    client.post(f"{path}/status", json={"status": "resolved"}, headers=operator)
    before = client.get(path, headers=operator).get_json()
    late = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()  # after the resolution, not the future
    answer = client.patch(path, json={"title": "renamed", "impact_started_at": late}, headers=operator)
    assert answer.status_code == 400
    assert answer.get_json()["parameter"] == "impact_started_at"
    assert "after the resolution" in answer.get_json()["error"]
    assert client.get(path, headers=operator).get_json() == before
    assert client.get("/api/incidents/999", headers=operator).status_code == 404
    assert client.get("/api/incidents?status=nope", headers=operator).get_json()["parameter"] == "status"
    assert (
        client.get("/api/incidents?since=yesterdayish", headers=operator).get_json()["parameter"] == "since"
    )


def test_open_from_alert_through_the_api(app, store: storage.Store, operator: dict[str, str]) -> None:
    client = app.server.test_client()
    alert_id = _alert(store)
    answer = client.post("/api/incidents/from-alert", json={"alert_id": alert_id}, headers=operator)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["title"] == "db1 connections on db1"
    assert body["severity"] == "high"
    assert body["source"] == "alert"
    assert [alert["id"] for alert in body["alerts"]] == [alert_id]
    again = client.post("/api/incidents/from-alert", json={"alert_id": alert_id}, headers=operator)
    assert again.status_code == 400
    assert (
        again.get_json()["error"] == f"alert_id: alert #{alert_id} is already part of incident #{body['id']}"
    )
    missing = client.post("/api/incidents/from-alert", json={"alert_id": 4242}, headers=operator)
    assert missing.status_code == 404


def test_viewers_read_but_may_not_change(app, store: storage.Store, operator, viewer) -> None:
    client = app.server.test_client()
    incident = client.post(
        "/api/incidents", json={"title": "x", "severity": "low"}, headers=operator
    ).get_json()
    path = f"/api/incidents/{incident['id']}"
    assert client.get(path, headers=viewer).status_code == 200
    assert client.get("/api/incidents", headers=viewer).status_code == 200
    refused = [
        client.post("/api/incidents", json={"title": "y", "severity": "low"}, headers=viewer),
        client.post(f"{path}/status", json={"status": "identified"}, headers=viewer),
        client.post(f"{path}/comments", json={"body": "hi"}, headers=viewer),
        client.patch(path, json={"title": "z"}, headers=viewer),
    ]
    assert [answer.status_code for answer in refused] == [403, 403, 403, 403]
    assert client.get(path, headers=viewer).get_json()["title"] == "x"
    with store.engine.connect() as conn:
        denied = (
            conn.execute(
                select(audit_log.c.action).where(
                    audit_log.c.username == "vera", audit_log.c.outcome == "denied"
                )
            )
            .scalars()
            .all()
        )
    assert sorted(denied) == [
        "incidents.comment",
        "incidents.create",
        "incidents.set_status",
        "incidents.update",
    ]


def test_incident_routes_are_in_the_openapi_document(app, operator: dict[str, str]) -> None:
    document = app.server.test_client().get("/api/openapi.json", headers=operator).get_json()
    for path, methods in {
        "/api/incidents": {"get", "post"},
        "/api/incidents/{incident_id}": {"get", "put", "patch"},
        "/api/incidents/{incident_id}/status": {"post"},
        "/api/incidents/{incident_id}/comments": {"post"},
        "/api/incidents/from-alert": {"post"},
    }.items():
        assert methods <= set(document["paths"][path]), path
        for method in methods:
            assert {"200", "400", "401", "403"} <= set(document["paths"][path][method]["responses"])
