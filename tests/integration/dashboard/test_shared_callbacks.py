"""Viewers share work: the same callback in the same time bucket reads the store once for everyone.

Real app, real store, Flask's test client posting the callbacks a browser posts; SQL statements are
counted with a SQLAlchemy engine event. The Redis case uses the real Redis on 6379.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis
from sqlalchemy import event

import storage
from app import create_app
from dashboard import ids
from dashboard.cache import BUCKET_MS
from storage.latest import latest_many, recent_many
from storage.users import create_user
from tests.support import free_port, signed_in, unavailable

PASSWORD = "correct-horse-battery"
KPI_OUTPUT = "overview-kpis.children"


# -- storage: many metrics in one statement ------------------------------------------------------


@contextmanager
def counted_statements(engine: Any) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):  # not the pysqlite BEGIN workaround
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _write(store: storage.Store, rows: list[tuple[pd.Timestamp, str, dict[str, str], float]]) -> None:
    store.write(
        pd.DataFrame(
            [{"ts": ts, "metric": m, "labels": labels, "value": v, "host": "h1"} for ts, m, labels, v in rows]
        )
    )


def test_latest_many_reads_the_newest_of_every_series_in_one_statement(store):
    now = pd.Timestamp.now(tz="UTC").floor("s")
    _write(
        store,
        [
            (now - pd.Timedelta("20s"), "system.cpu.percent", {}, 10.0),
            (now - pd.Timedelta("5s"), "system.cpu.percent", {}, 12.5),
            (now - pd.Timedelta("5s"), "system.disk.percent", {"mount": "/"}, 40.0),
            (now - pd.Timedelta("3s"), "system.disk.percent", {"mount": "/data"}, 70.0),
            (now - pd.Timedelta("2h"), "system.memory.percent", {}, 50.0),  # too old for max_age
        ],
    )
    with counted_statements(store.engine) as statements:
        frame = latest_many(
            store.engine, ["system.cpu.percent", "system.disk.percent", "system.memory.percent"], max_age="1h"
        )
    assert len(statements) == 1
    assert list(frame.columns) == ["metric", "host", "labels", "series_id", "ts", "value"]
    got = {(row.metric, row.labels.get("mount")): row.value for row in frame.itertuples()}
    assert got == {("system.cpu.percent", None): 12.5, ("system.disk.percent", "/"): 40.0,
                   ("system.disk.percent", "/data"): 70.0}  # fmt: skip
    assert frame["ts"].max() == now - pd.Timedelta("3s")
    assert str(frame["ts"].dt.tz) == "UTC"
    assert latest_many(store.engine, ["never.collected"]).empty


def test_recent_many_returns_every_sample_of_the_window_in_order(store):
    now = pd.Timestamp.now(tz="UTC").floor("s")
    _write(
        store,
        [(now - pd.Timedelta(seconds=s), "system.load", {"period": "1m"}, float(s)) for s in (30, 20, 10)]
        + [(now - pd.Timedelta("30min"), "system.load", {"period": "1m"}, 99.0)],
    )
    frame = recent_many(store.engine, ["system.load", "system.cpu.percent"], since="15m")
    assert frame["value"].tolist() == [30.0, 20.0, 10.0]  # oldest first, the 30-minute-old one left out
    assert frame["labels"].iloc[0] == {"period": "1m"}


# -- the web layer: N viewers, one read ----------------------------------------------------------


def _app(store: storage.Store, tmp_path: Path, **settings: Any) -> Any:
    create_user(store.engine, "vera", PASSWORD, "viewer")
    config = storage.load_settings(
        data_dir=tmp_path, secret_key="shared-test-secret-key-0123456789", **settings
    )
    return create_app(config, store, run_scheduler=False)


def _viewer(app: Any) -> Any:
    return signed_in(app, "vera", PASSWORD)


def _post_kpis(client: Any) -> dict[str, Any]:
    response = client.post(
        "/_dash-update-component",
        json={
            "output": KPI_OUTPUT,
            "outputs": {"id": "overview-kpis", "property": "children"},
            "inputs": [{"id": ids.REFRESH_INTERVAL, "property": "n_intervals", "value": 3}],
            "changedPropIds": [f"{ids.REFRESH_INTERVAL}.n_intervals"],
            "state": [],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()


def _post_chart(app: Any, client: Any, chart: str, metric: str) -> dict[str, Any]:
    """The live chart's pattern-matching callback, as the browser posts it on a page open."""
    output = next(key for key in app.callback_map if f'"type":"{ids.LIVE_CHART}"' in key and "figure" in key)
    chart_id = {"chart": chart, "type": ids.LIVE_CHART}
    spec = {"key": chart, "metric": metric, "title": metric, "unit": "%", "agg": "mean", "host": None,
            "labels": None, "thresholds": None, "low_is_bad": False}  # fmt: skip
    response = client.post(
        "/_dash-update-component",
        json={
            "output": output,
            "outputs": [
                {"id": chart_id, "property": "figure"},
                {"id": {**chart_id, "type": ids.LIVE_CHART_STATE}, "property": "data"},
                {"id": {**chart_id, "type": ids.LIVE_CHART_STATUS}, "property": "children"},
            ],
            "inputs": [
                {"id": ids.REFRESH_INTERVAL, "property": "n_intervals", "value": None},
                {"id": ids.TIME_RANGE, "property": "value", "value": "1h"},
                {"id": ids.CUSTOM_RANGE, "property": "start_date", "value": None},
                {"id": ids.CUSTOM_RANGE, "property": "end_date", "value": None},
                {"id": ids.ZOOM_RANGE, "property": "data", "value": []},
                {"id": ids.DISPLAY_TZ, "property": "data", "value": "UTC"},
            ],
            "changedPropIds": [f"{ids.TIME_RANGE}.value"],
            "state": [
                {
                    "id": {**chart_id, "type": ids.LIVE_CHART_STATE},
                    "property": "data",
                    "value": {"spec": spec},
                }
            ],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()


def _start_of_a_bucket() -> None:
    """Wait for a fresh sharing bucket, so a short burst of requests all fall in the same one."""
    time.sleep(BUCKET_MS / 1000 - (time.time() * 1000 % BUCKET_MS) / 1000 + 0.05)


def _seed_host(store: storage.Store, cpu: float, memory: float, disk: float) -> None:
    now = pd.Timestamp.now(tz="UTC").floor("s")
    rows = []
    for back in range(0, 300, 5):
        ts = now - pd.Timedelta(seconds=back)
        rows += [(ts, "system.cpu.percent", {}, cpu), (ts, "system.memory.percent", {}, memory),
                 (ts, "system.disk.percent", {"mount": "/"}, disk)]  # fmt: skip
    _write(store, rows)


def test_ten_viewers_cost_what_one_does(make_store, tmp_path):
    store = make_store("sqlite")
    _seed_host(store, cpu=35.0, memory=50.0, disk=60.0)
    app = _app(store, tmp_path)
    viewers = [_viewer(app) for _ in range(10)]
    _start_of_a_bucket()
    with counted_statements(store.engine) as first:
        _post_kpis(viewers[0])
        _post_chart(app, viewers[0], "overview-cpu", "system.cpu.percent")
    with counted_statements(store.engine) as others:
        answers = [_post_kpis(viewer) for viewer in viewers[1:]]
        charts = [_post_chart(app, viewer, "overview-cpu", "system.cpu.percent") for viewer in viewers[1:]]
    reads = [s for s in first if "samples" in s]
    assert reads, "the first viewer reads the store"
    # Only the session's user lookup per request is left; no viewer after the first reads a sample.
    assert [s for s in others if "samples" in s or "series" in s] == []
    assert all(answer == answers[0] for answer in answers)
    figure = charts[0]["response"][json.dumps({"chart": "overview-cpu", "type": ids.LIVE_CHART},
                                              separators=(",", ":"), sort_keys=True)]["figure"]  # fmt: skip
    assert len(figure["data"][0]["x"]) >= 50  # five minutes at 5 s, drawn for every viewer


def _tiles(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each tile's id -> its card component, from the callback's JSON answer."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("props", {})
            if isinstance(props.get("id"), str) and props["id"].startswith("kpi-") and "className" in props:
                found.setdefault(props["id"], node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(answer)
    return found


def test_tiles_are_coloured_by_the_stored_thresholds_and_link_to_their_page(make_store, tmp_path):
    store = make_store("sqlite")
    _seed_host(store, cpu=93.0, memory=85.0, disk=20.0)
    app = _app(store, tmp_path)
    answer = json.dumps(_post_kpis(_viewer(app)))
    tiles = _tiles(json.loads(answer))
    assert "border-danger" in tiles["kpi-cpu"]["props"]["className"]  # 93 % >= 90: critical
    assert "border-warning" in tiles["kpi-memory"]["props"]["className"]  # 85 % >= 80: warning
    assert "border-success" in tiles["kpi-disk"]["props"]["className"]  # 20 %: ok
    for word in ("critical", "warning", "ok", "warn 70 / crit 90", "/system", "kpi-cpu-sparkline"):
        assert word in answer
    assert "no data" in json.dumps(tiles["kpi-load"])  # never collected: said so, not a zero


def test_changed_thresholds_recolour_the_tiles(make_store, tmp_path):
    store = make_store("sqlite")
    _seed_host(store, cpu=60.0, memory=10.0, disk=10.0)
    store.config.set(key="alerts.cpu_warn_percent", value=50, by="test")
    app = _app(store, tmp_path)
    tiles = _tiles(_post_kpis(_viewer(app)))
    assert "border-warning" in tiles["kpi-cpu"]["props"]["className"]


@pytest.fixture
def redis_url() -> str:
    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        unavailable("Redis on 127.0.0.1:6379 is needed to test the shared web-tier cache")
    return url


def test_web_workers_share_one_read_through_redis(make_store, tmp_path, redis_url):
    store = make_store("sqlite")
    _seed_host(store, cpu=35.0, memory=50.0, disk=60.0)
    # Two apps on one store stand for two gunicorn workers; their only common memory is Redis.
    database_url = str(store.engine.url)
    first = _app(store, tmp_path, broker_url=redis_url, database_url=database_url)
    second = create_app(first.server.extensions["vitals"].settings, store, run_scheduler=False)
    one, two = _viewer(first), _viewer(second)
    _start_of_a_bucket()
    _post_kpis(one)
    with counted_statements(store.engine) as statements:
        _post_kpis(two)
    assert [s for s in statements if "samples" in s] == []


def test_a_down_cache_costs_the_sharing_not_the_page(make_store, tmp_path):
    store = make_store("sqlite")
    _seed_host(store, cpu=35.0, memory=50.0, disk=60.0)
    app = _app(store, tmp_path, broker_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    tiles = _tiles(_post_kpis(_viewer(app)))
    assert "35.0%" in json.dumps(tiles["kpi-cpu"])
