"""ledger read indexes: a case's latest survey, and on SQLite its handler events

Both serve `storage.ledger.ledger_frames`, which reads a case's latest survey and the
handlers named by its claim and assignment events for a million cases at a time.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 18:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_surveys_case_id_round", "surveys", ["case_id", "round"])
    if op.get_bind().dialect.name == "sqlite":
        # Holds the handler's name, so the ledger reads no event row (hashes, salts and
        # all); partial, as only these two kinds of event name one. The expression and
        # the condition are those of `storage.ledger._SQLITE_FRAMES`, or it goes unused.
        op.execute(
            "CREATE INDEX ix_timeline_events_handlers ON timeline_events "
            "(case_id, seq, json_extract(payload, '$.handler')) "
            "WHERE kind IN ('claimed', 'assigned')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_timeline_events_handlers", table_name="timeline_events")
    op.drop_index("ix_surveys_case_id_round", table_name="surveys")
