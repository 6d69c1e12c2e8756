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

# managing users (admin) and one's own password
MANAGE_USER = "settings-manage-user"
MANAGE_ROLE = "settings-manage-role"
MANAGE_SET_ROLE = "settings-manage-set-role"
MANAGE_DISABLE = "settings-manage-disable"
MANAGE_ENABLE = "settings-manage-enable"
MANAGE_PASSWORD = "settings-manage-password"
MANAGE_PASSWORD_FEEDBACK = "settings-manage-password-feedback"
MANAGE_RESET = "settings-manage-reset"
MANAGE_RESULT = "settings-manage-result"
OWN_CURRENT = "settings-own-current"
OWN_CURRENT_FEEDBACK = "settings-own-current-feedback"
OWN_NEW = "settings-own-new"
OWN_NEW_FEEDBACK = "settings-own-new-feedback"
OWN_REPEAT = "settings-own-repeat"
OWN_REPEAT_FEEDBACK = "settings-own-repeat-feedback"
OWN_SAVE = "settings-own-save"
OWN_RESULT = "settings-own-result"

# API tokens (admin): list and revoke (after a confirmation naming the token)
TOKENS_TABLE = "settings-tokens"
TOKEN_PICK = "settings-token-pick"
TOKEN_REVOKE = "settings-token-revoke"
TOKEN_CONFIRM = "settings-token-confirm"
TOKEN_RESULT = "settings-token-result"
