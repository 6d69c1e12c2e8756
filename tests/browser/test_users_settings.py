"""The Settings page's user and token controls in headless Chromium: an admin changes a role, is told
the policy next to the field, revokes a token after a confirmation naming it; a viewer cannot."""

from __future__ import annotations

from selenium.webdriver.support.select import Select

from storage.tokens import create_token, list_tokens
from storage.users import Role, get_user
from tests.browser.conftest import click_centered, login, wait_until


def _open_settings(dash_duo, user: str) -> None:
    login(dash_duo, user)
    dash_duo.driver.get(dash_duo.server.url + "/settings")
    dash_duo.wait_for_element("#settings-manage-set-role", timeout=20)


def test_admin_manages_a_user_and_revokes_a_token(dash_duo, vitals_app):
    store = vitals_app.server.extensions["vitals"].store
    create_token(store.engine, "prometheus", "vera")
    dash_duo.start_server(vitals_app, navigate=False)
    _open_settings(dash_duo, "ada")

    Select(dash_duo.find_element("#settings-manage-user")).select_by_visible_text("vera")
    Select(dash_duo.find_element("#settings-manage-role")).select_by_visible_text("operator")
    click_centered(dash_duo, "#settings-manage-set-role")
    dash_duo.wait_for_contains_text("#settings-manage-result", "vera is now operator", timeout=20)
    assert get_user(store.engine, "vera").role is Role.OPERATOR  # type: ignore[union-attr]

    dash_duo.find_element("#settings-manage-password").send_keys("password1")
    click_centered(dash_duo, "#settings-manage-reset")
    dash_duo.wait_for_contains_text("#settings-manage-password-feedback", "most common passwords", timeout=20)
    dash_duo.driver.save_screenshot("/tmp/settings-users-policy.png")

    Select(dash_duo.find_element("#settings-token-pick")).select_by_index(1)
    click_centered(dash_duo, "#settings-token-revoke")
    alert = wait_until(lambda: _alert(dash_duo), message="the confirmation")
    assert "prometheus" in alert.text and "vera" in alert.text
    alert.accept()
    dash_duo.wait_for_contains_text("#settings-token-result", "Revoked token", timeout=20)
    dash_duo.wait_for_contains_text("#settings-tokens", "revoked", timeout=20)
    assert not list_tokens(store.engine)[0].active
    dash_duo.driver.save_screenshot("/tmp/settings-tokens-revoked.png")
    assert [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"] == []


def test_a_viewer_sees_the_controls_disabled_but_may_change_their_own_password(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    _open_settings(dash_duo, "vera")
    for control in ("#settings-manage-set-role", "#settings-manage-reset", "#settings-token-revoke"):
        assert dash_duo.find_element(control).get_attribute("disabled") is not None
    dash_duo.find_element("#settings-own-current").send_keys("correct-horse-battery")
    dash_duo.find_element("#settings-own-new").send_keys("vera-own-new-secret")
    dash_duo.find_element("#settings-own-repeat").send_keys("vera-own-new-secret")
    click_centered(dash_duo, "#settings-own-save")
    dash_duo.wait_for_contains_text("#settings-own-result", "Password changed", timeout=20)
    dash_duo.driver.save_screenshot("/tmp/settings-own-password.png")
    dash_duo.driver.get(dash_duo.server.url + "/settings")  # this session goes on
    dash_duo.wait_for_element("#settings-own-save", timeout=20)


def _alert(dash_duo):
    try:
        return dash_duo.driver.switch_to.alert
    except Exception:  # NoAlertPresentException until the dialog opens
        return None
