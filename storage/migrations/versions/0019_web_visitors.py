"""Web chat visitors

`web_visitors` holds, per web chat conversation, the address it began from (the limit
of open drafts per address), when its page last listened and the last message it
showed.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_visitors",
        sa.Column("conversation", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_message_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("conversation"),
    )
    op.create_index("ix_web_visitors_address", "web_visitors", ["address"])


def downgrade() -> None:
    op.drop_index("ix_web_visitors_address", table_name="web_visitors")
    op.drop_table("web_visitors")
