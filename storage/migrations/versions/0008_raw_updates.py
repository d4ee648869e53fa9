"""raw updates: each Telegram update kept as received before it is decoded or acknowledged

Raw first, parse second: an update the library cannot decode stays here (state
`undecodable`) instead of stopping intake, and one stored but not yet handled when the
process stopped is handled on the next start.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "raw_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("update_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("handled_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "update_key"),
    )
    op.create_index("ix_raw_updates_state", "raw_updates", ["state"])


def downgrade() -> None:
    op.drop_index("ix_raw_updates_state", table_name="raw_updates")
    op.drop_table("raw_updates")
