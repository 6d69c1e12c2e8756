"""Component ids of the Settings page (prefixed ``settings-``); pattern-matching types are dict ids."""

from __future__ import annotations

# environment, tiers, users, audit (kept from the first Settings page: tests and links use them)
ENV_TABLE = "settings-config"
TIERS_TABLE = "settings-tiers"
USERS_TABLE = "settings-users"
AUDIT_TABLE = "settings-audit"
NEW_USERNAME = "settings-new-username"
NEW_PASSWORD = "settings-new-password"
NEW_ROLE = "settings-new-role"
CREATE_USER = "settings-create-user"
CREATE_RESULT = "settings-create-result"
USERNAME_FEEDBACK = "settings-username-feedback"
PASSWORD_FEEDBACK = "settings-password-feedback"

# typed configuration form: one of each per key, {"type": ..., "key": "<config key>"}
CONFIG_VALUE = "settings-config-value"
CONFIG_FEEDBACK = "settings-config-feedback"
CONFIG_RESET = "settings-config-reset"
CONFIG_SOURCE = "settings-config-source"
CONFIG_SAVE = "settings-config-save"
CONFIG_RESULT = "settings-config-result"
CONFIG_HISTORY = "settings-config-history"
CONFIG_FORM = "settings-config-form"

# monitored targets
TARGETS_LIST = "settings-targets"
TARGET_KIND = "settings-target-kind"
TARGET_NAME = "settings-target-name"
TARGET_URL = "settings-target-url"
TARGET_NAME_FEEDBACK = "settings-target-name-feedback"
TARGET_URL_FEEDBACK = "settings-target-url-feedback"
TARGET_EDITING = "settings-target-editing"  # dcc.Store: id of the stored target being edited, or None
TARGET_FORM_TITLE = "settings-target-form-title"
TARGET_TEST = "settings-target-test"
TARGET_SAVE = "settings-target-save"
TARGET_CANCEL = "settings-target-cancel"
TARGET_RESULT = "settings-target-result"
TARGET_TEST_RESULT = "settings-target-test-result"
TARGET_REMOVE_CONFIRM = "settings-target-remove-confirm"
TARGET_REMOVING = "settings-target-removing"  # dcc.Store: id waiting for the confirmation
# per stored target row: {"type": ..., "target": <id>}
ROW_TEST = "settings-target-row-test"
ROW_EDIT = "settings-target-row-edit"
ROW_TOGGLE = "settings-target-row-toggle"
ROW_REMOVE = "settings-target-row-remove"
ROW_VERDICT = "settings-target-row-verdict"

# first-run discovery: {"type": DISCOVER_WATCH, "kind": "mysql"}
DISCOVERED = "settings-discovered"
DISCOVER_WATCH = "settings-discover-watch"
DISCOVER_RESULT = "settings-discover-result"
