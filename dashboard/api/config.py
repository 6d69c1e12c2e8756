"""Configuration: read every typed value with its unit, range, default and source; change, bulk-update
and reset values (admin). A value pinned by an environment variable is reported, and refused on write."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import flask
from pydantic import BaseModel, Field

from dashboard.api.core import BadParameter, Query, api, iso, responses, spec, validated
from dashboard.services import current_actor, services
from storage.config import CATEGORIES, DEFINITIONS, ConfigEntry, ConfigError
from tasks.actions.config import bulk_update_config, reset_config, set_config

__all__ = [
    "config_bulk_update",
    "config_categories",
    "config_get",
    "config_list",
    "config_reset",
    "config_set",
]

ConfigValue = int | float | str


class ConfigListQuery(Query):
    category: str | None = Field(
        None,
        description="only this category (see /api/config/categories)",
        json_schema_extra={"enum": [*CATEGORIES, None]},
    )


class ConfigItem(BaseModel):
    key: str
    category: str
    type: str = Field(description="int, float or choice")
    value: ConfigValue = Field(description="the value in effect")
    default: ConfigValue
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: list[str] = Field(default_factory=list, description="allowed values of a choice")
    description: str
    source: str = Field(description="environment (pinned), stored or default")
    pinned_by: str | None = Field(None, description="the environment variable that pins the value")
    updated_by: str | None = None
    updated_at: str | None = None


class ConfigListOut(BaseModel):
    config: list[ConfigItem]


class CategoryItem(BaseModel):
    name: str
    description: str
    keys: list[str]


class CategoriesOut(BaseModel):
    categories: list[CategoryItem]


class ConfigSetIn(Query):
    value: ConfigValue = Field(description="the new value, of the key's type and within its range")


class ConfigBulkIn(Query):
    values: dict[str, ConfigValue] = Field(
        min_length=1,
        description="key -> new value; all are applied or none",
        json_schema_extra={"propertyNames": {"enum": list(DEFINITIONS)}},
    )


class EmptyQuery(Query):
    pass


def _item(entry: ConfigEntry) -> dict[str, Any]:
    found = entry.as_dict()
    moment = found["updated_at"]
    found["updated_at"] = iso(moment) if isinstance(moment, datetime) else None
    return found


def _known(key: str) -> None:
    if key not in DEFINITIONS:
        raise BadParameter("key", f"key: unknown configuration key {key!r}", status=404)


def _refuse_pinned(keys: list[str]) -> None:
    pinned = services().settings.model_fields_set
    for key in keys:
        definition = DEFINITIONS[key]
        if definition.setting and definition.setting in pinned:
            raise BadParameter(key, f"{key}: pinned by the environment variable {definition.env_var}")


def _config_error(exc: ConfigError, fallback: str) -> BadParameter:
    parameter = exc.key if exc.key in DEFINITIONS else fallback
    return BadParameter(parameter, str(exc))


@api.get("/config")
@spec.validate(query=ConfigListQuery, resp=responses(ConfigListOut), tags=["config"])
def config_list() -> flask.Response:
    """Every configuration value in effect, with its type, unit, range, default and source."""
    q = validated(ConfigListQuery)
    if q.category is not None and q.category not in CATEGORIES:
        raise BadParameter("category", f"category: {q.category!r} is not one of {', '.join(CATEGORIES)}")
    found = services()
    entries = found.store.config.entries(settings=found.settings, category=q.category)
    return flask.jsonify(config=[_item(entry) for entry in entries])


@api.get("/config/categories")
@spec.validate(query=EmptyQuery, resp=responses(CategoriesOut), tags=["config"])
def config_categories() -> flask.Response:
    """The categories and the keys in each."""
    categories = [
        {
            "name": name,
            "description": words,
            "keys": [d.key for d in DEFINITIONS.values() if d.category == name],
        }
        for name, words in CATEGORIES.items()
    ]
    return flask.jsonify(categories=categories)


@api.get("/config/<key>")
@spec.validate(query=EmptyQuery, resp=responses(ConfigItem, 404), tags=["config"])
def config_get(key: str) -> flask.Response:
    """One configuration value in effect."""
    _known(key)
    found = services()
    return flask.jsonify(_item(found.store.config.get(key=key, settings=found.settings)))


@api.put("/config/<key>")
@spec.validate(json=ConfigSetIn, resp=responses(ConfigItem, 404), tags=["config"])
def config_set(key: str) -> flask.Response:
    """Change one value (admin). A wrong type or a value out of range is a 400 naming the key."""
    _known(key)
    body = validated(ConfigSetIn, "json")
    _refuse_pinned([key])
    found = services()
    try:
        set_config(found.store, current_actor(), key, body.value)
    except ConfigError as exc:
        raise _config_error(exc, "value") from None
    return flask.jsonify(_item(found.store.config.get(key=key, settings=found.settings)))


@api.post("/config/bulk-update")
@spec.validate(json=ConfigBulkIn, resp=responses(ConfigListOut), tags=["config"])
def config_bulk_update() -> flask.Response:
    """Change several values at once (admin): one bad value and nothing changes (400 naming it)."""
    body = validated(ConfigBulkIn, "json")
    if not body.values:
        raise BadParameter("values", "values: nothing to update")
    for key in body.values:
        if key not in DEFINITIONS:
            raise BadParameter(key, f"{key}: unknown configuration key")
    _refuse_pinned(list(body.values))
    found = services()
    try:
        bulk_update_config(found.store, current_actor(), body.values)
    except ConfigError as exc:
        raise _config_error(exc, "values") from None
    entries = [found.store.config.get(key=key, settings=found.settings) for key in body.values]
    return flask.jsonify(config=[_item(entry) for entry in entries])


@api.post("/config/reset/<key>")
@spec.validate(query=EmptyQuery, resp=responses(ConfigItem, 404), tags=["config"])
def config_reset(key: str) -> flask.Response:
    """Put one value back to its default (admin)."""
    _known(key)
    found = services()
    try:
        reset_config(found.store, current_actor(), key)
    except ConfigError as exc:
        raise _config_error(exc, "key") from None
    return flask.jsonify(_item(found.store.config.get(key=key, settings=found.settings)))
