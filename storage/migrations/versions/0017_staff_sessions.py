"""staff web sessions, and failed logins that lock a login out for a while

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, storage.types.UTCDateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as table:
        table.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        table.add_column(_time("locked_until", nullable=True))
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("token_hash"),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        _text("csrf"),
        _time("created_at"),
        _time("expires_at"),
        _time("ended_at", nullable=True),
        _text("address", nullable=True),
        sa.Column("search", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["staff_user_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )


def downgrade() -> None:
    op.drop_table("staff_sessions")
    with op.batch_alter_table("staff_users") as table:
        table.drop_column("locked_until")
        table.drop_column("failed_logins")
