"""The figures a metrics scrape shows of the whole installation, read from the tables.

Read from the database rather than counted in memory, so that every worker shows the
same truth whichever of them handled what. Each figure is one grouped query over an
index (the open cases by status, the outbox's waiting items by status), except the
cases opened, which counts every case by channel and category.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Case, MailCursor, OutboxItem
from storage.types import UTCDateTime

# The time limits a case has (its `*_due_at` columns), by the names the deadlines use
# (`scheduler.deadlines`, the ledger).
LIMITS = ("receipt", "first_response", "resolution")
# Outbox items not settled yet (sent and failed are).
_WAITING = ("pending", "sending")


@dataclass(frozen=True, slots=True)
class Waiting:
    """What one outbox lane holds: how many items, and when the oldest was queued."""

    depth: int
    oldest: datetime


@dataclass(frozen=True, slots=True)
class Figures:
    at: datetime
    # (channel, category) → cases ever opened there (by the case's current category).
    cases_opened: dict[tuple[str, str], int]
    open_cases: int
    # limit (one of LIMITS) → open cases past it.
    overdue: dict[str, int]
    # (channel, lane) → what waits; lane is "answer" (someone's own action) or
    # "notice" (an automated notice, the outbox's `notice` flag).
    outbox: dict[tuple[str, str], Waiting]
    # mailbox account → when its cursor last moved (a mail read, or a mailbox reset).
    mail_cursors: dict[str, datetime]


async def read_figures(engine: AsyncEngine, now: datetime, open_statuses: Iterable[str]) -> Figures:
    """The figures at `now`; `open_statuses` are the case states agents still owe an
    answer in (the bot's rule, `bot.lifecycle.is_open`)."""
    at = bindparam("now", now, type_=UTCDateTime())
    overdue = {
        "receipt": and_(Case.receipt_due_at < at, Case.receipt_sent_at.is_(None)),  # type: ignore[operator,union-attr]
        "first_response": and_(Case.response_due_at < at, Case.first_response_at.is_(None)),  # type: ignore[operator,union-attr]
        # The resolution clock stands still while the case waits for the complainant:
        # a paused case is overdue only if it already was when it was paused.
        "resolution": Case.resolution_due_at < func.coalesce(Case.clock_paused_at, at),  # type: ignore[operator]
    }
    open_query = select(
        func.count(), *(func.sum(case((test, 1), else_=0)) for test in overdue.values())
    ).where(Case.status.in_(list(open_statuses)))  # type: ignore[attr-defined]
    opened_query = select(Case.channel, Case.category, func.count()).group_by(
        Case.channel, Case.category
    )
    outbox_query = (
        select(OutboxItem.channel, OutboxItem.notice, func.count(), func.min(OutboxItem.created_at))
        .where(OutboxItem.status.in_(_WAITING))  # type: ignore[attr-defined]
        .group_by(OutboxItem.channel, OutboxItem.notice)
    )
    cursor_query = select(MailCursor.account, MailCursor.updated_at)
    async with engine.connect() as connection:
        open_row = (await connection.execute(open_query)).one()
        opened = (await connection.execute(opened_query)).all()
        waiting = (await connection.execute(outbox_query)).all()
        cursors = (await connection.execute(cursor_query)).all()
    return Figures(
        at=now,
        cases_opened={(channel, category): count for channel, category, count in opened},
        open_cases=int(open_row[0]),
        overdue={limit: int(n or 0) for limit, n in zip(overdue, open_row[1:], strict=True)},
        outbox={
            (channel, "notice" if notice else "answer"): Waiting(int(depth), oldest)
            for channel, notice, depth, oldest in waiting
        },
        mail_cursors={account: updated_at for account, updated_at in cursors},
    )
