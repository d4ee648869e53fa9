"""SLA deadlines, case timers and satisfaction surveys

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, storage.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(_time("receipt_due_at"))
        batch_op.add_column(_time("resolution_due_at"))
        batch_op.add_column(_time("clock_paused_at"))
        batch_op.add_column(
            sa.Column("reopened_count", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "case_timers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        _time("due_at", nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        _time("fired_at"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_timers_case_id", "case_timers", ["case_id"])
    op.create_index("ix_case_timers_status_due", "case_timers", ["status", "due_at"])
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        _time("created_at", nullable=False),
        _time("asked_at"),
        _time("reminded_at"),
        _time("answered_at"),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_surveys_case_id", "surveys", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_surveys_case_id", table_name="surveys")
    op.drop_table("surveys")
    op.drop_index("ix_case_timers_status_due", table_name="case_timers")
    op.drop_index("ix_case_timers_case_id", table_name="case_timers")
    op.drop_table("case_timers")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for column in (
            "reopened_count",
            "clock_paused_at",
            "resolution_due_at",
            "receipt_due_at",
        ):
            batch_op.drop_column(column)
