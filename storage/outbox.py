"""The outbox: replies waiting to be sent, claimed by the dispatchers
(`storage.outbox_hold`: one process on SQLite, every worker on PostgreSQL)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.messages import Outbound
from bot.ports import CaseThread
from delivery.ports import Delivery
from delivery.sending import Sent
from storage.chain import append_event
from storage.database import QUICK_READ
from storage.files import EvidenceFiles
from storage.models import Case, Message, OutboxItem, Partner, Referral
from storage.outbox_hold import DISPATCHER_LOCK, OutboxHold
from storage.sent_messages import own_thread_letter, record_sent

# Claims are chosen one dispatcher at a time (a transaction-level advisory lock): the
# fair choice ranks whole lanes, which no row lock could keep two choosers apart on.
_CLAIMS_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('complaintbot:outbox-claims'))")


class SqlOutbox:
    def __init__(
        self,
        engine: AsyncEngine,
        data_dir: Path,
        threaded_channels: frozenset[str] = frozenset({"email"}),
        worker: str = "outbox",
    ) -> None:
        self.engine = engine
        # What is claimed is read after the claim's commit, without the writer's turn
        # (on SQLite on the event loop's thread: a batch of rows by their ids).
        self._reader = engine.execution_options(**{QUICK_READ: True})
        # What this dispatcher's claims are named: its worker, and a token of its own
        # (a restarted worker with the same id must not pass for the one that died).
        self.token = f"{worker}/{secrets.token_hex(4)}"
        self.hold = OutboxHold(engine, self.token)
        self.files = EvidenceFiles(data_dir)
        # Channels whose messages carry the case's subject and message ids (mail threads).
        self.threaded_channels = threaded_channels

    def _session(self) -> AsyncSession:
        return AsyncSession(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[bool]:
        """True inside when this dispatcher may claim (`storage.outbox_hold`); a
        dispatcher's `run` holds it for its life, a lone pass for the pass."""
        mine = await self.hold.take()
        try:
            yield mine
        finally:
            if mine:
                await self.hold.give()

    async def still_held(self) -> bool:
        return await self.hold.still_held()

    async def release_stale(self, in_flight: frozenset[int]) -> int:
        """Claims this dispatcher is not working on, and claims of dispatchers that are
        gone, are due again at once (their attempt counts)."""
        postgres = self.engine.dialect.name == "postgresql"
        async with self._session() as session, session.begin():
            if postgres:
                # Another's claim is stale when its dispatcher's lock is free (it is
                # taken, then, until this transaction ends: nothing is lost by that).
                gone = text(DISPATCHER_LOCK.format(token="coalesce(outbox.claimed_by, '')"))
                claimed_by = OutboxItem.claimed_by
                stale = or_(
                    and_(claimed_by == self.token, OutboxItem.id.not_in(in_flight)),  # type: ignore[union-attr]
                    and_(
                        claimed_by.is_distinct_from(self.token),  # type: ignore[union-attr]
                        func.pg_try_advisory_xact_lock(gone),
                    ),
                )
            else:  # one dispatching process: every claim not in hand was left by another
                stale = OutboxItem.id.not_in(in_flight)  # type: ignore[union-attr]
            result = await session.execute(
                update(OutboxItem)
                .where(OutboxItem.status == "sending", stale)
                .values(status="pending", claimed_by=None)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def recent_sends(self, since: datetime) -> list[tuple[str, str, datetime]]:
        """(channel, conversation, sent at) of what was delivered since `since`, oldest
        first: what a dispatcher taking over has to count against the rate limits."""
        async with self._session() as session:
            rows = await session.execute(
                select(OutboxItem.channel, OutboxItem.conversation, OutboxItem.sent_at)
                .where(OutboxItem.status == "sent", OutboxItem.sent_at >= since)  # type: ignore[operator]
                .order_by(OutboxItem.sent_at)  # type: ignore[arg-type]
            )
            return [(channel, conversation, at) for channel, conversation, at in rows.all()]

    async def claim(self, now: datetime, limit: int, per_conversation: int = 3) -> list[Delivery]:
        """Due items taken round-robin across conversations: every conversation's first
        due item before anyone's second, answers to people before automated notices,
        at most `per_conversation` each. Within a conversation and lane, items go in the
        order written: one waiting (or being sent) holds back those after it."""
        chosen = _fair_choice(now, limit, per_conversation)
        async with self._session() as session, session.begin():
            if self.engine.dialect.name == "postgresql":
                await session.execute(_CLAIMS_LOCK)
            ids = list((await session.scalars(chosen)).all())
            if not ids:
                return []
            await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id.in_(ids))  # type: ignore[union-attr]
                .values(status="sending", attempts=OutboxItem.attempts + 1, claimed_by=self.token)
                .execution_options(synchronize_session=False)
            )
        async with AsyncSession(self._reader, expire_on_commit=False) as session:
            rows = {
                row.id: row
                for row in (
                    await session.scalars(
                        select(OutboxItem).where(OutboxItem.id.in_(ids))  # type: ignore[union-attr]
                    )
                ).all()
            }
            cases = await _cases(session, {r.case_id for r in rows.values() if r.case_id})
            threaded = [
                r for r in rows.values() if r.case_id and r.channel in self.threaded_channels
            ]
            threads = await _threads(
                session,
                {r.case_id for r in threaded if r.case_id is not None and not own_thread_letter(r)},
                self.threaded_channels,
            )
            own_threads = {
                r.id: await _own_thread(session, r) for r in threaded if own_thread_letter(r)
            }
            return [
                Delivery(
                    id=row.id,  # type: ignore[arg-type]
                    kind=row.kind,
                    attempts=row.attempts,
                    outbound=self._outbound(
                        row,
                        cases.get(row.case_id),
                        own_threads.get(row.id) or threads.get(row.case_id),
                    ),
                    notice=row.notice,
                    queued_at=row.created_at,
                )
                for row in (rows[i] for i in ids)
            ]

    def _outbound(
        self,
        row: OutboxItem,
        case: tuple[str, str | None] | None,
        mail_thread: CaseThread | None = None,
    ) -> Outbound:
        case_no, thread = case if case else (None, None)
        outbound = Outbound.from_payload(row.channel, row.conversation, row.payload, case_no)
        if mail_thread is not None:
            outbound = replace(
                outbound, subject=mail_thread.subject, references=mail_thread.references
            )
        return replace(
            outbound,
            # A letter of its own thread is a person's request (to a partner).
            automatic=not row.answer and not own_thread_letter(row),
            # The case's thread as it is now: it may have been opened after this was queued.
            thread=thread if outbound.case_thread else outbound.thread,
            files=tuple(replace(f, data=self.files.read(f.sha256)) for f in outbound.files),
        )

    async def delivered(self, delivery: Delivery, sent: Sent, at: datetime) -> None:
        async with self._session() as session, session.begin():
            row = await session.get(OutboxItem, delivery.id)
            assert row is not None
            await record_sent(session, row, sent, at)

    async def retry_later(self, delivery: Delivery, at: datetime, error: str) -> None:
        async with self._session() as session, session.begin():
            await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == delivery.id)  # type: ignore[arg-type]
                .values(status="pending", next_attempt_at=at, last_error=error[:500])
            )

    async def postpone(self, delivery: Delivery, at: datetime) -> None:
        async with self._session() as session, session.begin():
            await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == delivery.id)  # type: ignore[arg-type]
                .values(status="pending", next_attempt_at=at, attempts=OutboxItem.attempts - 1)
            )

    async def failed(self, delivery: Delivery, at: datetime, error: str) -> None:
        async with self._session() as session, session.begin():
            row = await session.get(OutboxItem, delivery.id)
            assert row is not None
            row.status, row.last_error = "failed", error[:500]
            if row.case_id is not None:
                await append_event(
                    session,
                    row.case_id,
                    at,
                    "system",
                    "delivery_failed",
                    {"kind": row.kind, "error": error[:500]},
                )


async def _own_thread(session: AsyncSession, row: OutboxItem) -> CaseThread:
    """The subject a letter of its own thread was queued with, and the messages of the
    case exchanged with its addressee (oldest first)."""
    refs = await session.execute(
        select(Message.message_ref, Message.direction)
        .where(
            Message.case_id == row.case_id,
            Message.channel == row.channel,
            func.lower(Message.conversation) == row.conversation.lower(),
            Message.message_ref.is_not(None),  # type: ignore[union-attr]
        )
        .order_by(Message.at, Message.id)  # type: ignore[arg-type]
    )
    return CaseThread(row.payload["subject"], tuple((ref, d) for ref, d in refs.all()))


async def _threads(
    session: AsyncSession, case_ids: set[int], channels: Collection[str]
) -> dict[int | None, CaseThread]:
    """Subject and messages (oldest first) on the threaded `channels` of each case, for
    threading mail (mail about a web chat's case threads under that mail alone); a
    partner's messages about the case are a thread of their own."""
    if not case_ids:
        return {}
    subjects = await session.execute(
        select(Case.id, Case.subject).where(Case.id.in_(case_ids))  # type: ignore[union-attr]
    )
    threads: dict[int | None, tuple[str, list[tuple[str, str]]]] = {}
    for case_id, subject in subjects.all():
        threads[case_id] = (subject, [])
    refs = await session.execute(
        select(Message.case_id, Message.message_ref, Message.direction)
        .where(
            Message.case_id.in_(case_ids),  # type: ignore[union-attr]
            Message.channel.in_(channels),  # type: ignore[attr-defined]
            Message.message_ref.is_not(None),  # type: ignore[union-attr]
            ~exists().where(
                Referral.case_id == Message.case_id,
                Partner.key == Referral.partner_key,
                func.lower(Partner.email) == func.lower(Message.conversation),
            ),
        )
        .order_by(Message.at, Message.id)  # type: ignore[arg-type]
    )
    for case_id, ref, direction in refs.all():
        threads[case_id][1].append((ref, direction))
    return {
        case_id: CaseThread(subject, tuple(messages))
        for case_id, (subject, messages) in threads.items()
    }


async def _cases(
    session: AsyncSession, case_ids: set[int]
) -> dict[int | None, tuple[str, str | None]]:
    """Case number and agents' thread of each case."""
    if not case_ids:
        return {}
    rows = await session.execute(
        select(Case.id, Case.case_no, Case.agent_thread).where(Case.id.in_(case_ids))  # type: ignore[union-attr]
    )
    return {case_id: (case_no, thread) for case_id, case_no, thread in rows.all()}


def _fair_choice(now: datetime, limit: int, per_conversation: int) -> Select[Any]:
    """The ids `claim` takes, in the order it takes them (see there)."""
    outbox = OutboxItem.__table__
    lane = (outbox.c.channel, outbox.c.conversation, outbox.c.notice)
    holding_back = case(
        (outbox.c.status == "sending", 1), (outbox.c.next_attempt_at > now, 1), else_=0
    )
    ranked = (
        select(
            outbox.c.id,
            outbox.c.notice,
            func.row_number().over(partition_by=lane, order_by=outbox.c.id).label("position"),
            func.max(holding_back)
            .over(partition_by=lane, order_by=outbox.c.id, rows=(None, 0))
            .label("held"),
            func.min(outbox.c.id).over(partition_by=lane).label("first"),
        )
        .where(outbox.c.status.in_(("pending", "sending")))
        .subquery()
    )
    return (
        select(ranked.c.id)
        .where(ranked.c.held == 0, ranked.c.position <= per_conversation)
        .order_by(ranked.c.notice, ranked.c.position, ranked.c.first)
        .limit(limit)
    )
