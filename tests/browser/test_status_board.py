"""Overview's status board: a target that refuses connections shows as down, with why and since
when, while the healthy ones show as up (the real app, real checks, headless Chromium)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import storage
from app import create_app
from storage.users import create_user
from tests.browser.conftest import PASSWORD, login, pattern_id, wait_until
from tests.support import free_port


@pytest.fixture
def app_with_a_refusing_target(tmp_path: Path, make_store: Callable[..., storage.Store]) -> Iterator[object]:
    store = make_store("sqlite")
    create_user(store.engine, "vera", PASSWORD, "viewer")
    refused = f"mysql://root@127.0.0.1:{free_port()}/?name=gone"  # nothing listens there
    settings = storage.load_settings(
        data_dir=tmp_path,
        secret_key="browser-test-secret-key-0123456789",
        mysql_urls=refused,
        health_interval_seconds=1,
        health_fail_after=1,
    )
    app = create_app(settings, store, run_scheduler=True)
    yield app
    app.server.extensions["vitals"].scheduler.stop()


def _tile(dash_duo, check: str, what: str) -> str:
    # Read through the DOM in one script: the board is re-rendered every tick, so a held element
    # reference would go stale.
    return dash_duo.driver.execute_script(
        "const el = document.getElementById(arguments[0]); return el ? el[arguments[1]] || '' : '';",
        pattern_id(check=check, type="status-tile"),
        what,
    )


def _tile_text(dash_duo, check: str) -> str:
    return _tile(dash_duo, check, "innerText")


def test_a_refused_target_is_down_with_its_reason_and_the_store_is_up(dash_duo, app_with_a_refusing_target):
    dash_duo.start_server(app_with_a_refusing_target, navigate=False)
    login(dash_duo, "vera")
    dash_duo.driver.get(dash_duo.server.url + "/")
    text = wait_until(
        lambda: text if "down" in (text := _tile_text(dash_duo, "mysql:gone")) else "",
        30,
        "the MySQL tile to say down",
    )
    assert "since" in text
    assert "refused" in text.lower() or "unreachable" in text.lower() or "can't connect" in text.lower()
    assert _tile_text(dash_duo, "database").split("\n")[:2] == ["database", "up"]
    link = _tile(dash_duo, "mysql:gone", "href")
    assert link.endswith("/database?target=gone")
    dash_duo.driver.save_screenshot("/tmp/status-board.png")
    assert dash_duo.get_logs() == []
