"""REST endpoints under ``/api``, one module per section, each adding its routes to ``core.api``.

Everything but the health probes needs a session or ``Authorization: Bearer <token>`` (see
``dashboard.auth``). A parameter the API cannot use gets 400 ``{"error": ..., "parameter": ...}``;
``/api/openapi.json`` describes it all. Section modules are found here by looking, so adding one
touches no shared list.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from typing import Any

import flask
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from dashboard.api.core import BadParameter, api, spec
from storage.export import vitals_version

__all__ = ["BadParameter", "api"]

_NOT_ROUTES = {"core"}

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in _NOT_ROUTES and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")


log = logging.getLogger("vitals.api")


@api.record_once
def _json_errors_under_api(state: BlueprintSetupState) -> None:
    """Under /api every answer is JSON: an unknown path is a JSON 404 (not the Dash page Dash's catch-all
    route would serve), a wrong method a JSON 405, a crash a JSON 500 (logged with its traceback)."""
    state.app.before_request(_unknown_api_path)
    state.app.after_request(_api_allow_header)
    state.app.register_error_handler(HTTPException, _http_error)
    state.app.register_error_handler(Exception, _crash)


def _unknown_api_path() -> flask.Response | None:
    rule = flask.request.url_rule
    if rule is None:  # no route matched at all: the 404/405 handler answers
        return None
    if flask.request.path.startswith("/api/") and not rule.rule.startswith("/api/"):
        methods = _api_methods()  # e.g. GET on a POST-only route: Dash's GET catch-all matched instead
        if methods:
            response = flask.jsonify(
                error=f"method: {flask.request.method} is not allowed here", parameter=None
            )
            response.status_code = 405
            response.headers["Allow"] = _allow(methods)
            return response
        response = flask.jsonify(error=f"path: no API route {flask.request.path}", parameter="path")
        response.status_code = 404
        return response
    return None


def _http_error(exc: HTTPException) -> flask.Response | HTTPException:
    if not flask.request.path.startswith("/api/"):
        return exc
    if isinstance(exc, MethodNotAllowed) and not _api_methods():
        # Only Dash's GET catch-all matched (e.g. /api/alerts/-1 or an id beyond the id range): no such
        # API route, whatever the method.
        response = flask.jsonify(error=f"path: no API route {flask.request.path}", parameter="path")
        response.status_code = 404
        return response
    response = flask.jsonify(error=exc.description or exc.name, parameter=None)
    response.status_code = exc.code or 500
    if isinstance(exc, MethodNotAllowed):  # RFC 9110: a 405 says which methods the route has
        response.headers["Allow"] = _allow(_api_methods())
    return response


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _api_methods() -> set[str]:
    """The methods of the API route this path names: Dash's GET catch-all does not count, and where two
    rules match (``/config/bulk-update`` and ``/config/<key>``) the one with fewer variables wins, as in routing."""
    adapter = flask.current_app.url_map.bind_to_environ(flask.request.environ)
    found: dict[str, int] = {}
    for method in _METHODS:
        try:
            rule, _ = adapter.match(method=method, return_rule=True)
        except HTTPException:
            continue
        if rule.rule.startswith("/api/"):
            found[method] = len(rule.arguments)
    fewest = min(found.values(), default=0)
    return {method for method, variables in found.items() if variables == fewest}


def _allow(methods: set[str]) -> str:
    extra = {"OPTIONS", "HEAD"} if "GET" in methods else {"OPTIONS"}
    return ", ".join(sorted(methods | extra))


def _api_allow_header(response: flask.Response) -> flask.Response:
    if (
        flask.request.method == "OPTIONS"
        and flask.request.path.startswith("/api/")
        and "Allow" in response.headers
    ):
        methods = _api_methods()
        if methods:
            response.headers["Allow"] = _allow(methods)
    return response


def _crash(exc: Exception) -> flask.Response | tuple[str, int]:
    log.exception("unhandled error on %s %s", flask.request.method, flask.request.path)
    if not flask.request.path.startswith("/api/"):
        return "Internal Server Error", 500
    response = flask.jsonify(error="internal error; the server log has the details", parameter=None)
    response.status_code = 500
    return response


_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}
_UNAUTHORIZED = {
    "description": "No session and no valid bearer token (or the token was revoked).",
    "content": _ERROR,
}
# The two routes that are not JSON-in/JSON-out, described by hand.
_HAND_WRITTEN = {
    "/api/openapi.json": {
        "get": {
            "tags": ["meta"],
            "summary": "This document",
            "responses": {
                "200": {"description": "OpenAPI 3.1 document.", "content": {"application/json": {}}},
                "401": _UNAUTHORIZED,
            },
        }
    },
    "/metrics": {
        "get": {
            "tags": ["meta"],
            "summary": "Prometheus text exposition: Vitals' own health and the latest value of each series",
            "responses": {
                "200": {"description": "Prometheus text format 0.0.4.", "content": {"text/plain": {}}},
                "401": _UNAUTHORIZED,
            },
        }
    },
}


@api.get("/openapi.json")
def openapi() -> flask.Response:
    """The OpenAPI 3.1 description of every route under /api, generated by spectree from the routes'
    pydantic models (the same models that validate the requests)."""
    generated = spec.spec
    components = dict(generated.get("components", {}))
    components["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API token (`vt_...`)."},
        "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
    }
    document = {
        **generated,
        "info": {
            "title": "Vitals API",
            "version": vitals_version(),
            "description": "Metrics, health and the control actions of every section. Authenticate with a "
            "session (the dashboard's login) or `Authorization: Bearer <token>` from "
            "`vitals tokens create NAME --user USERNAME --role viewer`. A refused request answers "
            '`{"error": "<parameter>: <what is wrong>", "parameter": "<parameter>"}`.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "paths": {**_optional_bodies(generated.get("paths", {}), components), **_HAND_WRITTEN},
        "components": components,
    }
    return flask.jsonify(document)


def _optional_bodies(paths: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """spectree marks every JSON body required; a body whose fields are all optional may be left out
    (the route then uses the defaults), so the document says so."""
    schemas = components.get("schemas", {})
    for operations in paths.values():
        for operation in operations.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if not body:
                continue
            ref = body.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
            model = schemas.get(ref.rsplit("/", 1)[-1], {})
            if ref and not model.get("required"):
                body["required"] = False
    return paths
