"""Memory policy (view and change maxmemory / maxmemory-policy, admin), with the eviction rules
(dashboard.pages.cache.rules) below it."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboard.pages.cache import ids, rules
from dashboard.pages.cache.common import can, fmt_bytes, message, role_note
from dashboard.services import current_actor, live_settings, services
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
            rules.rules_section(target),
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


def _read(target: str | None) -> tuple[Any, list[str], str | None]:
    if not target:
        return None, [], None
    try:
        found = actions.read_policy(services().store, live_settings(), current_actor(), target=target)
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
            live_settings(),
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
