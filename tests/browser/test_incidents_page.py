"""The Incidents page in the browser: an operator opens an incident by hand (with inline validation),
moves it through its statuses, writes a postmortem with hostile Markdown that renders inert, reopens
it; an incident opened from an alert shows its alert and chart; a viewer reads with the controls
disabled; Overview lists open incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from storage.audit import audit_entries
from storage.schema import alert_rules, alerts, series
from storage.users import Role
from tasks.actions.gate import Actor
from tasks.actions.incidents import create_incident, open_from_alert
from tests.browser.conftest import click_centered, login, pattern_id, wait_until
from tests.support import inserted_id

OTTO = Actor(username="otto", role=Role.OPERATOR)
HOSTILE = (
    "## Root cause\n\nA <script>window.__pwned = 1</script> tag and "
    "[a trap](javascript:window.__pwned=2) and [docs](https://example.org/runbook).\n\n"
    "## Follow-ups\n\n- [ ] add an index\n- [x] roll back\n"
)


def _store(app: object):
    return app.server.extensions["vitals"].store  # type: ignore[attr-defined]


def _move(dash_duo: object, status: str) -> None:
    selector = f"[id='{pattern_id(status=status, type='incidents-move')}']"
    wait_until(lambda: dash_duo.find_element(selector).is_enabled(), message=f"{status} enabled")  # type: ignore[attr-defined]
    click_centered(dash_duo, selector)


def _shot(dash_duo: object, name: str) -> None:
    dash_duo.driver.save_screenshot(f"/tmp/incidents-{name}.png")  # type: ignore[attr-defined]


def test_operator_opens_moves_and_writes_a_postmortem(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "otto")
    dash_duo.driver.get(dash_duo.server.url + "/incidents")
    dash_duo.wait_for_contains_text("#incidents-list-status", "0 incidents", timeout=10)
    click_centered(dash_duo, "#incidents-new-toggle")
    wait_until(  # the form slides open: click only once it stopped moving
        lambda: "show" in dash_duo.find_element("#incidents-new-collapse").get_attribute("class").split(),
        message="the form open",
    )
    click_centered(dash_duo, "#incidents-new-submit")  # no title yet
    dash_duo.wait_for_contains_text("#incidents-new-title-feedback", "must not be empty", timeout=10)
    dash_duo.find_element("#incidents-new-targets").send_keys("db1, cache1")
    dash_duo.find_element("#incidents-new-impact").send_keys("next tuesday")
    dash_duo.find_element("#incidents-new-title").send_keys("Checkout is slow")
    click_centered(dash_duo, "#incidents-new-submit")
    dash_duo.wait_for_contains_text("#incidents-new-impact-feedback", "neither a duration", timeout=10)
    assert dash_duo.find_element("#incidents-new-title").get_attribute("value") == "Checkout is slow"
    _shot(dash_duo, "new-form-error")
    impact = dash_duo.find_element("#incidents-new-impact")
    impact.clear()
    impact.send_keys("20m")
    click_centered(dash_duo, "#incidents-new-submit")

    dash_duo.wait_for_contains_text("#incidents-header", "#1 Checkout is slow", timeout=10)
    assert "id=1" in dash_duo.driver.current_url
    dash_duo.wait_for_contains_text("#incidents-status-hint", "can move to: identified, monitoring, resolved")
    for status in ("identified", "monitoring"):
        _move(dash_duo, status)
        dash_duo.wait_for_contains_text("#incidents-header", status, timeout=10)
    # monitoring -> identified makes no sense: its button is disabled.
    identified = dash_duo.find_element(f"[id='{pattern_id(status='identified', type='incidents-move')}']")
    assert not identified.is_enabled()
    dash_duo.find_element("#incidents-move-note").send_keys("error rate back to normal")
    _move(dash_duo, "resolved")
    dash_duo.wait_for_contains_text("#incidents-status-hint", "Resolved", timeout=10)
    dash_duo.wait_for_contains_text(
        "#incidents-timeline", "monitoring → resolved — error rate back to normal"
    )
    dash_duo.wait_for_contains_text("#incidents-times", "MTTR")
    assert "—" not in dash_duo.find_element("#incidents-times").text.split("Resolved")[1].split("\n")[1]

    # The postmortem after resolution, with hostile Markdown.
    text = dash_duo.find_element("#incidents-postmortem-text")
    text.send_keys(Keys.CONTROL, "a")  # clear() is undone by React's controlled value
    text.send_keys(Keys.DELETE)
    text.send_keys(HOSTILE)
    dash_duo.wait_for_contains_text(
        "#incidents-postmortem-preview", "<script>window.__pwned = 1</script>", timeout=10
    )
    click_centered(dash_duo, "#incidents-postmortem-save")
    dash_duo.wait_for_contains_text("#incidents-postmortem-result", "Postmortem saved", timeout=10)
    dash_duo.wait_for_contains_text("#incidents-postmortem-result", "raw HTML is shown as text")
    preview = dash_duo.find_element("#incidents-postmortem-preview")
    links = {a.text: a.get_attribute("href") for a in preview.find_elements(By.TAG_NAME, "a")}
    assert links["docs"] == "https://example.org/runbook"
    assert not links["a trap"].lower().startswith("javascript")
    assert preview.find_elements(By.TAG_NAME, "script") == []
    assert len(preview.find_elements(By.CSS_SELECTOR, "input[type=checkbox]")) == 2  # the checklist
    for link in preview.find_elements(By.TAG_NAME, "a"):
        if link.text == "a trap":
            dash_duo.driver.execute_script("arguments[0].click();", link)
    assert dash_duo.driver.execute_script("return window.__pwned === undefined")
    dash_duo.wait_for_contains_text("#incidents-timeline", "postmortem edited", timeout=10)
    stored = _store(vitals_app).incidents.get(incident_id=1)["postmortem"]
    assert stored.replace("\r\n", "\n").strip() == HOSTILE.strip()  # kept exactly as written
    _shot(dash_duo, "resolved-with-postmortem")

    # Reopen needs a reason, and is recorded.
    click_centered(dash_duo, "#incidents-reopen-submit")
    dash_duo.wait_for_contains_text("#incidents-move-result", "say why", timeout=10)
    dash_duo.find_element("#incidents-reopen-reason").send_keys("errors came back")
    click_centered(dash_duo, "#incidents-reopen-submit")
    dash_duo.wait_for_contains_text("#incidents-header", "investigating", timeout=10)
    dash_duo.wait_for_contains_text("#incidents-timeline", "reopened: errors came back")

    dash_duo.find_element("#incidents-comment-body").send_keys("rolled back v42 <b>again</b>")
    click_centered(dash_duo, "#incidents-comment-submit")
    dash_duo.wait_for_contains_text("#incidents-timeline", "rolled back v42 <b>again</b>", timeout=10)
    _shot(dash_duo, "detail")
    assert dash_duo.get_logs() == []


def test_incident_from_an_alert_shows_its_alert_and_chart_and_is_listed(dash_duo, vitals_app):
    store = _store(vitals_app)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with store.engine.begin() as conn:
        rule = inserted_id(
            conn.execute(
                alert_rules.insert().values(
                    name="CPU busy",
                    metric="system.cpu.percent",
                    condition=">",
                    threshold=15,
                    severity="warning",
                    created_at=now,
                    updated_at=now,
                )
            )
        )
        series_id = conn.execute(series.select().where(series.c.metric == "system.cpu.percent")).first().id
        alert_id = inserted_id(
            conn.execute(
                alerts.insert().values(
                    rule_id=rule,
                    series_id=series_id,
                    state="firing",
                    value=26.0,
                    started_at=now - timedelta(minutes=4),
                    summary="CPU above 15 %",
                )
            )
        )
    incident_id = open_from_alert(store, OTTO, alert_id)
    create_incident(store, OTTO, title="Older, resolved", severity="low")
    store.incidents.set_status(incident_id=incident_id + 1, status="resolved", username="otto")

    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "otto")
    dash_duo.driver.get(dash_duo.server.url + "/incidents")
    dash_duo.wait_for_contains_text("#incidents-list-status", "2 incidents (1 open)", timeout=10)
    dash_duo.wait_for_contains_text("#incidents-grid", "CPU busy on", timeout=10)
    first_row = dash_duo.find_element("#incidents-grid .ag-row[row-index='0']")
    assert "CPU busy on" in first_row.text  # the open one first
    _shot(dash_duo, "list")
    first_row.find_element(By.CSS_SELECTOR, "[col-id='title']").click()
    dash_duo.wait_for_contains_text("#incidents-header", f"#{incident_id} CPU busy on", timeout=10)
    dash_duo.wait_for_contains_text("#incidents-alerts", "CPU busy", timeout=10)
    chart = f"[id='{pattern_id(chart=f'incident-alert-{alert_id}', type='live-chart')}'] .js-plotly-plot"
    dash_duo.wait_for_element(chart, timeout=15)
    dash_duo.wait_for_contains_text(
        "#incidents-timeline", f"alert #{alert_id} CPU busy (warning)", timeout=10
    )
    _shot(dash_duo, "from-alert")

    # Filters live in the URL: resolved only, then a link reproduces the view.
    dash_duo.driver.get(dash_duo.server.url + "/incidents?status=resolved")
    dash_duo.wait_for_contains_text("#incidents-list-status", "1 incident (0 open)", timeout=10)
    dash_duo.wait_for_contains_text("#incidents-grid", "Older, resolved")
    dash_duo.wait_for_contains_text("#incidents-response-times", "MTTR")
    assert dash_duo.get_logs() == []


def test_viewer_reads_with_controls_disabled_and_overview_lists_open_incidents(dash_duo, vitals_app):
    store = _store(vitals_app)
    create_incident(store, OTTO, title="Redis evicting keys", severity="critical", targets=["cache1"])
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "vera")
    dash_duo.wait_for_contains_text("#incidents-overview-panel", "#1 Redis evicting keys", timeout=10)
    _shot(dash_duo, "overview")
    dash_duo.driver.get(dash_duo.server.url + "/incidents?id=1")
    dash_duo.wait_for_contains_text("#incidents-header", "Redis evicting keys", timeout=10)
    dash_duo.wait_for_contains_text("#incidents-status-hint", "can move to")
    for status in ("identified", "monitoring", "resolved", "investigating"):
        button = dash_duo.find_element(f"[id='{pattern_id(status=status, type='incidents-move')}']")
        assert not button.is_enabled()
        assert button.get_attribute("title") == "Changing the status needs the operator role"
    for control in ("#incidents-edit-submit", "#incidents-comment-submit", "#incidents-postmortem-save"):
        assert not dash_duo.find_element(control).is_enabled()
    _shot(dash_duo, "viewer")
    dash_duo.driver.get(dash_duo.server.url + "/incidents?id=99")
    dash_duo.wait_for_contains_text("#_pages_content", "There is no incident #99", timeout=10)
    assert dash_duo.get_logs() == []


def test_take_ownership_makes_the_operator_owner_and_acknowledges(dash_duo, vitals_app):
    store = _store(vitals_app)
    incident_id = create_incident(store, OTTO, title="Queue backing up", severity="high")
    assert store.incidents.get(incident_id=incident_id)["acknowledged_at"] is None
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "otto")
    dash_duo.driver.get(dash_duo.server.url + f"/incidents?id={incident_id}")
    dash_duo.wait_for_contains_text("#incidents-header", "owner: nobody", timeout=10)
    wait_until(lambda: dash_duo.find_element("#incidents-take-ownership").is_enabled(), message="button on")
    click_centered(dash_duo, "#incidents-take-ownership")
    dash_duo.wait_for_contains_text("#incidents-move-result", "You own this incident now.", timeout=10)
    dash_duo.wait_for_contains_text("#incidents-header", "owner: otto", timeout=10)
    dash_duo.wait_for_contains_text("#incidents-timeline", "owner: nobody → otto", timeout=10)
    wait_until(
        lambda: dash_duo.find_element("#incidents-edit-owner").get_attribute("value") == "otto",
        message="the details form shows the new owner",
    )
    found = store.incidents.get(incident_id=incident_id)
    assert found["owner"] == "otto" and found["acknowledged_at"] is not None  # MTTA stops here
    _shot(dash_duo, "take-ownership")
    click_centered(dash_duo, "#incidents-take-ownership")  # a second click changes nothing
    dash_duo.wait_for_contains_text("#incidents-move-result", "You already own this incident.", timeout=10)
    audit = audit_entries(store.engine)
    updates = audit[(audit["action"] == "incidents.update") & (audit["username"] == "otto")]
    assert len(updates) >= 1
    assert dash_duo.get_logs() == []
