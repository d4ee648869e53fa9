"""Finding cases for staff: full-text search in Chinese and English, filters, paging.

Each case's terms (`storage.search_terms`) are kept in `case_search` by `reindex_case`,
called in the transaction that creates a case, adds a message to it, changes its texts
or erases its personal data, so a search never sees a case as it no longer is. SQLite
searches them through the FTS5 table `case_search_fts`, PostgreSQL through a GIN index
on the `text[]` column (`@>`, every term of the query).

The list is sorted by the next pending deadline, the soonest (the most overdue) first,
cases without one last, then the newest received first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, bindparam, case, func, literal, null, or_, select, type_coerce
from sqlalchemy import column as sql_column
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import join, outerjoin
from sqlmodel import col

from bot.domain import CaseStatus
from storage.case_locks import lock_for_no_key_update
from storage.models import Agent, Case, CaseSearch, Message
from storage.search_terms import case_terms, query_terms
from storage.types import UTCDateTime


@dataclass(frozen=True)
class CaseFilter:
    """Which cases to list; every condition given must hold."""

    text: str = ""  # full-text query; "" (or no word in it) = no text condition
    status: str | None = None  # a CaseStatus value
    category: str | None = None
    channel: str | None = None
    handler: str | None = None  # the handler agent's name (agents.name) as shown
    # Only cases with a limit missed: the pending deadline (`CaseRow.due_at`) passed.
    overdue: bool = False
    # Only open cases escalated to the supervisors (not resolved or archived since).
    escalated: bool = False
    received_from: datetime | None = None  # inclusive
    received_to: datetime | None = None  # exclusive


@dataclass(frozen=True)
class CaseRow:
    case_no: str
    status: str
    category: str
    channel: str
    handler: str | None
    name: str
    subject: str
    received_at: datetime
    # The next pending deadline: the response while there is no first response yet,
    # else the resolution while unresolved; None when the case waits for neither.
    due_at: datetime | None
    overdue: bool


@dataclass(frozen=True)
class CasePage:
    rows: list[CaseRow]
    total: int  # every match, over all pages
    page: int
    per_page: int


async def reindex_case(session: AsyncSession, case_id: int) -> None:
    """Recomputes the case's search terms from what is stored now (pending changes of
    the session are flushed first), in the caller's transaction."""
    # Under the case row's lock, the one its timeline is appended under (`storage.chain`):
    # two transactions adding messages to one case rewrite its terms one after the
    # other, the second reading what the first committed.
    await lock_for_no_key_update(session, case_id)
    case_row = (
        await session.execute(
            select(
                Case.case_no,
                Case.contact_name,
                Case.contact_phone,
                Case.contact_email,
                Case.subject,
                Case.description,
                Case.expectation,
            ).where(col(Case.id) == case_id)
        )
    ).one()
    messages = await session.scalars(
        select(Message.text).where(col(Message.case_id) == case_id, col(Message.text) != "")
    )
    number, name, phone, email, *texts = case_row
    terms = sorted(case_terms(number, name, phone, email, [*texts, *messages.all()]))
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    statement = insert(CaseSearch).values(case_id=case_id, terms=terms)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["case_id"], set_={"terms": statement.excluded.terms}
        )
    )


def _due_at() -> Any:
    """The next pending deadline of a case, in SQL (see `CaseRow.due_at`)."""
    return type_coerce(
        case(
            (
                or_(
                    col(Case.resolved_at).is_not(None),
                    col(Case.status) == CaseStatus.ARCHIVED.value,
                ),
                null(),
            ),
            (
                col(Case.first_response_at).is_(None),
                func.coalesce(Case.response_due_at, Case.resolution_due_at),
            ),
            else_=Case.resolution_due_at,
        ),
        UTCDateTime,
    )


def _postgres_hits(query: str) -> Any:
    """PostgreSQL: the ids of the cases having every term of `query`, to join (None when
    the query has no term). Materialized, so they are read through the GIN index first:
    left to the planner, a common term (a third of the cases have 退款) is looked for by
    reading every row's terms."""
    terms = query_terms(query)
    if not terms:
        return None
    wanted = bindparam("terms", terms, type_=postgresql.ARRAY(Text()))
    return (
        select(CaseSearch.case_id)
        .where(col(CaseSearch.terms).op("@>", is_comparison=True)(wanted))
        .cte("hits")
        .prefix_with("MATERIALIZED")
    )


def _sqlite_match(query: str) -> Any:
    """SQLite: cases having every term of `query` (None when it has no term)."""
    terms = query_terms(query)
    if not terms:
        return None
    # Each term quoted: FTS5 then reads it as one token, whatever its characters.
    match = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
    matching = (
        sql_text("SELECT rowid FROM case_search_fts WHERE case_search_fts MATCH :match")
        .bindparams(match=match)
        .columns(sql_column("rowid"))
    )
    return col(Case.id).in_(matching)


def _conditions(where: CaseFilter, due_at: Any, now: datetime, dialect: str) -> list[Any]:
    conditions = [_sqlite_match(where.text) if dialect == "sqlite" else None]
    for column, value in (
        (Case.status, where.status),
        (Case.category, where.category),
        (Case.channel, where.channel),
        (Agent.name, where.handler),
    ):
        if value is not None:
            conditions.append(col(column) == value)
    if where.overdue:
        conditions.append(due_at < literal(now, UTCDateTime))
    if where.escalated:
        conditions.append(col(Case.escalated_at).is_not(None))
        conditions.append(col(Case.status).not_in(("resolved", "archived")))
    if where.received_from is not None:
        conditions.append(col(Case.received_at) >= where.received_from)
    if where.received_to is not None:
        conditions.append(col(Case.received_at) < where.received_to)
    return [c for c in conditions if c is not None]


async def find_cases(
    engine: AsyncEngine, where: CaseFilter, *, now: datetime, page: int = 1, per_page: int = 50
) -> CasePage:
    """One page of the cases `where` selects, by deadline (see the module's docstring);
    `total` counts them all. Erased cases are listed too, but their erased data no
    longer finds them."""
    due_at = _due_at()
    condition = and_(True, *_conditions(where, due_at, now, engine.dialect.name))
    source: Any = Case
    if where.handler is not None:
        source = join(source, Agent, col(Agent.id) == col(Case.handler_id))
    hits = _postgres_hits(where.text) if engine.dialect.name == "postgresql" else None
    if hits is not None:
        # Joined, not IN (…): the planner then knows how many there are (and hashes them).
        source = join(source, hits, hits.c.case_id == col(Case.id))
    page = max(page, 1)
    # The page's ids first, sorted from the few columns the order needs, then its rows.
    # Counted apart: a window's count alongside the ids costs SQLite more than both.
    ranked = (
        select(Case.id)
        .select_from(source)
        .where(condition)
        .order_by(due_at.asc().nulls_last(), col(Case.received_at).desc(), col(Case.id).desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    counted = select(func.count()).select_from(source).where(condition)
    async with AsyncSession(engine) as session:
        total = int(await session.scalar(counted) or 0)
        ids = list((await session.scalars(ranked)).all()) if total else []
        found = (await session.execute(_rows_query(ids, due_at))).all() if ids else []
    by_id = {row.id: row for row in found}
    return CasePage([_case_row(by_id[i], now) for i in ids], total, page, per_page)


def _rows_query(ids: list[int], due_at: Any) -> Any:
    return (
        select(
            Case.id,
            Case.case_no,
            Case.status,
            Case.category,
            Case.channel,
            Agent.name,
            Case.contact_name,
            Case.subject,
            Case.received_at,
            due_at.label("due_at"),
        )
        .select_from(outerjoin(Case, Agent, col(Agent.id) == col(Case.handler_id)))
        .where(col(Case.id).in_(ids))
    )


def _case_row(row: Any, now: datetime) -> CaseRow:
    return CaseRow(
        case_no=row.case_no,
        status=row.status,
        category=row.category,
        channel=row.channel,
        handler=row.name,
        name=row.contact_name,
        subject=row.subject,
        received_at=row.received_at,
        due_at=row.due_at,
        overdue=row.due_at is not None and row.due_at < now,
    )
