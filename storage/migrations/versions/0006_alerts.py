"""alerts section tables: full rules, open-alert state, silences, notification outbox

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_VALUE = sa.Float(precision=53).with_variant(mysql.DOUBLE(asdecimal=False), "mysql")
_JSON = sa.JSON().with_variant(mysql.JSON(), "mysql")


def upgrade() -> None:
    with op.batch_alter_table("alert_rules") as batch:
        batch.add_column(sa.Column("host", sa.String(191), nullable=True))
        batch.add_column(sa.Column("threshold2", _VALUE, nullable=True))
        batch.add_column(sa.Column("keep_firing_seconds", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("repeat_seconds", sa.Integer(), nullable=False, server_default="900"))
        batch.add_column(sa.Column("category", sa.String(32), nullable=False, server_default="general"))
        batch.add_column(sa.Column("no_data", sa.String(16), nullable=False, server_default="ok"))
        batch.add_column(sa.Column("alert_labels", _JSON, nullable=True))
        batch.add_column(sa.Column("annotations", _JSON, nullable=True))
        batch.add_column(sa.Column("default_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("updated_by", sa.String(64), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("open_key", sa.String(191), nullable=True))
        batch.add_column(sa.Column("series_key", sa.String(191), nullable=False, server_default=""))
        batch.add_column(sa.Column("host", sa.String(191), nullable=True))
        batch.add_column(sa.Column("labels", _JSON, nullable=True))
        batch.add_column(sa.Column("firing_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("last_eval_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("last_true_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("last_notified_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("notifications", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("ack_comment", sa.Text(), nullable=True))
        batch.add_column(sa.Column("resolved_by", sa.String(64), nullable=True))
        batch.create_unique_constraint(op.f("uq_alerts_open_key"), ["open_key"])
        batch.create_index(op.f("ix_alerts_rule_id_started_at"), ["rule_id", "started_at"])
    with op.batch_alter_table("notification_channels") as batch:
        batch.add_column(sa.Column("secret_enc", sa.Text(), nullable=True))
        batch.add_column(sa.Column("secret_hint", sa.String(16), nullable=True))
    op.create_table(
        "notification_outbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("alert_ids", _JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("payload", _JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notification_channels.id"],
            name=op.f("fk_notification_outbox_channel_id_notification_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
    )
    op.create_index(op.f("ix_notification_outbox_status_due_at"), "notification_outbox", ["status", "due_at"])
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.add_column(sa.Column("message_id", _ID, nullable=True))
        batch.add_column(sa.Column("event", sa.String(16), nullable=True))
        batch.add_column(sa.Column("status_code", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("duration_ms", _VALUE, nullable=True))
        batch.create_foreign_key(
            op.f("fk_notification_deliveries_message_id_notification_outbox"),
            "notification_outbox",
            ["message_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_table(
        "silences",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("matchers", _JSON, nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=True),
        sa.Column("ends_at", sa.DateTime(), nullable=True),
        sa.Column("cron", sa.String(128), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    op.create_table(
        "alert_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_alert_meta")),
    )


def downgrade() -> None:
    op.drop_table("alert_meta")
    op.drop_table("silences")
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.drop_constraint(
            op.f("fk_notification_deliveries_message_id_notification_outbox"), type_="foreignkey"
        )
        for name in ("duration_ms", "status_code", "event", "message_id"):
            batch.drop_column(name)
    op.drop_index(op.f("ix_notification_outbox_status_due_at"), table_name="notification_outbox")
    op.drop_table("notification_outbox")
    with op.batch_alter_table("notification_channels") as batch:
        batch.drop_column("secret_hint")
        batch.drop_column("secret_enc")
    with op.batch_alter_table("alerts") as batch:
        # MariaDB adopted this index for the rule_id foreign key (it dropped its own): it stays there.
        if op.get_context().dialect.name != "mysql":
            batch.drop_index(op.f("ix_alerts_rule_id_started_at"))
        batch.drop_constraint(op.f("uq_alerts_open_key"), type_="unique")
        for name in (
            "resolved_by",
            "ack_comment",
            "notifications",
            "last_notified_at",
            "last_true_at",
            "last_eval_at",
            "firing_at",
            "labels",
            "host",
            "series_key",
            "open_key",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("alert_rules") as batch:
        for name in (
            "updated_by",
            "default_key",
            "annotations",
            "alert_labels",
            "no_data",
            "category",
            "repeat_seconds",
            "keep_firing_seconds",
            "threshold2",
            "host",
        ):
            batch.drop_column(name)
