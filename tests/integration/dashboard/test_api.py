"""The REST API, ``/metrics`` and the chart download, through Flask's test client (SQLite and MariaDB)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dash import no_update
from prometheus_client.parser import text_string_to_metric_families

import storage
from app import create_app
from dashboard.components.live_chart import download_chart_csv
from storage.tokens import create_token, list_tokens, revoke_token
from storage.users import create_user
from tasks.schedule import JobContext, JobSpec
from tasks.scheduler import EmbeddedScheduler
from tests.support import signed_in

PASSWORD = "correct-horse-battery"
BASE = pd.Timestamp("2026-01-05T00:00:00Z")
WINDOW = "since=2026-01-05T00:00:00Z&until=2026-01-05T06:00:00Z"


def _seed_history(store: storage.Store) -> None:
    """Memory on db1 every 10 minutes for 6 h (50, 51, ...); CPU per core on web1 and web2."""
    rows: list[tuple[Any, ...]] = []
    for i in range(36):
        at = BASE + pd.Timedelta(minutes=10 * i)
        rows.append((at, "system.memory.percent", "db1", {}, "%", 50.0 + i))
        for host in ("web1", "web2"):
            rows.append((at, "system.cpu.core.percent", host, {"core": "0"}, "%", float(i)))
    store.write(pd.DataFrame(rows, columns=["ts", "metric", "host", "labels", "unit", "value"]))


@pytest.fixture
def app(store: storage.Store, tmp_path: Path):
    create_user(store.engine, "ada", PASSWORD, "admin")
    create_user(store.engine, "vera", PASSWORD, "viewer")
    _seed_history(store)
    settings = storage.load_settings(data_dir=tmp_path, secret_key="api-test-secret-key-0123456789")
    return create_app(settings, store, run_scheduler=False)


@pytest.fixture
def token(store: storage.Store, app) -> str:
    return create_token(store.engine, "ci", "vera", "viewer")[1]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _logged_in(app, username: str):
    return signed_in(app, username, PASSWORD)


# --- authentication -----------------------------------------------------------------------------

PROTECTED = [
    "/api/metrics",
    "/api/metrics/system.memory.percent/history",
    "/api/metrics/export?metric=system.memory.percent",
    "/api/openapi.json",
    "/metrics",
]


@pytest.mark.parametrize("path", PROTECTED)
def test_no_session_and_no_token_is_401(app, path: str) -> None:
    response = app.server.test_client().get(path)
    assert response.status_code == 401
    assert response.get_json() == {"error": "login required"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/api/health/live", "/api/health/ready"])
def test_health_stays_public(app, path: str) -> None:
    assert app.server.test_client().get(path).status_code == 200


@pytest.mark.parametrize("path", PROTECTED)
def test_a_valid_token_works_everywhere(app, token: str, path: str) -> None:
    assert app.server.test_client().get(path, headers=_bearer(token)).status_code == 200


def test_token_use_is_recorded(app, store: storage.Store, token: str) -> None:
    assert list_tokens(store.engine)[0].last_used_at is None
    app.server.test_client().get("/api/metrics", headers=_bearer(token))
    assert list_tokens(store.engine)[0].last_used_at is not None


def test_a_session_works_too(app) -> None:
    response = _logged_in(app, "vera").get("/api/metrics")
    assert response.status_code == 200


@pytest.mark.parametrize("header", ["Bearer vt_not-a-real-token", "Bearer nonsense", "bearer "])
def test_unknown_tokens_are_401(app, header: str) -> None:
    response = app.server.test_client().get("/api/metrics", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json() == {"error": "invalid or revoked token"}


def test_a_revoked_token_is_401(app, store: storage.Store, token: str) -> None:
    client = app.server.test_client()
    assert client.get("/metrics", headers=_bearer(token)).status_code == 200
    assert revoke_token(store.engine, list_tokens(store.engine)[0].id)
    for path in ("/api/metrics", "/metrics"):
        response = client.get(path, headers=_bearer(token))
        assert response.status_code == 401
        assert response.get_json() == {"error": "invalid or revoked token"}


def test_a_token_never_exceeds_its_users_role(store: storage.Store, app) -> None:
    with pytest.raises(ValueError, match="vera is viewer, so a token cannot be admin"):
        create_token(store.engine, "too-much", "vera", "admin")
    with pytest.raises(ValueError, match="no active user named 'nobody'"):
        create_token(store.engine, "orphan", "nobody", "viewer")


# --- catalog and history ------------------------------------------------------------------------


def test_catalog_lists_metrics_with_unit_series_and_hosts(app, token: str) -> None:
    body = app.server.test_client().get("/api/metrics", headers=_bearer(token)).get_json()
    by_name = {entry["name"]: entry for entry in body["metrics"]}
    assert set(by_name) == {"system.cpu.core.percent", "system.memory.percent"}
    cpu = by_name["system.cpu.core.percent"]
    assert (cpu["unit"], cpu["series"], cpu["hosts"], cpu["labels"]) == ("%", 2, ["web1", "web2"], ["core"])
    assert cpu["description"].startswith("CPU busy per core")
    assert cpu["history"] == "/api/metrics/system.cpu.core.percent/history"


def test_history_returns_bucketed_points_as_json(app, token: str) -> None:
    response = app.server.test_client().get(
        f"/api/metrics/system.memory.percent/history?{WINDOW}&step=1h&agg=mean", headers=_bearer(token)
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["metric"], body["agg"], body["step"], body["step_ms"]) == (
        "system.memory.percent",
        "mean",
        "1h",
        3_600_000,
    )
    assert (body["since"], body["until"]) == ("2026-01-05T00:00:00.000Z", "2026-01-05T06:00:00.000Z")
    [series] = body["series"]
    assert (series["host"], series["labels"]) == ("db1", {})
    # six samples per hour, 50 + i: the mean of hour h is 50 + 6h + 2.5
    assert series["points"] == [[f"2026-01-05T0{hour}:00:00Z", 52.5 + 6 * hour] for hour in range(6)]


def test_history_filters_by_host_and_picks_a_step_when_none_is_given(app, token: str) -> None:
    client = app.server.test_client()
    body = client.get(
        f"/api/metrics/system.cpu.core.percent/history?{WINDOW}&host=web2&agg=max", headers=_bearer(token)
    ).get_json()
    assert [series["host"] for series in body["series"]] == ["web2"]
    assert body["step_ms"] == 15_000  # 6 h in at most 1,500 buckets
    assert len(body["series"][0]["points"]) == 36
    assert body["series"][0]["points"][-1] == ["2026-01-05T05:50:00Z", 35.0]


def test_history_of_an_unknown_metric_is_404_naming_it(app, token: str) -> None:
    response = app.server.test_client().get(
        "/api/metrics/system.memory.percnt/history", headers=_bearer(token)
    )
    assert response.status_code == 404
    assert response.get_json() == {
        "error": "unknown metric 'system.memory.percnt'; did you mean 'system.memory.percent'?",
        "parameter": "name",
    }


# --- export -------------------------------------------------------------------------------------


def test_export_streams_csv_that_pandas_reads(app, token: str) -> None:
    response = app.server.test_client().get(
        f"/api/metrics/export?metric=system.memory.percent&metric=system.cpu.core.percent&{WINDOW}",
        headers=_bearer(token),
    )
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert re.fullmatch(
        r'attachment; filename="vitals-metrics-\d{8}T\d{6}Z\.csv"', response.headers["Content-Disposition"]
    )
    frame = pd.read_csv(io.BytesIO(response.data), parse_dates=["ts"])
    assert len(frame) == 36 * 3
    memory = frame[frame["metric"] == "system.memory.percent"]
    assert memory["value"].tolist() == [50.0 + i for i in range(36)]
    assert memory["ts"].iloc[0] == BASE and str(memory["ts"].dt.tz) == "UTC"


def test_export_streams_parquet_with_a_step(app, token: str) -> None:
    response = app.server.test_client().get(
        f"/api/metrics/export?metric=system.memory.percent&{WINDOW}&step=2h&agg=min&format=parquet",
        headers=_bearer(token),
    )
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.apache.parquet"
    assert response.headers["Content-Disposition"].endswith('.parquet"')
    frame = pd.read_parquet(io.BytesIO(response.data))
    assert frame["value"].tolist() == [50.0, 62.0, 74.0]
    assert frame["ts"].tolist() == [BASE + pd.Timedelta(hours=2 * k) for k in range(3)]


HISTORY = "/api/metrics/system.memory.percent/history"
EXPORT = "/api/metrics/export?metric=system.memory.percent"


@pytest.mark.parametrize(
    ("url", "parameter", "message"),
    [
        (f"{HISTORY}?since=yesterday", "since", "since: 'yesterday' is neither a duration"),
        (f"{HISTORY}?until=soon", "until", "until: 'soon'"),
        (f"{HISTORY}?since=1h&until=2h", "until", "must be after since"),
        (f"{HISTORY}?step=0s", "step", "step: must be greater than zero"),
        (f"{HISTORY}?step=fast", "step", "step: 'fast' is not a duration"),
        (f"{HISTORY}?since=30d&step=1s", "step", "more than 11,000 points"),
        (f"{HISTORY}?agg=average", "agg", "agg: unsupported 'average'"),
        (f"{HISTORY}?window=1h", "window", "window: unknown parameter"),
        ("/api/metrics?verbose=1", "verbose", "verbose: unknown parameter"),
        ("/api/metrics/export", "metric", "metric: required"),
        (
            "/api/metrics/export?metric=system.memory.percnt",
            "metric",
            "did you mean 'system.memory.percent'?",
        ),
        (f"{EXPORT}&since=2026-13-45", "since", "since: '2026-13-45'"),
        (f"{EXPORT}&since=1h&until=1d", "until", "must be after since"),
        (f"{EXPORT}&step=0m", "step", "step: must be greater than zero"),
        (f"{EXPORT}&step=1h&agg=avg", "agg", "agg: unsupported 'avg'"),
        (f"{EXPORT}&format=xlsx", "format", "format: unsupported 'xlsx'; choose csv or parquet"),
        (f"{EXPORT}&host=nowhere", "host", "no series of 'system.memory.percent' on host 'nowhere'"),
        (f"{EXPORT}&metrics=x", "metrics", "metrics: unknown parameter"),
        (f"{HISTORY}?since=999999d", "since", "longer than 36,500 days"),
        (f"{HISTORY}?step=99999999999d", "step", "longer than 36,500 days"),
        (f"{EXPORT}&since=999999d", "since", "longer than 36,500 days"),
        (f"{HISTORY}?since=", "since", "since: String should have at least 1 character"),
    ],
)
def test_every_bad_parameter_is_400_naming_it(
    app, token: str, url: str, parameter: str, message: str
) -> None:
    response = app.server.test_client().get(url, headers=_bearer(token))
    assert response.status_code == 400
    body = response.get_json()
    assert body["parameter"] == parameter
    assert message in body["error"]


def test_unknown_api_paths_and_methods_answer_json(app, token: str) -> None:
    client = app.server.test_client()
    missing = client.get("/api/no/such/route", headers=_bearer(token))
    assert missing.status_code == 404
    assert missing.get_json() == {"error": "path: no API route /api/no/such/route", "parameter": "path"}
    wrong_method = client.delete("/api/metrics", headers=_bearer(token))
    assert wrong_method.status_code == 405
    assert wrong_method.is_json and "not allowed" in wrong_method.get_json()["error"]


# --- Prometheus ---------------------------------------------------------------------------------


def test_prometheus_exposes_health_and_the_latest_fresh_values(app, store: storage.Store, token: str) -> None:
    now = pd.Timestamp.now(tz="UTC")
    store.write(
        pd.DataFrame(
            {
                "ts": [
                    now - pd.Timedelta(seconds=10),
                    now - pd.Timedelta(seconds=2),
                    now - pd.Timedelta(seconds=2),
                ],
                "metric": ["system.cpu.percent", "system.cpu.percent", "system.cpu.core.percent"],
                "host": "web1",
                "labels": [{}, {}, {"core": "3"}],
                "value": [12.5, 37.25, 81.0],
            }
        )
    )
    scheduler = EmbeddedScheduler([JobSpec("vitals.noop", 60, lambda context: None)], JobContext(store=store))
    scheduler.run_now("vitals.noop")
    app.server.extensions["vitals"].scheduler = scheduler

    response = app.server.test_client().get("/metrics", headers=_bearer(token))
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    families = {
        family.name: family for family in text_string_to_metric_families(response.get_data(as_text=True))
    }
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    assert samples[("vitals_store_up", ())] == 1.0
    assert samples[("vitals_system_cpu_percent", (("host", "web1"),))] == 37.25
    assert samples[("vitals_system_cpu_core_percent", (("core", "3"), ("host", "web1")))] == 81.0
    assert samples[("vitals_scheduler_job_runs_total", (("job", "vitals.noop"),))] == 1.0
    assert samples[("vitals_scheduler_job_failures_total", (("job", "vitals.noop"),))] == 0.0
    assert families["vitals_system_cpu_percent"].type == "gauge"
    assert "CPU busy, all cores" in families["vitals_system_cpu_percent"].documentation
    # Seeded in January: far older than a few collection intervals, so not exposed.
    assert "vitals_system_memory_percent" not in families


# --- OpenAPI ------------------------------------------------------------------------------------


def test_openapi_describes_every_api_route(app, token: str) -> None:
    document = app.server.test_client().get("/api/openapi.json", headers=_bearer(token)).get_json()
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`vt_...`).",
    }
    rules = [rule for rule in app.server.url_map.iter_rules() if rule.rule.startswith("/api/")]
    assert len(rules) >= 6
    for rule in rules:
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in document["paths"], f"{rule.rule} is not in /api/openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = document["paths"][path][method.lower()]
            assert "200" in operation["responses"]
            if not path.startswith("/api/health"):  # /api/health and its probes are public
                assert "401" in operation["responses"]
            if operation.get("parameters"):
                assert "400" in operation["responses"]


# --- the chart's CSV button ---------------------------------------------------------------------


def _dash_id(kind: str) -> dict[str, str]:
    return {"chart": "mem", "type": kind}


def _compact(value: dict) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _post_download(client, state: dict) -> dict:
    output = _compact(_dash_id("live-chart-download"))
    pattern = _compact({"chart": ["MATCH"], "type": "live-chart-download"})  # how the callback is registered
    button = _compact(_dash_id("live-chart-download-button"))
    response = client.post(
        "/_dash-update-component",
        json={
            "output": f"{pattern}.data",
            "outputs": {"id": _dash_id("live-chart-download"), "property": "data"},
            "inputs": [{"id": _dash_id("live-chart-download-button"), "property": "n_clicks", "value": 1}],
            "changedPropIds": [f"{button}.n_clicks"],
            "state": [{"id": _dash_id("live-chart-state"), "property": "data", "value": state}],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["response"][output]["data"]


def test_chart_download_exports_exactly_the_window_shown(app, store: storage.Store) -> None:
    since_ms = int(BASE.timestamp() * 1000)
    until_ms = since_ms + 6 * 3_600_000
    state = {
        "spec": {
            "key": "mem",
            "metric": "system.memory.percent",
            "title": "Memory",
            "unit": "%",
            "agg": "max",
        },
        "shown": [since_ms, until_ms, 3_600_000],
    }
    download = _post_download(_logged_in(app, "vera"), state)
    assert download["filename"] == "system.memory.percent-20260105T060000Z.csv"
    assert download["type"] == "text/csv"
    frame = pd.read_csv(io.StringIO(download["content"]), parse_dates=["ts"])
    shown = store.metrics("system.memory.percent", since=since_ms, until=until_ms, every="1h", agg="max")
    assert frame["value"].tolist() == shown["max"].tolist() == [55.0 + 6 * hour for hour in range(6)]
    assert (frame["ts"] == shown["ts"]).all()


def test_chart_download_before_the_first_draw_does_nothing(app) -> None:
    state = {"spec": {"key": "mem", "metric": "system.memory.percent", "title": "Memory"}}
    with app.server.app_context():
        assert download_chart_csv(1, state) is no_update
