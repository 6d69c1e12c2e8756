"""Control forms in the browser: what each role sees when it acts, and answers next to the field."""

from __future__ import annotations

from tests.browser.conftest import click_centered, login


def test_viewer_sees_collect_now_disabled_with_the_reason(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "vera")
    dash_duo.driver.get(dash_duo.server.url + "/system")
    button = dash_duo.wait_for_element("#system-collect-now")
    assert button.get_attribute("disabled") is not None
    assert button.get_attribute("title") == "needs the operator role"
    assert (
        "Collect now needs the operator role"
        in dash_duo.find_element("h1.page-title").find_element("xpath", "..").text
    )
    # The server refuses a hand-posted callback too: tests/integration/dashboard/test_dashboard_roles.py.
    assert dash_duo.get_logs() == []


def test_operator_collects_now(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "otto")
    dash_duo.driver.get(dash_duo.server.url + "/system")
    dash_duo.wait_for_element("#system-collect-now").click()
    dash_duo.wait_for_contains_text("#system-collect-result", "Collected this host's metrics", timeout=10)


def test_admin_adds_a_user_with_inline_validation(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "ada")
    dash_duo.driver.get(dash_duo.server.url + "/settings")
    # The tables above the form render after it and push it down: wait until the last one has.
    dash_duo.wait_for_contains_text("#settings-audit", "login", timeout=10)
    dash_duo.wait_for_element("#settings-new-username").send_keys("carol")
    dash_duo.find_element("#settings-new-password").send_keys("short")
    click_centered(dash_duo, "#settings-create-user")
    dash_duo.wait_for_contains_text("#settings-password-feedback", "at least 8 characters", timeout=10)
    assert dash_duo.find_element("#settings-new-username").get_attribute("value") == "carol"  # nothing lost

    dash_duo.find_element("#settings-new-password").send_keys("-but-now-long-enough")
    click_centered(dash_duo, "#settings-create-user")
    dash_duo.wait_for_contains_text("#settings-create-result", "Created carol (viewer)", timeout=10)
    dash_duo.wait_for_contains_text("#settings-users", "carol", timeout=10)
    dash_duo.wait_for_contains_text("#settings-audit", "create_user", timeout=10)
    assert dash_duo.get_logs() == []


def test_settings_never_shows_secrets(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "ada")
    dash_duo.driver.get(dash_duo.server.url + "/settings")
    dash_duo.wait_for_contains_text("#settings-config", "VITALS_SECRET_KEY", timeout=10)
    assert "browser-test-secret-key" not in dash_duo.driver.page_source


def test_settings_shows_what_each_storage_tier_holds(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "ada")
    dash_duo.driver.get(dash_duo.server.url + "/settings")
    for text in ("raw samples", "1-minute rollups", "1-hour rollups", "14 days", "90 days", "730 days"):
        dash_duo.wait_for_contains_text("#settings-tiers", text, timeout=10)
