"""The security defences in a real browser: every page renders under the Content-Security-Policy with a clean
console, and Dash's renderer passes the CSRF check by itself (callbacks that change state still work)."""

from __future__ import annotations

import time

import dash
from selenium.webdriver.common.by import By

from tests.browser.conftest import login, wait_until

SETTLE_SECONDS = 1.5  # a page's first callbacks (and any CSP report) arrive within this


def _console(driver) -> list[dict]:
    """Every console entry worth a look: errors, and anything the CSP refused (Chrome logs those as SEVERE)."""
    return [
        entry
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"]
    ]


def test_every_page_renders_under_the_csp_with_a_clean_console(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    driver = dash_duo.driver
    driver.get(dash_duo.server.url + "/login")
    assert _console(driver) == [], "the login page"
    login(dash_duo, "ada")  # the login form posts under form-action 'self' and the origin check
    paths = sorted({page["path"] for page in dash.page_registry.values() if "<" not in page["path"]})
    assert len(paths) >= 8, paths
    problems = {}
    for path in paths:
        driver.get(dash_duo.server.url + path)
        dash_duo.wait_for_element("#user-menu", timeout=10)
        time.sleep(SETTLE_SECONDS)
        found = _console(driver)
        if found:
            problems[path] = [entry["message"][:300] for entry in found]
    assert problems == {}


def test_callbacks_that_change_state_pass_the_csrf_check_from_the_page(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "ada")
    driver = dash_duo.driver
    assert driver.get_cookie("_csrf_token") is not None
    pause = dash_duo.wait_for_element("#pause-button", timeout=10)
    pause.click()  # a server callback: POST /_dash-update-component with the renderer's X-CSRFToken
    wait_until(lambda: driver.find_element(By.ID, "pause-button").text == "Resume", 10, "the pause callback")
    assert _console(driver) == []
