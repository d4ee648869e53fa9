"""Status page codes

`status_codes` holds the one-time codes the status page sends to a case's complainant:
the case, the SHA-256 of the code (never the code), the address it went to, when it
was made and until when it works, the wrong tries and when it was used.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, storage.types.UTCDateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "status_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        _text("code_hash"),
        _text("address"),
        _time("created_at"),
        _time("expires_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("used_at", nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_status_codes_case_created", "status_codes", ["case_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_status_codes_case_created", table_name="status_codes")
    op.drop_table("status_codes")
