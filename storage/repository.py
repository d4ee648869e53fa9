"""The bot's `Repository` on SQL: one transaction per handled message, under a lock.

The lock is an in-process `asyncio.Lock` per conversation (two quick messages from
one person are handled one after the other) plus, across processes, the database:
`SELECT … FOR UPDATE` on the conversation row on PostgreSQL, `BEGIN IMMEDIATE` on SQLite.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.domain import CaseStatus, Category, format_case_no
from bot.draft import EvidenceRef
from bot.messages import Attachment, Inbound, Outbound
from bot.ports import CaseView, NewCase
from storage.files import EvidenceFiles
from storage.models import (
    Case,
    Complainant,
    Conversation,
    Evidence,
    Identity,
    Message,
    OutboxItem,
    TimelineEvent,
)


class SqlRepository:
    def __init__(self, engine: AsyncEngine, data_dir: Path) -> None:
        self.engine = engine
        self.files = EvidenceFiles(data_dir)
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._on_commit: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Calls `callback` after each committed conversation transaction (wakes the dispatcher)."""
        self._on_commit.append(callback)

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    @asynccontextmanager
    async def conversation(
        self, channel: str, conversation: str, sender_id: str
    ) -> AsyncIterator[SqlConversationTx]:
        async with self._lock((channel, conversation)):
            async with AsyncSession(self.engine, expire_on_commit=False) as session:
                async with session.begin():
                    row = await _locked_conversation(session, channel, conversation)
                    yield SqlConversationTx(session, row, sender_id, self.files)
        for callback in self._on_commit:
            callback()


async def _locked_conversation(
    session: AsyncSession, channel: str, conversation: str
) -> Conversation:
    query = select(Conversation).where(
        Conversation.channel == channel, Conversation.conversation == conversation
    )
    if session.bind.dialect.name == "postgresql":
        await session.execute(
            text(
                "INSERT INTO conversations (channel, conversation, updated_at) "
                "VALUES (:channel, :conversation, now()) ON CONFLICT DO NOTHING"
            ),
            {"channel": channel, "conversation": conversation},
        )
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        row = Conversation(channel=channel, conversation=conversation, updated_at=_utcnow())
        session.add(row)
        await session.flush()
    return row


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqlConversationTx:
    def __init__(
        self, session: AsyncSession, row: Conversation, sender_id: str, files: EvidenceFiles
    ) -> None:
        self.session = session
        self.row = row
        self.sender_id = sender_id
        self.files = files

    async def record_inbound(self, inbound: Inbound) -> bool:
        exists = await self.session.scalar(
            select(Message.id).where(
                Message.channel == inbound.channel,
                Message.direction == "in",
                Message.transport_id == inbound.transport_id,
            )
        )
        if exists is not None:
            return False
        self.session.add(
            Message(
                channel=inbound.channel,
                direction="in",
                transport_id=inbound.transport_id,
                conversation=inbound.conversation,
                sender_id=inbound.sender_id,
                kind=inbound.kind.value,
                text=inbound.text,
                raw=inbound.raw,
                at=inbound.received_at,
            )
        )
        await self.session.flush()
        return True

    async def load_state(self) -> dict[str, Any] | None:
        return self.row.state

    async def save_state(self, state: dict[str, Any]) -> None:
        self.row.state = state
        self.row.updated_at = _utcnow()
        self.session.add(self.row)

    async def store_evidence(self, attachment: Attachment, received_at: datetime) -> EvidenceRef:
        assert attachment.data is not None
        sha256, path = self.files.put(attachment.data)
        row = Evidence(
            channel=self.row.channel,
            conversation=self.row.conversation,
            name=attachment.name,
            mime=attachment.mime,
            size=len(attachment.data),
            sha256=sha256,
            path=path,
            received_at=received_at,
        )
        self.session.add(row)
        await self.session.flush()
        assert row.id is not None
        return EvidenceRef(row.id, row.name, row.mime, row.size, row.sha256)

    async def _complainant_id(self, create: bool, at: datetime | None = None) -> int | None:
        channel = self.row.channel
        found = await self.session.scalar(
            select(Identity.complainant_id).where(
                Identity.channel == channel, Identity.external_id == self.sender_id
            )
        )
        if found is not None or not create:
            return found
        now = at or _utcnow()
        person = Complainant(created_at=now, updated_at=now)
        self.session.add(person)
        await self.session.flush()
        assert person.id is not None
        self.session.add(
            Identity(
                channel=channel,
                external_id=self.sender_id,
                complainant_id=person.id,
                created_at=now,
            )
        )
        return person.id

    async def create_case(self, case: NewCase) -> str:
        session = self.session
        complainant_id = await self._complainant_id(create=True, at=case.created_at)
        assert complainant_id is not None
        await session.execute(
            update(Complainant)
            .where(Complainant.id == complainant_id)  # type: ignore[arg-type]
            .values(
                name=case.name,
                phone=case.phone,
                email=case.email,
                locale=case.locale,
                updated_at=case.created_at,
            )
        )
        serial = await _next_serial(session, case.number_day.strftime("%Y%m%d"))
        case_no = format_case_no(case.prefix, case.number_day, serial)
        row = Case(
            case_no=case_no,
            status=CaseStatus.ACKNOWLEDGED.value,
            channel=case.channel,
            conversation=case.conversation,
            complainant_id=complainant_id,
            locale=case.locale,
            contact_name=case.name,
            contact_phone=case.phone,
            contact_email=case.email,
            category=case.category.value,
            subject=case.subject,
            description=case.description,
            expectation=case.expectation,
            received_at=case.received_at,
            created_at=case.created_at,
            updated_at=case.created_at,
            response_due_at=case.response_due_at,
        )
        session.add(row)
        await session.flush()
        assert row.id is not None
        await _link_intake(session, row, case)
        actor = f"complainant:{complainant_id}"
        events: list[tuple[datetime, str, str, dict[str, Any]]] = [
            (case.received_at, actor, "received", {"channel": case.channel}),
        ]
        events += [
            (e.at, actor, "description_edited", {"before": e.before, "after": e.after})
            for e in case.description_edits
        ]
        events += [
            (
                case.created_at,
                actor,
                "evidence_added",
                {"name": e.name, "mime": e.mime, "size": e.size, "sha256": e.sha256},
            )
            for e in case.evidence
        ]
        events.append(
            (
                case.created_at,
                actor,
                "case_created",
                {
                    "category": case.category.value,
                    "subject": case.subject,
                    "description": case.description,
                    "expectation": case.expectation,
                    "name": case.name,
                    "phone": case.phone,
                    "email": case.email,
                    "response_due_at": case.response_due_at.isoformat(),
                },
            )
        )
        for at, who, kind, payload in events:
            session.add(TimelineEvent(case_id=row.id, at=at, actor=who, kind=kind, payload=payload))
        return case_no

    async def own_cases(self) -> list[CaseView]:
        complainant_id = await self._complainant_id(create=False)
        if complainant_id is None:
            return []
        rows = (
            await self.session.scalars(
                select(Case).where(Case.complainant_id == complainant_id).order_by(Case.id.desc())  # type: ignore[union-attr]
            )
        ).all()
        return [
            CaseView(
                case_no=r.case_no,
                status=CaseStatus(r.status),
                category=Category(r.category),
                subject=r.subject,
                received_at=r.received_at,
                response_due_at=r.response_due_at,
            )
            for r in rows
        ]

    async def enqueue(self, outbound: Outbound, kind: str, at: datetime) -> None:
        case_id = None
        if outbound.case_no:
            case_id = await self.session.scalar(
                select(Case.id).where(Case.case_no == outbound.case_no)
            )
        self.session.add(
            OutboxItem(
                channel=outbound.channel,
                conversation=outbound.conversation,
                kind=kind,
                case_id=case_id,
                payload=outbound.to_payload(),
                next_attempt_at=at,
                created_at=at,
            )
        )


async def _next_serial(session: AsyncSession, day: str) -> int:
    """Next serial of the day; the counter row stays locked until commit, so concurrent
    cases wait for each other and a rolled-back case gives its number back."""
    result = await session.execute(
        text(
            "INSERT INTO case_counters (day, last_serial) VALUES (:day, 1) "
            "ON CONFLICT (day) DO UPDATE SET last_serial = case_counters.last_serial + 1 "
            "RETURNING last_serial"
        ),
        {"day": day},
    )
    return int(result.scalar_one())


async def _link_intake(session: AsyncSession, case_row: Case, case: NewCase) -> None:
    """Attaches the intake's evidence and messages to the new case."""
    evidence_ids = [e.id for e in case.evidence]
    if evidence_ids:
        await session.execute(
            update(Evidence)
            .where(Evidence.id.in_(evidence_ids))  # type: ignore[union-attr]
            .values(case_id=case_row.id)
        )
    await session.execute(
        update(Message)
        .where(
            Message.channel == case.channel,
            Message.conversation == case.conversation,
            Message.direction == "in",
            Message.case_id.is_(None),  # type: ignore[union-attr]
            Message.at >= case.received_at,
        )
        .values(case_id=case_row.id)
    )
