"""outbox lanes and leases: automated notices apart, claims released with their holder

`notice` marks an automated message (a reminder, an escalation, a survey) that goes
after the answers to people's own actions. A claimed row is `sending` until it is
settled; the dispatcher that holds the outbox releases any left by a dead one at once.
Rows leased by the old scheme (pending with a lease in `next_attempt_at`) are simply
pending. `ix_outbox_status_sent` finds the last minute's sends, to pace a dispatcher
that takes over from another. `thread` is where a delivered message went (the thread
it opened, for one that opens a thread of its own).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("notice", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("thread", sa.String(), nullable=True))
    op.create_index("ix_outbox_status_sent", "outbox", ["status", "sent_at"])


def downgrade() -> None:
    op.execute("UPDATE outbox SET status = 'pending' WHERE status = 'sending'")
    op.drop_index("ix_outbox_status_sent", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("thread")
        batch.drop_column("notice")
