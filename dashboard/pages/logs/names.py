"""Component ids of the Logs page (prefixed ``logs-``, unique across the app)."""

from __future__ import annotations

LOCATION = "logs-location"
CRITERIA = "logs-criteria"  # the resolved search (dcc.Store): what the grid, histogram and tail follow
WINDOW = "logs-window"  # a window narrowed on the histogram (or from a link), overriding the global range
QUERY = "logs-query"
QUERY_FEEDBACK = "logs-query-feedback"
LEVELS = "logs-levels"
CHANNEL = "logs-channel"
HOST = "logs-host"
SOURCE = "logs-source"
REQUEST_ID = "logs-request-id"
REQUEST_ID_FEEDBACK = "logs-request-id-feedback"
SEARCH = "logs-search"
WINDOW_BADGE = "logs-window-badge"
WINDOW_RESET = "logs-window-reset"
SUMMARY = "logs-summary"
HISTOGRAM = "logs-histogram"
GRID_BOX = "logs-grid-box"
GRID = "logs-grid"  # pattern-matching type: {"type": GRID, "v": n}; a new search makes a new grid
SELECTED = "logs-selected"
DETAIL = "logs-detail"
DETAIL_FLYOUT = "logs-detail-flyout"
CONTEXT_SPAN = "logs-context-span"
MORE_BEFORE = "logs-more-before"
MORE_AFTER = "logs-more-after"
CONTEXT_LINE = "logs-context-line"  # pattern-matching type: a context line, clickable
TAIL_SWITCH = "logs-tail-switch"
TAIL_PAUSE = "logs-tail-pause"
TAIL_INTERVAL = "logs-tail-interval"
TAIL_STATE = "logs-tail-state"
TAIL_LINES = "logs-tail-lines"
TAIL_COUNTER = "logs-tail-counter"
ARCHIVE_CREATE = "logs-archive-create"
ARCHIVE_TABLE = "logs-archive-table"
ARCHIVE_MESSAGE = "logs-archive-message"
ARCHIVE_ACTION = "logs-archive-action"  # pattern-matching type: {"type": ..., "action": ..., "id": n}
ARCHIVE_REFRESH = "logs-archive-refresh"
ARCHIVE_JOB = "logs-archive-job"  # dcc.Store: the id of the job this page follows
ARCHIVE_JOB_POLL = "logs-archive-job-poll"
ARCHIVE_JOB_BOX = "logs-archive-job-box"
ARCHIVE_JOB_LABEL = "logs-archive-job-label"
ARCHIVE_JOB_PROGRESS = "logs-archive-job-progress"
ARCHIVE_JOB_CANCEL = "logs-archive-job-cancel"
ARCHIVE_CONFIRM = "logs-archive-confirm"  # dcc.ConfirmDialog before deleting hot rows
ARCHIVE_PENDING = "logs-archive-pending"  # dcc.Store: the archive id waiting for that confirmation
