"""The whole Vitals schema as SQLAlchemy Core tables.

Alembic migrations are the source of truth for the database; these definitions are what the code
queries with and what autogenerate compares against. Time series use a narrow TSDB layout
(``series`` + ``samples``); everything else is a small event or control table.

Timestamps in the time-series tables are integer epoch milliseconds, so bucketing is integer
arithmetic that behaves the same on SQLite and MySQL. Event tables use UTC DATETIMEs.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql

# Constraint names that are stable across dialects, so migrations can refer to them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BIGINT on MySQL, INTEGER on SQLite (where only "INTEGER PRIMARY KEY" is the rowid alias).
Id = BigInteger().with_variant(Integer(), "sqlite")
# Long text: MEDIUMTEXT on MySQL so query samples and log lines over 64 KiB fit.
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql")
# Epoch milliseconds.
Millis = BigInteger
# DOUBLE on MySQL (FLOAT there is 4 bytes); REAL on SQLite.
Value = Float(precision=53).with_variant(mysql.DOUBLE(asdecimal=False), "mysql")
# Event time, always UTC.
UtcTime = DateTime(timezone=False)
Json = JSON().with_variant(mysql.JSON(), "mysql")

# --- time series -------------------------------------------------------------------------------

series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("metric", String(191), nullable=False),
    Column("host", String(191), nullable=False),
    Column("labels", Json, nullable=False),
    # sha1 of the canonical labels JSON: JSON columns cannot be part of a unique key.
    Column("labels_hash", String(40), nullable=False),
    Column("unit", String(32), nullable=False, server_default=""),
    Column("created_at", UtcTime, nullable=False),
    UniqueConstraint("metric", "host", "labels_hash"),
    Index(None, "host"),
)

samples = Table(
    "samples",
    metadata,
    Column("series_id", Integer, ForeignKey("series.id", ondelete="CASCADE"), primary_key=True),
    Column("ts", Millis, primary_key=True, autoincrement=False),
    Column("value", Value, nullable=False),
    sqlite_with_rowid=False,
)


def _rollup_table(name: str) -> Table:
    """A rollup tier: one row per series and bucket, enough to answer mean/min/max/sum/count/last."""
    return Table(
        name,
        metadata,
        Column("series_id", Integer, ForeignKey("series.id", ondelete="CASCADE"), primary_key=True),
        Column("bucket", Millis, primary_key=True, autoincrement=False),
        Column("count", Integer, nullable=False),
        Column("sum", Value, nullable=False),
        Column("min", Value, nullable=False),
        Column("max", Value, nullable=False),
        Column("last", Value, nullable=False),
        Column("last_ts", Millis, nullable=False),
        sqlite_with_rowid=False,
    )


rollup_1m = _rollup_table("rollup_1m")
# Between the two, so a week at 5-15 minutes reads a fifth of the minute rows (migration 0011).
rollup_5m = _rollup_table("rollup_5m")
rollup_1h = _rollup_table("rollup_1h")

# Where each rollup job got to, per tier: incremental maintenance resumes from here.
rollup_state = Table(
    "rollup_state",
    metadata,
    Column("tier", String(16), primary_key=True),
    Column("watermark_ts", Millis, nullable=False),
    Column("updated_at", UtcTime, nullable=False),
)

# --- database monitoring -----------------------------------------------------------------------

query_digests = Table(
    "query_digests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("target", String(191), nullable=False),
    Column("schema_name", String(191), nullable=True),
    Column("digest", String(64), nullable=False),
    Column("digest_text", LongText, nullable=False),
    Column("sample_query", LongText, nullable=True),
    Column("first_seen", UtcTime, nullable=True),
    Column("last_seen", UtcTime, nullable=True),
    Column("explain_json", LongText, nullable=True),
    UniqueConstraint("target", "digest", "schema_name"),
)

# Cumulative counters per digest at each collection; deltas give per-interval rates and p95 trends.
query_digest_snapshots = Table(
    "query_digest_snapshots",
    metadata,
    Column("digest_id", Id, ForeignKey("query_digests.id", ondelete="CASCADE"), primary_key=True),
    Column("ts", Millis, primary_key=True, autoincrement=False),
    Column("exec_count", BigInteger, nullable=False),
    Column("total_latency_ms", Value, nullable=False),
    Column("max_latency_ms", Value, nullable=False),
    Column("rows_examined", BigInteger, nullable=False),
    Column("rows_sent", BigInteger, nullable=False),
)

deadlocks = Table(
    "deadlocks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("target", String(191), nullable=False),
    Column("detected_at", UtcTime, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("victim", String(64), nullable=True),
    Column("transactions", Json, nullable=False),
    Column("raw_text", LongText, nullable=False),
    UniqueConstraint("target", "fingerprint"),
)

replication_status = Table(
    "replication_status",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("target", String(191), nullable=False),
    Column("ts", UtcTime, nullable=False),
    Column("configured", Boolean, nullable=False),
    Column("lag_seconds", Value, nullable=True),
    Column("io_running", String(16), nullable=True),
    Column("sql_running", String(16), nullable=True),
    Column("last_error", Text, nullable=True),
    Index(None, "target", "ts"),
)

# --- cache -------------------------------------------------------------------------------------

cache_stats = Table(
    "cache_stats",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("target", String(191), nullable=False),
    Column("ts", UtcTime, nullable=False),
    Column("maxmemory_policy", String(32), nullable=True),
    Column("keys_per_db", Json, nullable=True),
    Column("info", Json, nullable=True),
    Index(None, "target", "ts"),
)

# Clears, evictions and policy changes made through Vitals (who did it is in the audit log too).
cache_actions = Table(
    "cache_actions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("target", String(191), nullable=False),
    Column("ts", UtcTime, nullable=False),
    Column("action", String(32), nullable=False),
    Column("pattern", String(512), nullable=True),
    Column("keys_affected", Integer, nullable=True),
    Column("username", String(64), nullable=True),
    Column("detail", Json, nullable=True),
    Index(None, "target", "ts"),
)

# Background jobs of the Cache page (clears, keyspace summaries): progress, cancel and the outcome,
# shared by the web process and the Celery worker that runs them. ``active_key`` is set while a
# clear runs ("<target>/clear") and unique, so two clears of one target cannot start at once.
cache_jobs = Table(
    "cache_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("target", String(191), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("username", String(64), nullable=True),
    Column("created_at", UtcTime, nullable=False),
    Column("updated_at", UtcTime, nullable=False),
    Column("params", Json, nullable=True),
    Column("progress", Json, nullable=True),
    Column("result", Json, nullable=True),
    Column("error", Text, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("active_key", String(191), nullable=True),
    UniqueConstraint("active_key"),
    Index(None, "target", "created_at"),
)

# Eviction rules edited on the Cache page (off until enabled): when ``target``'s memory passes
# ``above_percent`` of maxmemory, remove keys matching ``pattern``, least recently used first, down to
# ``down_to_percent``. ``last_result`` is the newest scheduled run's report.
cache_eviction_rules = Table(
    "cache_eviction_rules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("target", String(191), nullable=False),
    Column("db", Integer, nullable=False, default=0),
    Column("pattern", String(512), nullable=False),
    Column("above_percent", Value, nullable=False),
    Column("down_to_percent", Value, nullable=False),
    Column("max_keys", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False, default=False),
    Column("created_by", String(64), nullable=True),
    Column("updated_by", String(64), nullable=True),
    Column("created_at", UtcTime, nullable=False),
    Column("updated_at", UtcTime, nullable=False),
    Column("last_run_at", UtcTime, nullable=True),
    Column("last_result", Json, nullable=True),
    Index(None, "target"),
)

redis_slowlog = Table(
    "redis_slowlog",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("target", String(191), nullable=False),
    Column("entry_id", BigInteger, nullable=False),
    Column("ts", UtcTime, nullable=False),
    Column("duration_us", BigInteger, nullable=False),
    Column("command", Text, nullable=False),
    Column("client", String(191), nullable=True),
    UniqueConstraint("target", "entry_id"),
)

# --- logs --------------------------------------------------------------------------------------

log_entries = Table(
    "log_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ts", Millis, nullable=False),
    Column("host", String(191), nullable=False),
    Column("source", String(255), nullable=False),
    Column("level", String(16), nullable=False),
    Column("channel", String(191), nullable=True),
    Column("message", LongText, nullable=False),
    Column("context", Json, nullable=True),
    Column("request_id", String(64), nullable=True),
    # Where the entry starts in its file (inode + byte offset): context lines come in file order.
    Column("file_inode", BigInteger, nullable=True),
    Column("file_offset", BigInteger, nullable=True),
    Index(None, "ts"),
    Index(None, "level", "ts"),
    Index(None, "request_id"),
    Index(None, "host", "source", "file_inode", "file_offset"),
)

log_archives = Table(
    "log_archives",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("created_at", UtcTime, nullable=False),
    Column("from_ts", Millis, nullable=False),
    Column("to_ts", Millis, nullable=False),
    Column("path", String(1024), nullable=False),
    Column("entries", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=True),
    Column("filters", Json, nullable=True),  # the search criteria the archive was made with
    Column(
        "status", String(16), nullable=False, server_default="written"
    ),  # written|verified|corrupt|missing
    Column("verified_at", UtcTime, nullable=True),
    Column("hot_deleted_at", UtcTime, nullable=True),  # when its rows left the hot table
    Column("created_by", String(191), nullable=True),
)

# Background archive, restore and hot-row delete jobs of the Logs page: the row is the job's whole
# state (progress, cancel flag, outcome), so the web process and a Celery worker share it.
log_jobs = Table(
    "log_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  # archive|restore|delete_hot
    Column("status", String(16), nullable=False),  # queued|running|done|cancelled|failed
    Column("username", String(64), nullable=True),
    Column("archive_id", BigInteger, nullable=True),  # the archive restored/thinned, or written
    Column("created_at", UtcTime, nullable=False),
    Column("updated_at", UtcTime, nullable=False),
    Column("params", Json, nullable=True),
    Column("progress", Json, nullable=True),
    Column("result", Json, nullable=True),
    Column("error", Text, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Index(None, "created_at"),
)

# Entries per 10-minute bucket, host, source and level, kept in step by the write path, archive
# deletes and restores: the level histogram over days sums these instead of counting every row.
log_counts = Table(
    "log_counts",
    metadata,
    Column("bucket", Millis, primary_key=True),
    Column("host", String(191), primary_key=True),
    Column("source", String(255), primary_key=True),
    Column("level", String(16), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

# (inode, offset) per tailed file: rotation and restarts neither lose nor duplicate lines.
log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("path", String(512), primary_key=True),
    Column("host", String(191), primary_key=True),
    Column("inode", BigInteger, nullable=False),
    Column("offset", BigInteger, nullable=False),
    # A hash of the file's first bytes (up to 1 KiB, never past offset): tells a file truncated and
    # rewritten from the same file grown, and finds a copytruncate copy. "" = not known.
    Column("head", String(64), nullable=False, server_default=""),
    Column("updated_at", UtcTime, nullable=False),
)

# --- alerting ----------------------------------------------------------------------------------

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(191), nullable=False, unique=True),
    Column("metric", String(191), nullable=False),
    Column("labels", Json, nullable=True),
    Column("condition", String(8), nullable=False),
    Column("threshold", Value, nullable=False),
    Column("aggregation", String(16), nullable=False, server_default="mean"),
    Column("window_seconds", Integer, nullable=False, server_default="300"),
    Column("for_seconds", Integer, nullable=False, server_default="0"),
    Column("severity", String(16), nullable=False, server_default="warning"),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    Column("channels", Json, nullable=True),
    Column("created_at", UtcTime, nullable=False),
    Column("updated_at", UtcTime, nullable=False),
    # Added by migration 0006 (alerts): the rest of a Prometheus/Grafana-style rule.
    Column("host", String(191), nullable=True),
    Column("threshold2", Value, nullable=True),
    Column("keep_firing_seconds", Integer, nullable=False, server_default="0"),
    Column("repeat_seconds", Integer, nullable=False, server_default="900"),
    Column("category", String(32), nullable=False, server_default="general"),
    Column("no_data", String(16), nullable=False, server_default="ok"),
    Column("alert_labels", Json, nullable=True),
    Column("annotations", Json, nullable=True),
    Column("default_key", String(64), nullable=True),
    Column("updated_by", String(64), nullable=True),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("rule_id", Id, ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False),
    Column("series_id", Integer, ForeignKey("series.id", ondelete="SET NULL"), nullable=True),
    Column("state", String(16), nullable=False),
    Column("value", Value, nullable=True),
    Column("started_at", UtcTime, nullable=False),
    Column("resolved_at", UtcTime, nullable=True),
    Column("acknowledged_by", String(64), nullable=True),
    Column("acknowledged_at", UtcTime, nullable=True),
    Column("summary", Text, nullable=True),
    # Added by migration 0006 (alerts). ``open_key`` is "rule:series" while the alert is open and
    # NULL once closed: the unique key makes "one open alert per (rule, series)" hold in the database.
    Column("open_key", String(191), nullable=True),
    Column("series_key", String(191), nullable=False, server_default=""),
    Column("host", String(191), nullable=True),
    Column("labels", Json, nullable=True),
    Column("firing_at", UtcTime, nullable=True),
    Column("last_eval_at", UtcTime, nullable=True),
    Column("last_true_at", UtcTime, nullable=True),
    Column("last_notified_at", UtcTime, nullable=True),
    Column("notifications", Integer, nullable=False, server_default="0"),
    Column("ack_comment", Text, nullable=True),
    Column("resolved_by", String(64), nullable=True),
    Index(None, "state", "started_at"),
    UniqueConstraint("open_key"),
    Index(None, "rule_id", "started_at"),
)

alert_state_history = Table(
    "alert_state_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", Id, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("ts", UtcTime, nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("value", Value, nullable=True),
    Column("note", Text, nullable=True),
    Index(None, "alert_id", "ts"),
)

notification_channels = Table(
    "notification_channels",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(191), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    # Secrets (webhook tokens, SMTP passwords) live here and are never sent back to a browser.
    Column("config", Json, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    Column("created_at", UtcTime, nullable=False),
    # Added by migration 0006: the secret part (signing key, Slack/Apprise URL, SMTP password) as a
    # Fernet token; ``secret_hint`` is what the UI may show (the last 4 characters).
    Column("secret_enc", Text, nullable=True),
    Column("secret_hint", String(16), nullable=True),
)

notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel_id", Id, ForeignKey("notification_channels.id", ondelete="CASCADE"), nullable=False),
    Column("alert_id", Id, ForeignKey("alerts.id", ondelete="SET NULL"), nullable=True),
    Column("ts", UtcTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("response", Text, nullable=True),
    Index(None, "channel_id", "ts"),
    # Added by migration 0006: one row per attempt of one outbox message.
    Column("message_id", Id, ForeignKey("notification_outbox.id", ondelete="CASCADE"), nullable=True),
    Column("event", String(16), nullable=True),
    Column("status_code", Integer, nullable=True),
    Column("duration_ms", Value, nullable=True),
)

# Added by migration 0006: notifications waiting to be sent (grouping wait, retries with backoff).
notification_outbox = Table(
    "notification_outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel_id", Id, ForeignKey("notification_channels.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(16), nullable=False),
    Column("alert_ids", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("due_at", UtcTime, nullable=False),
    Column("created_at", UtcTime, nullable=False),
    Column("sent_at", UtcTime, nullable=True),
    Column("payload", Json, nullable=True),
    Index(None, "status", "due_at"),
)

# Added by migration 0006: silences and recurring maintenance windows.
silences = Table(
    "silences",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("matchers", Json, nullable=False),
    Column("starts_at", UtcTime, nullable=True),
    Column("ends_at", UtcTime, nullable=True),
    Column("cron", String(128), nullable=True),
    Column("duration_seconds", Integer, nullable=True),
    Column("comment", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcTime, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default="1"),
)

# Added by migration 0006: small engine facts (e.g. that the default rules were installed once).
alert_meta = Table(
    "alert_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# --- incidents ---------------------------------------------------------------------------------

incidents = Table(
    "incidents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("title", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("opened_by", String(64), nullable=True),
    Column("opened_at", UtcTime, nullable=False),
    Column("resolved_at", UtcTime, nullable=True),
    Column("summary", Text, nullable=True),  # the description
    Index(None, "status", "opened_at"),
    # Migration 0007: who owns it, what it hits, where it came from, and the times kept apart.
    Column("owner", String(64), nullable=True),
    Column("targets", Json, nullable=True),  # affected target names, a JSON list
    Column("source", String(16), nullable=False, server_default="manual"),  # manual | alert | auto
    Column("impact_started_at", UtcTime, nullable=True),
    Column("detected_at", UtcTime, nullable=True),
    Column("acknowledged_at", UtcTime, nullable=True),
    Column("mitigated_at", UtcTime, nullable=True),
    Column("postmortem", LongText, nullable=True),
    Column("updated_at", UtcTime, nullable=True),
)

incident_events = Table(
    "incident_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("ts", UtcTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("username", String(64), nullable=True),
    Column("body", Text, nullable=True),
    Column("alert_id", Id, ForeignKey("alerts.id", ondelete="SET NULL"), nullable=True),
    Index(None, "incident_id", "ts"),
    # Migration 0007: the delivery a "notification" entry reports, so it is written once.
    Column("delivery_id", Id, ForeignKey("notification_deliveries.id", ondelete="SET NULL"), nullable=True),
)

# An alert belongs to at most one incident (migration 0007).
incident_alerts = Table(
    "incident_alerts",
    metadata,
    Column("incident_id", Id, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("alert_id", Id, ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True),
    Column("target", String(191), nullable=True),
    Column("linked_by", String(64), nullable=True),
    Column("linked_at", UtcTime, nullable=False),
    UniqueConstraint("alert_id"),
)

# --- health checks -----------------------------------------------------------------------------

health_checks = Table(
    "health_checks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(191), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("target", String(1024), nullable=True),
    Column("critical", Boolean, nullable=False, server_default="1"),
    Column("warn_ms", Integer, nullable=True),
    Column("fail_ms", Integer, nullable=True),
    Column("fail_after", Integer, nullable=False, server_default="1"),
    Column("enabled", Boolean, nullable=False, server_default="1"),
)

health_check_results = Table(
    "health_check_results",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("check_id", Id, ForeignKey("health_checks.id", ondelete="CASCADE"), nullable=False),
    Column("ts", UtcTime, nullable=False),
    Column("status", String(8), nullable=False),
    Column("response_ms", Value, nullable=True),
    Column("message", Text, nullable=True),
    Index(None, "check_id", "ts"),
)

# --- configuration, users, audit ---------------------------------------------------------------

system_config = Table(
    "system_config",
    metadata,
    Column("key", String(191), primary_key=True),
    Column("value", Json, nullable=False),
    Column("updated_by", String(64), nullable=True),
    Column("updated_at", UtcTime, nullable=False),
)

system_config_history = Table(
    "system_config_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(191), nullable=False),
    Column("old_value", Json, nullable=True),
    Column("new_value", Json, nullable=True),
    Column("changed_by", String(64), nullable=True),
    Column("changed_at", UtcTime, nullable=False),
    Index(None, "key", "changed_at"),
)

# Monitored targets added on the Settings page (config section); ``secret`` is the Fernet token of
# the full URL or path, ``shown`` its masked form (the only one ever displayed).
monitored_targets = Table(
    "monitored_targets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    Column("secret", Text, nullable=False),
    Column("shown", String(2048), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    Column("origin", String(16), nullable=False, server_default="manual"),
    Column("created_by", String(64), nullable=True),
    Column("created_at", UtcTime, nullable=False),
    Column("updated_by", String(64), nullable=True),
    Column("updated_at", UtcTime, nullable=False),
    UniqueConstraint("kind", "name"),
)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", UtcTime, nullable=False),
    Column("last_login_at", UtcTime, nullable=True),
    # Added in migration 0010: raised on every password, role or enabled change; a session carries the
    # epoch it was made at, so an older one is refused on its next request.
    Column("session_epoch", Integer, nullable=False, server_default="0"),
    Column("password_changed_at", UtcTime, nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ts", UtcTime, nullable=False),
    Column("username", String(64), nullable=True),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=True),
    Column("before", Json, nullable=True),
    Column("after", Json, nullable=True),
    Column("outcome", String(16), nullable=False, server_default="ok"),
    Index(None, "ts"),
)

# --- added in migration 0002 -------------------------------------------------------------------

# Late or replayed samples older than a tier's watermark: the rollup job recomputes from here.
rollup_dirty = Table(
    "rollup_dirty",
    metadata,
    Column("series_id", Integer, ForeignKey("series.id", ondelete="CASCADE"), primary_key=True),
    Column("from_ts", Millis, nullable=False),
)

# Tokens for API clients. Only a SHA-256 of the token is kept; the token is shown once.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(191), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("username", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UtcTime, nullable=False),
    Column("last_used_at", UtcTime, nullable=True),
    Column("revoked_at", UtcTime, nullable=True),
)

# --- added in migration 0012 -------------------------------------------------------------------

# Recent Celery tasks from task events, one row per (broker, task id): the Queue page's table. Kept to
# the newest rows per broker (storage.queue.KEEP_TASKS); counts over time are samples, not rows here.
celery_tasks = Table(
    "celery_tasks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("broker", String(191), nullable=False),
    Column("task_id", String(64), nullable=False),
    Column("name", String(255), nullable=True),
    Column("state", String(16), nullable=False),
    Column("worker", String(191), nullable=True),
    Column("args", Text, nullable=True),
    Column("kwargs", Text, nullable=True),
    Column("received_at", UtcTime, nullable=True),
    Column("started_at", UtcTime, nullable=True),
    Column("finished_at", UtcTime, nullable=True),
    Column("runtime", Value, nullable=True),
    Column("retries", Integer, nullable=True),
    Column("exception", Text, nullable=True),
    Column("traceback", LongText, nullable=True),
    Column("updated_at", UtcTime, nullable=False),
    UniqueConstraint("broker", "task_id"),
    Index(None, "broker", "updated_at"),
)
