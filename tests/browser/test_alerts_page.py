"""The Alerts page in a browser: editor validation messages, backtest, acknowledge, bulk resolve,
silence preview, and what a viewer sees."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pandas as pd
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from storage.users import Role
from tasks.actions import alerts as actions
from tasks.actions.gate import Actor
from tasks.alerting.evaluate import evaluate_rules
from tests.browser.conftest import click_centered, login, wait_until

ADA = Actor("ada", Role.ADMIN)
WAIT = 30


def seed_disk(app: Any, hot_minutes: int = 40) -> int:
    """Three hours of disk use on two hosts, over 90 % for the last ``hot_minutes``; one rule, evaluated."""
    store = app.server.extensions["vitals"].store
    now = pd.Timestamp.now(tz="UTC").floor("s")
    stamps = pd.date_range(now - pd.Timedelta("3h"), now, freq="30s")
    for host in ("web1", "web2"):
        values = [95.0 if now - t < pd.Timedelta(minutes=hot_minutes) else 30.0 for t in stamps]
        store.write(
            pd.DataFrame(
                {
                    "ts": stamps,
                    "metric": "system.disk.percent",
                    "host": host,
                    "labels": [{"mount": "/"}] * len(stamps),
                    "value": values,
                }
            )
        )
    rule = actions.save_rule(
        store,
        ADA,
        {
            "name": "disk full",
            "metric": "system.disk.percent",
            "operator": "gt",
            "threshold": 90,
            "window": "1m",
            "severity": "critical",
            "summary": "disk {mount} at {value}",
        },
    )
    evaluate_rules(store, (now - pd.Timedelta(minutes=hot_minutes // 2)).to_pydatetime())
    assert rule.id is not None
    return rule.id


def open_tab(dash_duo: Any, query: str) -> None:
    dash_duo.driver.get(dash_duo.server.url + "/alerts" + query)
    dash_duo.wait_for_element("#alerts-tabs", timeout=WAIT)


def choose(dash_duo: Any, element_id: str, text: str) -> None:
    """Pick an option of a dcc.Dropdown by its label, as a user does (open it, click the option)."""
    dash_duo.wait_for_element(f"#{element_id}", timeout=WAIT)
    click_centered(dash_duo, f"#{element_id}")
    driver = dash_duo.driver
    option = wait_until(
        lambda: [
            o for o in driver.find_elements(By.CSS_SELECTOR, "[role='option']") if o.text.strip() == text
        ],
        timeout=WAIT,
        message=f"option {text!r} of {element_id}",
    )
    option[0].click()
    wait_until(
        lambda: text in dash_duo.find_element(f"#{element_id}").text,
        timeout=WAIT,
        message=f"{element_id} showing {text!r}",
    )


def type_into(dash_duo: Any, element_id: str, text: str) -> None:
    element = dash_duo.wait_for_element(f"#{element_id}", timeout=WAIT)
    # Select-all + delete, not clear(): React only sees typed changes.
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.DELETE)
    if text:
        element.send_keys(text)


def test_editor_shows_each_validation_message_next_to_its_field(dash_duo, vitals_app) -> None:
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "ada")
    open_tab(dash_duo, "?tab=rules")
    click_centered(dash_duo, "#alerts-rule-save")
    dash_duo.wait_for_contains_text("#alerts-rule-name-error", "give the rule a name", timeout=WAIT)
    dash_duo.wait_for_contains_text("#alerts-rule-metric-error", "choose a metric", timeout=WAIT)
    type_into(dash_duo, "alerts-rule-name", "disk <b>full</b>")
    choose(dash_duo, "alerts-rule-metric", "system.disk.percent")
    choose(dash_duo, "alerts-rule-operator", "between")
    type_into(dash_duo, "alerts-rule-threshold", "95")
    type_into(dash_duo, "alerts-rule-threshold2", "80")
    type_into(dash_duo, "alerts-rule-for", "-5m")
    type_into(dash_duo, "alerts-rule-window", "soon")
    type_into(dash_duo, "alerts-rule-runbook-url", "javascript:alert(1)")
    type_into(dash_duo, "alerts-rule-summary", "disk {mountpoint} full")
    click_centered(dash_duo, "#alerts-rule-save")
    dash_duo.wait_for_contains_text("#alerts-rule-threshold2-error", "below the lower bound 95", timeout=WAIT)
    dash_duo.wait_for_contains_text("#alerts-rule-for-error", "must not be negative", timeout=WAIT)
    dash_duo.wait_for_contains_text("#alerts-rule-window-error", "is not a duration", timeout=WAIT)
    dash_duo.wait_for_contains_text("#alerts-rule-runbook-url-error", "not an http(s) URL", timeout=WAIT)
    dash_duo.wait_for_contains_text("#alerts-rule-summary-error", "no label 'mountpoint'", timeout=WAIT)
    assert dash_duo.find_element("#alerts-rule-name-error").text == ""
    # Nothing typed is lost, and HTML typed into a box is kept as text.
    assert dash_duo.find_element("#alerts-rule-name").get_attribute("value") == "disk <b>full</b>"
    type_into(dash_duo, "alerts-rule-threshold2", "")
    click_centered(dash_duo, "#alerts-rule-save")
    dash_duo.wait_for_contains_text("#alerts-rule-threshold2-error", "needs both bounds", timeout=WAIT)
    for field, value in (
        ("threshold", "80"),
        ("threshold2", "95"),
        ("for", "2m"),
        ("window", "5m"),
        ("runbook-url", "https://runbooks.example/disk"),
        ("summary", "disk {mount} at {value}"),
    ):
        type_into(dash_duo, f"alerts-rule-{field}", value)
    click_centered(dash_duo, "#alerts-rule-save")
    dash_duo.wait_for_contains_text("#alerts-rule-message", "Saved rule", timeout=WAIT)
    store = vitals_app.server.extensions["vitals"].store
    saved = store.alerts.rules().set_index("name").loc["disk <b>full</b>"]
    assert (saved["operator"], saved["threshold"], saved["threshold2"], saved["for_seconds"]) == (
        "between",
        80,
        95,
        120,
    )
    dash_duo.driver.save_screenshot("/tmp/alerts-editor.png")
    assert dash_duo.get_logs() == []


def test_backtest_replays_a_saved_rule(dash_duo, vitals_app) -> None:
    seed_disk(vitals_app)
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "ada")
    open_tab(dash_duo, "?tab=rules")
    dash_duo.wait_for_contains_text("#alerts-rules-grid", "disk full", timeout=WAIT)
    cell = wait_until(
        lambda: [
            c
            for c in dash_duo.find_elements("#alerts-rules-grid .ag-cell[col-id='name']")
            if c.text == "disk full"
        ],
        timeout=WAIT,
        message="rule row",
    )
    cell[0].click()
    wait_until(
        lambda: dash_duo.find_element("#alerts-rule-name").get_attribute("value") == "disk full",
        timeout=WAIT,
        message="form filled",
    )
    click_centered(dash_duo, "#alerts-rule-backtest")
    dash_duo.wait_for_contains_text("#alerts-rule-backtest-result", "2 firing episodes", timeout=WAIT)
    dash_duo.wait_for_contains_text("#alerts-rule-backtest-result", "still firing", timeout=WAIT)
    dash_duo.driver.save_screenshot("/tmp/alerts-backtest.png")
    assert dash_duo.get_logs() == []


def test_operator_acknowledges_with_a_comment(dash_duo, vitals_app) -> None:
    seed_disk(vitals_app)
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "otto")
    open_tab(dash_duo, "")
    dash_duo.wait_for_contains_text("#alerts-grid", "disk full", timeout=WAIT)
    cell = wait_until(
        lambda: dash_duo.find_elements("#alerts-grid .ag-cell[col-id='rule']"),
        timeout=WAIT,
        message="alert row",
    )
    cell[0].click()
    dash_duo.wait_for_element("#alerts-detail-chart", timeout=WAIT)
    type_into(dash_duo, "alerts-detail-comment", "looking at it")
    click_centered(dash_duo, "#alerts-detail-ack")
    dash_duo.wait_for_contains_text("#alerts-detail-message", "Acknowledged 1 alert", timeout=WAIT)
    dash_duo.wait_for_contains_text(
        "#alerts-detail-history", "acknowledged by otto: looking at it", timeout=WAIT
    )
    dash_duo.wait_for_contains_text("#alerts-grid", "otto", timeout=WAIT)
    dash_duo.driver.save_screenshot("/tmp/alerts-ack.png")
    assert dash_duo.get_logs() == []


def test_bulk_resolve(dash_duo, vitals_app) -> None:
    seed_disk(vitals_app)
    store = vitals_app.server.extensions["vitals"].store
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "otto")
    open_tab(dash_duo, "?rule=")
    choose(dash_duo, "alerts-filter-severity", "critical")
    wait_until(
        lambda: len(dash_duo.find_elements("#alerts-grid .ag-row")) == 2, timeout=WAIT, message="two rows"
    )
    header = dash_duo.find_element("#alerts-grid .ag-header-select-all input")
    header.click()
    click_centered(dash_duo, "#alerts-bulk-resolve")
    dash_duo.wait_for_contains_text("#alerts-bulk-message", "Resolved 2 alerts", timeout=WAIT)
    open_alerts = store.alerts.find(state="open", severity="critical")
    assert open_alerts.empty
    assert dash_duo.get_logs() == []


def test_silence_preview_lists_what_it_would_mute(dash_duo, vitals_app) -> None:
    seed_disk(vitals_app)
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "otto")
    open_tab(dash_duo, "?tab=silences")
    choose(dash_duo, "alerts-silence-rule-id", "disk full")
    type_into(dash_duo, "alerts-silence-host", "web1")
    type_into(
        dash_duo, "alerts-silence-starts-at", (pd.Timestamp.now(tz="UTC") - timedelta(days=2)).isoformat()
    )
    type_into(dash_duo, "alerts-silence-ends-at", "3d")  # from the start: until tomorrow
    click_centered(dash_duo, "#alerts-silence-preview")
    dash_duo.wait_for_contains_text(
        "#alerts-silence-preview-result", "Would have muted 1 alert", timeout=WAIT
    )
    dash_duo.wait_for_contains_text("#alerts-silence-preview-result", "Mutes 1 open alert", timeout=WAIT)
    type_into(dash_duo, "alerts-silence-comment", "disk swap on web1")
    click_centered(dash_duo, "#alerts-silence-save")
    dash_duo.wait_for_contains_text("#alerts-silence-message", "created", timeout=WAIT)
    dash_duo.wait_for_contains_text("#alerts-silences-table", "disk swap on web1", timeout=WAIT)
    dash_duo.driver.save_screenshot("/tmp/alerts-silence.png")
    assert dash_duo.get_logs() == []


def test_viewer_sees_controls_disabled_with_the_reason(dash_duo, vitals_app) -> None:
    seed_disk(vitals_app)
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "vera")
    open_tab(dash_duo, "")
    dash_duo.wait_for_contains_text("#alerts-grid", "disk full", timeout=WAIT)
    assert not dash_duo.find_element("#alerts-bulk-ack").is_enabled()
    assert "needs the operator role" in dash_duo.find_element(".alerts-page").text
    open_tab(dash_duo, "?tab=rules")
    dash_duo.wait_for_element("#alerts-rule-save", timeout=WAIT)
    assert not dash_duo.find_element("#alerts-rule-save").is_enabled()
    time.sleep(0.5)
    assert dash_duo.get_logs() == []
