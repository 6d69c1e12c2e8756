"""Health, liveness and readiness: public, so load balancers can probe them.

Public does not mean open to all: ``VITALS_HEALTH_ALLOW`` (CIDR networks) limits who may read them
(403 outside), and ``VITALS_HEALTH_RATE_LIMIT`` caps probes per client address across all three (429).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import flask
from pydantic import BaseModel, Field
from spectree import Response

from dashboard.api.core import ApiError, api, iso, spec
from dashboard.limits import limiter
from dashboard.services import live_settings, services
from storage.health import HealthResult, ping
from storage.timeparse import utc_now
from tasks import health_jobs

__all__ = ["health", "live", "ready"]

PUBLIC: dict[str, list[str]] = {}  # spectree: no security requirement (load balancers probe these)
F = TypeVar("F", bound=Callable[..., Any])


def health_allowed(address: str | None, networks: list[str]) -> bool:
    """Whether a client address may read the health probes (an empty allow-list allows anyone)."""
    if not networks:
        return True
    try:
        client = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
        client = client.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1 on a dual-stack socket
    return any(client in ipaddress.ip_network(network, strict=False) for network in networks)


def _allowed_networks_only(view: F) -> F:
    """403 (JSON) for a client outside ``VITALS_HEALTH_ALLOW``, before the view runs."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        address = flask.request.remote_addr  # the real client when ProxyFix trusts the proxy
        if not health_allowed(address, services().settings.health_allow):
            response = flask.jsonify(error=f"address {address} is not in VITALS_HEALTH_ALLOW", parameter=None)
            response.status_code = 403
            return response
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def _health_rate() -> str:
    return services().settings.health_rate_limit


# One budget per client address over all three probes.
_probe_limit = limiter.shared_limit(_health_rate, scope="health")


class Alive(BaseModel):
    status: Literal["ok"]


class Failing(BaseModel):
    name: str
    message: str = Field(description="What is wrong.")


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    store: str = Field(description="`ok`, or why the store does not answer.")
    failing: list[Failing] = Field(description="The critical checks that fail.")


class CheckEntry(BaseModel):
    name: str
    kind: str = Field(description="database, cache, queue, disk, scheduler, mysql, redis, celery or http")
    critical: bool
    status: Literal["ok", "warn", "fail"]
    message: str = Field(description="What was found, or what is wrong.")
    response_ms: float | None
    checked_at: str = Field(description="ISO 8601 UTC.")


class HealthReport(BaseModel):
    """`fail`: a critical check fails; `degraded`: another check is not ok."""

    status: Literal["ok", "degraded", "fail"]
    checks: list[CheckEntry]


@api.get("/health/live")
@_probe_limit
@_allowed_networks_only
@spec.validate(
    resp=Response(HTTP_200=Alive, HTTP_403=ApiError, HTTP_429=ApiError), tags=["health"], security=PUBLIC
)
def live() -> flask.Response:
    """The process answers: nothing more is checked."""
    return flask.jsonify(status="ok")


@api.get("/health/ready")
@_probe_limit
@_allowed_networks_only
@spec.validate(
    resp=Response(HTTP_200=Readiness, HTTP_503=Readiness, HTTP_403=ApiError, HTTP_429=ApiError),
    tags=["health"],
    security=PUBLIC,
)
def ready() -> tuple[flask.Response, int]:
    """Ready to serve: the store answers a trivial query and every critical check passes."""
    found = services()
    try:
        ping(found.store.engine)
        # The stored configuration (fail-after count, thresholds, targets) as in effect now.
        results = health_jobs.health_report(found.store, live_settings(), only_critical=True)
    except Exception as exc:
        words = health_jobs.redact_text(
            str(getattr(exc, "orig", None) or exc).splitlines()[0], found.settings
        )
        return flask.jsonify(status="unavailable", store=words, failing=[]), 503
    failing = [
        {"name": result.name, "message": result.message}
        for result in health_jobs.redacted(results, found.settings)
        if result.status == "fail"
    ]
    return flask.jsonify(status="unavailable" if failing else "ok", store="ok", failing=failing), (
        503 if failing else 200
    )


@api.get("/health")
@_probe_limit
@_allowed_networks_only
@spec.validate(
    resp=Response(HTTP_200=HealthReport, HTTP_503=HealthReport, HTTP_403=ApiError, HTTP_429=ApiError),
    tags=["health"],
    security=PUBLIC,
)
def health() -> tuple[flask.Response, int]:
    """Every health check with its latest result; 503 when a critical check fails (for load balancers).

    Checks: `database` and `cache` (critical), `queue`, `disk`, `scheduler` and one per monitored MySQL
    (`mysql:host:port`), Redis (`redis:name`) and HTTP URL (`http:url`). Results are the latest stored run
    when it is recent, else the checks run now. A failure becomes `fail` only after
    `VITALS_HEALTH_FAIL_AFTER` in a row; before that it is `warn` with `failing k/N: ...`. Passwords in
    configured URLs never appear.
    """
    found = services()
    try:
        results = health_jobs.health_report(found.store, live_settings())
    except Exception as exc:  # the store itself is down: nothing could be read or recorded
        words = health_jobs.redact_text(
            str(getattr(exc, "orig", None) or exc).splitlines()[0], found.settings
        )
        body = {"status": "fail", "checks": [_store_down(words)]}
        return _no_store(flask.jsonify(body)), 503
    results = health_jobs.redacted(results, found.settings)
    status = health_jobs.overall_status(results)
    body = {"status": status, "checks": [_check_entry(result) for result in results]}
    return _no_store(flask.jsonify(body)), 503 if status == "fail" else 200


def _check_entry(result: HealthResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "kind": result.kind,
        "critical": result.critical,
        "status": result.status,
        "message": result.message,
        "response_ms": result.response_ms,
        "checked_at": iso(result.checked_at),
    }


def _store_down(message: str) -> dict[str, Any]:
    return {
        "name": "database",
        "kind": "database",
        "critical": True,
        "status": "fail",
        "message": f"unreachable: the store does not answer: {message}",
        "response_ms": None,
        "checked_at": iso(utc_now()),
    }


def _no_store(response: flask.Response) -> flask.Response:
    # A health answer is about now: no proxy may serve an old one.
    response.headers["Cache-Control"] = "no-store"
    return response
