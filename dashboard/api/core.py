"""What every REST module shares: the ``/api`` blueprint, the OpenAPI generator and the error contract.

A route is documented and validated from pydantic models by spectree (``@spec.validate(query=...,
json=..., resp=responses(...))``), so the document cannot drift from the validation. Every refusal
has one shape, ``{"error": "<parameter>: <what is wrong>", "parameter": "<parameter>"}``: 400 for a
bad parameter, 404 for an unknown object, 403 for a role that may not do it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import flask
from flask.blueprints import BlueprintSetupState
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, WithJsonSchema
from spectree import Response, SpecTree
from werkzeug.routing import IntegerConverter, Map

from storage.timeparse import iso_z, parse_duration, parse_time, utc_now
from tasks.actions import PermissionDenied

__all__ = [
    "ApiError",
    "BadParameter",
    "DurationText",
    "Query",
    "TimeText",
    "api",
    "duration_text",
    "iso",
    "responses",
    "spec",
    "validated",
]

api = flask.Blueprint("api", __name__, url_prefix="/api")

ID_MAX = 2**31 - 1  # every id column is an INT: a larger id names nothing (and overflows SQLite's binding)


class IdConverter(IntegerConverter):
    """``<int:...>`` under /api: 0..2**31-1, so an id beyond the column's range is a 404, not a 500."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", ID_MAX)
        super().__init__(map, *args, **kwargs)


@api.record_once
def _bounded_ids(state: BlueprintSetupState) -> None:
    # Recorded before any route module adds its rules, so every <int:...> rule of /api is built with it.
    state.app.url_map.converters["int"] = IdConverter


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


# What a time parameter accepts, in the document and in validation alike: a duration ago (1 to 999 of a
# unit, e.g. 15m, 1.5h, 7d), ISO 8601 within 1970-2199 (date, or date and time with optional offset), or now.
DURATION_PATTERN = r"[1-9][0-9]{0,2}(\.[0-9]{1,3})?(ms|sec|min|s|m|h|d|w)"
ISO_PATTERN = (
    r"(19[7-9][0-9]|2[01][0-9]{2})-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
    r"|02-(0[1-9]|1[0-9]|2[0-8]))"  # Feb 29 left out: a pattern cannot know leap years
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?"
)
TIME_PATTERN = rf"^(now|{DURATION_PATTERN}|{ISO_PATTERN})$"
_TIME_RE = re.compile(TIME_PATTERN)


def _time_text(value: str, info: ValidationInfo) -> str:
    try:  # the parser's own words first ("must be greater than zero", "longer than 36,500 days", no 02-30)
        parse_time(value, name=str(info.field_name), now=utc_now())
    except ValueError as exc:
        raise ValueError(str(exc).split(": ", 1)[-1]) from None
    if not _TIME_RE.match(value):  # what the parser would take beyond the documented forms
        raise ValueError(f"{value!r} is neither a duration (30s, 15m, 6h, 7d, 2w) nor an ISO 8601 time")
    return value


TimeText = Annotated[
    str,
    Field(min_length=1),
    AfterValidator(_time_text),
    WithJsonSchema({"type": "string", "pattern": TIME_PATTERN}),
]
"""A time parameter (``since``, ``until``, ...): the pattern is documented and enforced, then parsed."""
DURATION_RE = re.compile(rf"^{DURATION_PATTERN}$")


def _duration_text(value: str, info: ValidationInfo) -> str:
    try:
        parse_duration(value, name=str(info.field_name))
    except ValueError as exc:
        raise ValueError(str(exc).split(": ", 1)[-1]) from None
    if not DURATION_RE.match(value):
        raise ValueError(f"{value!r} is not a duration; use 1 to 999 of a unit: 30s, 5m, 1h, 7d")
    return value


DurationText = Annotated[
    str,
    Field(min_length=1),
    AfterValidator(_duration_text),
    WithJsonSchema({"type": "string", "pattern": f"^{DURATION_PATTERN}$"}),
]
"""A length of time (``step``): 1 to 999 of a unit."""


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
    sent = where == "json" and flask.request.get_data(cache=True)
    if sent and not isinstance(flask.request.get_json(silent=True), dict):  # spectree lets these by
        raise BadParameter("body", "body: expected a JSON object")
    found = getattr(flask.request.context, where)  # type: ignore[attr-defined]
    if found is None and where == "json":  # spectree validates a body only when it is declared JSON
        raise BadParameter("Content-Type", "Content-Type: send the body as application/json")
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
