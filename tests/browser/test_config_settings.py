"""The Settings page's configuration form and monitored targets, driven as an admin (and a viewer)."""

from __future__ import annotations

import socket

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from storage.audit import audit_entries
from tests.browser.conftest import login, pattern_id, wait_until

SLOW = "database.slow_query_threshold_ms"
WARN = "database.connection_warn_percent"
CRIT = "database.connection_critical_percent"


def _store(vitals_app):
    return vitals_app.server.extensions["vitals"].store


def _by_id(dash_duo, element_id: str):
    """The element with this DOM id (pattern-matching ids are JSON, which CSS selectors cannot hold)."""
    found = dash_duo.driver.execute_script("return document.getElementById(arguments[0]);", element_id)
    if found is None:
        raise AssertionError(f"no element with id {element_id}")
    return found


def _field(dash_duo, key: str, kind: str = "settings-config-value"):
    return _by_id(dash_duo, pattern_id(key=key, type=kind))


def _click(dash_duo, element) -> None:
    dash_duo.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", element
    )
    element.click()


def _type(dash_duo, element, text: str) -> None:
    _click(dash_duo, element)
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.DELETE)
    element.send_keys(text)


def _open_settings(dash_duo, vitals_app, user: str = "ada") -> None:
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, user)
    dash_duo.driver.get(dash_duo.server.url + "/settings")
    dash_duo.wait_for_element("#settings-config-save", timeout=10)


def _severe(dash_duo) -> list:
    return [entry for entry in dash_duo.get_logs() or [] if entry.get("level") == "SEVERE"]


def test_admin_edits_and_resets_a_value_with_validation_next_to_the_field(dash_duo, vitals_app):
    _open_settings(dash_duo, vitals_app)
    store = _store(vitals_app)
    _type(dash_duo, _field(dash_duo, SLOW), "abc")
    _click(dash_duo, dash_duo.find_element("#settings-config-save"))
    feedback = pattern_id(key=SLOW, type="settings-config-feedback")
    wait_until(lambda: "expected a number" in _by_id(dash_duo, feedback).text, 10, "feedback")
    assert _field(dash_duo, SLOW).get_attribute("value") == "abc"  # nothing typed is lost
    assert "is-invalid" in _field(dash_duo, SLOW).get_attribute("class")
    dash_duo.wait_for_contains_text("#settings-config-result", "Nothing was saved", timeout=10)
    assert store.config.stored() == {}

    _type(dash_duo, _field(dash_duo, SLOW), "2500")
    _click(dash_duo, dash_duo.find_element("#settings-config-save"))
    dash_duo.wait_for_contains_text("#settings-config-result", "Saved 1 change", timeout=10)
    assert store.config.stored() == {SLOW: 2500}
    source = pattern_id(key=SLOW, type="settings-config-source")
    wait_until(lambda: "by ada" in _by_id(dash_duo, source).text, 10, "the source")
    dash_duo.wait_for_contains_text("#settings-config-history", "2500", timeout=10)
    dash_duo.driver.save_screenshot("/tmp/settings-config-saved.png")

    _click(dash_duo, _field(dash_duo, SLOW, "settings-config-reset"))
    dash_duo.wait_for_contains_text("#settings-config-result", "back to the default (1000)", timeout=10)
    assert _field(dash_duo, SLOW).get_attribute("value") == "1000"
    assert store.config.stored() == {}
    wait_until(lambda: "default" in _by_id(dash_duo, source).text, 10, "default badge")
    actions = audit_entries(store.engine)["action"].tolist()
    assert "config.bulk_update" in actions and "config.reset" in actions
    assert _severe(dash_duo) == []


def test_one_bad_value_in_a_save_saves_nothing(dash_duo, vitals_app):
    _open_settings(dash_duo, vitals_app)
    store = _store(vitals_app)
    _type(dash_duo, _field(dash_duo, WARN), "60")  # valid alone
    _type(dash_duo, _field(dash_duo, CRIT), "250")  # out of range
    _click(dash_duo, dash_duo.find_element("#settings-config-save"))
    feedback = pattern_id(key=CRIT, type="settings-config-feedback")
    wait_until(lambda: "must be at most 100" in _by_id(dash_duo, feedback).text, 10, "range")
    assert store.config.stored() == {}
    assert _field(dash_duo, WARN).get_attribute("value") == "60"
    _click(dash_duo, _field(dash_duo, CRIT))
    dash_duo.driver.save_screenshot("/tmp/settings-config-invalid.png")


def test_a_value_pinned_by_the_environment_is_read_only(dash_duo, vitals_app):
    _open_settings(dash_duo, vitals_app)  # vitals_app sets system_interval_seconds=1
    key = "system.collection_interval_seconds"
    assert _field(dash_duo, key).get_attribute("disabled")
    badge = _by_id(dash_duo, pattern_id(key=key, type="settings-config-source")).get_attribute("textContent")
    assert "pinned by VITALS_SYSTEM_INTERVAL_SECONDS" in badge


def test_a_viewer_sees_the_form_disabled_with_the_reason(dash_duo, vitals_app):
    _open_settings(dash_duo, vitals_app, "vera")
    assert dash_duo.find_element("#settings-config-save").get_attribute("disabled")
    assert "needs the admin role" in dash_duo.find_element("#settings-config-card").text
    assert dash_duo.find_element("#settings-target-save").get_attribute("disabled")
    dash_duo.driver.save_screenshot("/tmp/settings-viewer.png")


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def test_admin_adds_tests_and_removes_a_target(dash_duo, vitals_app):
    if not _redis_answers():
        pytest.skip("needs the local Redis on 6379")
    _open_settings(dash_duo, vitals_app)
    store = _store(vitals_app)
    kind = dash_duo.find_element("#settings-target-kind")
    _click(dash_duo, kind)
    kind.find_element(By.CSS_SELECTOR, "option[value='redis']").click()
    _type(dash_duo, dash_duo.find_element("#settings-target-url"), "http://127.0.0.1:6379/0")
    _type(dash_duo, dash_duo.find_element("#settings-target-name"), "cache-b")
    _click(dash_duo, dash_duo.find_element("#settings-target-save"))
    dash_duo.wait_for_contains_text("#settings-target-url-feedback", "expected redis://", timeout=10)
    assert store.config.targets(settings=vitals_app.server.extensions["vitals"].settings) == []

    _type(dash_duo, dash_duo.find_element("#settings-target-url"), "redis://127.0.0.1:6379/3")
    _click(dash_duo, dash_duo.find_element("#settings-target-test"))
    dash_duo.wait_for_contains_text("#settings-target-test-result", "OK", timeout=15)
    _click(dash_duo, dash_duo.find_element("#settings-target-save"))
    dash_duo.wait_for_contains_text("#settings-target-result", "Watching cache-b", timeout=10)
    dash_duo.wait_for_contains_text("#settings-targets", "redis://127.0.0.1:6379/3", timeout=10)
    (target,) = store.config.targets(kind="redis", settings=vitals_app.server.extensions["vitals"].settings)

    row_test = _by_id(dash_duo, pattern_id(target=target.id, type="settings-target-row-test"))
    _click(dash_duo, row_test)
    verdict = pattern_id(target=target.id, type="settings-target-row-verdict")
    wait_until(lambda: "OK" in _by_id(dash_duo, verdict).text, 15, "the collector's verdict")
    dash_duo.driver.save_screenshot("/tmp/settings-targets.png")

    remove = _by_id(dash_duo, pattern_id(target=target.id, type="settings-target-row-remove"))
    _click(dash_duo, remove)
    wait_until(lambda: _accept_confirm(dash_duo), 10, "the confirmation")
    dash_duo.wait_for_contains_text("#settings-target-result", "Stopped watching cache-b", timeout=10)
    assert store.config.targets(kind="redis", settings=vitals_app.server.extensions["vitals"].settings) == []
    actions = audit_entries(store.engine)["action"].tolist()
    assert {"config.add_target", "config.test_target", "config.remove_target"} <= set(actions)
    assert _severe(dash_duo) == []


def test_admin_watches_a_backup_location(dash_duo, vitals_app, tmp_path):
    """A backup directory is tested ("connect now" judges its newest file) and watched like any target."""
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "db-2026-12-03.sql.gz").write_bytes(b"x" * 2048)
    _open_settings(dash_duo, vitals_app)
    kind = dash_duo.find_element("#settings-target-kind")
    _click(dash_duo, kind)
    kind.find_element(By.CSS_SELECTOR, "option[value='backup']").click()
    _type(dash_duo, dash_duo.find_element("#settings-target-url"), f"{backups}?max_age=soon")
    _type(dash_duo, dash_duo.find_element("#settings-target-name"), "nightly")
    _click(dash_duo, dash_duo.find_element("#settings-target-save"))
    dash_duo.wait_for_contains_text("#settings-target-url-feedback", "max_age", timeout=10)
    _type(dash_duo, dash_duo.find_element("#settings-target-url"), f"{backups}?max_age=26h")
    _click(dash_duo, dash_duo.find_element("#settings-target-test"))
    dash_duo.wait_for_contains_text("#settings-target-test-result", "db-2026-12-03.sql.gz", timeout=15)
    assert "2.0 KB" in dash_duo.find_element("#settings-target-test-result").text
    _click(dash_duo, dash_duo.find_element("#settings-target-save"))
    dash_duo.wait_for_contains_text("#settings-target-result", "Watching nightly", timeout=10)
    store = _store(vitals_app)
    (target,) = store.config.targets(kind="backup", settings=vitals_app.server.extensions["vitals"].settings)
    assert target.name == "nightly"
    assert _severe(dash_duo) == []


def _accept_confirm(dash_duo) -> bool:
    try:
        dash_duo.driver.switch_to.alert.accept()
        return True
    except Exception:
        return False


def test_credentials_are_never_shown_in_full(dash_duo, vitals_app):
    _open_settings(dash_duo, vitals_app)
    kind = dash_duo.find_element("#settings-target-kind")
    _click(dash_duo, kind)
    kind.find_element(By.CSS_SELECTOR, "option[value='http']").click()
    _type(dash_duo, dash_duo.find_element("#settings-target-name"), "api")
    _type(
        dash_duo,
        dash_duo.find_element("#settings-target-url"),
        "http://127.0.0.1:9/health?token=hunter2-secret",
    )
    _click(dash_duo, dash_duo.find_element("#settings-target-save"))
    dash_duo.wait_for_contains_text("#settings-targets", "token=***", timeout=10)
    assert "hunter2-secret" not in dash_duo.driver.page_source
    dash_duo.driver.refresh()
    dash_duo.wait_for_contains_text("#settings-targets", "token=***", timeout=10)
    assert "hunter2-secret" not in dash_duo.driver.page_source


def test_a_local_service_found_on_its_port_is_watched_with_one_click(dash_duo, vitals_app):
    if not _redis_answers():
        pytest.skip("needs the local Redis on 6379")
    _open_settings(dash_duo, vitals_app)
    button = _by_id(dash_duo, pattern_id(kind="redis", type="settings-discover-watch"))
    _click(dash_duo, button)
    dash_duo.wait_for_contains_text("#settings-target-result", "Now watching local-redis", timeout=10)
    dash_duo.wait_for_contains_text("#settings-discovered", "watched", timeout=10)
    store = _store(vitals_app)
    (target,) = store.config.targets(kind="redis", settings=vitals_app.server.extensions["vitals"].settings)
    assert target.origin == "discovered"
    assert "config.add_target" in audit_entries(store.engine)["action"].tolist()


def test_admin_edits_and_pauses_a_target_keeping_its_stored_url(dash_duo, vitals_app):
    store = _store(vitals_app)
    settings = vitals_app.server.extensions["vitals"].settings
    target = store.config.add_target(
        kind="http", name="shop", url="http://127.0.0.1:9/health?token=t0p", by="ada"
    )
    _open_settings(dash_duo, vitals_app)
    _click(dash_duo, _by_id(dash_duo, pattern_id(target=target.id, type="settings-target-row-edit")))
    dash_duo.wait_for_text_to_equal("#settings-target-form-title", "Edit shop", timeout=10)
    assert dash_duo.find_element("#settings-target-url").get_attribute("value") == ""  # never echoed back
    _type(dash_duo, dash_duo.find_element("#settings-target-name"), "shop-api")
    _click(dash_duo, dash_duo.find_element("#settings-target-save"))
    dash_duo.wait_for_contains_text("#settings-target-result", "Saved shop-api", timeout=10)
    assert store.config.target_url(target_id=target.id) == "http://127.0.0.1:9/health?token=t0p"
    _click(dash_duo, _by_id(dash_duo, pattern_id(target=target.id, type="settings-target-row-toggle")))
    dash_duo.wait_for_contains_text("#settings-target-result", "shop-api paused", timeout=10)
    assert store.config.effective(settings=settings, max_age_s=0).http_checks == []
    assert _severe(dash_duo) == []
