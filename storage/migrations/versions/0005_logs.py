"""logs section tables: file positions of log entries; checksum and state of log archives

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ARCHIVE_COLUMNS = ("sha256", "filters", "status", "verified_at", "hot_deleted_at", "created_by")


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): a SQLite table rebuild would drop the FTS5 triggers.
    op.add_column("log_entries", sa.Column("file_inode", sa.BigInteger(), nullable=True))
    op.add_column("log_entries", sa.Column("file_offset", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_log_entries_host_source_file_inode_file_offset",
        "log_entries",
        ["host", "source", "file_inode", "file_offset"],
    )
    json_type = sa.JSON().with_variant(mysql.JSON(), "mysql")
    op.add_column("log_archives", sa.Column("sha256", sa.String(64), nullable=True))
    op.add_column("log_archives", sa.Column("filters", json_type, nullable=True))
    op.add_column(
        "log_archives", sa.Column("status", sa.String(16), nullable=False, server_default="written")
    )
    op.add_column("log_archives", sa.Column("verified_at", sa.DateTime(timezone=False), nullable=True))
    op.add_column("log_archives", sa.Column("hot_deleted_at", sa.DateTime(timezone=False), nullable=True))
    op.add_column("log_archives", sa.Column("created_by", sa.String(191), nullable=True))
    op.create_table(
        "log_counts",
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("host", sa.String(191), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "host", "source", "level", name=op.f("pk_log_counts")),
    )
    # Entries stored before this migration get their counts too.
    op.execute(
        "INSERT INTO log_counts (bucket, host, source, level, count) "
        "SELECT ts - ts % 600000, host, source, level, COUNT(*) FROM log_entries "
        "GROUP BY ts - ts % 600000, host, source, level"
    )


def downgrade() -> None:
    op.drop_table("log_counts")
    op.drop_index("ix_log_entries_host_source_file_inode_file_offset", table_name="log_entries")
    with op.batch_alter_table("log_archives") as batch:
        for name in _ARCHIVE_COLUMNS:
            batch.drop_column(name)
    if op.get_bind().dialect.name == "sqlite":
        # SQLite >= 3.35 drops columns in place, keeping the FTS5 triggers.
        op.execute("ALTER TABLE log_entries DROP COLUMN file_offset")
        op.execute("ALTER TABLE log_entries DROP COLUMN file_inode")
    else:
        op.drop_column("log_entries", "file_offset")
        op.drop_column("log_entries", "file_inode")
