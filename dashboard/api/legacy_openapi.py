"""The OpenAPI 3.1 document served at ``/api/openapi.json``, written by hand next to the routes.

A test compares it with the Flask URL map, so a new ``/api`` route without a description fails.
"""

from __future__ import annotations

from typing import Any

from storage.export import COLUMNS, FORMATS, vitals_version
from storage.reads import SUPPORTED_AGGREGATES

__all__ = ["openapi_document"]

_TIME = "A duration ago (`30s`, `15m`, `6h`, `7d`, `2w`), `now`, or an ISO 8601 time (UTC unless it has an offset)."


def _query(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **extra,
    }


_PARAMETERS: dict[str, dict[str, Any]] = {
    "since": _query("since", f"Start of the window (inclusive). {_TIME} Default `1h`.", {"type": "string"}),
    "until": _query("until", f"End of the window (exclusive). {_TIME} Default now.", {"type": "string"}),
    "host": _query("host", "Only series of this host.", {"type": "string"}),
    "agg": _query(
        "agg",
        "Aggregate of each bucket. Default `mean`.",
        {"type": "string", "enum": list(SUPPORTED_AGGREGATES), "default": "mean"},
    ),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _response(description: str, schema: str = "Error") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_ERRORS = {
    "400": _response("A parameter is wrong; `parameter` names it."),
    "401": _response("No session and no valid bearer token (or the token was revoked)."),
}
_PUBLIC: list[dict[str, list[str]]] = []  # no security requirement


def _health(summary: str, ok: str) -> dict[str, Any]:
    return {
        "get": {
            "tags": ["health"],
            "summary": summary,
            "security": _PUBLIC,
            "responses": {
                "200": _response(ok, "Health"),
                **(
                    {"503": _response("The store does not answer or a critical check fails.", "Health")}
                    if "Ready" in summary
                    else {}
                ),
            },
        }
    }


_PATHS: dict[str, Any] = {
    "/api/health/live": _health("Liveness: the process answers", "Alive."),
    "/api/health/ready": _health("Readiness: the store answers a query and critical checks pass", "Ready."),
    "/api/health": {
        "get": {
            "tags": ["health"],
            "summary": "Every health check with its latest result (for load balancers and people)",
            "description": "Checks: `database` and `cache` (critical), `queue`, `disk`, `scheduler` and one per "
            "monitored MySQL (`mysql:host:port`), Redis (`redis:name`) and HTTP URL (`http:url`). Results are "
            "the latest stored run when it is recent, else the checks run now. A failure becomes `fail` only "
            "after `VITALS_HEALTH_FAIL_AFTER` in a row; before that it is `warn` with `failing k/N: ...`. "
            "Passwords in configured URLs never appear.",
            "security": _PUBLIC,
            "responses": {
                "200": _response("No critical check fails (`status` is `ok` or `degraded`).", "HealthReport"),
                "503": _response("A critical check fails (`status` is `fail`).", "HealthReport"),
            },
        }
    },
    "/api/metrics": {
        "get": {
            "tags": ["metrics"],
            "summary": "The metric catalog: every metric in the store with its unit, series and hosts",
            "responses": {"200": _response("The catalog.", "Catalog"), **_ERRORS},
        }
    },
    "/api/metrics/{name}/history": {
        "get": {
            "tags": ["metrics"],
            "summary": "One metric over a window, one point per step and series",
            "parameters": [
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "description": "Metric name, e.g. `system.cpu.percent`.",
                    "schema": {"type": "string"},
                },
                _ref("since"),
                _ref("until"),
                _query(
                    "step",
                    "Bucket size (`10s`, `5m`, `1h`). Default: the smallest that keeps each series under "
                    "1,500 points. At most 11,000 points per series.",
                    {"type": "string"},
                ),
                _ref("agg"),
                _ref("host"),
            ],
            "responses": {
                "200": _response("The series of the metric with their points.", "History"),
                **_ERRORS,
                "404": _response("No such metric; the message suggests a close name."),
            },
        }
    },
    "/api/metrics/export": {
        "get": {
            "tags": ["metrics"],
            "summary": "Download samples of one or more metrics as CSV or Parquet (streamed)",
            "description": f"Columns: {', '.join(COLUMNS)}. Timestamps are UTC (ISO 8601 with `Z` in CSV). "
            "Without `step` every raw sample is exported; with it, one `agg` per bucket.",
            "parameters": [
                _query(
                    "metric",
                    "A metric to export; repeat for several.",
                    {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    required=True,
                    style="form",
                    explode=True,
                ),
                _ref("since"),
                _ref("until"),
                _query("step", "Bucket size (`10s`, `5m`, `1h`); omit for raw samples.", {"type": "string"}),
                _ref("agg"),
                _ref("host"),
                _query(
                    "format",
                    "File format. Default `csv`.",
                    {"type": "string", "enum": list(FORMATS), "default": "csv"},
                ),
            ],
            "responses": {
                "200": {
                    "description": "The file, as an attachment.",
                    "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                **_ERRORS,
            },
        }
    },
    "/api/openapi.json": {
        "get": {
            "tags": ["meta"],
            "summary": "This document",
            "responses": {
                "200": {"description": "OpenAPI 3.1 document.", "content": {"application/json": {}}},
                "401": _ERRORS["401"],
            },
        }
    },
    "/metrics": {
        "get": {
            "tags": ["meta"],
            "summary": "Prometheus text exposition: Vitals' own health and the latest value of each series",
            "responses": {
                "200": {"description": "Prometheus text format 0.0.4.", "content": {"text/plain": {}}},
                "401": _ERRORS["401"],
            },
        }
    },
}

_CHECK_KINDS = ["database", "cache", "queue", "disk", "scheduler", "mysql", "redis", "http"]

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "What was wrong, in words."},
            "parameter": {"type": "string", "description": "The parameter that was wrong."},
        },
    },
    "Health": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "store": {"type": "string"},
            "failing": {
                "type": "array",
                "description": "Readiness only: the critical checks that fail, with what is wrong.",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    },
    "HealthReport": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {
                "type": "string",
                "enum": ["ok", "degraded", "fail"],
                "description": "`fail`: a critical check fails; `degraded`: another check is not ok.",
            },
            "checks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "kind": {"type": "string", "enum": _CHECK_KINDS},
                        "critical": {"type": "boolean"},
                        "status": {"type": "string", "enum": ["ok", "warn", "fail"]},
                        "message": {"type": "string", "description": "What was found, or what is wrong."},
                        "response_ms": {"type": ["number", "null"]},
                        "checked_at": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    },
    "Catalog": {
        "type": "object",
        "properties": {
            "metrics": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "unit": {"type": "string"},
                        "description": {"type": "string"},
                        "series": {"type": "integer"},
                        "hosts": {"type": "array", "items": {"type": "string"}},
                        "labels": {"type": "array", "items": {"type": "string"}},
                        "history": {"type": "string", "description": "Path of the metric's history."},
                    },
                },
            }
        },
    },
    "History": {
        "type": "object",
        "properties": {
            "metric": {"type": "string"},
            "agg": {"type": "string"},
            "step": {"type": "string", "description": "The bucket size, e.g. `5m`."},
            "step_ms": {"type": "integer"},
            "since": {"type": "string", "format": "date-time"},
            "until": {"type": "string", "format": "date-time"},
            "series": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "series_id": {"type": "integer"},
                        "host": {"type": "string"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "points": {
                            "type": "array",
                            "description": "[bucket start (ISO 8601 UTC), value] pairs in time order.",
                            "items": {
                                "type": "array",
                                "prefixItems": [
                                    {"type": "string", "format": "date-time"},
                                    {"type": ["number", "null"]},
                                ],
                                "minItems": 2,
                                "maxItems": 2,
                            },
                        },
                    },
                },
            },
        },
    },
}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vitals API",
            "version": vitals_version(),
            "description": "Metrics of your back end: catalog, history, exports. Authenticate with a "
            "session (the dashboard's login) or `Authorization: Bearer <token>` from "
            "`vitals tokens create NAME --user USERNAME --role viewer`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "paths": _PATHS,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API token (`vt_...`)."},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
            "parameters": _PARAMETERS,
            "schemas": _SCHEMAS,
        },
    }
