"""API tokens, and where a case entered from elsewhere came from

`api_tokens` holds the bearer tokens of the API (`complaintbot tokens create`): a name,
a role and the SHA-256 of the token, never the token. A case entered through the API
keeps its `source` (regulator, phone, walk_in, letter; NULL when it came by a channel)
and the sender's own reference for it (`external_ref`, a regulator's complaint number).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, storage.types.UTCDateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("name"),
        _text("role"),
        _text("token_hash"),
        _time("created_at"),
        _time("revoked_at", nullable=True),
        _time("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    # A plain ADD COLUMN: a batch would copy `cases` on SQLite, which the tables that
    # refer to it (case_search and its FTS triggers) do not survive.
    op.add_column("cases", _text("source", nullable=True))
    op.add_column("cases", _text("external_ref", nullable=True))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35.
    op.drop_column("cases", "external_ref")
    op.drop_column("cases", "source")
    op.drop_table("api_tokens")
