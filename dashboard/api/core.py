"""What every REST module shares: the ``/api`` blueprint, the OpenAPI generator and the error contract.

A route is documented and validated from pydantic models by spectree (``@spec.validate(query=...,
json=..., resp=responses(...))``), so the document cannot drift from the validation. Every refusal
has one shape, ``{"error": "<parameter>: <what is wrong>", "parameter": "<parameter>"}``: 400 for a
bad parameter, 404 for an unknown object, 403 for a role that may not do it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import flask
from pydantic import BaseModel, ConfigDict
from spectree import Response, SpecTree

from storage.timeparse import iso_z
from tasks.actions import PermissionDenied

__all__ = [
    "ApiError",
    "BadParameter",
    "Query",
    "api",
    "duration_text",
    "iso",
    "responses",
    "spec",
    "validated",
]

api = flask.Blueprint("api", __name__, url_prefix="/api")


class BadParameter(Exception):
    """A request parameter the API cannot use: answered with 400 (or ``status``) and the parameter's name."""

    def __init__(self, parameter: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.status = status


class ApiError(BaseModel):
    """Every refusal: what was wrong, and which parameter (when one was)."""

    error: str
    parameter: str | None = None


class Query(BaseModel):
    """Base of every query/body model: an unknown parameter is a 400 naming it, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def _validation_failed(_request: Any, _response: Any, error: Any, _instance: Any, *_rest: Any) -> None:
    """spectree's hook: turn pydantic's first complaint into the API's 400 shape."""
    if error is None:
        return
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if not isinstance(part, int)]
    parameter = location[-1] if location else None
    message = first.get("msg", "invalid value")
    if first.get("type") == "extra_forbidden":
        known = _fields_of(getattr(error, "title", ""))
        message = f"unknown parameter; expected {', '.join(known) if known else 'none'}"
    elif first.get("type") == "missing":
        message = "required"
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    words = f"{parameter}: {message}" if parameter else message
    flask.abort(flask.make_response(flask.jsonify(error=words, parameter=parameter), 400))


def _fields_of(model_name: str) -> list[str]:
    """The parameters a model accepts, for "unknown parameter; expected ..." (found by its name)."""
    pending: list[type[BaseModel]] = [Query]
    while pending:
        model = pending.pop()
        if model.__name__ == model_name:
            return list(model.model_fields)
        pending.extend(model.__subclasses__())
    return []


spec = SpecTree(
    "flask",
    title="Vitals API",
    version="1",
    path="docs",
    mode="strict",  # only routes that declare their models are in the document
    before=_validation_failed,
    validation_error_status=400,
    naming_strategy=lambda model: model.__name__,
    security_schemes=[],
)


def responses(ok: type[BaseModel] | None = None, *extra: int, **models: type[BaseModel]) -> Response:
    """The documented answers of a protected route: 200 (``ok``), 400, 401, 403 and any ``extra`` codes
    (answered with :class:`ApiError`); ``models`` names other codes' bodies, e.g. ``HTTP_202=Job``."""
    codes: dict[str, Any] = {"HTTP_200": ok, "HTTP_400": ApiError, "HTTP_401": ApiError, "HTTP_403": ApiError}
    codes.update({f"HTTP_{code}": ApiError for code in extra})
    codes.update(models)
    return Response(**codes)


def validated(model: type[BaseModel], where: str = "query") -> Any:
    """The request's validated ``query`` or ``json`` model, as spectree left it on the request."""
    found = getattr(flask.request.context, where)  # type: ignore[attr-defined]
    assert isinstance(found, model)
    return found


@api.errorhandler(BadParameter)
def _bad_parameter(exc: BadParameter) -> tuple[flask.Response, int]:
    return flask.jsonify(error=str(exc), parameter=exc.parameter), exc.status


@api.errorhandler(PermissionDenied)
def _denied(exc: PermissionDenied) -> tuple[flask.Response, int]:
    return flask.jsonify(error=str(exc), parameter=None), 403


def iso(moment: datetime) -> str:
    """A UTC instant as ISO 8601 with milliseconds and ``Z`` (the one machine format, ``iso_z``)."""
    return iso_z(moment)


def duration_text(step_ms: int) -> str:
    """The largest whole unit that expresses ``step_ms``: ``5m``, ``1h``, ``1500ms``."""
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if step_ms % size == 0:
            return f"{step_ms // size}{unit}"
    return f"{step_ms}ms"
