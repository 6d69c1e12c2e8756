"""Eviction rules on the Cache page: the stored rules of this target with preview, edit, enable /
disable and delete, a form to create or edit one (admin), and the read-only rules from
``VITALS_CACHE_EVICTION_RULES``. Every button calls tasks.actions.cache_rules (or, for an environment
rule's preview, tasks.actions.cache), which checks the role again and audits."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboard.pages.cache import ids
from dashboard.pages.cache.common import can, fmt_bytes, message, role_note
from dashboard.services import current_actor, services
from storage.users import Role
from tasks.actions import PermissionDenied
from tasks.actions import cache as actions
from tasks.actions import cache_rules as rule_actions

__all__ = ["register_callbacks", "rules_section"]

# Form inputs, in the order of the callbacks' outputs: (field, id, label, placeholder).
FIELDS = (
    ("pattern", ids.RULE_PATTERN, "Pattern (SCAN glob)", "e.g. sess:*"),
    ("db", ids.RULE_DB, "db", "0"),
    ("above_percent", ids.RULE_ABOVE, "When memory is above (%)", "90"),
    ("down_to_percent", ids.RULE_DOWN_TO, "Remove until (%)", "75"),
    ("max_keys", ids.RULE_MAX_KEYS, "At most keys per run", "10000"),
)
_DEFAULTS = {"pattern": "", "db": 0, "above_percent": 90, "down_to_percent": 75, "max_keys": 10_000}


def rules_section(target: str | None) -> html.Div:
    admin = can(Role.ADMIN)
    inputs = [
        dbc.Col(
            [
                dbc.Label(label, html_for=input_id),
                dbc.Input(
                    id=input_id,
                    value=_DEFAULTS[field],
                    placeholder=placeholder,
                    type="text" if field == "pattern" else "number",
                    disabled=not admin,
                ),
                dbc.FormFeedback(id=f"{input_id}-feedback", type="invalid"),
            ],
            md=4 if field == "pattern" else 2,
        )
        for field, input_id, label, placeholder in FIELDS
    ]
    return html.Div(
        [
            html.H3("Eviction rules", className="h6 mt-3"),
            html.Div(id=ids.RULES, children=rules_table(target)),
            html.Div(id=ids.RULE_RESULT),
            html.Div(id=ids.RULE_MESSAGE),
            dcc.Store(id=ids.RULE_EDITING, data=None),
            html.Div("New rule", id=ids.RULE_FORM_TITLE, className="small fw-semibold mt-2"),
            dbc.Row(inputs, className="g-2 mb-2"),
            html.Div(
                [
                    dbc.Checkbox(id=ids.RULE_ENABLED, label="Enabled", value=False, disabled=not admin),
                    dbc.Button(
                        "Save rule", id=ids.RULE_SAVE, color="primary", size="sm", n_clicks=0, disabled=not admin
                    ),
                    dbc.Button(
                        "New", id=ids.RULE_NEW, color="secondary", outline=True, size="sm", n_clicks=0,
                        disabled=not admin,
                    ),
                    role_note(Role.ADMIN),
                ],
                className="d-flex gap-2 align-items-center",
            ),
            html.Div(
                f"Enabled rules are evaluated every {services().settings.cache_eviction_interval_seconds:g} s; "
                "each run that removes keys is in the history, and the rule shows its last run.",
                className="small text-secondary mt-1",
            ),
        ]
    )  # fmt: skip


def rules_table(target: str | None) -> Any:
    if not target:
        return None
    admin = can(Role.ADMIN)
    stored = services().store.cache.rules(target=target)
    from_env = [(n, r) for n, r in enumerate(services().settings.cache_eviction_rules) if r.target == target]
    if not stored and not from_env:
        return html.Div(
            "No eviction rules for this target (off by default).", className="small text-secondary"
        )
    rows = [_stored_row(rule, admin) for rule in stored]
    rows += [_env_row(index, rule) for index, rule in from_env]
    head = html.Thead(
        html.Tr([html.Th(t) for t in ("Pattern", "db", "Thresholds", "Per run", "State", "Last run", "")])
    )
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="mb-1", id="cache-rules-table")


def _button(label: str, rule_id: int, verb: str, *, disabled: bool, color: str = "secondary") -> dbc.Button:
    return dbc.Button(
        label,
        id={"type": ids.RULE_ACTION, "rule": rule_id, "verb": verb},
        size="sm",
        color=color,
        outline=True,
        n_clicks=0,
        disabled=disabled,
        className="me-1",
    )


def _cells(rule: Any) -> list[html.Td]:
    return [
        html.Td(html.Code(rule.pattern)),
        html.Td(str(rule.db)),
        html.Td(f"above {rule.above_percent:g} % → down to {rule.down_to_percent:g} %"),
        html.Td(f"{rule.max_keys:,} keys"),
    ]


def _stored_row(stored: Any, admin: bool) -> html.Tr:
    last = stored.last_result or {}
    if stored.last_run_at is None:
        last_text = "never"
    elif last.get("error"):
        last_text = f"{stored.last_run_at:%Y-%m-%d %H:%M}: {last['error']}"
    else:
        last_text = (
            f"{stored.last_run_at:%Y-%m-%d %H:%M}: removed {int(last.get('removed', 0)):,} "
            f"({fmt_bytes(last.get('memory_freed_bytes', 0))})"
        )
    toggle = ("Disable", "disable") if stored.enabled else ("Enable", "enable")
    return html.Tr(
        [
            *_cells(stored.rule),
            html.Td(dbc.Badge("enabled" if stored.enabled else "disabled",
                              color="success" if stored.enabled else "secondary")),
            html.Td(last_text, className="small"),
            html.Td(
                [
                    _button("Preview", stored.id, "preview", disabled=False),
                    _button("Edit", stored.id, "edit", disabled=not admin),
                    _button(toggle[0], stored.id, toggle[1], disabled=not admin),
                    _button("Delete", stored.id, "delete", disabled=not admin, color="danger"),
                ],
                className="text-nowrap",
            ),
        ],
        id=f"cache-rule-row-{stored.id}",
    )  # fmt: skip


def _env_row(index: int, rule: Any) -> html.Tr:
    return html.Tr(
        [
            *_cells(rule),
            html.Td(dbc.Badge("environment", color="info")),
            html.Td("set in VITALS_CACHE_EVICTION_RULES", className="small"),
            html.Td(
                dbc.Button(
                    "Preview",
                    id={"type": ids.RULE_PREVIEW, "rule": index},
                    size="sm",
                    color="secondary",
                    outline=True,
                    n_clicks=0,
                )
            ),
        ]
    )


def register_callbacks(app: Dash) -> None:
    field_outputs = [Output(input_id, "value", allow_duplicate=True) for _, input_id, _, _ in FIELDS]
    app.callback(
        Output(ids.RULES, "children", allow_duplicate=True),
        Output(ids.RULE_MESSAGE, "children", allow_duplicate=True),
        *[Output(input_id, "invalid") for _, input_id, _, _ in FIELDS],
        *[Output(f"{input_id}-feedback", "children") for _, input_id, _, _ in FIELDS],
        Output(ids.RULE_EDITING, "data", allow_duplicate=True),
        Output(ids.RULE_FORM_TITLE, "children", allow_duplicate=True),
        Input(ids.RULE_SAVE, "n_clicks"),
        State(ids.TARGET, "value"),
        State(ids.RULE_EDITING, "data"),
        State(ids.RULE_ENABLED, "value"),
        *[State(input_id, "value") for _, input_id, _, _ in FIELDS],
        prevent_initial_call=True,
    )(save_rule)
    app.callback(
        Output(ids.RULES, "children", allow_duplicate=True),
        Output(ids.RULE_MESSAGE, "children", allow_duplicate=True),
        Output(ids.RULE_RESULT, "children", allow_duplicate=True),
        Output(ids.RULE_EDITING, "data", allow_duplicate=True),
        Output(ids.RULE_FORM_TITLE, "children", allow_duplicate=True),
        Output(ids.RULE_ENABLED, "value", allow_duplicate=True),
        *field_outputs,
        Input({"type": ids.RULE_ACTION, "rule": ALL, "verb": ALL}, "n_clicks"),
        Input(ids.RULE_NEW, "n_clicks"),
        State(ids.TARGET, "value"),
        prevent_initial_call=True,
    )(row_action)
    app.callback(
        Output(ids.RULE_RESULT, "children", allow_duplicate=True),
        Input({"type": ids.RULE_PREVIEW, "rule": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(preview_env_rule)


def save_rule(
    _clicks: int, target: str | None, editing: int | None, enabled: bool | None, *values: Any
) -> tuple[Any, ...]:
    """Create (or, while editing, replace) a rule; a bad field is marked with the reason under it."""
    fields = {field: value for (field, _, _, _), value in zip(FIELDS, values, strict=True)}
    fields["target"] = target or ""
    invalid = [False] * len(FIELDS)
    feedback: list[Any] = [None] * len(FIELDS)
    store, settings, actor = services().store, services().settings, current_actor()
    try:
        if editing:
            stored = rule_actions.update_rule(store, settings, actor, rule_id=int(editing), values=fields)
            if bool(enabled) != stored.enabled:
                stored = rule_actions.set_rule_enabled(store, actor, rule_id=stored.id, enabled=bool(enabled))
            text = f"Rule #{stored.id} saved."
        else:
            stored = rule_actions.create_rule(store, settings, actor, values=fields, enabled=bool(enabled))
            text = f"Rule #{stored.id} created{' and enabled' if stored.enabled else ' (disabled)'}."
    except rule_actions.RuleInvalid as exc:
        names = [field for field, _, _, _ in FIELDS]
        if exc.field in names:
            invalid[names.index(exc.field)] = True
            feedback[names.index(exc.field)] = exc.reason
        return (no_update, message(str(exc), "warning"), *invalid, *feedback, no_update, no_update)
    except (PermissionDenied, LookupError) as exc:
        return (no_update, message(str(exc)), *invalid, *feedback, no_update, no_update)
    return (rules_table(target), message(text, "success"), *invalid, *feedback, None, "New rule")


def row_action(_clicks: list[int | None], _new: int, target: str | None) -> tuple[Any, ...]:
    """Preview, edit (fills the form), enable, disable or delete the clicked rule; "New" empties the form."""
    unchanged = (no_update,) * (6 + len(FIELDS))
    trigger = ctx.triggered_id
    if trigger == ids.RULE_NEW:
        return (no_update, None, no_update, None, "New rule", False, *[_DEFAULTS[f] for f, _, _, _ in FIELDS])
    if not isinstance(trigger, dict) or not any(_clicks):
        return unchanged
    rule_id, verb = int(trigger["rule"]), str(trigger["verb"])
    store, settings, actor = services().store, services().settings, current_actor()
    keep_form = (no_update,) * (3 + len(FIELDS))
    try:
        if verb == "preview":
            report = rule_actions.preview_rule(store, settings, actor, rule_id=rule_id)
            return (no_update, None, report_view(report), *keep_form)
        if verb == "edit":
            found = store.cache.rule(rule_id=rule_id)
            if found is None:
                raise LookupError(f"rule: no eviction rule #{rule_id}")
            if not can(Role.ADMIN):  # the save re-checks; this only avoids filling a form to no end
                raise PermissionDenied("this needs the admin role")
            values = [getattr(found.rule, field) for field, _, _, _ in FIELDS]
            title = f"Editing rule #{rule_id}"
            return (no_update, None, no_update, rule_id, title, found.enabled, *values)
        if verb in {"enable", "disable"}:
            rule_actions.set_rule_enabled(store, actor, rule_id=rule_id, enabled=verb == "enable")
            text = f"Rule #{rule_id} {verb}d."
        elif verb == "delete":
            rule_actions.delete_rule(store, actor, rule_id=rule_id)
            text = f"Rule #{rule_id} deleted."
        else:
            return unchanged
    except (PermissionDenied, LookupError, ValueError, actions.TargetDown) as exc:
        return (no_update, message(str(exc), "warning"), no_update, *keep_form)
    return (rules_table(target), message(text, "success"), no_update, *keep_form)


def preview_env_rule(clicks: list[int | None]) -> Any:
    if not ctx.triggered_id or not any(clicks):
        return no_update
    try:
        report = actions.preview_eviction_rule(
            services().store, services().settings, current_actor(), index=int(ctx.triggered_id["rule"])
        )
    except (PermissionDenied, LookupError, ValueError, actions.TargetDown) as exc:
        return message(str(exc), "warning")
    return report_view(report)


def report_view(report: dict[str, Any]) -> dbc.Alert:
    """A preview: memory now, whether the rule would act, and a sample of the keys it would remove."""
    percent = report.get("memory_percent")
    if report["triggered"]:
        head = (f"Memory at {percent:.1f} %: " if percent is not None else "") + (
            f"the rule would remove up to {report['candidates']:,} keys, least recently used first."
        )
    else:  # the reason already says where memory is
        head = f"Nothing to do now: {report.get('reason', 'the rule would not act')}."
    sample = [
        html.Li([html.Code(row["key"]), f" idle {row['idle_seconds']:,} s, {fmt_bytes(row['memory_bytes'])}"])
        for row in report["sample"]
    ]
    return dbc.Alert(
        [html.Div(head), html.Ul(sample, className="small mb-0")],
        color="info",
        className="py-2",
        id="cache-rule-report",
    )
