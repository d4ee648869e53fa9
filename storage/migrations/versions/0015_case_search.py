"""case search: every case's search terms, indexed for full-text search (FTS5 on SQLite,
a GIN index over text[] on PostgreSQL), filled for the cases already stored

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storage.search_terms import case_terms

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000

# The FTS5 index follows `case_search` (its external content) through triggers. The
# default tokenizer keeps every term whole: terms are letters and digits only, and a
# CJK character or pair is one token of letters to unicode61.
_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE case_search_fts USING fts5("
    "terms, content='case_search', content_rowid='case_id', tokenize='unicode61')",
    "CREATE TRIGGER case_search_ai AFTER INSERT ON case_search BEGIN "
    "INSERT INTO case_search_fts (rowid, terms) VALUES (new.case_id, new.terms); END",
    "CREATE TRIGGER case_search_ad AFTER DELETE ON case_search BEGIN "
    "INSERT INTO case_search_fts (case_search_fts, rowid, terms) "
    "VALUES ('delete', old.case_id, old.terms); END",
    "CREATE TRIGGER case_search_au AFTER UPDATE ON case_search BEGIN "
    "INSERT INTO case_search_fts (case_search_fts, rowid, terms) "
    "VALUES ('delete', old.case_id, old.terms); "
    "INSERT INTO case_search_fts (rowid, terms) VALUES (new.case_id, new.terms); END",
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    terms_type = postgresql.ARRAY(sa.Text()) if postgres else sa.Text()
    op.create_table(
        "case_search",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("terms", terms_type, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )
    if postgres:
        op.create_index("ix_case_search_terms", "case_search", ["terms"], postgresql_using="gin")
    else:
        for statement in _SQLITE_FTS:
            op.execute(statement)
    _backfill(postgres)


def _backfill(postgres: bool) -> None:
    """Computes the terms of the cases already stored, BATCH cases at a time (the terms
    are made in Python, the same way as for a new case)."""
    bind = op.get_bind()
    last = 0
    while True:
        cases = bind.execute(
            sa.text(
                "SELECT id, case_no, contact_name, contact_phone, contact_email, subject, "
                "description, expectation FROM cases WHERE id > :last ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": BATCH},
        ).all()
        if not cases:
            return
        last = cases[-1].id
        texts: dict[int, list[str]] = {case.id: [] for case in cases}
        messages = bind.execute(
            sa.text(
                "SELECT case_id, text FROM messages "
                "WHERE case_id >= :first AND case_id <= :last AND text != ''"
            ),
            {"first": cases[0].id, "last": last},
        )
        for case_id, text in messages:
            texts[case_id].append(text)
        rows = []
        for case in cases:
            found = case_terms(
                case.case_no,
                case.contact_name,
                case.contact_phone,
                case.contact_email,
                [case.subject, case.description, case.expectation, *texts[case.id]],
            )
            terms = sorted(found)
            rows.append({"case_id": case.id, "terms": terms if postgres else " ".join(terms)})
        terms_param = sa.bindparam("terms", type_=postgresql.ARRAY(sa.Text()))
        insert = sa.text("INSERT INTO case_search (case_id, terms) VALUES (:case_id, :terms)")
        bind.execute(insert.bindparams(terms_param) if postgres else insert, rows)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_case_search_terms", table_name="case_search")
    else:
        for trigger in ("case_search_ai", "case_search_ad", "case_search_au"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE case_search_fts")
    op.drop_table("case_search")
