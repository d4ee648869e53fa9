"""partners and referrals: cases referred to a partner for investigation by a deadline

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, storage.types.UTCDateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("key"),
        _text("name"),
        _text("email"),
        _text("sla", nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        _time("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        _text("case_no"),
        _text("partner_key"),
        _time("asked_at", nullable=False),
        _time("due_at", nullable=False),
        _time("answered_at"),
        _text("outcome", nullable=True),
        _text("text"),
        sa.Column("share_contact", sa.Boolean(), nullable=False, server_default=sa.false()),
        _text("message_id", nullable=True),
        sa.Column("asked_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["asked_by"], ["agents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_referrals_case_id", "referrals", ["case_id"])
    op.create_index("ix_referrals_case_no", "referrals", ["case_no"])
    op.create_index("ix_referrals_partner_key", "referrals", ["partner_key"])
    op.create_index("ix_referrals_message_id", "referrals", ["message_id"])


def downgrade() -> None:
    for column in ("message_id", "partner_key", "case_no", "case_id"):
        op.drop_index(f"ix_referrals_{column}", table_name="referrals")
    op.drop_table("referrals")
    op.drop_table("partners")
