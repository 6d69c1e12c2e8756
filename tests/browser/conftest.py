"""Browser fixtures: the real app on a real SQLite store, driven by dash_duo in headless Chromium."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pytest
from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException
from selenium.webdriver.common.by import By

import storage
from app import create_app
from storage.users import create_user
from tests.support import free_port, unavailable
from tests.support import wait_until as support_wait_until

T = TypeVar("T")

PASSWORD = "correct-horse-battery"
USERS = {"ada": "admin", "otto": "operator", "vera": "viewer"}


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    if shutil.which("chromedriver") and (shutil.which("chromium") or shutil.which("google-chrome")):
        return
    reason = (
        "Chromium and chromedriver are needed for browser tests (apt-get install chromium chromium-driver)"
    )
    unavailable(reason)


@pytest.fixture
def dash_duo(dash_duo: object) -> object:
    """dash_duo on a free port rather than 8050, so two test runs on one machine never collide."""
    start = dash_duo.start_server  # type: ignore[attr-defined]

    def start_server(app: object, navigate: bool = True, **kwargs: object) -> None:
        kwargs.setdefault("port", free_port())
        start(app, navigate=navigate, **kwargs)

    dash_duo.start_server = start_server  # type: ignore[attr-defined]
    return dash_duo


def _seed_history(store: storage.Store) -> None:
    """Ten minutes of CPU and memory history, so charts have a line before the first live sample."""
    now = pd.Timestamp.now(tz="UTC").floor("s")
    stamps = pd.date_range(now - pd.Timedelta("10min"), now - pd.Timedelta("5s"), freq="5s")
    frames = [
        pd.DataFrame({"ts": stamps, "metric": metric, "value": [base + (i % 7) for i in range(len(stamps))]})
        for metric, base in (("system.cpu.percent", 20.0), ("system.memory.percent", 40.0))
    ]
    store.write(pd.concat(frames, ignore_index=True))


@pytest.fixture
def vitals_app(tmp_path: Path, make_store: Callable[..., storage.Store]) -> Iterator[object]:
    store = make_store("sqlite")
    for username, role in USERS.items():
        create_user(store.engine, username, PASSWORD, role)
    _seed_history(store)
    settings = storage.load_settings(
        data_dir=tmp_path, secret_key="browser-test-secret-key-0123456789", system_interval_seconds=1
    )
    app = create_app(settings, store, run_scheduler=True)
    yield app
    app.server.extensions["vitals"].scheduler.stop()


def login(dash_duo: object, username: str, password: str = PASSWORD) -> None:
    driver = dash_duo.driver  # type: ignore[attr-defined]
    driver.set_window_size(1400, 1000)  # a desktop: every navbar control visible without the toggler
    driver.get(dash_duo.server.url + "/login")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    dash_duo.wait_for_element("#user-menu", timeout=10)  # type: ignore[attr-defined]


def pattern_id(**parts: str | int) -> str:
    """The DOM id Dash gives a pattern-matching component id."""
    return json.dumps(parts, sort_keys=True, separators=(",", ":"))


def trace_lengths(dash_duo: object, chart: str) -> list[int]:
    """Number of points in each trace of a live chart, read from the plotly graph in the page."""
    element_id = pattern_id(chart=chart, type="live-chart")
    lengths: list[int] = dash_duo.driver.execute_script(  # type: ignore[attr-defined]
        "const el = document.getElementById(arguments[0]);"
        "const plot = el && el.querySelector('.js-plotly-plot');"
        "return plot && plot.data ? plot.data.map(t => (t.x || []).length) : [];",
        element_id,
    )
    return lengths


def has_points(dash_duo: Any, chart: str, at_least: int) -> bool:
    """Whether ``chart``'s traces hold ``at_least`` points together."""
    return sum(trace_lengths(dash_duo, chart)) >= at_least


def wait_until(condition: Callable[[], T], timeout: float = 15.0, message: str = "condition") -> T:
    """The first truthy value ``condition`` returns within ``timeout`` seconds.

    An element that a refresh tick re-rendered between being found and being read is stale: that
    is a "not yet", and the condition is asked again."""
    return support_wait_until(condition, timeout, message, not_yet=(StaleElementReferenceException,))


CLICK_SETTLE_SECONDS = 10.0


def click_centered(dash_duo: object, selector: str) -> None:
    """Scroll the element to the middle of the window, then click it like a user would.

    Bootstrap sets ``scroll-behavior: smooth``, so Selenium's own scroll-then-click can land while
    the page is still moving; an instant scroll first makes the click position true.
    """
    deadline = time.monotonic() + CLICK_SETTLE_SECONDS
    while True:
        element = dash_duo.find_element(selector)  # type: ignore[attr-defined]
        dash_duo.driver.execute_script(  # type: ignore[attr-defined]
            "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", element
        )
        try:
            element.click()
            return
        except ElementClickInterceptedException:
            # Something still covers it (the page growing as callbacks land on a busy machine): a
            # user would wait for the page to settle and click again.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)
