"""Component ids of the Cache page (all prefixed ``cache-``)."""

URL = "cache-url"
TARGET = "cache-target"
DB = "cache-db"
STATUS = "cache-status"
KPIS = "cache-kpis"
CHARTS = "cache-charts"
SLOWLOG_GRID = "cache-slowlog-grid"

# key browser
BROWSE_PATTERN = "cache-browse-pattern"
BROWSE_TYPE = "cache-browse-type"
BROWSE_SCAN = "cache-browse-scan"
BROWSE_MORE = "cache-browse-more"
BROWSE_STATE = "cache-browse-state"
BROWSE_STATUS = "cache-browse-status"
BROWSE_GRID = "cache-browse-grid"
VALUE_OPEN = "cache-value-open"
VALUE_VIEW = "cache-value-view"

# keyspace summary
SUMMARY_START = "cache-summary-start"
SUMMARY_JOB = "cache-summary-job"
SUMMARY_POLL = "cache-summary-poll"
SUMMARY_PROGRESS = "cache-summary-progress"
SUMMARY_RESULT = "cache-summary-result"

# clears
CLEAR_PATTERN = "cache-clear-pattern"
CLEAR_PREVIEW = "cache-clear-preview"
CLEAR_PREVIEW_RESULT = "cache-clear-preview-result"
CLEAR_PREVIEWED = "cache-clear-previewed"
CLEAR_CONFIRM = "cache-clear-confirm"
TAG_NAME = "cache-tag-name"
TAG_PREVIEW = "cache-tag-preview"
TAG_PREVIEW_RESULT = "cache-tag-preview-result"
TAG_PREVIEWED = "cache-tag-previewed"
TAG_CONFIRM = "cache-tag-confirm"
CLEAR_JOB = "cache-clear-job"
CLEAR_POLL = "cache-clear-poll"
CLEAR_PROGRESS = "cache-clear-progress"
CLEAR_CANCEL = "cache-clear-cancel"
CLEAR_MESSAGE = "cache-clear-message"
FLUSH_CONFIRM_TEXT = "cache-flush-confirm-text"
FLUSH_BUTTON = "cache-flush-button"
FLUSH_MESSAGE = "cache-flush-message"

# memory policy and eviction rules
POLICY_VIEW = "cache-policy-view"
POLICY_MAXMEMORY = "cache-policy-maxmemory"
POLICY_CHOICE = "cache-policy-choice"
POLICY_APPLY = "cache-policy-apply"
POLICY_MESSAGE = "cache-policy-message"
RULES = "cache-rules"
RULE_PREVIEW = "cache-rule-preview"  # pattern-matching type, {"type": RULE_PREVIEW, "rule": n}
RULE_RESULT = "cache-rule-result"

# history
HISTORY_GRID = "cache-history-grid"
HISTORY_REFRESH = "cache-history-refresh"
