"""Explore: any stored metric, chosen from the catalog, with label filters, aggregation and step,
several overlaid, downloadable, and a link that reproduces the view. What people reach for when a
page does not have the chart they need."""

from dashboard.pages.explore.chart import register_callbacks
from dashboard.pages.explore.controls import layout

__all__ = ["NAME", "ORDER", "PATH", "layout", "register_callbacks"]

PATH = "/explore"
NAME = "Explore"
ORDER = 85  # after the sections, before Settings
