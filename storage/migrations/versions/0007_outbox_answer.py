"""outbox answer: whether a queued message answers the complainant for an agent

The bot decides it when it queues the message; the outbox only reads it back (the
first answer delivered is the case's first response, every other message is
automatic). Rows queued before this revision are marked by the kinds that were
answers then.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("answer", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE outbox SET answer = (kind IN ('agent_reply', 'info_request', 'resolution'))")


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("answer")
