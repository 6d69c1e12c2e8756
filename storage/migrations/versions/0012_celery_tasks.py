"""celery tasks: the Queue page's recent tasks, one row per (broker, task id)

Revision ID: 0012
Revises: 0011

A new table only, so the migration is instant on any store.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "celery_tasks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("broker", sa.String(length=191), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("worker", sa.String(length=191), nullable=True),
        sa.Column("args", sa.Text(), nullable=True),
        sa.Column("kwargs", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column(
            "runtime",
            sa.Float(precision=53).with_variant(mysql.DOUBLE(asdecimal=False), "mysql"),
            nullable=True,
        ),
        sa.Column("retries", sa.Integer(), nullable=True),
        sa.Column("exception", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_celery_tasks")),
        sa.UniqueConstraint("broker", "task_id", name=op.f("uq_celery_tasks_broker_task_id")),
    )
    with op.batch_alter_table("celery_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_celery_tasks_broker_updated_at"), ["broker", "updated_at"])


def downgrade() -> None:
    with op.batch_alter_table("celery_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_celery_tasks_broker_updated_at"))
    op.drop_table("celery_tasks")
