"""case retention: when a case was archived, and when its personal data was erased

`cases.archived_at` is what `RETENTION_DAYS` counts from; cases archived before this
revision take it from their timeline's `archived` event. `cases.erased_at` marks a case
whose personal data is gone, so erasing it again is skipped.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 23:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        for name in ("archived_at", "erased_at"):
            batch.add_column(
                sa.Column(name, storage.types.UTCDateTime(timezone=True), nullable=True)
            )
    op.execute(
        "UPDATE cases SET archived_at = (SELECT MAX(e.at) FROM timeline_events e "
        "WHERE e.case_id = cases.id AND e.kind = 'archived') WHERE status = 'archived'"
    )
    op.create_index("ix_cases_retention", "cases", ["erased_at", "archived_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_retention", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("archived_at")
