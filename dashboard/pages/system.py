"""System: every host metric over the chosen window, and an operator's "collect now"."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, html

from dashboard.components.live_chart import ChartSpec, live_chart
from dashboard.services import current_actor, services
from storage.users import Role
from tasks.actions import PermissionDenied, collect_now

PATH = "/system"
NAME = "System"
ORDER = 20  # place in the navbar

COLLECT_BUTTON = "system-collect-now"
COLLECT_RESULT = "system-collect-result"

CHARTS = [
    ChartSpec("system-cpu", "system.cpu.percent", "CPU busy, all cores", "%"),
    ChartSpec("system-cpu-cores", "system.cpu.core.percent", "CPU busy per core", "%"),
    ChartSpec("system-load", "system.load", "Load average", ""),
    ChartSpec("system-memory", "system.memory.percent", "Memory in use", "%"),
    ChartSpec(
        "system-swap",
        "system.swap.percent",
        "Swap in use",
        "%",
        all_zero_means="No swap (0 % throughout: none configured, or none used)",
    ),
    ChartSpec("system-disk", "system.disk.percent", "Disk space used per mount", "%"),
    ChartSpec("system-disk-io", "system.disk.io_bytes_per_second", "Disk throughput", "B/s"),
    ChartSpec("system-net", "system.net.bytes_per_second", "Network throughput", "B/s"),
    ChartSpec("system-processes", "system.process.count", "Processes", ""),
]


def layout(**_query: str) -> html.Div:
    actor = current_actor()
    allowed = actor is not None and actor.role.allows(Role.OPERATOR)
    # Shown disabled with the reason rather than as a button that fails; the action still refuses a
    # hand-posted callback on the server.
    reason = (
        None
        if allowed
        else html.Span("Collect now needs the operator role", className="small text-secondary")
    )
    header = html.Div(
        [
            html.H1("System", className="page-title me-auto"),
            reason,
            dbc.Button(
                "Collect now",
                id=COLLECT_BUTTON,
                color="primary",
                size="sm",
                n_clicks=0,
                disabled=not allowed,
                title="" if allowed else "needs the operator role",
            ),
        ],
        className="d-flex align-items-center gap-2",
    )
    return html.Div(
        [
            header,
            html.Div(id=COLLECT_RESULT),
            dbc.Row([dbc.Col(live_chart(spec), lg=6, xxl=4, className="mb-3") for spec in CHARTS]),
        ]
    )


def register_callbacks(app: Dash) -> None:
    @app.callback(
        Output(COLLECT_RESULT, "children"), Input(COLLECT_BUTTON, "n_clicks"), prevent_initial_call=True
    )
    def _collect(_clicks: int) -> dbc.Alert:
        try:
            message = collect_now(services().store, services().scheduler, current_actor())
        except PermissionDenied as exc:
            return dbc.Alert(str(exc), color="danger", dismissable=True, className="py-2")
        except Exception as exc:
            return dbc.Alert(f"Collection failed: {exc}", color="warning", dismissable=True, className="py-2")
        return dbc.Alert(message, color="success", dismissable=True, duration=4000, className="py-2")
