"""Hand-posted Alerts page callbacks: a viewer is refused by the action (and audited), exactly as when
clicking a disabled button; an operator posting the same callback acknowledges."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd
import pytest

import storage
from app import create_app
from storage.audit import audit_entries
from storage.users import Role, create_user
from tasks.actions import alerts as actions
from tasks.actions.gate import Actor
from tasks.alerting.evaluate import evaluate_rules

PASSWORD = "correct-horse-battery"
BULK_OUTPUTS = [("alerts-bulk-message", "children"), ("alerts-grid-version", "data")]


@pytest.fixture
def app(store: storage.Store, tmp_path):
    for name, role in (("ada", "admin"), ("otto", "operator"), ("vera", "viewer")):
        create_user(store.engine, name, PASSWORD, role)
    now = datetime.now(UTC)
    store.write(
        pd.DataFrame({"ts": [now], "metric": ["system.cpu.percent"], "host": ["web1"], "value": [99.0]})
    )
    actions.save_rule(
        store,
        Actor("ada", Role.ADMIN),
        {
            "name": "cpu hot",
            "metric": "system.cpu.percent",
            "operator": "gt",
            "threshold": 90,
            "window": "5m",
        },
    )
    evaluate_rules(store, now)
    settings = storage.load_settings(data_dir=tmp_path, secret_key="callback-test-secret-key-0123456789")
    return create_app(settings, store, run_scheduler=False)


def client_for(app, username: str):
    client = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    client.post("/login", data={"csrf": csrf, "username": username, "password": PASSWORD, "next": "/"})
    return client


def _output(outputs: list[tuple[str, str]]) -> str:
    return "".join(f"..{component}.{prop}.." for component, prop in outputs).replace("....", "...")


def post_bulk_ack(client, alert_id: int):
    return client.post(
        "/_dash-update-component",
        json={
            "output": _output(BULK_OUTPUTS),
            "outputs": [{"id": c, "property": p} for c, p in BULK_OUTPUTS],
            "inputs": [
                {"id": "alerts-bulk-ack", "property": "n_clicks", "value": 1},
                {"id": "alerts-bulk-resolve", "property": "n_clicks", "value": 0},
            ],
            "changedPropIds": ["alerts-bulk-ack.n_clicks"],
            "state": [
                {"id": "alerts-grid", "property": "selectedRows", "value": [{"id": alert_id}]},
                {"id": "alerts-bulk-comment", "property": "value", "value": "by hand"},
                {"id": "alerts-grid-version", "property": "data", "value": 0},
            ],
        },
    )


def post_rule_delete(app, client, rule_id: int):
    # Outputs shared with other callbacks carry a hash in their key: use the one Dash registered.
    key = next(k for k in app.callback_map if k.startswith("..alerts-rule-message.children@"))
    outputs = [part.split(".", 1) for part in key.strip(".").split("...")]
    return client.post(
        "/_dash-update-component",
        json={
            "output": key,
            "outputs": [{"id": c, "property": p} for c, p in outputs],
            "inputs": [
                {"id": "alerts-rule-clone", "property": "n_clicks", "value": 0},
                {"id": "alerts-rule-toggle", "property": "n_clicks", "value": 0},
                {"id": "alerts-rule-delete-confirm", "property": "submit_n_clicks", "value": 1},
            ],
            "changedPropIds": ["alerts-rule-delete-confirm.submit_n_clicks"],
            "state": [
                {"id": "alerts-rule-id", "property": "data", "value": rule_id},
                {"id": "alerts-rules-version", "property": "data", "value": 0},
            ],
        },
    )


def test_viewer_posting_the_acknowledge_callback_is_refused_and_audited(app, store: storage.Store) -> None:
    alert_id = int(store.alerts.find(state="open").iloc[0]["id"])
    response = post_bulk_ack(client_for(app, "vera"), alert_id)
    assert response.status_code == 200
    assert "needs the operator role" in response.get_data(as_text=True)
    alert = store.alerts.alert(alert_id=alert_id)
    assert alert is not None and alert["acknowledged_by"] is None
    audit = audit_entries(store.engine)
    refused = audit[(audit["action"] == "alerts.acknowledge") & (audit["outcome"] == "denied")]
    assert list(refused["username"]) == ["vera"]
    # The same post by an operator acknowledges.
    assert "Acknowledged 1 alert" in post_bulk_ack(client_for(app, "otto"), alert_id).get_data(as_text=True)
    acked = store.alerts.alert(alert_id=alert_id)
    assert acked is not None and (acked["acknowledged_by"], acked["ack_comment"]) == ("otto", "by hand")


def test_operator_posting_rule_delete_is_refused(app, store: storage.Store) -> None:
    rule_id = int(store.alerts.rules().iloc[0]["id"])
    response = post_rule_delete(app, client_for(app, "otto"), rule_id)
    assert "needs the admin role" in response.get_data(as_text=True)
    assert store.alerts.rule(rule_id=rule_id) is not None
    assert "Rule deleted" in post_rule_delete(app, client_for(app, "ada"), rule_id).get_data(as_text=True)
    assert store.alerts.rule(rule_id=rule_id) is None
