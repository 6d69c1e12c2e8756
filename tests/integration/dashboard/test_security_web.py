"""CSRF, security headers, the health allow-list and rate limits, through Flask's test client (SQLite and MariaDB).

The browser half (Dash's renderer sends the CSRF header by itself; CSP leaves the console clean) is in
tests/browser/test_security_browser.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import storage
from app import create_app
from dashboard.security import CSRF_COOKIE, CSRF_HEADER
from storage.tokens import create_token
from storage.users import create_user
from tests.support import claim_redis_db, form_token, login_form

PASSWORD = "correct-horse-battery"
EVIL = "https://evil.example"


def _app(store: storage.Store, tmp_path: Path, **overrides: Any):
    settings = storage.load_settings(
        data_dir=tmp_path, secret_key="security-test-secret-key-0123456789", **overrides
    )
    return create_app(settings, store, run_scheduler=False)


@pytest.fixture
def store(make_store) -> storage.Store:
    """The web defences do not depend on the dialect (test_security_secrets covers both for storage)."""
    return make_store("sqlite")


@pytest.fixture
def app(store: storage.Store, tmp_path: Path):
    create_user(store.engine, "ada", PASSWORD, "admin")
    return _app(store, tmp_path)


def _login(app) -> Any:
    client = app.server.test_client()
    assert login_form(client, "ada", PASSWORD).status_code == 302
    return client


def _csrf_cookie(client) -> str:
    cookie = client.get_cookie(CSRF_COOKIE)
    assert cookie is not None, "a logged-in browser is given a CSRF token cookie"
    return cookie.value


def _toggle_nav(client, **headers: str):
    """The navbar toggle callback: the smallest real Dash callback, as the renderer posts it."""
    return client.post(
        "/_dash-update-component",
        json={
            "output": "nav-collapse.is_open",
            "outputs": {"id": "nav-collapse", "property": "is_open"},
            "inputs": [{"id": "nav-toggler", "property": "n_clicks", "value": 1}],
            "changedPropIds": ["nav-toggler.n_clicks"],
            "state": [{"id": "nav-collapse", "property": "is_open", "value": False}],
        },
        headers=headers,
    )


INCIDENT = {"title": "csrf probe", "severity": "low"}


# --- CSRF ------------------------------------------------------------------------------------------


def test_the_login_response_gives_the_browser_a_token_cookie_dash_can_read(app) -> None:
    client = _login(app)
    client.get("/")
    cookie = client.get_cookie(CSRF_COOKIE)
    assert cookie is not None and not cookie.http_only and cookie.same_site == "Strict"


def test_a_callback_with_the_session_cookie_but_no_token_is_refused(app) -> None:
    client = _login(app)
    client.get("/")
    response = _toggle_nav(client)
    assert response.status_code == 403
    assert "CSRF token is missing" in response.get_json()["error"]


def test_a_cross_site_callback_is_refused_even_with_a_token(app) -> None:
    client = _login(app)
    client.get("/")
    token = _csrf_cookie(client)
    response = _toggle_nav(client, **{CSRF_HEADER: token, "Origin": EVIL})
    assert response.status_code == 403
    assert "cross-site" in response.get_json()["error"]
    referred = _toggle_nav(client, **{CSRF_HEADER: token, "Referer": f"{EVIL}/page"})
    assert referred.status_code == 403


def test_a_forged_token_is_refused(app) -> None:
    client = _login(app)
    client.get("/")
    assert _toggle_nav(client, **{CSRF_HEADER: "forged.token.value"}).status_code == 403


def test_another_sessions_token_is_refused(app) -> None:
    mine, theirs = _login(app), _login(app)
    mine.get("/")
    theirs.get("/")
    assert _toggle_nav(mine, **{CSRF_HEADER: _csrf_cookie(theirs)}).status_code == 403


def test_the_renderers_request_from_this_site_is_answered(app) -> None:
    client = _login(app)
    client.get("/")
    response = _toggle_nav(client, **{CSRF_HEADER: _csrf_cookie(client), "Origin": "http://localhost"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert json.loads(response.get_data())["response"]["nav-collapse"]["is_open"] is True


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_api_state_changes_with_a_session_need_the_token(app, method: str) -> None:
    client = _login(app)
    client.get("/")
    path = "/api/incidents" if method == "post" else "/api/silences/1"
    refused = getattr(client, method)(path, json=INCIDENT)
    assert refused.status_code == 403
    assert refused.get_json()["parameter"] == CSRF_HEADER


def test_api_state_change_with_session_and_token_is_done(app, store: storage.Store) -> None:
    client = _login(app)
    client.get("/")
    response = client.post("/api/incidents", json=INCIDENT, headers={CSRF_HEADER: _csrf_cookie(client)})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert store.incidents(status="open")["title"].tolist() == ["csrf probe"]


def test_a_cross_site_api_post_with_session_changes_nothing(app, store: storage.Store) -> None:
    client = _login(app)
    client.get("/")
    response = client.post(
        "/api/incidents", json=INCIDENT, headers={CSRF_HEADER: _csrf_cookie(client), "Origin": EVIL}
    )
    assert response.status_code == 403
    assert store.incidents(status="open").empty


def test_token_clients_need_no_csrf_token(app, store: storage.Store) -> None:
    token = create_token(store.engine, "ci", "ada", "admin")[1]
    response = app.server.test_client().post(
        "/api/incidents", json=INCIDENT, headers={"Authorization": f"Bearer {token}", "Origin": EVIL}
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_cross_site_login_form_is_refused(app) -> None:
    client = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = form_token(page)
    form = {"csrf": csrf, "username": "ada", "password": PASSWORD, "next": "/"}
    assert client.post("/login", data=form, headers={"Origin": EVIL}).status_code == 403
    assert client.get("/api/openapi.json").status_code == 401, "the forged login did not sign in"
    same_site = client.post("/login", data=form, headers={"Origin": "http://localhost"})
    assert same_site.status_code == 302


def test_a_logout_post_needs_the_token(app) -> None:
    client = _login(app)
    client.get("/")
    assert client.post("/logout").status_code == 403
    assert client.get("/api/openapi.json").status_code == 200, "still signed in"
    assert client.post("/logout", headers={CSRF_HEADER: _csrf_cookie(client)}).status_code == 302


def test_the_public_url_is_a_trusted_origin(store: storage.Store, tmp_path: Path) -> None:
    create_user(store.engine, "ada", PASSWORD, "admin")
    app = _app(store, tmp_path, public_url="https://vitals.example.com/")
    client = _login(app)
    client.get("/")
    headers = {CSRF_HEADER: _csrf_cookie(client), "Origin": "https://vitals.example.com"}
    assert _toggle_nav(client, **headers).status_code == 200


# --- headers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/login", "/", "/api/openapi.json", "/api/health/live", "/assets/vitals.css"]
)
def test_every_answer_carries_the_security_headers(app, path: str) -> None:
    client = _login(app)
    response = client.get(path)
    assert response.status_code == 200, path
    headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["default-src"] == "'self'"


def test_the_csp_hashes_dashs_inline_scripts(app) -> None:
    client = _login(app)
    page = client.get("/").get_data(as_text=True)
    policy = client.get("/").headers["Content-Security-Policy"]
    for digest in app.csp_hashes():
        assert digest in policy
    assert "new DashRenderer" in page, "the inline script the hash covers"


# --- health allow-list and rate limits -------------------------------------------------------------


def test_health_probes_outside_the_allow_list_get_403(store: storage.Store, tmp_path: Path) -> None:
    app = _app(store, tmp_path, health_allow="10.0.0.0/8,192.168.1.7/32")
    client = app.server.test_client()
    for path in ("/api/health", "/api/health/live", "/api/health/ready"):
        refused = client.get(path)  # the test client is 127.0.0.1
        assert refused.status_code == 403, path
        assert "127.0.0.1 is not in VITALS_HEALTH_ALLOW" in refused.get_json()["error"]
    for address in ("10.20.30.40", "192.168.1.7", "::ffff:10.0.0.9"):
        allowed = client.get("/api/health/live", environ_base={"REMOTE_ADDR": address})
        assert allowed.status_code == 200, address
    assert client.get("/api/health/live", environ_base={"REMOTE_ADDR": "192.168.1.8"}).status_code == 403


def test_without_an_allow_list_anyone_may_probe(app) -> None:
    response = app.server.test_client().get("/api/health/live", environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert response.status_code == 200


def test_health_probes_are_rate_limited_per_address(store: storage.Store, tmp_path: Path) -> None:
    app = _app(store, tmp_path, health_rate_limit="3/minute")
    client = app.server.test_client()
    answers = [
        client.get(path).status_code for path in ("/api/health/live", "/api/health/ready", "/api/health/live")
    ]
    assert 429 not in answers
    limited = client.get("/api/health/live")
    assert limited.status_code == 429
    assert limited.get_json()["error"].startswith("3 per 1 minute")
    assert int(limited.headers["Retry-After"]) > 0
    other = client.get("/api/health/live", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200, "another load balancer has its own budget"


def test_api_tokens_are_rate_limited_per_token(store: storage.Store, tmp_path: Path) -> None:
    create_user(store.engine, "ada", PASSWORD, "admin")
    app = _app(store, tmp_path, api_token_rate_limit="4/minute")
    first = create_token(store.engine, "one", "ada", "viewer")[1]
    second = create_token(store.engine, "two", "ada", "viewer")[1]
    client = app.server.test_client()

    def get(token: str, path: str = "/api/openapi.json") -> int:
        return client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code

    assert [get(first), get(first, "/metrics"), get(first), get(first)] == [200, 200, 200, 200]
    assert get(first) == 429
    assert get(first, "/metrics") == 429, "one budget over the API and /metrics"
    assert get(second) == 200, "each token has its own budget"
    session = _login(app)
    assert session.get("/api/openapi.json").status_code == 200, "sessions are not token-limited"


@pytest.fixture
def limiter_redis() -> Iterator[str]:
    yield from claim_redis_db(range(11, 14), "rate-limit counters")


def test_counters_in_redis_are_shared_by_every_web_worker(
    store: storage.Store, tmp_path: Path, limiter_redis: str
) -> None:
    one = _app(store, tmp_path, health_rate_limit="2/minute", rate_limit_storage_url=limiter_redis)
    assert one.server.test_client().get("/api/health/live").status_code == 200
    two = _app(store, tmp_path, health_rate_limit="2/minute", rate_limit_storage_url=limiter_redis)
    client = two.server.test_client()
    assert client.get("/api/health/live").status_code == 200
    assert client.get("/api/health/live").status_code == 429, "the first worker's probe counted"
