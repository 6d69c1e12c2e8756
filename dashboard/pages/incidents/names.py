"""Component ids of the Incidents page (all prefixed ``incidents-``)."""

from __future__ import annotations

LOCATION = "incidents-location"  # mirrors the list filters in the URL
NAV = "incidents-nav"  # navigates: a row or a new incident opens its view

# the list
FILTER_STATUS = "incidents-filter-status"
FILTER_SEVERITY = "incidents-filter-severity"
FILTER_TARGET = "incidents-filter-target"
FILTER_SINCE = "incidents-filter-since"
GRID = "incidents-grid"
LIST_STATUS = "incidents-list-status"
RESPONSE_TIMES = "incidents-response-times"

# the create form
NEW_TOGGLE = "incidents-new-toggle"
NEW_COLLAPSE = "incidents-new-collapse"
NEW_TITLE = "incidents-new-title"
NEW_SEVERITY = "incidents-new-severity"
NEW_TARGETS = "incidents-new-targets"
NEW_OWNER = "incidents-new-owner"
NEW_IMPACT = "incidents-new-impact"
NEW_DESCRIPTION = "incidents-new-description"
NEW_SUBMIT = "incidents-new-submit"
NEW_RESULT = "incidents-new-result"

# one incident
INCIDENT_ID = "incidents-id"
VERSION = "incidents-version"
HEADER = "incidents-header"
TIMES = "incidents-times"
MOVE = "incidents-move"  # pattern type: {"type": MOVE, "status": ...}
MOVE_NOTE = "incidents-move-note"
TAKE_OWNERSHIP = "incidents-take-ownership"
MOVE_RESULT = "incidents-move-result"
STATUS_HINT = "incidents-status-hint"
REOPEN_BOX = "incidents-reopen-box"
REOPEN_REASON = "incidents-reopen-reason"
REOPEN_SUBMIT = "incidents-reopen-submit"

EDIT_TITLE = "incidents-edit-title"
EDIT_SEVERITY = "incidents-edit-severity"
EDIT_OWNER = "incidents-edit-owner"
EDIT_TARGETS = "incidents-edit-targets"
EDIT_IMPACT = "incidents-edit-impact"
EDIT_DESCRIPTION = "incidents-edit-description"
EDIT_SUBMIT = "incidents-edit-submit"
EDIT_RESULT = "incidents-edit-result"

TIMELINE = "incidents-timeline"
COMMENT_BODY = "incidents-comment-body"
COMMENT_SUBMIT = "incidents-comment-submit"
COMMENT_RESULT = "incidents-comment-result"

POSTMORTEM_TEXT = "incidents-postmortem-text"
POSTMORTEM_PREVIEW = "incidents-postmortem-preview"
POSTMORTEM_SAVE = "incidents-postmortem-save"
POSTMORTEM_RESULT = "incidents-postmortem-result"
POSTMORTEM_DOWNLOAD_BUTTON = "incidents-postmortem-download-button"
POSTMORTEM_DOWNLOAD = "incidents-postmortem-download"

ALERTS = "incidents-alerts"

# the Overview panel
OVERVIEW_PANEL = "incidents-overview-panel"
