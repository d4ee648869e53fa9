"""every worker dispatches: claims name their dispatcher, rate budgets in the database

`outbox.claimed_by` names the dispatcher that claimed a row (its worker id and a token
of its own, whose advisory lock it holds while it lives); a claim whose dispatcher is
gone is released by the next one to look. Rows claimed before this have none, and are
released the same way. `send_budgets` holds the channels' rate limits that all
dispatching workers take from.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(), nullable=True))
    op.create_table(
        "send_budgets",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("held_until", sa.Float(), nullable=True),
        sa.Column("idle_after", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_send_budgets_idle_after", "send_budgets", ["idle_after"])


def downgrade() -> None:
    op.drop_index("ix_send_budgets_idle_after", table_name="send_budgets")
    op.drop_table("send_budgets")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_by")
