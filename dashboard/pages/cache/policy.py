"""Memory policy (view and change maxmemory / maxmemory-policy, admin) and the eviction rules."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboard.pages.cache import ids
from dashboard.pages.cache.common import can, fmt_bytes, message, role_note
from dashboard.services import current_actor, services
from storage.users import Role
from tasks import cache_types as rkeys
from tasks.actions import PermissionDenied
from tasks.actions import cache as actions

__all__ = ["policy_section", "register_callbacks"]


def policy_section(target: str | None) -> html.Div:
    view, policies, current = _read(target)
    admin = can(Role.ADMIN)
    usable = admin and bool(policies)
    return html.Div(
        [
            html.H2("Memory policy", className="h5 mt-4", id="cache-policy"),
            html.Div(id=ids.POLICY_VIEW, children=view),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("maxmemory", html_for=ids.POLICY_MAXMEMORY),
                            dbc.Input(
                                id=ids.POLICY_MAXMEMORY,
                                placeholder="e.g. 512mb, 2gb, 0 = no limit",
                                disabled=not usable,
                            ),
                        ],
                        md=4,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("maxmemory-policy", html_for=ids.POLICY_CHOICE),
                            dcc.Dropdown(
                                id=ids.POLICY_CHOICE,
                                options=[{"label": name, "value": name} for name in policies],
                                value=current,
                                clearable=False,
                                disabled=not usable,
                            ),
                        ],
                        md=4,
                    ),
                    dbc.Col(
                        dbc.Button(
                            "Apply", id=ids.POLICY_APPLY, color="primary", n_clicks=0, disabled=not usable
                        ),
                        md="auto",
                        className="align-self-end",
                    ),
                ],
                className="g-2 mb-2",
            ),
            role_note(Role.ADMIN),
            html.Div(id=ids.POLICY_MESSAGE, className="mt-2"),
            html.H3("Eviction rules", className="h6 mt-3"),
            html.Div(id=ids.RULES, children=_rules(target)),
            html.Div(id=ids.RULE_RESULT),
        ]
    )


def register_callbacks(app: Dash) -> None:
    app.callback(
        Output(ids.POLICY_MESSAGE, "children"),
        Output(ids.POLICY_VIEW, "children"),
        Input(ids.POLICY_APPLY, "n_clicks"),
        State(ids.TARGET, "value"),
        State(ids.POLICY_MAXMEMORY, "value"),
        State(ids.POLICY_CHOICE, "value"),
        prevent_initial_call=True,
    )(apply_policy)
    app.callback(
        Output(ids.RULE_RESULT, "children"),
        Input({"type": ids.RULE_PREVIEW, "rule": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(preview_rule)


def _read(target: str | None) -> tuple[Any, list[str], str | None]:
    if not target:
        return None, [], None
    try:
        found = actions.read_policy(services().store, services().settings, current_actor(), target=target)
    except rkeys.ConfigUnavailable as exc:
        return message(f"The policy cannot be read or changed here: {exc}", "secondary"), [], None
    except (PermissionDenied, LookupError, actions.TargetDown) as exc:
        return message(f"The policy cannot be read: {exc}", "warning"), [], None
    return _view(found), list(found.policies), found.policy


def _view(found: rkeys.MemoryPolicy) -> html.Div:
    limit = fmt_bytes(found.maxmemory_bytes) if found.maxmemory_bytes else "no limit"
    share = (
        f" ({100.0 * found.used_memory_bytes / found.maxmemory_bytes:.1f} %)" if found.maxmemory_bytes else ""
    )
    return html.Div(
        [
            html.Span("maxmemory "),
            html.Strong(limit, id="cache-policy-maxmemory-now"),
            html.Span(" · policy "),
            html.Strong(found.policy, id="cache-policy-now"),
            html.Span(f" · used {fmt_bytes(found.used_memory_bytes)}{share}"),
        ],
        className="mb-2",
    )


def apply_policy(
    _clicks: int, target: str | None, maxmemory: str | None, policy: str | None
) -> tuple[Any, Any]:
    try:
        found = actions.change_policy(
            services().store,
            services().settings,
            current_actor(),
            target=target or "",
            maxmemory=(maxmemory or "").strip() or None,
            policy=policy or None,
        )
    except PermissionDenied as exc:
        return message(str(exc)), no_update
    except ValueError as exc:
        text = str(exc).removeprefix("maxmemory: ")
        return message(f"maxmemory / policy: {text}", "warning"), no_update
    except rkeys.ConfigUnavailable as exc:
        return message(str(exc), "secondary"), no_update
    except (LookupError, actions.TargetDown) as exc:
        return message(str(exc), "warning"), no_update
    return message("Applied: the server now runs with the values shown.", "success"), _view(found)


def _rules(target: str | None) -> Any:
    rules = [
        (index, rule)
        for index, rule in enumerate(services().settings.cache_eviction_rules)
        if rule.target == target
    ]
    if not rules:
        return html.Div(
            [
                "No eviction rules for this target (off by default; set ",
                html.Code("VITALS_CACHE_EVICTION_RULES"),
                ").",
            ],
            className="small text-secondary",
        )
    rows = [
        html.Tr(
            [
                html.Td(html.Code(rule.pattern)),
                html.Td(f"db {rule.db}"),
                html.Td(f"above {rule.above_percent:g} % → down to {rule.down_to_percent:g} %"),
                html.Td(f"at most {rule.max_keys:,} keys per run"),
                html.Td(
                    dbc.Button(
                        "Preview",
                        id={"type": ids.RULE_PREVIEW, "rule": index},
                        size="sm",
                        color="secondary",
                        n_clicks=0,
                    )
                ),
            ]
        )
        for index, rule in rules
    ]
    interval = services().settings.cache_eviction_interval_seconds
    return html.Div(
        [
            dbc.Table(html.Tbody(rows), size="sm", className="mb-1"),
            html.Div(
                f"Evaluated every {interval:g} s; each run that removes keys is in the history.",
                className="small text-secondary",
            ),
        ]
    )


def preview_rule(clicks: list[int | None]) -> Any:
    if not ctx.triggered_id or not any(clicks):
        return no_update
    index = int(ctx.triggered_id["rule"])
    try:
        report = actions.preview_eviction_rule(
            services().store, services().settings, current_actor(), index=index
        )
    except (PermissionDenied, LookupError, ValueError, actions.TargetDown) as exc:
        return message(str(exc), "warning")
    percent = report.get("memory_percent")
    head = (f"Memory at {percent:.1f} %: " if percent is not None else "") + (
        f"the rule would remove up to {report['candidates']:,} keys, least recently used first."
        if report["triggered"]
        else str(report.get("reason", "the rule would do nothing now."))
    )
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
