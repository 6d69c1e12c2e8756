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
# Time zone: the browser's choice ("browser" or "utc", kept in local storage), the zone the browser
# reports, and the zone every chart draws in (an IANA name or "UTC").
TIME_ZONE_CHOICE = "time-zone-choice"
TIME_ZONE_SETTING = "time-zone-setting"
DISPLAY_TZ = "display-tz"
# The custom range fields: text with a time of day, read in the display zone, and their answer.
CUSTOM_FROM = "custom-from"
CUSTOM_TO = "custom-to"
CUSTOM_APPLY = "custom-apply"
CUSTOM_FEEDBACK = "custom-feedback"
CUSTOM_ZONE = "custom-zone"

# Overview
STATUS_BOARD = "status-board"

# Pattern-matching types
STATUS_TILE = "status-tile"  # {"type": STATUS_TILE, "check": <health check name>}
LIVE_CHART = "live-chart"
LIVE_CHART_STATE = "live-chart-state"
LIVE_CHART_STATUS = "live-chart-status"
KPI_VALUE = "kpi-value"
KPI_CARD = "kpi-card"
