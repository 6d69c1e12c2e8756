"""The Cache page in headless Chromium against a real redis-server: browser, each control, roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

import storage
from app import create_app
from storage.audit import audit_entries
from storage.users import create_user
from tests.browser.conftest import PASSWORD, USERS, click_centered, login, wait_until
from tests.support import PrivateRedis

SHOTS = Path("/tmp/cache-shots")


@pytest.fixture
def redis_server(private_redis: Callable[..., PrivateRedis]) -> PrivateRedis:
    server = private_redis("--maxmemory", "64mb", "--slowlog-log-slower-than", "0")
    client = server.client()
    client.mset({f"user:{i}:session": f"s{i}" for i in range(300)})
    client.mset({f"users:{i}:session": "near miss" for i in range(50)})
    client.hset("profile:1", mapping={"name": "<b>Ada</b>", "lang": "en"})
    client.rpush("queue:mail", *[f"m{i}" for i in range(20)])
    client.set("bin:1", b"\x00\x01\xff")
    client.sadd("tag:posts:entries", "post:1", "post:2")
    client.mset({"post:1": "a", "post:2": "b", "post:3": "c"})
    for _ in range(30):
        client.get("user:1:session")
        client.get("missing")
    return server


@pytest.fixture
def cache_app(
    tmp_path: Path, make_store: Callable[..., storage.Store], redis_server: PrivateRedis
) -> Iterator[Any]:
    store = make_store("sqlite")
    for username, role in USERS.items():
        create_user(store.engine, username, PASSWORD, role)
    settings = storage.load_settings(
        data_dir=tmp_path,
        secret_key="browser-test-secret-key-0123456789",
        redis_urls=[f"{redis_server.url}?name=cache"],
        redis_interval_seconds=1,
        system_interval_seconds=60,
    )
    app = create_app(settings, store, run_scheduler=True)
    yield app
    app.server.extensions["vitals"].scheduler.stop()


def store_of(app: Any) -> storage.Store:
    found: storage.Store = app.server.extensions["vitals"].store
    return found


def shot(dash_duo: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    dash_duo.driver.save_screenshot(str(SHOTS / f"{name}.png"))


def open_cache(dash_duo: Any, app: Any, user: str) -> None:
    dash_duo.start_server(app, navigate=False)
    login(dash_duo, user)
    dash_duo.driver.get(dash_duo.server.url + "/cache?target=cache")
    wait_until(lambda: _present(dash_duo, "cache-target"), timeout=20, message="the Cache page")


def _present(dash_duo: Any, element_id: str) -> bool:
    try:
        return bool(dash_duo.driver.find_elements(By.ID, element_id))
    except Exception:  # re-rendered while looking
        return False


def text_of(dash_duo: Any, element_id: str) -> str:
    try:
        return str(
            dash_duo.driver.execute_script(
                "const el = document.getElementById(arguments[0]); return el ? el.innerText : '';", element_id
            )
        )
    except Exception:
        return ""


def grid_keys(dash_duo: Any, grid: str) -> list[str]:
    """The key column's texts, read in one script (the grid re-renders rows while we look)."""
    found = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(cell => cell.innerText);",
        f"#{grid} .ag-center-cols-container [col-id='key']",
    )
    return [str(text) for text in found or []]


def type_into(dash_duo: Any, selector: str, text: str) -> None:
    element = dash_duo.find_element(selector)
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.DELETE)
    element.send_keys(text)


def test_overview_and_key_browser(dash_duo: Any, cache_app: Any, redis_server: PrivateRedis) -> None:
    open_cache(dash_duo, cache_app, "otto")
    # both are re-rendered on every refresh tick: read them without holding an element
    wait_until(lambda: ": up" in text_of(dash_duo, "cache-state"), timeout=30, message="target up")
    wait_until(lambda: "noeviction" in text_of(dash_duo, "cache-kpi-policy"), message="policy KPI")
    type_into(dash_duo, "#cache-browse-pattern", "user:*")
    click_centered(dash_duo, "#cache-browse-scan")
    dash_duo.wait_for_contains_text("#cache-browse-status", "keys listed", timeout=15)
    wait_until(lambda: grid_keys(dash_duo, "cache-browse-grid"), message="key rows")
    assert all(key.startswith("user:") for key in grid_keys(dash_duo, "cache-browse-grid"))
    assert "pattern=user" in dash_duo.driver.current_url  # the view is in the address
    # the hash holding HTML: open it and see the text literally
    type_into(dash_duo, "#cache-browse-pattern", "profile:*")
    click_centered(dash_duo, "#cache-browse-scan")
    wait_until(lambda: grid_keys(dash_duo, "cache-browse-grid") == ["profile:1"], message="profile row")
    dash_duo.driver.find_element(By.CSS_SELECTOR, "#cache-browse-grid [col-id='key'].ag-cell").click()
    click_centered(dash_duo, "#cache-value-open")
    dash_duo.wait_for_contains_text("#cache-value-card", "<b>Ada</b>", timeout=10)
    shot(dash_duo, "browser")
    opened = audit_entries(store_of(cache_app).engine)
    assert "cache.open_key" in set(opened["action"])
    assert not [entry for entry in dash_duo.get_logs() if entry["level"] == "SEVERE"]


def test_clear_by_pattern_dry_run_then_confirm(
    dash_duo: Any, cache_app: Any, redis_server: PrivateRedis
) -> None:
    open_cache(dash_duo, cache_app, "otto")
    assert dash_duo.find_element("#cache-clear-confirm").get_attribute("disabled")
    type_into(dash_duo, "#cache-clear-pattern", "*")
    click_centered(dash_duo, "#cache-clear-preview")
    dash_duo.wait_for_contains_text("#cache-clear-preview-result", "matches every key", timeout=10)
    type_into(dash_duo, "#cache-clear-pattern", "user:*:session")
    click_centered(dash_duo, "#cache-clear-preview")
    dash_duo.wait_for_contains_text("#cache-dry-card", "300 keys match", timeout=10)
    dash_duo.wait_for_text_to_equal("#cache-clear-confirm", "Clear 300 keys", timeout=10)
    shot(dash_duo, "dry-run")
    click_centered(dash_duo, "#cache-clear-confirm")
    dash_duo.wait_for_contains_text("#cache-clear-outcome", "300 keys removed", timeout=20)
    client = redis_server.client()
    assert not list(client.scan_iter("user:*:session")) and len(list(client.scan_iter("users:*"))) == 50
    wait_until(
        lambda: "clear by pattern" in dash_duo.find_element("#cache-history-grid").text, message="history row"
    )
    # clear by tag
    type_into(dash_duo, "#cache-tag-name", "posts")
    click_centered(dash_duo, "#cache-tag-preview")
    dash_duo.wait_for_contains_text("#cache-tag-preview-result", "2 keys match", timeout=10)
    click_centered(dash_duo, "#cache-tag-confirm")
    dash_duo.wait_for_contains_text("#cache-clear-outcome", "2 keys removed", timeout=20)
    assert client.exists("post:3") and not client.exists("post:1") and not client.exists("tag:posts:entries")
    type_into(dash_duo, "#cache-tag-name", "nope")
    click_centered(dash_duo, "#cache-tag-preview")
    dash_duo.wait_for_contains_text("#cache-tag-preview-result", "no tag set", timeout=10)
    shot(dash_duo, "cleared")


def test_admin_policy_and_flush(dash_duo: Any, cache_app: Any, redis_server: PrivateRedis) -> None:
    open_cache(dash_duo, cache_app, "ada")
    dash_duo.wait_for_contains_text("#cache-policy-now", "noeviction", timeout=10)
    type_into(dash_duo, "#cache-policy-maxmemory", "-3")
    click_centered(dash_duo, "#cache-policy-apply")
    dash_duo.wait_for_contains_text("#cache-policy-message", "negative", timeout=10)
    type_into(dash_duo, "#cache-policy-maxmemory", "128mb")
    dash_duo.select_dcc_dropdown("#cache-policy-choice", value="allkeys-lru")
    click_centered(dash_duo, "#cache-policy-apply")
    dash_duo.wait_for_contains_text("#cache-policy-message", "Applied", timeout=10)
    client = redis_server.client()
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    assert client.config_get("maxmemory")["maxmemory"] == str(128 * 1024 * 1024)
    type_into(dash_duo, "#cache-flush-confirm-text", "1")
    click_centered(dash_duo, "#cache-flush-button")
    dash_duo.wait_for_contains_text("#cache-flush-message", "Type 0", timeout=10)
    assert client.dbsize() > 0
    type_into(dash_duo, "#cache-flush-confirm-text", "0")
    click_centered(dash_duo, "#cache-flush-button")
    dash_duo.wait_for_contains_text("#cache-flush-message", "flushed", timeout=10)
    wait_until(lambda: client.dbsize() == 0, message="db 0 flushed")
    shot(dash_duo, "admin")


def test_viewer_sees_every_control_disabled_with_the_reason(dash_duo: Any, cache_app: Any) -> None:
    open_cache(dash_duo, cache_app, "vera")
    for control in (
        "#cache-clear-preview",
        "#cache-clear-confirm",
        "#cache-tag-preview",
        "#cache-flush-button",
        "#cache-policy-apply",
        "#cache-value-open",
        "#cache-summary-start",
        "#cache-rule-save",
        "#cache-rule-pattern",
    ):
        assert dash_duo.find_element(control).get_attribute("disabled"), control
    notes = [element.text for element in dash_duo.driver.find_elements(By.CSS_SELECTOR, ".role-note")]
    assert "Disabled: needs the operator role." in notes and "Disabled: needs the admin role." in notes
    # browsing key names is still allowed
    click_centered(dash_duo, "#cache-browse-scan")
    dash_duo.wait_for_contains_text("#cache-browse-status", "keys listed", timeout=15)
    shot(dash_duo, "viewer")


def test_admin_edits_an_eviction_rule(dash_duo: Any, cache_app: Any) -> None:
    """Create (a bad field first, answered under it), enable, preview, edit and delete a rule."""
    store = store_of(cache_app)
    open_cache(dash_duo, cache_app, "ada")
    dash_duo.wait_for_contains_text("#cache-rules", "No eviction rules", timeout=10)
    type_into(dash_duo, "#cache-rule-pattern", "user:*")
    type_into(dash_duo, "#cache-rule-above", "150")
    click_centered(dash_duo, "#cache-rule-save")
    dash_duo.wait_for_contains_text("#cache-rule-above-feedback", "100", timeout=10)
    assert "is-invalid" in (dash_duo.find_element("#cache-rule-above").get_attribute("class") or "")
    assert store.cache.rules() == []
    shot(dash_duo, "rule-invalid")
    type_into(dash_duo, "#cache-rule-above", "80")
    click_centered(dash_duo, "#cache-rule-save")
    dash_duo.wait_for_contains_text("#cache-rule-message", "created (disabled)", timeout=10)
    (rule,) = store.cache.rules(target="cache")
    assert rule.rule.pattern == "user:*" and rule.rule.above_percent == 80 and not rule.enabled
    row = f"#cache-rule-row-{rule.id}"
    dash_duo.wait_for_contains_text(row, "disabled", timeout=10)
    click_centered(dash_duo, f"{row} button:nth-of-type(3)")  # Enable
    dash_duo.wait_for_contains_text("#cache-rule-message", "enabled", timeout=10)
    wait_until(lambda: store.cache.rules(target="cache")[0].enabled, message="rule enabled")
    click_centered(dash_duo, f"{row} button:nth-of-type(1)")  # Preview
    dash_duo.wait_for_contains_text("#cache-rule-report", "below the rule's 80", timeout=10)
    shot(dash_duo, "rule-enabled-preview")
    click_centered(dash_duo, f"{row} button:nth-of-type(2)")  # Edit
    dash_duo.wait_for_contains_text("#cache-rule-form-title", f"Editing rule #{rule.id}", timeout=10)
    type_into(dash_duo, "#cache-rule-pattern", "users:*")
    click_centered(dash_duo, "#cache-rule-save")
    dash_duo.wait_for_contains_text("#cache-rule-message", "saved", timeout=10)
    assert store.cache.rule(rule_id=rule.id).rule.pattern == "users:*"  # type: ignore[union-attr]
    click_centered(dash_duo, f"{row} button:nth-of-type(4)")  # Delete
    dash_duo.wait_for_contains_text("#cache-rule-message", "deleted", timeout=10)
    assert store.cache.rules() == []
    actions = set(audit_entries(store.engine)["action"])
    assert {"cache.rule_create", "cache.rule_enable", "cache.rule_update", "cache.rule_delete"} <= actions


def test_keyspace_summary_job(dash_duo: Any, cache_app: Any) -> None:
    open_cache(dash_duo, cache_app, "otto")
    click_centered(dash_duo, "#cache-summary-start")
    dash_duo.wait_for_contains_text("#cache-summary-tables", "user:", timeout=20)
    dash_duo.wait_for_contains_text("#cache-summary-progress", "Last summary", timeout=10)
    shot(dash_duo, "summary")
