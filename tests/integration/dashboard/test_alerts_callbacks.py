"""Hand-posted Alerts page callbacks: a viewer is refused by the action (and audited), exactly as when
clicking a disabled button; an operator posting the same callback acknowledges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

import storage
from app import create_app
from dashboard.pages.alerts.center import PAGE_SIZE
from storage.audit import audit_entries
from storage.schema import alerts
from storage.users import Role, create_user
from tasks.actions import alerts as actions
from tasks.actions.gate import Actor
from tasks.alerting.evaluate import evaluate_rules
from tests.support import signed_in

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
    return signed_in(app, username, PASSWORD)


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


GRID_OUTPUTS = [
    ("alerts-grid", "rowData"),
    ("alerts-grid-note", "children"),
    ("alerts-pager", "max_value"),
    ("alerts-pager", "active_page"),
    ("alerts-page-note", "children"),
]


def post_grid_page(app, client, page: int, changed: str, severity: str | None = None) -> dict:
    key = next(k for k in app.callback_map if k.startswith("..alerts-grid.rowData"))
    values = [
        ("alerts-pager", "active_page", page),
        ("alerts-filter-state", "value", "all"),
        ("alerts-filter-severity", "value", severity),
        ("alerts-filter-category", "value", None),
        ("alerts-filter-host", "value", ""),
        ("alerts-filter-rule", "value", None),
        ("alerts-grid-version", "data", 0),
        ("refresh-interval", "n_intervals", 0),
        ("time-range", "value", "24h"),
        ("custom-range", "start_date", None),
        ("custom-range", "end_date", None),
    ]
    outputs = [part.split(".", 1) for part in key.strip(".").split("...")]
    response = client.post(
        "/_dash-update-component",
        json={
            "output": key,
            "outputs": [{"id": c, "property": p} for c, p in outputs],
            "inputs": [{"id": c, "property": p, "value": v} for c, p, v in values],
            "changedPropIds": [changed],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["response"]


def test_the_alert_grid_pages_through_any_number_of_alerts_on_the_server(app, store: storage.Store) -> None:
    rule_id = int(store.alerts.rules().iloc[0]["id"])
    started = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=2)
    with store.engine.begin() as conn:
        conn.execute(
            alerts.insert(),
            [
                {
                    "rule_id": rule_id,
                    "state": "resolved",
                    "value": float(i),
                    "started_at": started + timedelta(seconds=i),
                    "resolved_at": started + timedelta(seconds=i + 30),
                    "summary": f"old alert {i}",
                }
                for i in range(1200)
            ],
        )
    client = client_for(app, "vera")
    first = post_grid_page(app, client, 1, "alerts-filter-state.value")
    assert len(first["alerts-grid"]["rowData"]) == PAGE_SIZE
    assert first["alerts-pager"] == {"max_value": 25, "active_page": 1}  # 1,201 alerts
    assert first["alerts-grid"]["rowData"][0]["state"] == "firing"  # open first
    assert first["alerts-page-note"]["children"] == "Alerts 1 to 50 of 1,201"
    last = post_grid_page(app, client, 25, "alerts-pager.active_page")
    assert [row["summary"] for row in last["alerts-grid"]["rowData"]] == ["old alert 0"]  # newest first
    assert last["alerts-page-note"]["children"] == "Alerts 1,201 to 1,201 of 1,201"
    middle = post_grid_page(app, client, 10, "alerts-pager.active_page")
    ids = {row["id"] for row in middle["alerts-grid"]["rowData"]}
    assert len(ids) == PAGE_SIZE and not ids & {row["id"] for row in first["alerts-grid"]["rowData"]}
    # A changed filter starts again at page 1; a page past the end is clamped.
    narrowed = post_grid_page(app, client, 10, "alerts-filter-severity.value", severity="critical")
    assert narrowed["alerts-pager"] == {"max_value": 1, "active_page": 1}
    assert narrowed["alerts-grid"]["rowData"] == []
    clamped = post_grid_page(app, client, 99, "alerts-pager.active_page")
    assert clamped["alerts-pager"]["active_page"] == 25
