"""Component ids of the Alerts page, all prefixed ``alerts-``."""

from __future__ import annotations

TABS = "alerts-tabs"

# alert center
FILTER_STATE = "alerts-filter-state"
FILTER_SEVERITY = "alerts-filter-severity"
FILTER_CATEGORY = "alerts-filter-category"
FILTER_HOST = "alerts-filter-host"
FILTER_RULE = "alerts-filter-rule"
GRID = "alerts-grid"
GRID_VERSION = "alerts-grid-version"
GRID_NOTE = "alerts-grid-note"
BULK_COMMENT = "alerts-bulk-comment"
BULK_ACK = "alerts-bulk-ack"
BULK_RESOLVE = "alerts-bulk-resolve"
BULK_MESSAGE = "alerts-bulk-message"
DETAIL = "alerts-detail"
DETAIL_CHART = "alerts-detail-chart"
DETAIL_HISTORY = "alerts-detail-history"
DETAIL_COMMENT = "alerts-detail-comment"
DETAIL_ACK = "alerts-detail-ack"
DETAIL_RESOLVE = "alerts-detail-resolve"
DETAIL_MESSAGE = "alerts-detail-message"
SELECTED = "alerts-selected"
ANALYTICS = "alerts-analytics"
ANALYTICS_CHART = "alerts-analytics-chart"

# rule editor
RULES_GRID = "alerts-rules-grid"
RULE_ID = "alerts-rule-id"
RULE_NEW = "alerts-rule-new"
RULE_SAVE = "alerts-rule-save"
RULE_CLONE = "alerts-rule-clone"
RULE_TOGGLE = "alerts-rule-toggle"
RULE_DELETE = "alerts-rule-delete"
RULE_DELETE_CONFIRM = "alerts-rule-delete-confirm"
RULE_MESSAGE = "alerts-rule-message"
RULE_PREVIEW = "alerts-rule-preview"
RULE_BACKTEST_RANGE = "alerts-rule-backtest-range"
RULE_BACKTEST = "alerts-rule-backtest"
RULE_BACKTEST_RESULT = "alerts-rule-backtest-result"
RULE_BACKTEST_CHART = "alerts-rule-backtest-chart"
RULES_VERSION = "alerts-rules-version"
# One input per rule field: "alerts-rule-<field>", with "alerts-rule-<field>-error" below it.
RULE_FIELDS = (
    "name",
    "metric",
    "host",
    "labels",
    "aggregation",
    "window",
    "operator",
    "threshold",
    "threshold2",
    "for",
    "keep_firing_for",
    "repeat",
    "severity",
    "category",
    "no_data",
    "alert_labels",
    "summary",
    "description",
    "runbook_url",
    "channels",
)


def rule_field(name: str) -> str:
    return f"alerts-rule-{name.replace('_', '-')}"


def rule_error(name: str) -> str:
    return f"{rule_field(name)}-error"


# silences
SILENCE_FIELDS = (
    "rule_id",
    "host",
    "severity",
    "labels",
    "starts_at",
    "ends_at",
    "cron",
    "duration",
    "comment",
)


def silence_field(name: str) -> str:
    return f"alerts-silence-{name.replace('_', '-')}"


def silence_error(name: str) -> str:
    return f"{silence_field(name)}-error"


SILENCE_PREVIEW = "alerts-silence-preview"
SILENCE_SAVE = "alerts-silence-save"
SILENCE_MESSAGE = "alerts-silence-message"
SILENCE_PREVIEW_RESULT = "alerts-silence-preview-result"
SILENCES_TABLE = "alerts-silences-table"
SILENCE_DELETE = "alerts-silence-delete"  # pattern-matching type: {"type": SILENCE_DELETE, "id": n}

# channels
CHANNEL_FIELDS = ("name", "kind", "url", "host", "port", "sender", "to", "username", "password")


def channel_field(name: str) -> str:
    return f"alerts-channel-{name}"


def channel_error(name: str) -> str:
    return f"{channel_field(name)}-error"


CHANNEL_CREATE = "alerts-channel-create"
CHANNEL_MESSAGE = "alerts-channel-message"
CHANNELS_TABLE = "alerts-channels-table"
CHANNEL_TEST = "alerts-channel-test"  # pattern-matching types
CHANNEL_TOGGLE = "alerts-channel-toggle"
CHANNEL_DELETE = "alerts-channel-delete"
CHANNEL_ACTION_MESSAGE = "alerts-channel-action-message"
DELIVERIES_GRID = "alerts-deliveries-grid"

# failing notification channels, above the tabs
CHANNEL_HEALTH = "alerts-channel-health"
CHANNEL_HEALTH_BOX = "alerts-channel-health-box"
# the alert grid's server-side pages
PAGER = "alerts-pager"
PAGE_NOTE = "alerts-page-note"
