"""What a test reads back of what the bot stored, the same on every backend.

The rows come as `storage.models` objects (a case's `contact_name`, a survey's
`score`, an event's `payload`), read by SQL on a database and built from the memory
store's tables on the memory backend, so a test's assertions do not depend on where
the bot kept its data. The `records` fixture (tests/conftest.py) gives the one that
fits the test's backend.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.models import Agent, Case, Complainant, Evidence, Message, Survey, TimelineEvent
from tests.support.memory import MemoryStore


class Records(Protocol):
    async def cases(self) -> list[Case]:
        """Every case, oldest first."""
        ...

    async def case(self, case_no: str) -> Case: ...

    async def events(self, case_no: str, *kinds: str) -> list[TimelineEvent]:
        """The case's timeline in the order written; only `kinds` when named."""
        ...

    async def surveys(self) -> list[Survey]: ...

    async def agents(self) -> list[Agent]: ...

    async def complainants(self) -> list[Complainant]: ...

    async def messages(self, direction: str | None = None) -> list[Message]:
        """Every stored message (in and out, or one `direction`), in the order stored."""
        ...

    async def evidence(self) -> list[Evidence]: ...


class SqlRecords:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def _all(self, query: Any) -> list[Any]:
        async with AsyncSession(self.engine) as session:
            return list((await session.scalars(query)).all())

    async def cases(self) -> list[Case]:
        return await self._all(select(Case).order_by(Case.id))  # type: ignore[arg-type]

    async def case(self, case_no: str) -> Case:
        (case,) = await self._all(select(Case).where(Case.case_no == case_no))
        return case  # type: ignore[no-any-return]

    async def events(self, case_no: str, *kinds: str) -> list[TimelineEvent]:
        case = await self.case(case_no)
        rows = await self._all(
            select(TimelineEvent).where(TimelineEvent.case_id == case.id).order_by(TimelineEvent.id)  # type: ignore[arg-type]
        )
        return [e for e in rows if not kinds or e.kind in kinds]

    async def surveys(self) -> list[Survey]:
        return await self._all(select(Survey).order_by(Survey.id))  # type: ignore[arg-type]

    async def agents(self) -> list[Agent]:
        return await self._all(select(Agent).order_by(Agent.id))  # type: ignore[arg-type]

    async def complainants(self) -> list[Complainant]:
        return await self._all(select(Complainant).order_by(Complainant.id))  # type: ignore[arg-type]

    async def messages(self, direction: str | None = None) -> list[Message]:
        query = select(Message).order_by(Message.id)  # type: ignore[arg-type]
        if direction is not None:
            query = query.where(Message.direction == direction)
        return await self._all(query)

    async def evidence(self) -> list[Evidence]:
        return await self._all(select(Evidence).order_by(Evidence.id))  # type: ignore[arg-type]


class MemoryRecords:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def cases(self) -> list[Case]:
        t = self.store.tables
        rows = []
        for case_id, c in sorted(t.cases.items()):
            rows.append(
                Case(
                    id=case_id,
                    case_no=c.case_no,
                    status=c.status.value,
                    channel=c.channel,
                    conversation=c.conversation,
                    complainant_id=c.complainant_id,
                    locale=c.locale,
                    contact_name=c.name,
                    contact_phone=c.phone,
                    contact_email=c.email,
                    category=c.category.value,
                    subject=c.subject,
                    description=c.description,
                    expectation=c.expectation,
                    received_at=c.received_at,
                    created_at=t.case_created.get(case_id),
                    response_due_at=c.response_due_at,
                    receipt_due_at=c.receipt_due_at,
                    resolution_due_at=c.resolution_due_at,
                    clock_paused_at=c.clock_paused_at,
                    reopened_count=c.reopened_count,
                    archived_at=c.archived_at,
                    receipt_sent_at=c.receipt_sent_at,
                    first_response_at=c.first_response_at,
                    resolved_at=c.resolved_at,
                    handler_id=c.handler.id if c.handler else None,
                    agent_thread=c.agent_thread,
                    escalated_at=c.escalated_at,
                    resolution=c.resolution,
                    verification=c.verification,
                )
            )
        return rows

    async def case(self, case_no: str) -> Case:
        (case,) = [c for c in await self.cases() if c.case_no == case_no]
        return case

    async def events(self, case_no: str, *kinds: str) -> list[TimelineEvent]:
        case = await self.case(case_no)
        mine = [e for e in self.store.tables.events if e.case_id == case.id]
        return [
            TimelineEvent(
                id=seq,
                case_id=e.case_id,
                at=e.at,
                actor=e.actor,
                kind=e.kind,
                payload=e.payload,
                seq=seq,
                prev_hash="",  # the memory store keeps no chain
                hash="",
            )
            for seq, e in enumerate(mine, 1)
            if not kinds or e.kind in kinds
        ]

    async def surveys(self) -> list[Survey]:
        return [
            Survey(
                id=s.record.id,
                case_id=s.case_id,
                round=s.record.round,
                asked_at=s.record.asked_at,
                reminded_at=s.record.reminded_at,
                answered_at=s.record.answered_at,
                score=s.record.score,
                comment=s.record.comment,
                outcome=s.record.outcome,
            )
            for s in self.store.tables.surveys
        ]

    async def agents(self) -> list[Agent]:
        return [
            Agent(
                id=a.id,
                channel=a.channel,
                external_id=a.external_id,
                name=a.name,
                username=a.username,
            )
            for _, a in sorted(self.store.tables.agents.items())
        ]

    async def complainants(self) -> list[Complainant]:
        return [
            Complainant(id=i, name=p.name, phone=p.phone, email=p.email, locale=p.locale)
            for i, p in sorted(self.store.tables.people.items())
        ]

    async def messages(self, direction: str | None = None) -> list[Message]:
        return [
            Message(
                id=m.id,
                channel=m.channel,
                direction=m.direction,
                transport_id=m.transport_id,
                conversation=m.conversation,
                message_ref=m.message_ref,
                sender_id=m.sender_id,
                kind=m.kind,
                text=m.text,
                raw=m.raw,
                at=m.at,
                case_id=m.case_id,
            )
            for m in self.store.tables.messages
            if direction is None or m.direction == direction
        ]

    async def evidence(self) -> list[Evidence]:
        return [
            Evidence(
                id=e.id,
                case_id=e.case_id,
                channel=e.channel,
                conversation=e.conversation,
                name=e.name,
                mime=e.mime,
                size=e.size,
                sha256=e.sha256,
                path=str(PurePosixPath("evidence") / e.sha256[:2] / e.sha256),
                received_at=e.received_at,
            )
            for e in self.store.tables.evidence
        ]
