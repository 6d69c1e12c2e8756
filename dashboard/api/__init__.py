"""REST endpoints under ``/api``, one module per section, each adding its routes to ``core.api``.

Everything but the health probes needs a session or ``Authorization: Bearer <token>`` (see
``dashboard.auth``). A parameter the API cannot use gets 400 ``{"error": ..., "parameter": ...}``;
``/api/openapi.json`` describes it all. Section modules are found here by looking, so adding one
touches no shared list.
"""

from __future__ import annotations

import importlib
import pkgutil

import flask

from dashboard.api.core import BadParameter, api, spec
from dashboard.api.legacy_openapi import openapi_document

__all__ = ["BadParameter", "api"]

_NOT_ROUTES = {"core", "legacy_openapi"}

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in _NOT_ROUTES and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")


@api.get("/openapi.json")
def openapi() -> flask.Response:
    """The OpenAPI 3.1 description of every route under /api: spectree's, generated from the routes'
    pydantic models, merged over the hand-written one of the routes not yet moved to models."""
    document = openapi_document()
    generated = spec.spec
    document["paths"] = {**document["paths"], **generated.get("paths", {})}
    schemas = document["components"].setdefault("schemas", {})
    schemas.update(generated.get("components", {}).get("schemas", {}))
    return flask.jsonify(document)
