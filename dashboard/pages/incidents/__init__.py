"""Incidents: the list (filters in the URL, open ones first, response times by severity, the form to
open one) and, with ``?id=N`` in the URL, one incident — status flow, times with MTTA/MTTR, details,
linked alerts with their charts, timeline with comments, and the postmortem.

Operators change incidents; viewers read (the controls say why they are disabled, and the actions in
``tasks.actions.incidents`` refuse a hand-posted callback anyway).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Dash, dcc, html

from dashboard.pages.incidents import names
from dashboard.pages.incidents.alerts import alerts_card, register_alerts_callbacks
from dashboard.pages.incidents.detail import detail_pieces, register_detail_callbacks
from dashboard.pages.incidents.listing import list_view, register_list_callbacks
from dashboard.pages.incidents.panel import open_incidents_panel, register_panel_callbacks
from dashboard.pages.incidents.timeline import register_timeline_callbacks, timeline_card
from dashboard.pages.incidents.writeup import postmortem_card, register_postmortem_callbacks
from dashboard.services import services

__all__ = ["NAME", "ORDER", "PATH", "layout", "open_incidents_panel", "register_callbacks"]

PATH = "/incidents"
NAME = "Incidents"
ORDER = 80  # place in the navbar


def layout(**query: str) -> html.Div:
    # NAV navigates (a row opens its incident); LOCATION, on the list only, mirrors the filters in
    # the URL without re-rendering the page.
    nav = dcc.Location(id=names.NAV, refresh="callback-nav")
    wanted = query.get("id")
    if wanted is None:
        return html.Div([nav, dcc.Location(id=names.LOCATION, refresh=False), list_view(query)])
    return html.Div([nav, _incident_view(wanted)])


def _incident_view(wanted: str) -> html.Div:
    back = dcc.Link("← All incidents", href="/incidents", className="small")
    try:
        incident = services().store.incidents.get(incident_id=int(wanted))
    except ValueError:
        return html.Div(
            [back, dbc.Alert(f"id: {wanted!r} is not an incident number.", color="warning", className="mt-2")]
        )
    except LookupError:
        return html.Div(
            [back, dbc.Alert(f"There is no incident #{wanted}.", color="warning", className="mt-2")]
        )
    except Exception as exc:  # the store is down
        return html.Div(
            [back, dbc.Alert(f"Could not read incident #{wanted}: {exc}", color="warning", className="mt-2")]
        )
    pieces = detail_pieces(incident)
    return html.Div(
        [
            dcc.Store(id=names.INCIDENT_ID, data=incident["id"]),
            dcc.Store(id=names.VERSION, data=0),
            back,
            pieces["header"],
            dbc.Row(
                [
                    dbc.Col(
                        [pieces["status"], alerts_card(incident["id"]), postmortem_card(incident)],
                        lg=8,
                    ),
                    dbc.Col([pieces["times"], pieces["edit"], timeline_card(incident["id"])], lg=4),
                ]
            ),
        ]
    )


def register_callbacks(app: Dash) -> None:
    register_list_callbacks(app)
    register_detail_callbacks(app)
    register_timeline_callbacks(app)
    register_postmortem_callbacks(app)
    register_alerts_callbacks(app)
    register_panel_callbacks(app)
