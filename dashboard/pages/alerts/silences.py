"""Silences and maintenance windows: matchers, a fixed window or a cron-style recurring one, a
preview of what the silence would have muted over the last 7 days and what it mutes now."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboard.pages.alerts import names
from dashboard.pages.alerts.common import allowed, fmt_time, inline, role_hint
from dashboard.services import current_actor, services
from storage import alerts as alertstore
from storage.users import Role
from tasks.actions import PermissionDenied
from tasks.actions import alerts as actions
from tasks.alerting.model import SEVERITIES, RuleInvalid, labels_text, seconds_text
from tasks.alerting.preview import silence_preview

__all__ = ["register_callbacks", "silences_section"]

F = names.SILENCE_FIELDS
_LABELS = {
    "rule_id": "Rule",
    "host": "Target host",
    "severity": "Severity",
    "labels": "Labels (name=value, …)",
    "starts_at": "Starts (ISO time or blank = now)",
    "ends_at": "Ends (ISO time, or a duration from the start like 2h)",
    "cron": "Or recurring: cron start (e.g. 0 2 * * 0 = Sundays 02:00)",
    "duration": "Recurring window length",
    "comment": "Why (shown with every muted alert)",
}


def _input(field: str, editable: bool) -> Any:
    element_id = names.silence_field(field)
    if field == "rule_id":
        return dcc.Dropdown(
            id=element_id, options=_rule_options(), value=None, placeholder="any rule", disabled=not editable
        )
    if field == "severity":
        return dcc.Dropdown(
            id=element_id,
            options=[{"label": s, "value": s} for s in SEVERITIES],
            value=None,
            placeholder="any severity",
            disabled=not editable,
        )
    return dbc.Input(id=element_id, value="", size="sm", maxLength=400, disabled=not editable)


def _rule_options() -> list[dict[str, Any]]:
    try:
        return [
            {"label": r["name"], "value": r["id"]} for r in alertstore.list_rules(services().store.engine)
        ]
    except Exception:
        return []


def silences_section() -> html.Div:
    operator = allowed(Role.OPERATOR)
    widths = {
        "rule_id": 4,
        "host": 4,
        "severity": 4,
        "labels": 4,
        "starts_at": 4,
        "ends_at": 4,
        "cron": 4,
        "duration": 2,
        "comment": 6,
    }
    form = dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label(_LABELS[f], html_for=names.silence_field(f), className="small mb-0"),
                    _input(f, operator),
                    html.Div(id=names.silence_error(f), className="text-danger small field-error"),
                ],
                md=widths[f],
                className="mb-2",
            )
            for f in F
        ],
        className="g-2",
    )
    return html.Div(
        [
            html.H5("New silence"),
            form,
            html.Div(
                [
                    dbc.Button("Preview", id=names.SILENCE_PREVIEW, color="info", size="sm", n_clicks=0),
                    dbc.Button(
                        "Create silence",
                        id=names.SILENCE_SAVE,
                        color="primary",
                        size="sm",
                        n_clicks=0,
                        disabled=not operator,
                    ),
                    role_hint(Role.OPERATOR),
                ],
                className="d-flex gap-2 align-items-center mb-2",
            ),
            html.Div(id=names.SILENCE_MESSAGE),
            html.Div(id=names.SILENCE_PREVIEW_RESULT),
            html.H5("Silences", className="mt-3"),
            html.Div(id=names.SILENCES_TABLE, children=_silences_table()),
        ]
    )


def register_callbacks(app: Dash) -> None:
    app.callback(
        [Output(names.silence_error(f), "children") for f in F]
        + [
            Output(names.SILENCE_MESSAGE, "children"),
            Output(names.SILENCE_PREVIEW_RESULT, "children"),
            Output(names.SILENCES_TABLE, "children"),
        ],
        Input(names.SILENCE_PREVIEW, "n_clicks"),
        Input(names.SILENCE_SAVE, "n_clicks"),
        Input({"type": names.SILENCE_DELETE, "id": ALL}, "n_clicks"),
        [State(names.silence_field(f), "value") for f in F],
        prevent_initial_call=True,
    )(silence_action)


def silence_action(
    _preview_clicks: int, _save_clicks: int, deletes: list[int | None], *values: Any
) -> list[Any]:
    form = dict(zip(F, values, strict=True))
    errors = {f: "" for f in F}
    store, actor = services().store, current_actor()
    trigger = ctx.triggered_id
    try:
        if isinstance(trigger, dict) and trigger.get("type") == names.SILENCE_DELETE:
            if not any(deletes):
                return [*errors.values(), no_update, no_update, no_update]
            actions.delete_silence(store, actor, int(trigger["id"]))
            return [*errors.values(), inline("Silence deleted.", "success"), None, _silences_table()]
        if trigger == names.SILENCE_PREVIEW:
            silence = actions.silence_from_form({**form, "comment": form.get("comment") or "preview"})
            return [*errors.values(), None, _preview(silence), no_update]
        silence_id = actions.save_silence(store, actor, form)
        return [
            *errors.values(),
            inline(f"Silence #{silence_id} created.", "success"),
            None,
            _silences_table(),
        ]
    except RuleInvalid as exc:
        errors.update({k: v for k, v in exc.errors.items() if k in errors})
        return [*errors.values(), inline("Correct the fields marked in red."), None, no_update]
    except PermissionDenied as exc:
        return [*errors.values(), inline(f"Not allowed: {exc}."), None, no_update]
    except LookupError as exc:
        return [*errors.values(), inline(str(exc).split(": ", 1)[-1]), None, _silences_table()]


def _preview(silence: dict[str, Any]) -> html.Div:
    found = silence_preview(services().store, silence)
    muted, open_now = found["muted"], found["open"]

    def rows(alerts: list[dict[str, Any]]) -> Any:
        if not alerts:
            return html.P("None.", className="text-secondary small")
        body = [
            html.Tr(
                [
                    html.Td(a["rule"]),
                    html.Td(a["host"] or ""),
                    html.Td(a["state"]),
                    html.Td(fmt_time(a["firing_at"])),
                ]
            )
            for a in alerts[:100]
        ]
        return dbc.Table(
            [html.Thead(html.Tr([html.Th(h) for h in ("Rule", "Host", "State", "Fired")])), html.Tbody(body)],
            size="sm",
            striped=True,
        )

    return html.Div(
        [
            html.H6(
                f"Would have muted {len(muted)} alert{'s' if len(muted) != 1 else ''} over the last 7 days"
            ),
            rows(muted),
            html.H6(f"Mutes {len(open_now)} open alert{'s' if len(open_now) != 1 else ''} now"),
            rows(open_now),
        ],
        id="alerts-silence-preview-lists",
        className="border rounded p-2 mb-2",
    )


def _window_text(silence: dict[str, Any]) -> str:
    if silence["cron"]:
        return f"every “{silence['cron']}” for {seconds_text(int(silence['duration_seconds'] or 0))}"
    return f"{fmt_time(silence['starts_at'])} → {fmt_time(silence['ends_at'])}"


def _matchers_text(matchers: dict[str, Any]) -> str:
    parts = []
    if matchers.get("rule_id") is not None:
        parts.append(f"rule #{matchers['rule_id']}")
    for key in ("host", "severity"):
        if matchers.get(key):
            parts.append(f"{key}={matchers[key]}")
    if matchers.get("labels"):
        parts.append(labels_text(matchers["labels"]))
    return ", ".join(parts)


def _silences_table() -> Any:
    try:
        found = alertstore.list_silences(services().store.engine)
    except Exception as exc:
        return inline(f"Could not read silences: {exc}", "warning")
    if not found:
        return html.P("No silences.", className="text-secondary")
    operator = allowed(Role.OPERATOR)
    body = [
        html.Tr(
            [
                html.Td(_matchers_text(s["matchers"])),
                html.Td(_window_text(s)),
                html.Td(s["comment"]),
                html.Td(s["created_by"]),
                html.Td(
                    dbc.Button(
                        "Delete",
                        id={"type": names.SILENCE_DELETE, "id": s["id"]},
                        size="sm",
                        color="danger",
                        outline=True,
                        n_clicks=0,
                        disabled=not operator,
                    )
                ),
            ]
        )
        for s in found
    ]
    return dbc.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in ("Matches", "When", "Comment", "By", "")])),
            html.Tbody(body),
        ],
        size="sm",
        striped=True,
    )
