"""The ledger's cases, read in batches so memory stays flat whatever the period.

Cases come in the order they were received, a batch at a time by keyset (received at,
id) through `ix_cases_received_at`; each batch is one short read transaction (on SQLite
a deferred one, which holds no lock the bot's writes wait for; short, as a long reader
would keep the WAL from being checkpointed), with the batch's handlers and latest
surveys fetched by case id. A case filed while the export runs is included only
if its batch has not been read yet; the period's rows are complete once it has ended.

A million cases are read in seconds because the times skip SQLAlchemy's per-value
processing: they are selected as the driver returns them and made UTC-aware here
(`storage.types.utc_reader`), and every row is unpacked by position. The verification
records skip it too: SQLite returns them as JSON text, decoded here once per distinct
text (`_Verifications`), since most cases share one of a few records.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from reporting.rows import LedgerCase
from storage.database import READ_ONLY
from storage.models import Agent, Case, Survey, TimelineEvent
from storage.types import as_driver_returns, utc_reader

BATCH = 5000
# Timeline events that name the case's new handler in their payload.
_HANDLER_EVENTS = ("claimed", "assigned")

_CASE_COLUMNS = (
    Case.id,
    Case.case_no,
    as_driver_returns(Case.received_at),
    Case.channel,
    Case.contact_name,
    Case.contact_phone,
    Case.contact_email,
    Case.category,
    Case.subject,
    Case.description,
    Case.expectation,
    as_driver_returns(Case.receipt_due_at),
    as_driver_returns(Case.receipt_sent_at),
    as_driver_returns(Case.response_due_at),
    as_driver_returns(Case.first_response_at),
    as_driver_returns(Case.resolution_due_at),
    as_driver_returns(Case.resolved_at),
    as_driver_returns(Case.verification),
    Case.resolution,
    Case.reopened_count,
    Case.status,
    Agent.name.label("handler"),
)


def _in_period(start: datetime, end: datetime) -> Any:
    return and_(Case.received_at >= start, Case.received_at < end)


async def count_cases(engine: AsyncEngine, start: datetime, end: datetime) -> int:
    """How many cases were received in [start, end)."""
    async with _reading(engine) as connection:
        return int(
            await connection.scalar(select(func.count(Case.id)).where(_in_period(start, end))) or 0
        )


async def received_at_position(
    engine: AsyncEngine, start: datetime, end: datetime, position: int
) -> datetime | None:
    """When the case at `position` (from 0) of those received in [start, end) was
    received, in the ledger's order; None past the last."""
    async with _reading(engine) as connection:
        value = await connection.scalar(
            select(as_driver_returns(Case.received_at))
            .where(_in_period(start, end))
            .order_by(Case.received_at, Case.id)
            .offset(position)
            .limit(1)
        )
    return utc_reader(engine.dialect)(value)


@asynccontextmanager
async def _reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read transaction (see `storage.database.READ_ONLY`)."""
    async with engine.connect() as connection:
        await connection.execution_options(**{READ_ONLY: True})
        async with connection.begin():
            yield connection


async def ledger_cases(
    engine: AsyncEngine, start: datetime, end: datetime, batch: int = BATCH
) -> AsyncIterator[LedgerCase]:
    """Every case received in [start, end), oldest first."""
    utc = utc_reader(engine.dialect)
    verifications = _Verifications()
    after: tuple[datetime, int] | None = None
    while True:
        rows, handlers, surveys = await _batch(engine, start, end, after, batch)
        for row in rows:
            yield _ledger_case(
                row, handlers.get(row[0], []), surveys.get(row[0]), utc, verifications
            )
        if len(rows) < batch:
            return
        after = (utc(rows[-1][2]), rows[-1][0])


async def _batch(
    engine: AsyncEngine,
    start: datetime,
    end: datetime,
    after: tuple[datetime, int] | None,
    batch: int,
) -> tuple[Sequence[Any], dict[int, list[str]], dict[int, Row[Any]]]:
    """The next `batch` cases after the keyset `after`, their handlers and surveys."""
    if after is None:
        cases = _in_period(start, end)
    else:
        # The keyset is the lower bound, in a form SQLite's planner starts the index
        # range at (with the period's start instead, every batch would scan from there).
        at, case_id = after
        cases = and_(_in_period(at, end), or_(Case.received_at > at, Case.id > case_id))
    order = (Case.received_at, Case.id)
    # The handlers and surveys are selected by the same condition rather than by a list
    # of thousands of ids, which SQLAlchemy would spend longer rendering than SQL running.
    ids = select(Case.id).where(cases).order_by(*order).limit(batch).scalar_subquery()
    async with _reading(engine) as connection:
        rows = (
            await connection.execute(
                select(*_CASE_COLUMNS)
                .outerjoin(Agent, Agent.id == Case.handler_id)
                .where(cases)
                .order_by(*order)
                .limit(batch)
            )
        ).all()
        if not rows:
            return rows, {}, {}
        return rows, await _handlers(connection, ids), await _latest_surveys(connection, ids)


async def _handlers(connection: AsyncConnection, ids: Any) -> dict[int, list[str]]:
    """Each case's handlers, in the order they took it, each named once."""
    rows = await connection.execute(
        select(TimelineEvent.case_id, TimelineEvent.payload["handler"].as_string())
        .where(TimelineEvent.case_id.in_(ids), TimelineEvent.kind.in_(_HANDLER_EVENTS))
        .order_by(TimelineEvent.case_id, TimelineEvent.seq)
    )
    handlers: dict[int, list[str]] = {}
    for case_id, name in rows.all():
        names = handlers.setdefault(case_id, [])
        if name and name not in names:
            names.append(name)
    return handlers


async def _latest_surveys(connection: AsyncConnection, ids: Any) -> dict[int, Row[Any]]:
    """Each case's latest satisfaction survey (one per resolution)."""
    rows = await connection.execute(
        select(
            Survey.case_id,
            as_driver_returns(Survey.asked_at),
            as_driver_returns(Survey.answered_at),
            Survey.score,
            Survey.outcome,
        )
        .where(Survey.case_id.in_(ids))
        .order_by(Survey.case_id, Survey.round)
    )
    return {row[0]: row for row in rows.all()}


_NO_SURVEY = (None, None, None, None, None)


class _Verifications:
    """Verification records as the driver returns them, made dicts: SQLite's JSON text is
    decoded once per distinct text (a case's record is one of a few hundred combinations
    of four values, so a million cases share them; nobody changes a `LedgerCase`'s
    record), PostgreSQL's driver returns them decoded already."""

    _MOST = 10_000  # distinct texts kept: free text in a record would make them grow

    def __init__(self) -> None:
        self._decoded: dict[str, dict[str, Any] | None] = {}

    def __call__(self, value: Any) -> dict[str, Any] | None:
        if value.__class__ is not str:
            return cast(dict[str, Any] | None, value)
        try:
            return self._decoded[value]
        except KeyError:
            if len(self._decoded) >= self._MOST:
                self._decoded.clear()
            decoded = self._decoded[value] = json.loads(value)
            return decoded


def _ledger_case(
    row: Sequence[Any],
    handlers: list[str],
    survey: Sequence[Any] | None,
    utc: Callable[[Any], Any],
    verifications: _Verifications,
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
    # By position, in the order of the fields: keywords cost a second per million cases.
    return LedgerCase(
        case_no,
        utc(received_at),
        channel,
        name,
        phone,
        email,
        category,
        subject,
        description,
        expectation,
        tuple(handlers),
        utc(receipt_due_at),
        utc(receipt_sent_at),
        utc(response_due_at),
        utc(first_response_at),
        utc(resolution_due_at),
        utc(resolved_at),
        verifications(verification),
        resolution,
        reopened_count,
        utc(asked_at),
        utc(answered_at),
        score,
        outcome,
        status,
    )
