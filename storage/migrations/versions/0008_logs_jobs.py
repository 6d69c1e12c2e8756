"""logs background jobs (archive, restore, hot-row delete)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.dialects.mysql
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_Json = sa.JSON().with_variant(sa.dialects.mysql.JSON(), "mysql")


def upgrade() -> None:
    op.create_table(
        "log_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("archive_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("params", _Json, nullable=True),
        sa.Column("progress", _Json, nullable=True),
        sa.Column("result", _Json, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_jobs")),
    )
    op.create_index(op.f("ix_log_jobs_created_at"), "log_jobs", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_log_jobs_created_at"), table_name="log_jobs")
    op.drop_table("log_jobs")
