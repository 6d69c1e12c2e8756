"""Component ids shared across modules. Page-local ids live as constants in their page module."""

# Shell
URL = "url"
NAV_TOGGLER = "nav-toggler"
NAV_COLLAPSE = "nav-collapse"
TIME_RANGE = "time-range"
CUSTOM_RANGE = "custom-range"
CUSTOM_RANGE_WRAPPER = "custom-range-box"  # not "-wrapper": the date picker uses that id inside
REFRESH_INTERVAL = "refresh-interval"
REFRESH_CHOICE = "refresh-choice"
PAUSE_BUTTON = "pause-button"
PAUSED = "paused"
LAST_UPDATED = "last-updated"
ZOOM_RANGE = "zoom-range"  # a stack of drag-zoomed windows; the newest one is the global range
ZOOM_BADGE = "zoom-badge"
ZOOM_BACK = "zoom-back"

# Overview
STATUS_BOARD = "status-board"

# Pattern-matching types
STATUS_TILE = "status-tile"  # {"type": STATUS_TILE, "check": <health check name>}
LIVE_CHART = "live-chart"
LIVE_CHART_STATE = "live-chart-state"
LIVE_CHART_STATUS = "live-chart-status"
KPI_VALUE = "kpi-value"
KPI_CARD = "kpi-card"
