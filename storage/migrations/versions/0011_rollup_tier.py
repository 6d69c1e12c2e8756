"""5-minute rollup tier

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 06:30:00

The tier is filled by the next rollup run (storage.rollups.refresh_rollups), from the 1-minute
tier's oldest bucket onwards, so the migration itself stays instant on a large store.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _value() -> sa.types.TypeEngine:
    return sa.Float(precision=53).with_variant(mysql.DOUBLE(), "mysql")


def upgrade() -> None:
    op.create_table(
        "rollup_5m",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("sum", _value(), nullable=False),
        sa.Column("min", _value(), nullable=False),
        sa.Column("max", _value(), nullable=False),
        sa.Column("last", _value(), nullable=False),
        sa.Column("last_ts", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"], ["series.id"], name=op.f("fk_rollup_5m_series_id_series"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("series_id", "bucket", name=op.f("pk_rollup_5m")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("rollup_5m")
    # The 1-hour tier is built from this one: after a downgrade the older code rebuilds it from minutes.
