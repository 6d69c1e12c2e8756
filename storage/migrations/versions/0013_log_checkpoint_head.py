"""log checkpoints: a fingerprint of the file's first bytes

Revision ID: 0013
Revises: 0012

With it any process, not only the one that read a file last, knows a file truncated and written
past its old offset, and finds the copy a copytruncate rotation made. Existing checkpoints get an
empty fingerprint (checked by size only, as before) until their next read.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("log_checkpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("head", sa.String(length=64), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("log_checkpoints", schema=None) as batch_op:
        batch_op.drop_column("head")
