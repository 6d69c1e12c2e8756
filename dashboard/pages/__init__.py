"""Dash pages. Each module holds one page's layout and callbacks and declares its path and name."""

from __future__ import annotations

from types import ModuleType

import dash
from dash import Dash

from dashboard.pages import overview, queue, settings, system
from dashboard.pages.planned import PLANNED_SECTIONS, PlannedSection

__all__ = ["NAVIGATION", "register_pages"]

# The order of the navbar, as an operator reads it.
NAVIGATION: list[ModuleType | PlannedSection] = [overview, system, *PLANNED_SECTIONS, settings]
# Queue takes the place its planned row had: before Logs (or whichever later section comes first).
_AFTER_QUEUE = ("/logs", "/alerts", "/incidents", "/settings")
_paths = [getattr(page, "path", getattr(page, "PATH", "")) for page in NAVIGATION]
NAVIGATION.insert(min(_paths.index(path) for path in _AFTER_QUEUE if path in _paths), queue)


def register_pages(app: Dash) -> None:
    """Register every page with Dash Pages, and its callbacks with this app."""
    for order, page in enumerate(NAVIGATION):
        if isinstance(page, PlannedSection):
            module_name = f"dashboard.pages.planned.{page.name.lower()}"
            dash.register_page(module_name, path=page.path, name=page.name, order=order, layout=page.layout)
        else:
            dash.register_page(page.__name__, path=page.PATH, name=page.NAME, order=order, layout=page.layout)
            page.register_callbacks(app)
