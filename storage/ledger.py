"""The ledger's cases, read in batches so memory stays flat whatever the period.

Cases come in the order they were received, a batch at a time by keyset (received at,
id) through `ix_cases_received_at`; each batch is one short transaction (on SQLite a
long one would hold the write lock and stall the bot), with the batch's handlers and
latest surveys fetched by case id. A case filed while the export runs is included only
if its batch has not been read yet; the period's rows are complete once it has ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.ledger import LedgerCase
from storage.models import Agent, Case, Survey, TimelineEvent

BATCH = 2000
# Timeline events that name the case's new handler in their payload.
_HANDLER_EVENTS = ("claimed", "assigned")

_CASE_COLUMNS = (
    Case.id,
    Case.case_no,
    Case.received_at,
    Case.channel,
    Case.contact_name,
    Case.contact_phone,
    Case.contact_email,
    Case.category,
    Case.subject,
    Case.description,
    Case.expectation,
    Case.receipt_due_at,
    Case.receipt_sent_at,
    Case.response_due_at,
    Case.first_response_at,
    Case.resolution_due_at,
    Case.resolved_at,
    Case.verification,
    Case.resolution,
    Case.reopened_count,
    Case.status,
    Agent.name.label("handler"),
)


def _in_period(start: datetime, end: datetime) -> Any:
    return and_(Case.received_at >= start, Case.received_at < end)


async def count_cases(engine: AsyncEngine, start: datetime, end: datetime) -> int:
    """How many cases were received in [start, end)."""
    async with engine.begin() as connection:
        return int(
            await connection.scalar(select(func.count(Case.id)).where(_in_period(start, end))) or 0
        )


async def ledger_cases(
    engine: AsyncEngine, start: datetime, end: datetime, batch: int = BATCH
) -> AsyncIterator[LedgerCase]:
    """Every case received in [start, end), oldest first."""
    after: tuple[datetime, int] | None = None
    while True:
        query = (
            select(*_CASE_COLUMNS)
            .outerjoin(Agent, Agent.id == Case.handler_id)
            .where(_in_period(start, end))
            .order_by(Case.received_at, Case.id)
            .limit(batch)
        )
        if after is not None:
            query = query.where(
                or_(
                    Case.received_at > after[0],
                    and_(Case.received_at == after[0], Case.id > after[1]),
                )
            )
        async with engine.begin() as connection:
            rows = (await connection.execute(query)).all()
            ids = [row.id for row in rows]
            handlers = await _handlers(connection, ids)
            surveys = await _latest_surveys(connection, ids)
        for row in rows:
            yield _ledger_case(row, handlers.get(row.id, []), surveys.get(row.id))
        if len(rows) < batch:
            return
        after = (rows[-1].received_at, rows[-1].id)


async def _handlers(connection: AsyncConnection, ids: Sequence[int]) -> dict[int, list[str]]:
    """Each case's handlers, in the order they took it, each named once."""
    if not ids:
        return {}
    rows = await connection.execute(
        select(TimelineEvent.case_id, TimelineEvent.payload["handler"].as_string())
        .where(TimelineEvent.case_id.in_(ids), TimelineEvent.kind.in_(_HANDLER_EVENTS))
        .order_by(TimelineEvent.case_id, TimelineEvent.seq)
    )
    handlers: dict[int, list[str]] = {}
    for case_id, name in rows:
        names = handlers.setdefault(case_id, [])
        if name and name not in names:
            names.append(name)
    return handlers


async def _latest_surveys(connection: AsyncConnection, ids: Sequence[int]) -> dict[int, Row[Any]]:
    """Each case's latest satisfaction survey (one per resolution)."""
    if not ids:
        return {}
    rows = await connection.execute(
        select(Survey.case_id, Survey.asked_at, Survey.answered_at, Survey.score, Survey.outcome)
        .where(Survey.case_id.in_(ids))
        .order_by(Survey.case_id, Survey.round)
    )
    return {row.case_id: row for row in rows}


_NO_SURVEY = (None, None, None, None, None)


def _ledger_case(
    row: Sequence[Any], handlers: list[str], survey: Sequence[Any] | None
) -> LedgerCase:
    # Unpacked by position: a million rows read by attribute name cost seconds.
    (
        _id,
        case_no,
        received_at,
        channel,
        name,
        phone,
        email,
        category,
        subject,
        description,
        expectation,
        receipt_due_at,
        receipt_sent_at,
        response_due_at,
        first_response_at,
        resolution_due_at,
        resolved_at,
        verification,
        resolution,
        reopened_count,
        status,
        handler,
    ) = row
    _case_id, asked_at, answered_at, score, outcome = survey or _NO_SURVEY
    if handler and handler not in handlers:
        handlers.append(handler)
    return LedgerCase(
        case_no=case_no,
        received_at=received_at,
        channel=channel,
        name=name,
        phone=phone,
        email=email,
        category=category,
        subject=subject,
        description=description,
        expectation=expectation,
        handlers=tuple(handlers),
        receipt_due_at=receipt_due_at,
        receipt_sent_at=receipt_sent_at,
        response_due_at=response_due_at,
        first_response_at=first_response_at,
        resolution_due_at=resolution_due_at,
        resolved_at=resolved_at,
        verification=verification,
        resolution=resolution,
        reopened_count=reopened_count,
        survey_asked_at=asked_at,
        survey_answered_at=answered_at,
        survey_score=score,
        survey_outcome=outcome,
        status=status,
    )
