"""audit chain: timeline events chained per case by sha256, heads of the chains

Existing events are chained here, case by case in the order they were written (by id),
so `complaintbot audit verify` passes right after the upgrade.

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-23 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types
from storage.chain import GENESIS, event_hash, field_digest, new_salts

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_events = sa.table(
    "timeline_events",
    sa.column("id", sa.Integer()),
    sa.column("case_id", sa.Integer()),
    sa.column("at", storage.types.UTCDateTime(timezone=True)),
    sa.column("actor", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("payload", sa.JSON()),
    sa.column("seq", sa.Integer()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
    sa.column("salts", sa.JSON()),
)
_heads = sa.table(
    "timeline_heads",
    sa.column("case_id", sa.Integer()),
    sa.column("seq", sa.Integer()),
    sa.column("hash", sa.String()),
)


def upgrade() -> None:
    op.create_table(
        "timeline_heads",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("salts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("erased", sa.JSON(), nullable=True))

    _chain_existing_events(op.get_bind())

    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column(
            "prev_hash", existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False
        )
        batch_op.alter_column(
            "hash", existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False
        )
        batch_op.alter_column("salts", existing_type=sa.JSON(), nullable=False)
        batch_op.create_unique_constraint("uq_timeline_events_case_id_seq", ["case_id", "seq"])


def _chain_existing_events(connection: sa.Connection) -> None:
    case_ids = connection.execute(
        sa.select(_events.c.case_id).distinct().order_by(_events.c.case_id)
    ).scalars()
    for case_id in list(case_ids):
        rows = connection.execute(
            sa.select(_events).where(_events.c.case_id == case_id).order_by(_events.c.id)
        ).all()
        previous = GENESIS
        for seq, row in enumerate(rows, start=1):
            payload = row.payload or {}
            salts = new_salts(payload)
            digests = {key: field_digest(salts[key], value) for key, value in payload.items()}
            current = event_hash(case_id, seq, row.at, row.actor, row.kind, digests, previous)
            connection.execute(
                _events.update()
                .where(_events.c.id == row.id)
                .values(seq=seq, prev_hash=previous, hash=current, salts=salts)
            )
            previous = current
        connection.execute(_heads.insert().values(case_id=case_id, seq=len(rows), hash=previous))


def downgrade() -> None:
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_timeline_events_case_id_seq", type_="unique")
        batch_op.drop_column("erased")
        batch_op.drop_column("salts")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
    op.drop_table("timeline_heads")
