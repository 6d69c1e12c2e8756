"""The Logs page in headless Chromium, on lines written to a real file and ingested by the real tailer:
search with highlighting, histogram click, entry detail with file context, live tail pause/resume,
and archive controls by role."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

import storage
from collectors.logs import LogTailer
from tasks.log_jobs import tail_logs
from tests.browser.conftest import click_centered, login, pattern_id, wait_until

HOST = "web-1"


def _write(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def _line(at: datetime, level: str, message: str, **extra: object) -> str:
    return json.dumps(
        {"timestamp": at.isoformat(), "level": level, "logger": "shop", "message": message, **extra}
    )


@pytest.fixture
def seeded(vitals_app, tmp_path: Path):
    store: storage.Store = vitals_app.server.extensions["vitals"].store
    log = tmp_path / "shop.log"
    now = datetime.now(UTC).replace(microsecond=0)
    lines = []
    for i in range(60):
        at = now - timedelta(minutes=50) + timedelta(seconds=50 * i)
        level = "error" if i % 10 == 3 else "warning" if i % 10 == 6 else "info"
        message = f"order {i} paid" if level == "info" else f"payment gateway timeout for order {i}"
        lines.append(_line(at, level, message, request_id=f"req-{i}"))
    lines.append(
        _line(now - timedelta(minutes=1), "info", "<b>not bold</b> & <script>alert(1)</script> gateway")
    )
    _write(log, lines)
    tailer = LogTailer([str(log)])
    assert tail_logs(store, tailer, HOST) == 61
    return store, log, tailer


def _open_logs(dash_duo, vitals_app, user: str = "vera", query: str = "") -> None:
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, user)
    dash_duo.driver.get(dash_duo.server.url + "/logs" + query)
    dash_duo.wait_for_text_to_equal("h1.page-title", "Logs", timeout=10)


def _grid_messages(dash_duo) -> list[str]:
    """Message cells of the rendered rows, top to bottom (read in one script: rows re-render)."""
    return dash_duo.driver.execute_script(
        "const rows = [...document.querySelectorAll('.logs-grid .ag-center-cols-container .ag-row')];"
        "rows.sort((a, b) => Number(a.getAttribute('row-index')) - Number(b.getAttribute('row-index')));"
        "return rows.map(r => { const c = r.querySelector(\"[col-id='message']\"); return c ? c.innerText : ''; })"
        "  .filter(t => t !== '');"
    )


def test_search_highlights_words_and_keeps_html_literal(dash_duo, vitals_app, seeded) -> None:
    _open_logs(dash_duo, vitals_app)
    wait_until(lambda: len(_grid_messages(dash_duo)) >= 20, message="the first block of rows")
    box = dash_duo.find_element("#logs-query")
    box.send_keys("gateway\n")
    wait_until(
        lambda: (
            "6 matching entries" in dash_duo.find_element("#logs-summary").text
            or "13 matching" in dash_duo.find_element("#logs-summary").text
        ),
        message="the summary",
    )
    wait_until(
        lambda: _grid_messages(dash_duo) and all("gateway" in m for m in _grid_messages(dash_duo)),
        message="filtered rows",
    )
    messages = _grid_messages(dash_duo)
    assert len(messages) == 13  # 12 timeouts + the HTML line
    assert messages[0] == "<b>not bold</b> & <script>alert(1)</script> gateway"  # shown as text
    marks = dash_duo.driver.find_elements(By.CSS_SELECTOR, ".logs-grid [col-id='message'] mark")
    assert marks and {mark.text.lower() for mark in marks} == {"gateway"}
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".logs-grid [col-id='message'] b")
    assert "q=gateway" in dash_duo.driver.current_url
    # The level filter narrows further, and the URL keeps both.
    dash_duo.select_dcc_dropdown("#logs-levels", value="error")
    wait_until(lambda: len(_grid_messages(dash_duo)) == 6, message="error rows only")
    assert "level=error" in dash_duo.driver.current_url
    dash_duo.driver.save_screenshot("/tmp/logs-search.png")
    severe = [entry["message"] for entry in dash_duo.get_logs() if entry["level"] == "SEVERE"]
    assert severe == []


def test_a_link_reproduces_the_view(dash_duo, vitals_app, seeded) -> None:
    _open_logs(dash_duo, vitals_app, query="?q=timeout&level=warning")
    wait_until(lambda: len(_grid_messages(dash_duo)) == 6, message="the linked search")
    assert dash_duo.find_element("#logs-query").get_attribute("value") == "timeout"
    assert "warning" in dash_duo.find_element("#logs-levels").text


def test_histogram_click_narrows_the_window(dash_duo, vitals_app, seeded) -> None:
    _open_logs(dash_duo, vitals_app)
    wait_until(
        lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, "#logs-histogram .bars .point path"),
        message="bars",
    )
    total_before = dash_duo.find_element("#logs-summary").text
    bar = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#logs-histogram .bars .point path")[0]
    # Plotly takes clicks on its drag layer above the bars: move onto the bar, then click there.
    ActionChains(dash_duo.driver).move_to_element(bar).pause(0.3).click().perform()
    wait_until(
        lambda: "Window" in dash_duo.find_element("#logs-window-badge").text, message="the narrowed window"
    )
    wait_until(
        lambda: dash_duo.find_element("#logs-summary").text != total_before, message="a smaller result"
    )
    assert "from=" in dash_duo.driver.current_url and "to=" in dash_duo.driver.current_url
    dash_duo.driver.save_screenshot("/tmp/logs-histogram.png")
    click_centered(dash_duo, "#logs-window-reset")
    wait_until(lambda: dash_duo.find_element("#logs-window-badge").text == "", message="the global range")
    assert "from=" not in dash_duo.driver.current_url


def test_detail_shows_fields_and_the_files_own_neighbours(dash_duo, vitals_app, seeded) -> None:
    _open_logs(dash_duo, vitals_app, query='?q="order 30"')
    wait_until(lambda: _grid_messages(dash_duo) == ["order 30 paid"], message="one row")
    dash_duo.driver.find_element(
        By.CSS_SELECTOR, ".logs-grid .ag-center-cols-container [col-id='message']"
    ).click()
    dash_duo.wait_for_contains_text("#logs-detail", "req-30", timeout=10)
    lines = [el.text for el in dash_duo.driver.find_elements(By.CSS_SELECTOR, "#logs-detail .logs-ctx-msg")]
    assert len(lines) == 41 and lines[20] == "order 30 paid"
    assert lines[19] == "order 29 paid" and lines[21] == "order 31 paid"
    assert "entry=" in dash_duo.driver.current_url
    click_centered(dash_duo, "#logs-more-before")
    wait_until(
        lambda: len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#logs-detail .logs-ctx-msg")) == 51,
        message="more lines",
    )
    dash_duo.driver.save_screenshot("/tmp/logs-detail.png")


def test_tail_pause_counts_and_resume_shows(dash_duo, vitals_app, seeded) -> None:
    store, log, tailer = seeded
    _open_logs(dash_duo, vitals_app)
    click_centered(dash_duo, "#logs-tail-switch")
    dash_duo.wait_for_contains_text("#logs-tail-counter", "Live", timeout=10)
    _write(log, [_line(datetime.now(UTC), "error", "fresh line while live")])
    tail_logs(store, tailer, HOST)
    dash_duo.wait_for_contains_text("#logs-tail-lines", "fresh line while live", timeout=10)
    click_centered(dash_duo, "#logs-tail-pause")
    dash_duo.wait_for_contains_text("#logs-tail-counter", "Paused", timeout=10)
    _write(log, [_line(datetime.now(UTC), "info", f"arrived while paused {i}") for i in range(3)])
    tail_logs(store, tailer, HOST)
    dash_duo.wait_for_contains_text("#logs-tail-counter", "3 new lines", timeout=10)
    assert "arrived while paused" not in dash_duo.find_element("#logs-tail-lines").text
    dash_duo.driver.save_screenshot("/tmp/logs-tail.png")
    click_centered(dash_duo, "#logs-tail-pause")
    dash_duo.wait_for_contains_text("#logs-tail-lines", "arrived while paused 2", timeout=10)


def test_archive_controls_by_role(dash_duo, vitals_app, seeded) -> None:
    _open_logs(dash_duo, vitals_app, user="vera")
    button = dash_duo.find_element("#logs-archive-create")
    assert button.get_attribute("disabled") and "needs the operator role" in button.get_attribute("title")
    dash_duo.driver.get(dash_duo.server.url + "/logout")
    login(dash_duo, "otto")
    dash_duo.driver.get(dash_duo.server.url + "/logs?level=error")
    dash_duo.wait_for_text_to_equal("h1.page-title", "Logs", timeout=10)
    wait_until(
        lambda: "6 matching" in dash_duo.find_element("#logs-summary").text, message="the error search"
    )
    click_centered(dash_duo, "#logs-archive-create")
    dash_duo.wait_for_contains_text("#logs-archive-message", "Archived 6 entries", timeout=15)
    by_id = "return document.getElementById(arguments[0])"
    verify = dash_duo.driver.execute_script(
        by_id, pattern_id(action="verify", id=1, type="logs-archive-action")
    )
    verify.click()
    dash_duo.wait_for_contains_text("#logs-archive-message", "verified", timeout=10)
    delete = dash_duo.driver.execute_script(
        by_id, pattern_id(action="delete", id=1, type="logs-archive-action")
    )
    assert delete.get_attribute("disabled") and delete.get_attribute("title") == "needs the admin role"
    dash_duo.driver.save_screenshot("/tmp/logs-archives.png")
    # An admin deletes the archived hot rows, only after confirming in a dialog.
    dash_duo.driver.get(dash_duo.server.url + "/logout")
    login(dash_duo, "ada")
    dash_duo.driver.get(dash_duo.server.url + "/logs?level=error")
    dash_duo.wait_for_text_to_equal("h1.page-title", "Logs", timeout=10)
    for accept in (False, True):
        dash_duo.driver.execute_script(
            "const b = document.getElementById(arguments[0]); b.scrollIntoView({block: 'center'}); b.click();",
            pattern_id(action="delete", id=1, type="logs-archive-action"),
        )
        dialog = WebDriverWait(dash_duo.driver, 10).until(expected_conditions.alert_is_present())
        assert "Delete the 6 entries of archive #1 from the hot table?" in dialog.text
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()
            assert seeded[0].logs.count(levels=["error"], since="2h") == 6  # nothing deleted
    dash_duo.driver.save_screenshot("/tmp/logs-archives-deleting.png")
    dash_duo.wait_for_contains_text("#logs-archive-message", "6 entries removed", timeout=15)
    assert seeded[0].logs.count(levels=["error"], since="2h") == 0
    dash_duo.wait_for_contains_text("#logs-archive-table", "hot rows deleted", timeout=5)
    dash_duo.driver.save_screenshot("/tmp/logs-archives-deleted.png")


def test_clicking_a_chart_point_opens_logs_around_it(dash_duo, vitals_app, seeded) -> None:
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "vera")
    dash_duo.driver.get(dash_duo.server.url + "/system")
    graph = pattern_id(chart="system-cpu", type="live-chart")
    selector = f"[id='{graph}'] .nsewdrag"
    wait_until(
        lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, f"[id='{graph}'] .scatterlayer .trace"),
        message="a drawn chart",
    )
    drag = dash_duo.driver.find_element(By.CSS_SELECTOR, selector)
    dash_duo.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", drag
    )
    # The seeded history is the last ten minutes: the right end of the hour-wide chart.
    right = int(drag.size["width"] * 0.42)
    ActionChains(dash_duo.driver).move_to_element(drag).pause(0.3).move_by_offset(right, 0).pause(
        0.5
    ).click().perform()
    dash_duo.driver.save_screenshot("/tmp/logs-jump-click.png")
    wait_until(lambda: "/logs?" in dash_duo.driver.current_url, message="the Logs page")
    url = dash_duo.driver.current_url
    assert "from=" in url and "to=" in url
    dash_duo.wait_for_text_to_equal("h1.page-title", "Logs", timeout=10)
    wait_until(
        lambda: "Window" in dash_duo.find_element("#logs-window-badge").text,
        message="the window around the point",
    )
