"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 17:12:55.487057
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=191), nullable=False),
        sa.Column("metric", sa.String(length=191), nullable=False),
        sa.Column("labels", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.Column("condition", sa.String(length=8), nullable=False),
        sa.Column("threshold", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=False),
        sa.Column("aggregation", sa.String(length=16), server_default="mean", nullable=False),
        sa.Column("window_seconds", sa.Integer(), server_default="300", nullable=False),
        sa.Column("for_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column("severity", sa.String(length=16), server_default="warning", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("channels", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
        sa.UniqueConstraint("name", name=op.f("uq_alert_rules_name")),
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=True),
        sa.Column("before", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.Column("after", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.Column("outcome", sa.String(length=16), server_default="ok", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_ts"), ["ts"], unique=False)

    op.create_table(
        "cache_actions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("target", sa.String(length=191), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("pattern", sa.String(length=512), nullable=True),
        sa.Column("keys_affected", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_actions")),
    )
    op.create_table(
        "cache_stats",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("target", sa.String(length=191), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("maxmemory_policy", sa.String(length=32), nullable=True),
        sa.Column("keys_per_db", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.Column("info", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_stats")),
    )
    with op.batch_alter_table("cache_stats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cache_stats_target_ts"), ["target", "ts"], unique=False)

    op.create_table(
        "deadlocks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("target", sa.String(length=191), nullable=False),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("victim", sa.String(length=64), nullable=True),
        sa.Column("transactions", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=False),
        sa.Column("raw_text", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadlocks")),
        sa.UniqueConstraint("target", "fingerprint", name=op.f("uq_deadlocks_target_fingerprint")),
    )
    op.create_table(
        "health_checks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=191), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=1024), nullable=True),
        sa.Column("critical", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("warn_ms", sa.Integer(), nullable=True),
        sa.Column("fail_ms", sa.Integer(), nullable=True),
        sa.Column("fail_after", sa.Integer(), server_default="1", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_checks")),
        sa.UniqueConstraint("name", name=op.f("uq_health_checks_name")),
    )
    op.create_table(
        "incidents",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=True),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incidents_status_opened_at"), ["status", "opened_at"], unique=False
        )

    op.create_table(
        "log_archives",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("from_ts", sa.BigInteger(), nullable=False),
        sa.Column("to_ts", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_archives")),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("host", sa.String(length=191), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("path", "host", name=op.f("pk_log_checkpoints")),
    )
    op.create_table(
        "log_entries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("host", sa.String(length=191), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=191), nullable=True),
        sa.Column("message", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql"), nullable=False),
        sa.Column("context", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_entries")),
    )
    with op.batch_alter_table("log_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_log_entries_level_ts"), ["level", "ts"], unique=False)
        batch_op.create_index(batch_op.f("ix_log_entries_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_log_entries_ts"), ["ts"], unique=False)

    op.create_table(
        "notification_channels",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=191), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("config", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_channels")),
        sa.UniqueConstraint("name", name=op.f("uq_notification_channels_name")),
    )
    op.create_table(
        "query_digests",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("target", sa.String(length=191), nullable=False),
        sa.Column("schema_name", sa.String(length=191), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("digest_text", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql"), nullable=False),
        sa.Column("sample_query", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql"), nullable=True),
        sa.Column("first_seen", sa.DateTime(), nullable=True),
        sa.Column("last_seen", sa.DateTime(), nullable=True),
        sa.Column("explain_json", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_query_digests")),
        sa.UniqueConstraint(
            "target", "digest", "schema_name", name=op.f("uq_query_digests_target_digest_schema_name")
        ),
    )
    op.create_table(
        "redis_slowlog",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("target", sa.String(length=191), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("duration_us", sa.BigInteger(), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("client", sa.String(length=191), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redis_slowlog")),
        sa.UniqueConstraint("target", "entry_id", name=op.f("uq_redis_slowlog_target_entry_id")),
    )
    op.create_table(
        "replication_status",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("target", sa.String(length=191), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("configured", sa.Boolean(), nullable=False),
        sa.Column("lag_seconds", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=True),
        sa.Column("io_running", sa.String(length=16), nullable=True),
        sa.Column("sql_running", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replication_status")),
    )
    with op.batch_alter_table("replication_status", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_replication_status_target_ts"), ["target", "ts"], unique=False)

    op.create_table(
        "rollup_state",
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("watermark_ts", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tier", name=op.f("pk_rollup_state")),
    )
    op.create_table(
        "series",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("metric", sa.String(length=191), nullable=False),
        sa.Column("host", sa.String(length=191), nullable=False),
        sa.Column("labels", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=False),
        sa.Column("labels_hash", sa.String(length=40), nullable=False),
        sa.Column("unit", sa.String(length=32), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series")),
        sa.UniqueConstraint("metric", "host", "labels_hash", name=op.f("uq_series_metric_host_labels_hash")),
    )
    with op.batch_alter_table("series", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_series_host"), ["host"], unique=False)

    op.create_table(
        "system_config",
        sa.Column("key", sa.String(length=191), nullable=False),
        sa.Column("value", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_system_config")),
    )
    op.create_table(
        "system_config_history",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("key", sa.String(length=191), nullable=False),
        sa.Column("old_value", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.Column("new_value", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.Column("changed_by", sa.String(length=64), nullable=True),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_config_history")),
    )
    with op.batch_alter_table("system_config_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_system_config_history_key_changed_at"), ["key", "changed_at"], unique=False
        )

    op.create_table(
        "users",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "alerts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("rule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["alert_rules.id"], name=op.f("fk_alerts_rule_id_alert_rules"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["series_id"], ["series.id"], name=op.f("fk_alerts_series_id_series"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_state_started_at"), ["state", "started_at"], unique=False)

    op.create_table(
        "health_check_results",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("check_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("response_ms", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["health_checks.id"],
            name=op.f("fk_health_check_results_check_id_health_checks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_check_results")),
    )
    with op.batch_alter_table("health_check_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_health_check_results_check_id_ts"), ["check_id", "ts"], unique=False
        )

    op.create_table(
        "query_digest_snapshots",
        sa.Column("digest_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ts", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("exec_count", sa.BigInteger(), nullable=False),
        sa.Column(
            "total_latency_ms", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=False
        ),
        sa.Column(
            "max_latency_ms", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=False
        ),
        sa.Column("rows_examined", sa.BigInteger(), nullable=False),
        sa.Column("rows_sent", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest_id"],
            ["query_digests.id"],
            name=op.f("fk_query_digest_snapshots_digest_id_query_digests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest_id", "ts", name=op.f("pk_query_digest_snapshots")),
    )
    op.create_table(
        "rollup_1h",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("sum", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=False),
        sa.Column("min", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=False),
        sa.Column("max", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=False),
        sa.Column("last", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=False),
        sa.Column("last_ts", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"], ["series.id"], name=op.f("fk_rollup_1h_series_id_series"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("series_id", "bucket", name=op.f("pk_rollup_1h")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_1m",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("sum", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=False),
        sa.Column("min", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=False),
        sa.Column("max", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=False),
        sa.Column("last", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=False),
        sa.Column("last_ts", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"], ["series.id"], name=op.f("fk_rollup_1m_series_id_series"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("series_id", "bucket", name=op.f("pk_rollup_1m")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "samples",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"], ["series.id"], name=op.f("fk_samples_series_id_series"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("series_id", "ts", name=op.f("pk_samples")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "alert_state_history",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql"), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_state_history_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_state_history")),
    )
    with op.batch_alter_table("alert_state_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_state_history_alert_id_ts"), ["alert_id", "ts"], unique=False
        )

    op.create_table(
        "incident_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_incident_events_alert_id_alerts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_events_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
    )
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_events_incident_id_ts"), ["incident_id", "ts"], unique=False
        )

    op.create_table(
        "notification_deliveries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_notification_deliveries_alert_id_alerts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notification_channels.id"],
            name=op.f("fk_notification_deliveries_channel_id_notification_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
    )
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_deliveries_channel_id_ts"), ["channel_id", "ts"], unique=False
        )

    _create_log_fulltext()


def downgrade() -> None:
    _drop_log_fulltext()
    # Dropping a table drops its indexes; children go before the parents they reference.
    for table in [
        "notification_deliveries",
        "incident_events",
        "alert_state_history",
        "samples",
        "rollup_1m",
        "rollup_1h",
        "query_digest_snapshots",
        "health_check_results",
        "alerts",
        "users",
        "system_config_history",
        "system_config",
        "series",
        "rollup_state",
        "replication_status",
        "redis_slowlog",
        "query_digests",
        "notification_channels",
        "log_entries",
        "log_checkpoints",
        "log_archives",
        "incidents",
        "health_checks",
        "deadlocks",
        "cache_stats",
        "cache_actions",
        "audit_log",
        "alert_rules",
    ]:
        op.drop_table(table)


def _create_log_fulltext() -> None:
    """FTS5 on SQLite (kept in step by triggers), a FULLTEXT index on MySQL."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE log_entries_fts USING fts5("
            "message, content='log_entries', content_rowid='id')"
        )
        op.execute(
            "CREATE TRIGGER log_entries_ai AFTER INSERT ON log_entries BEGIN "
            "INSERT INTO log_entries_fts(rowid, message) VALUES (new.id, new.message); END"
        )
        op.execute(
            "CREATE TRIGGER log_entries_ad AFTER DELETE ON log_entries BEGIN "
            "INSERT INTO log_entries_fts(log_entries_fts, rowid, message) "
            "VALUES ('delete', old.id, old.message); END"
        )
    else:
        op.execute("CREATE FULLTEXT INDEX ft_log_entries_message ON log_entries (message)")


def _drop_log_fulltext() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS log_entries_ad")
        op.execute("DROP TRIGGER IF EXISTS log_entries_ai")
        op.execute("DROP TABLE IF EXISTS log_entries_fts")
    else:
        op.execute("DROP INDEX ft_log_entries_message ON log_entries")
