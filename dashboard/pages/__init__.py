"""Dash pages. Each module (or package) holds one page's layout and callbacks and declares its
``PATH``, ``NAME`` and navbar ``ORDER``; a package's ``__init__`` re-exports those, ``layout`` and
``register_callbacks``. Pages are found here by looking, so adding one touches no shared list.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import dash
from dash import Dash

from dashboard.pages.planned import PLANNED_SECTIONS, PlannedSection

__all__ = ["navigation", "register_pages"]

_NOT_PAGES = {"planned"}


def _page_modules() -> list[ModuleType]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_PAGES or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "PATH"):
            found.append(module)
    return found


def navigation() -> list[ModuleType | PlannedSection]:
    """Every page in navbar order; a planned section shows only until its page exists."""
    pages: list[ModuleType | PlannedSection] = list(_page_modules())
    built = {page.PATH for page in pages}  # type: ignore[union-attr]
    pages += [section for section in PLANNED_SECTIONS if section.path not in built]
    return sorted(pages, key=lambda page: page.ORDER)


def register_pages(app: Dash) -> None:
    """Register every page with Dash Pages, and its callbacks with this app."""
    for page in navigation():
        if isinstance(page, PlannedSection):
            module_name = f"dashboard.pages.planned.{page.name.lower()}"
            dash.register_page(
                module_name, path=page.path, name=page.name, order=page.ORDER, layout=page.layout
            )
        else:
            dash.register_page(
                page.__name__, path=page.PATH, name=page.NAME, order=page.ORDER, layout=page.layout
            )
            page.register_callbacks(app)
