"""cache section tables: background jobs of the Cache page, and the history's (target, ts) index

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cache_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=191), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("params", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.Column("progress", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.Column("result", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("active_key", sa.String(length=191), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_jobs")),
        sa.UniqueConstraint("active_key", name=op.f("uq_cache_jobs_active_key")),
    )
    with op.batch_alter_table("cache_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cache_jobs_target_created_at"), ["target", "created_at"])
    with op.batch_alter_table("cache_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cache_actions_target_ts"), ["target", "ts"])


def downgrade() -> None:
    with op.batch_alter_table("cache_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cache_actions_target_ts"))
    with op.batch_alter_table("cache_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cache_jobs_target_created_at"))
    op.drop_table("cache_jobs")
