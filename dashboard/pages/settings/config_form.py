"""The typed configuration form (admin): every value by category with its unit, range, default and
source; save applies all changed values or none, each field answers next to itself; reset per value;
the history of changes below."""

from __future__ import annotations

import json
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from dashboard.pages.settings import ids
from dashboard.pages.settings.common import ADMIN_ONLY, card, is_admin, message, stamp, table
from dashboard.services import current_actor, services
from storage.config import CATEGORIES, ConfigEntry, ConfigError, HistoryEntry, coerce_value
from tasks.actions import PermissionDenied
from tasks.actions.config import bulk_update_config, reset_config

HISTORY_ROWS = 50


def shown(value: object) -> str:
    """A value as the form shows it: whole floats without ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _range(entry: ConfigEntry) -> str:
    d = entry.definition
    unit = f" {d.unit}" if d.unit else ""
    if d.type == "choice":
        return "one of " + ", ".join(d.choices) + unit
    low = shown(d.minimum) if d.minimum is not None else "…"
    high = shown(d.maximum) if d.maximum is not None else "…"
    kind = "whole number" if d.type == "int" else "number"
    return f"{kind}, {low} to {high}{unit}"


def source_text(entry: ConfigEntry) -> Component:
    """Where the value comes from: pinned by a variable, stored by whom and when, or the default."""
    if entry.pinned:
        return dbc.Badge(f"pinned by {entry.definition.env_var}", color="warning", text_color="dark")
    if entry.source == "stored":
        return html.Span(
            [
                dbc.Badge("changed", color="info", className="me-1"),
                f"by {entry.updated_by or 'system'}, {stamp(entry.updated_at)}",
            ]
        )
    return dbc.Badge("default", color="secondary")


def _field(entry: ConfigEntry, admin: bool) -> Component:
    d = entry.definition
    key_id = {"key": d.key}
    locked = entry.pinned or not admin
    if d.type == "choice":
        control: Component = dbc.Select(
            id={"type": ids.CONFIG_VALUE, **key_id},
            options=[{"label": choice, "value": choice} for choice in d.choices],
            value=shown(entry.value),
            disabled=locked,
        )
    else:
        control = dbc.Input(
            id={"type": ids.CONFIG_VALUE, **key_id},
            value=shown(entry.value),
            type="text",
            inputmode="decimal",
            autocomplete="off",
            disabled=locked,
        )
    group = [control]
    if d.unit:
        group.append(dbc.InputGroupText(d.unit))
    group.append(dbc.FormFeedback(id={"type": ids.CONFIG_FEEDBACK, **key_id}, type="invalid"))
    reason = "set by the environment: change the variable and restart" if entry.pinned else ADMIN_ONLY
    return dbc.Row(
        [
            dbc.Col(
                [
                    html.Div(d.description, className="fw-semibold"),
                    html.Code(d.key, className="small"),
                    html.Div(
                        f"{_range(entry)}; default {shown(d.default)}", className="small text-secondary"
                    ),
                ],
                md=5,
            ),
            dbc.Col(dbc.InputGroup(group, size="sm", className="has-validation"), md=3),
            dbc.Col(
                html.Div(source_text(entry), id={"type": ids.CONFIG_SOURCE, **key_id}, className="small"),
                md=2,
            ),
            dbc.Col(
                dbc.Button(
                    "Reset",
                    id={"type": ids.CONFIG_RESET, **key_id},
                    size="sm",
                    color="secondary",
                    outline=True,
                    disabled=locked,
                    title=reason if locked else f"back to the default ({shown(d.default)})",
                    n_clicks=0,
                ),
                md=2,
                className="text-md-end",
            ),
        ],
        className="g-2 align-items-center py-2 border-bottom",
    )


def _entries() -> list[ConfigEntry]:
    found = services()
    return found.store.config.entries(settings=found.settings)


def history_rows() -> list[dict[str, str]]:
    return [_history_row(entry) for entry in services().store.config.history(limit=HISTORY_ROWS)]


def _history_row(entry: HistoryEntry) -> dict[str, str]:
    def text(value: Any) -> str:
        if value is None:
            return "(default)" if not entry.key.startswith("target.") else "—"
        return shown(value) if not isinstance(value, dict) else json.dumps(value, sort_keys=True)

    return {
        "time": stamp(entry.changed_at),
        "setting": entry.key,
        "before": text(entry.old_value),
        "after": text(entry.new_value),
        "by": entry.changed_by or "system",
    }


def config_card() -> Component:
    admin = is_admin()
    entries = _entries()
    items = [
        dbc.AccordionItem(
            [_field(entry, admin) for entry in entries if entry.definition.category == category],
            title=f"{category.capitalize()} — {words}",
            item_id=category,
        )
        for category, words in CATEGORIES.items()
    ]
    save_note = None if admin else html.Span(ADMIN_ONLY, className="small text-secondary ms-2")
    return card(
        "Configuration",
        [
            html.P(
                "Changes apply without a restart, in this process and on every worker, within one "
                "collection interval. A value set by an environment variable is pinned and shown read-only.",
                className="small text-secondary",
            ),
            dbc.Accordion(items, always_open=True, active_item=list(CATEGORIES)[:1], id=ids.CONFIG_FORM),
            html.Div(
                [
                    dbc.Button("Save changes", id=ids.CONFIG_SAVE, n_clicks=0, disabled=not admin),
                    save_note,
                ],
                className="mt-3",
            ),
            html.Div(id=ids.CONFIG_RESULT, className="mt-2"),
            html.H2("History", className="h6 mt-4"),
            table(
                ids.CONFIG_HISTORY, history_rows(), ["time", "setting", "before", "after", "by"], page_size=10
            ),
        ],
        card_id="settings-config-card",
    )


def save_or_reset(
    _save: int, _resets: list[int], values: list[Any], value_ids: list[dict[str, str]]
) -> tuple[Any, ...]:
    """Save every changed value at once, or reset the one whose button was pressed."""
    keys = [item["key"] for item in value_ids]
    triggered = ctx.triggered_id
    if isinstance(triggered, dict) and triggered.get("type") == ids.CONFIG_RESET:
        if not ctx.triggered or not ctx.triggered[0].get("value"):
            raise PreventUpdate
        return _reset(str(triggered["key"]), keys, values)
    return _save_all(keys, values)


def _answer(
    keys: list[str], values: Any, errors: dict[str, str], result: Component, history: Any = None
) -> tuple[Any, ...]:
    entries = {entry.definition.key: entry for entry in _entries()}
    sources = [source_text(entries[key]) for key in keys]
    return (
        [no_update] * len(keys) if values is no_update else values,
        [key in errors for key in keys],
        [errors.get(key, "") for key in keys],
        sources,
        result,
        history_rows() if history is None else history,
    )


def _reset(key: str, keys: list[str], values: list[Any]) -> tuple[Any, ...]:
    try:
        entry = reset_config(services().store, current_actor(), key)
    except PermissionDenied as exc:
        return _answer(keys, no_update, {}, message(str(exc), "danger"))
    except ConfigError as exc:
        return _answer(keys, no_update, {exc.key: exc.reason}, message(str(exc), "danger"))
    new_values = [shown(entry.value) if k == key else v for k, v in zip(keys, values, strict=True)]
    done = message(f"{entry.definition.description}: back to the default ({shown(entry.value)}).", "success")
    return _answer(keys, new_values, {}, done)


def _save_all(keys: list[str], values: list[Any]) -> tuple[Any, ...]:
    current = {entry.definition.key: entry for entry in _entries()}
    errors: dict[str, str] = {}
    changed: dict[str, object] = {}
    for key, raw in zip(keys, values, strict=True):
        entry = current[key]
        if entry.pinned:
            continue
        try:
            value = coerce_value(entry.definition, raw)
        except ConfigError as exc:
            errors[key] = exc.reason
            continue
        if value != entry.value:
            changed[key] = value
    if errors:
        words = f"Nothing was saved: {len(errors)} value(s) to fix, marked below."
        return _answer(keys, no_update, errors, message(words, "danger"), history=no_update)
    if not changed:
        return _answer(keys, no_update, {}, message("Nothing changed.", "secondary"), history=no_update)
    try:
        saved = bulk_update_config(services().store, current_actor(), changed)
    except PermissionDenied as exc:
        return _answer(keys, no_update, {}, message(str(exc), "danger"), history=no_update)
    except ConfigError as exc:
        words = f"Nothing was saved: {exc}"
        return _answer(keys, no_update, {exc.key: exc.reason}, message(words, "danger"), history=no_update)
    fresh = {entry.definition.key: entry for entry in _entries()}
    new_values = [
        shown(fresh[key].value) if key in changed else raw for key, raw in zip(keys, values, strict=True)
    ]
    names = ", ".join(entry.definition.key for entry in saved)
    return _answer(keys, new_values, {}, message(f"Saved {len(saved)} change(s): {names}.", "success"))


def register_callbacks(app: Dash) -> None:
    app.callback(
        Output({"type": ids.CONFIG_VALUE, "key": ALL}, "value"),
        Output({"type": ids.CONFIG_VALUE, "key": ALL}, "invalid"),
        Output({"type": ids.CONFIG_FEEDBACK, "key": ALL}, "children"),
        Output({"type": ids.CONFIG_SOURCE, "key": ALL}, "children"),
        Output(ids.CONFIG_RESULT, "children"),
        Output(ids.CONFIG_HISTORY, "data"),
        Input(ids.CONFIG_SAVE, "n_clicks"),
        Input({"type": ids.CONFIG_RESET, "key": ALL}, "n_clicks"),
        State({"type": ids.CONFIG_VALUE, "key": ALL}, "value"),
        State({"type": ids.CONFIG_VALUE, "key": ALL}, "id"),
        prevent_initial_call=True,
    )(save_or_reset)
