"""The alerts REST API: rules CRUD with field-named 400s, roles (403), alerts list/ack/resolve,
backtest, silences with preview, webhooks whose secret is shown once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import storage
from app import create_app
from storage.tokens import create_token
from storage.users import create_user
from tasks.alerting.evaluate import evaluate_rules
from tests.support import signed_in

PASSWORD = "correct-horse-battery"


@pytest.fixture
def app(store: storage.Store, tmp_path: Path):
    for name, role in (("ada", "admin"), ("otto", "operator"), ("vera", "viewer")):
        create_user(store.engine, name, PASSWORD, role)
    now = datetime.now(UTC).replace(microsecond=0)  # at the test's start: the tests read "now" too
    ts = pd.date_range(now - timedelta(hours=3), now, freq="10s")
    values = [95.0 if (now - t) < timedelta(hours=1) else 20.0 for t in ts]
    store.write(pd.DataFrame({"ts": ts, "metric": "system.cpu.percent", "host": "web1", "value": values}))
    settings = storage.load_settings(data_dir=tmp_path, secret_key="api-test-secret-key-0123456789")
    return create_app(settings, store, run_scheduler=False)


def client_for(app, username: str):
    return signed_in(app, username, PASSWORD)


RULE = {
    "name": "cpu hot",
    "metric": "system.cpu.percent",
    "operator": "gt",
    "threshold": 90,
    "window": "1m",
    "for": "2m",
    "repeat": "30m",
    "severity": "critical",
}


def test_rules_crud_validation_and_roles(app, store: storage.Store) -> None:
    ada, otto = client_for(app, "ada"), client_for(app, "otto")
    refused = otto.post("/api/alerts/rules", json=RULE)
    assert refused.status_code == 403 and "admin" in refused.get_json()["error"]
    bad = ada.post("/api/alerts/rules", json={**RULE, "metric": "sytem.cpu.percent"})
    assert bad.status_code == 400
    assert bad.get_json()["parameter"] == "metric" and "did you mean" in bad.get_json()["error"]
    bounds = ada.post("/api/alerts/rules", json={**RULE, "operator": "between", "threshold2": None})
    assert bounds.get_json()["parameter"] == "threshold2"
    unknown = ada.post("/api/alerts/rules", json={**RULE, "bogus": 1})
    assert unknown.status_code == 400 and unknown.get_json()["parameter"] == "bogus"
    created = ada.post("/api/alerts/rules", json=RULE)
    assert created.status_code == 200, created.get_json()
    rule = created.get_json()
    assert rule["condition"] == "avg(system.cpu.percent[1m]) > 90" and rule["for_seconds"] == 120
    changed = ada.put(f"/api/alerts/rules/{rule['id']}", json={**RULE, "threshold": 80})
    assert changed.get_json()["threshold"] == 80
    assert ada.get("/api/alerts/rules/999999").status_code == 404
    tested = ada.post(f"/api/alerts/rules/{rule['id']}/test").get_json()
    assert tested["series"][0]["met"] is True and tested["series"][0]["value"] == 95
    backtest = ada.post(f"/api/alerts/rules/{rule['id']}/backtest", json={"range": "24h"}).get_json()
    assert backtest["episodes"] == 1 and backtest["notifications"] == 2  # firing + one repeat after 30 min
    episode = backtest["series"][0]["episodes"][0]
    assert episode["ended_at"] is None and episode["peak"] == 95
    assert (
        ada.post(f"/api/alerts/rules/{rule['id']}/backtest", json={"range": "1y"}).get_json()["parameter"]
        == "range"
    )
    assert ada.delete(f"/api/alerts/rules/{rule['id']}").status_code == 200
    assert ada.get("/api/alerts/rules").get_json()["rules"] == []


def test_alerts_list_acknowledge_resolve(app, store: storage.Store) -> None:
    ada, otto, vera = client_for(app, "ada"), client_for(app, "otto"), client_for(app, "vera")
    rule = ada.post("/api/alerts/rules", json={**RULE, "for": "0"}).get_json()
    evaluate_rules(store, datetime.now(UTC))
    listed = vera.get("/api/alerts?state=open").get_json()
    assert listed["total"] == 1 and listed["alerts"][0]["rule"] == "cpu hot"
    alert_id = listed["alerts"][0]["id"]
    assert vera.post(f"/api/alerts/{alert_id}/acknowledge", json={"comment": "x"}).status_code == 403
    acked = otto.post(f"/api/alerts/{alert_id}/acknowledge", json={"comment": "on it"})
    assert acked.get_json() == {"ids": [alert_id]}
    detail = vera.get(f"/api/alerts/{alert_id}").get_json()
    assert detail["acknowledged_by"] == "otto" and detail["ack_comment"] == "on it"
    assert [h["to_state"] for h in detail["history"]] == ["firing", "firing"]
    assert otto.post(f"/api/alerts/{alert_id}/resolve", json={}).status_code == 200
    assert otto.post(f"/api/alerts/{alert_id}/resolve", json={}).status_code == 409
    assert vera.get("/api/alerts?state=bogus").get_json()["parameter"] == "state"
    assert vera.get("/api/alerts?limit=0").get_json()["parameter"] == "limit"
    analytics = vera.get("/api/alerts/analytics?since=1d").get_json()
    assert analytics["rules"][0]["rule_id"] == rule["id"]
    assert otto.delete(f"/api/alerts/{alert_id}").status_code == 403
    assert ada.delete(f"/api/alerts/{alert_id}").status_code == 200


def test_silences_and_preview(app, store: storage.Store) -> None:
    ada, otto = client_for(app, "ada"), client_for(app, "otto")
    rule = ada.post("/api/alerts/rules", json={**RULE, "for": "0"}).get_json()
    evaluate_rules(store, datetime.now(UTC))
    bad = otto.post(
        "/api/silences",
        json={"rule_id": rule["id"], "cron": "every sunday", "duration": "2h", "comment": "x"},
    )
    assert bad.get_json()["parameter"] == "cron"
    nothing = otto.post("/api/silences", json={"comment": "x", "ends_at": "1h"})
    assert nothing.status_code == 400
    preview = otto.post(
        "/api/silences/preview",
        json={"rule_id": rule["id"], "ends_at": "2100-01-01", "starts_at": "2000-01-01"},
    ).get_json()
    assert len(preview["muted"]) == 1 and len(preview["open"]) == 1
    made = otto.post(
        "/api/silences",
        json={"host": "web1", "cron": "0 2 * * 0", "duration": "2h", "comment": "Sunday maintenance"},
    )
    assert made.status_code == 200 and made.get_json()["duration_seconds"] == 7200
    assert len(otto.get("/api/silences").get_json()["silences"]) == 1
    assert otto.delete(f"/api/silences/{made.get_json()['id']}").status_code == 200


def test_webhook_secret_shown_once(app, store: storage.Store) -> None:
    ada = client_for(app, "ada")
    created = ada.post(
        "/api/webhooks", json={"name": "hook", "kind": "webhook", "url": "https://example.com/x"}
    )
    body = created.get_json()
    assert body["signing_secret"].startswith("whsec_")
    listed = ada.get("/api/webhooks").get_json()["webhooks"]
    assert "signing_secret" not in listed[0] and body["signing_secret"] not in str(listed)
    assert (
        ada.post("/api/webhooks", json={"name": "x", "kind": "webhook", "url": "ftp://h/"}).get_json()[
            "parameter"
        ]
        == "url"
    )
    toggled = ada.post(f"/api/webhooks/{body['id']}/toggle").get_json()
    assert toggled == {"id": body["id"], "enabled": False}
    token = create_token(store.engine, "ci", "vera", "viewer")[1]
    viewer = app.server.test_client()
    refused = viewer.post(f"/api/webhooks/{body['id']}/toggle", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
