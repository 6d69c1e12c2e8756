"""incidents config section tables

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.dialects.mysql
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _upgrade_incidents()
    _upgrade_config()


def downgrade() -> None:
    _downgrade_config()
    _downgrade_incidents()


# -- incidents: owner, targets, times kept apart, postmortem, alert links; the new status flow ------

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_LongText = sa.Text().with_variant(sa.dialects.mysql.MEDIUMTEXT(), "mysql")
_Json = sa.JSON().with_variant(sa.dialects.mysql.JSON(), "mysql")
# Old status -> the flow investigating -> identified -> monitoring -> resolved.
_STATUS_MAP = {"open": "investigating", "mitigated": "monitoring"}


def _upgrade_incidents() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("targets", _Json, nullable=True))
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), server_default="manual", nullable=False)
        )
        for name in ("impact_started_at", "detected_at", "acknowledged_at", "mitigated_at"):
            batch_op.add_column(sa.Column(name, sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("postmortem", _LongText, nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
    incidents = sa.table(
        "incidents",
        sa.column("status"),
        sa.column("opened_at"),
        sa.column("detected_at"),
        sa.column("mitigated_at"),
    )
    op.execute(incidents.update().values(detected_at=incidents.c.opened_at))
    op.execute(
        incidents.update().where(incidents.c.status == "mitigated").values(mitigated_at=incidents.c.opened_at)
    )
    for old, new in _STATUS_MAP.items():
        op.execute(incidents.update().where(incidents.c.status == old).values(status=new))
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_id", _Id, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_incident_events_delivery_id_notification_deliveries"),
            "notification_deliveries",
            ["delivery_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "incident_alerts",
        sa.Column("incident_id", _Id, nullable=False),
        sa.Column("alert_id", _Id, nullable=False),
        sa.Column("target", sa.String(length=191), nullable=True),
        sa.Column("linked_by", sa.String(length=64), nullable=True),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_incident_alerts_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_alerts_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "alert_id", name=op.f("pk_incident_alerts")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_incident_alerts_alert_id")),
    )


def _downgrade_incidents() -> None:
    op.drop_table("incident_alerts")
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_incident_events_delivery_id_notification_deliveries"), type_="foreignkey"
        )
        batch_op.drop_column("delivery_id")
    incidents = sa.table("incidents", sa.column("status"))
    # "investigating" existed before; the two new statuses fold back into the old flow.
    op.execute(incidents.update().where(incidents.c.status == "monitoring").values(status="mitigated"))
    op.execute(incidents.update().where(incidents.c.status == "identified").values(status="investigating"))
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        for name in (
            "updated_at", "postmortem", "mitigated_at", "acknowledged_at", "detected_at",
            "impact_started_at", "source", "targets", "owner",
        ):  # fmt: skip
            batch_op.drop_column(name)


# -- config: monitored targets added on the Settings page (URL encrypted; see storage/secrets.py) ---


def _upgrade_config() -> None:
    op.create_table(
        "monitored_targets",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("shown", sa.String(length=2048), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("origin", sa.String(length=16), server_default="manual", nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitored_targets")),
        sa.UniqueConstraint("kind", "name", name=op.f("uq_monitored_targets_kind_name")),
    )


def _downgrade_config() -> None:
    op.drop_table("monitored_targets")
