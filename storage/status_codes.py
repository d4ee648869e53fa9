"""The status page's one-time codes and what it reads of a case (`bot.ports.StatusCodeTx`).

Codes are kept as the SHA-256 of the case and the code (`bot.status_codes.code_hash`),
never as the code. A transaction locks the case's row (PostgreSQL: the lock an UPDATE
of the case takes, as the timeline does; SQLite serialises writers anyway), so tries at
one case's code are counted one after the other, across workers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.domain import ERASED, CaseStatus
from bot.messages import Outbound
from bot.ports import StatusCase, StatusCodeRecord, TimelineEntry
from storage.models import Case, Message, OutboxItem, StatusCode, TimelineEvent
from storage.wakeups import OUTBOX, notify

# The outbox kind (and the messages table's) of the mails that carry codes.
CODE_MAIL = "status_code"


class SqlStatusCodes:
    """`bot.ports.StatusCodeStore` on SQL; `wake`, when given, is called after each
    commit (this process's dispatcher: a code is waited for)."""

    def __init__(self, engine: AsyncEngine, wake: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.wake = wake

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlStatusCodeTx]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            async with session.begin():
                tx = SqlStatusCodeTx(session)
                yield tx
        if tx.queued and self.wake is not None:
            self.wake()


class SqlStatusCodeTx:
    """One transaction of the status page."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.queued = False

    async def status_case(self, case_no: str) -> StatusCase | None:
        query = select(Case).where(Case.case_no == case_no)
        if self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update(key_share=True)
        row = await self.session.scalar(query)
        if row is None:
            return None
        assert row.id is not None
        return StatusCase(
            id=row.id,
            case_no=row.case_no,
            status=CaseStatus(row.status),
            subject=row.subject,
            locale=row.locale,
            phone=row.contact_phone,
            email=row.contact_email,
            received_at=row.received_at,
            response_due_at=row.response_due_at,
            resolution_due_at=row.resolution_due_at,
            first_response_at=row.first_response_at,
            resolved_at=row.resolved_at,
        )

    async def codes_since(self, case_id: int, since: datetime) -> int:
        count = await self.session.scalar(
            select(func.count(StatusCode.id)).where(  # type: ignore[arg-type]
                StatusCode.case_id == case_id, StatusCode.created_at >= since
            )
        )
        return int(count or 0)

    async def issue_code(
        self, case_id: int, code_hash: str, address: str, at: datetime, expires_at: datetime
    ) -> None:
        await self.session.execute(
            update(StatusCode)
            .where(
                StatusCode.case_id == case_id,  # type: ignore[arg-type]
                StatusCode.expires_at > at,  # type: ignore[arg-type]
            )
            .values(expires_at=at)
        )
        self.session.add(
            StatusCode(
                case_id=case_id,
                code_hash=code_hash,
                address=address,
                created_at=at,
                expires_at=expires_at,
            )
        )

    async def current_code(self, case_id: int) -> StatusCodeRecord | None:
        row = await self.session.scalar(
            select(StatusCode)
            .where(StatusCode.case_id == case_id)
            .order_by(StatusCode.created_at.desc(), StatusCode.id.desc())  # type: ignore[attr-defined,union-attr]
            .limit(1)
        )
        if row is None:
            return None
        assert row.id is not None
        return StatusCodeRecord(
            id=row.id,
            case_id=row.case_id,
            code_hash=row.code_hash,
            address=row.address,
            created_at=row.created_at,
            expires_at=row.expires_at,
            attempts=row.attempts,
            used_at=row.used_at,
        )

    async def save_code(self, code: StatusCodeRecord) -> None:
        await self.session.execute(
            update(StatusCode)
            .where(StatusCode.id == code.id)  # type: ignore[arg-type]
            .values(attempts=code.attempts, used_at=code.used_at)
        )

    async def timeline(self, case_id: int, kinds: frozenset[str]) -> list[TimelineEntry]:
        rows = await self.session.execute(
            select(TimelineEvent.at, TimelineEvent.kind, TimelineEvent.payload)
            .where(
                TimelineEvent.case_id == case_id,
                TimelineEvent.kind.in_(sorted(kinds)),  # type: ignore[attr-defined]
            )
            .order_by(TimelineEvent.seq)  # type: ignore[arg-type]
        )
        return [TimelineEntry(at, kind, dict(payload)) for at, kind, payload in rows.all()]

    async def queue_code_mail(self, outbound: Outbound, at: datetime) -> None:
        if self.session.bind.dialect.name == "postgresql" and not self.queued:
            # Whichever worker's dispatcher looks first sends it.
            await notify(self.session, OUTBOX)
        self.session.add(
            OutboxItem(
                channel=outbound.channel,
                conversation=outbound.conversation,
                kind=CODE_MAIL,
                payload=outbound.to_payload(),
                next_attempt_at=at,
                created_at=at,
            )
        )
        self.queued = True


async def erase_status_codes(session: AsyncSession, case_ids: list[int]) -> None:
    """Forgets the cases' codes and empties the mails that carried them, in the caller's
    transaction (`storage.privacy`): the addresses they went to are the person's."""
    if not case_ids:
        return
    codes = StatusCode.case_id.in_(case_ids)  # type: ignore[attr-defined]
    addresses = sorted(set((await session.scalars(select(StatusCode.address).where(codes))).all()))
    await session.execute(delete(StatusCode).where(codes))
    if not addresses:
        return
    mails = await session.scalars(
        select(OutboxItem).where(
            OutboxItem.kind == CODE_MAIL,
            OutboxItem.conversation.in_(addresses),  # type: ignore[attr-defined]
        )
    )
    for item in mails.all():
        item.payload, item.conversation = {"text": ERASED}, ERASED
        if item.status in ("pending", "sending"):
            item.status, item.last_error = "failed", "personal data erased"
    await session.execute(
        update(Message)
        .where(
            Message.kind == CODE_MAIL,  # type: ignore[arg-type]
            Message.direction == "out",  # type: ignore[arg-type]
            Message.conversation.in_(addresses),  # type: ignore[attr-defined]
        )
        .values(text="", raw={}, conversation=ERASED)
    )
