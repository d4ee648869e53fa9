"""raw updates by conversation: several workers handle stored updates, one conversation
at a time each

`conversation` is the transport's conversation an update belongs to (a Telegram chat);
the worker that holds a conversation handles its stored updates in the order they came.
Rows stored before this have none: each is its own conversation.
`ix_raw_updates_channel_state` finds a channel's stored updates without reading the
handled ones.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 05:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("raw_updates") as batch:
        batch.add_column(sa.Column("conversation", sa.String(), nullable=True))
    op.create_index("ix_raw_updates_channel_state", "raw_updates", ["channel", "state", "id"])


def downgrade() -> None:
    op.drop_index("ix_raw_updates_channel_state", table_name="raw_updates")
    with op.batch_alter_table("raw_updates") as batch:
        batch.drop_column("conversation")
