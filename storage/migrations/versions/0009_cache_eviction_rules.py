"""cache eviction rules: the Cache page's rule editor stores its rules here

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cache_eviction_rules",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("target", sa.String(length=191), nullable=False),
        sa.Column("db", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=512), nullable=False),
        sa.Column(
            "above_percent",
            sa.Float(precision=53).with_variant(mysql.DOUBLE(asdecimal=False), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "down_to_percent",
            sa.Float(precision=53).with_variant(mysql.DOUBLE(asdecimal=False), "mysql"),
            nullable=False,
        ),
        sa.Column("max_keys", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_result", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_eviction_rules")),
    )
    with op.batch_alter_table("cache_eviction_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cache_eviction_rules_target"), ["target"])


def downgrade() -> None:
    with op.batch_alter_table("cache_eviction_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cache_eviction_rules_target"))
    op.drop_table("cache_eviction_rules")
