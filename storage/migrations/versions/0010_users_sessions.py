"""users: session epoch and password change time

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 06:45:00

``session_epoch`` ends every session of a user when it moves (password, role, enabled changes);
``password_changed_at`` says when the password was last set. Both are plain added columns, so the
migration is instant on any store.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("password_changed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_changed_at")
        batch.drop_column("session_epoch")
