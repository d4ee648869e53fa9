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

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from bot.domain import RESPONSE_KINDS, CaseStatus, Category, format_case_no
from bot.draft import EvidenceRef
from bot.lifecycle import is_open
from bot.messages import Attachment, Inbound, Outbound
from bot.ports import (
    AgentRecord,
    CaseRecord,
    CaseView,
    DueTimer,
    NewCase,
    SurveyRecord,
    TimerRecord,
)
from storage.chain import append_event
from storage.files import EvidenceFiles
from storage.models import (
    Agent,
    Case,
    CaseTimer,
    Complainant,
    Conversation,
    Evidence,
    Identity,
    Message,
    OutboxItem,
    Survey,
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

    async def due_timers(self, now: datetime, limit: int) -> list[DueTimer]:
        query = (
            select(CaseTimer.id, Case.case_no, Case.channel, Case.conversation)
            .join(Case, Case.id == CaseTimer.case_id)
            .where(CaseTimer.status == "pending", CaseTimer.due_at <= now)
            .order_by(CaseTimer.due_at, CaseTimer.id)
            .limit(limit)
        )
        async with AsyncSession(self.engine) as session:
            rows = (await session.execute(query)).all()
        return [DueTimer(*row) for row in rows]


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
        self._inbound: Message | None = None
        self._locked_cases: set[int] = set()

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
        self._inbound = Message(
            channel=inbound.channel,
            direction="in",
            transport_id=inbound.transport_id,
            conversation=inbound.conversation,
            message_ref=inbound.message_id,
            sender_id=inbound.sender_id,
            kind=inbound.kind.value,
            text=inbound.text,
            raw=inbound.raw,
            at=inbound.received_at,
        )
        self.session.add(self._inbound)
        await self.session.flush()
        return True

    async def load_state(self) -> dict[str, Any] | None:
        return self.row.state

    async def save_state(self, state: dict[str, Any]) -> None:
        self.row.state = state
        # The state may be the loaded dict changed in place, which SQLAlchemy cannot see.
        flag_modified(self.row, "state")
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

    async def _complainant_id(
        self, create: bool, at: datetime | None = None, contact: NewCase | None = None
    ) -> int | None:
        channel = self.row.channel
        found = await self.session.scalar(
            select(Identity.complainant_id).where(
                Identity.channel == channel, Identity.external_id == self.sender_id
            )
        )
        if found is not None or not create:
            return found
        now = at or _utcnow()
        person_id = await _same_person(self.session, contact) if contact else None
        if person_id is None:
            person = Complainant(created_at=now, updated_at=now)
            self.session.add(person)
            await self.session.flush()
            assert person.id is not None
            person_id = person.id
        self.session.add(
            Identity(
                channel=channel,
                external_id=self.sender_id,
                complainant_id=person_id,
                created_at=now,
            )
        )
        return person_id

    async def create_case(self, case: NewCase) -> str:
        session = self.session
        complainant_id = await self._complainant_id(create=True, at=case.created_at, contact=case)
        assert complainant_id is not None
        await session.execute(
            update(Complainant)
            .where(Complainant.id == complainant_id)  # type: ignore[arg-type]
            .values(
                name=case.name,
                # A contact this case lacks keeps what another channel told us.
                phone=func.coalesce(case.phone, Complainant.phone),
                email=func.coalesce(case.email, Complainant.email),
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
            receipt_due_at=case.receipt_due_at,
            resolution_due_at=case.resolution_due_at,
        )
        session.add(row)
        await session.flush()
        assert row.id is not None
        await _link_intake(session, row, case)
        for kind, due_at in case.timers:
            session.add(CaseTimer(case_id=row.id, kind=kind, due_at=due_at))
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
                    "deadlines": {
                        limit: due.isoformat()
                        for limit, due in (
                            ("receipt", case.receipt_due_at),
                            ("first_response", case.response_due_at),
                            ("resolution", case.resolution_due_at),
                        )
                        if due is not None
                    },
                },
            )
        )
        for at, who, kind, payload in events:
            await append_event(session, row.id, at, who, kind, payload)
        return case_no

    async def own_cases(self) -> list[CaseView]:
        complainant_id = await self._complainant_id(create=False)
        if complainant_id is None:
            return []
        rows = (
            await self.session.scalars(
                select(Case)
                .where(
                    Case.complainant_id == complainant_id,
                    # One person across channels, but a typed phone or address proves
                    # nothing: each identity sees what was filed through its channel.
                    Case.channel == self.row.channel,
                )
                .order_by(Case.id.desc())  # type: ignore[union-attr]
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

    # ----- cases, for follow-ups and the agents' desk --------------------------------

    async def _record(self, row: Case | None) -> CaseRecord | None:
        if row is None:
            return None
        assert row.id is not None
        if self.session.bind.dialect.name == "postgresql" and row.id not in self._locked_cases:
            # Desk and complainant work on one case from different conversations.
            await self.session.execute(
                select(Case.id).where(Case.id == row.id).with_for_update()  # type: ignore[arg-type]
            )
            await self.session.refresh(row)
            self._locked_cases.add(row.id)
        handler = await self.session.get(Agent, row.handler_id) if row.handler_id else None
        return _case_record(row, handler)

    async def case(self, case_no: str) -> CaseRecord | None:
        row = await self.session.scalar(select(Case).where(Case.case_no == case_no))
        return await self._record(row)

    async def case_by_thread(self, thread: str) -> CaseRecord | None:
        row = await self.session.scalar(
            select(Case).where(Case.agent_thread == thread).order_by(Case.id.desc()).limit(1)  # type: ignore[union-attr]
        )
        return await self._record(row)

    async def case_by_message(self, message_id: str) -> CaseRecord | None:
        case_id = await self.session.scalar(
            select(Message.case_id)
            .where(
                Message.channel == self.row.channel,
                Message.conversation == self.row.conversation,
                Message.message_ref == message_id,
                Message.case_id.is_not(None),  # type: ignore[union-attr]
            )
            .limit(1)
        )
        if case_id is None:
            return None
        return await self._record(await self.session.get(Case, case_id))

    async def case_by_references(self, references: tuple[str, ...]) -> CaseRecord | None:
        """The case of the first of `references` that names a message of this channel,
        in or out, whoever's conversation it was in."""
        if not references:
            return None
        rows = (
            await self.session.execute(
                select(Message.message_ref, Message.case_id).where(
                    Message.channel == self.row.channel,
                    Message.message_ref.in_(references),  # type: ignore[union-attr]
                    Message.case_id.is_not(None),  # type: ignore[union-attr]
                )
            )
        ).all()
        cases = {ref: case_id for ref, case_id in rows}
        for reference in references:
            if reference in cases:
                return await self._record(await self.session.get(Case, cases[reference]))
        return None

    async def automatic_replies_since(self, since: datetime) -> int:
        count = await self.session.scalar(
            select(func.count(OutboxItem.id)).where(
                OutboxItem.channel == self.row.channel,
                OutboxItem.conversation == self.row.conversation,
                OutboxItem.created_at >= since,
                OutboxItem.kind.not_in(RESPONSE_KINDS),  # type: ignore[attr-defined]
            )
        )
        return int(count or 0)

    async def latest_case_of_sender(self) -> CaseRecord | None:
        complainant_id = await self._complainant_id(create=False)
        if complainant_id is None:
            return None
        row = await self.session.scalar(
            select(Case)
            .where(
                Case.complainant_id == complainant_id,
                # Only cases filed from this very chat: people merged by a typed phone
                # or email (which proves nothing) must not reach each other's cases.
                Case.channel == self.row.channel,
                Case.conversation == self.row.conversation,
                Case.status != CaseStatus.ARCHIVED.value,
            )
            .order_by(Case.id.desc())  # type: ignore[union-attr]
            .limit(1)
        )
        return await self._record(row)

    async def open_cases(self) -> list[CaseRecord]:
        statuses = [s.value for s in CaseStatus if is_open(s)]
        rows = (
            await self.session.scalars(
                select(Case)
                .where(Case.status.in_(statuses))  # type: ignore[attr-defined]
                .order_by(Case.response_due_at, Case.id)
            )
        ).all()
        handlers = {
            a.id: a
            for a in (
                await self.session.scalars(
                    select(Agent).where(Agent.id.in_({r.handler_id for r in rows if r.handler_id}))  # type: ignore[union-attr]
                )
            ).all()
        }
        return [_case_record(row, handlers.get(row.handler_id)) for row in rows]

    async def save_case(self, case: CaseRecord) -> None:
        await self.session.execute(
            update(Case)
            .where(Case.id == case.id)  # type: ignore[arg-type]
            .values(
                status=case.status.value,
                handler_id=case.handler.id if case.handler else None,
                escalated_at=case.escalated_at,
                resolution=case.resolution,
                verification=case.verification,
                resolved_at=case.resolved_at,
                category=case.category.value,
                response_due_at=case.response_due_at,
                receipt_due_at=case.receipt_due_at,
                resolution_due_at=case.resolution_due_at,
                clock_paused_at=case.clock_paused_at,
                reopened_count=case.reopened_count,
                expectation=case.expectation,
                updated_at=_utcnow(),
            )
        )

    async def add_event(
        self, case: CaseRecord, at: datetime, actor: str, kind: str, payload: dict[str, Any]
    ) -> None:
        await append_event(self.session, case.id, at, actor, kind, payload)

    async def attach_inbound(
        self, case: CaseRecord, evidence: tuple[EvidenceRef, ...] = ()
    ) -> None:
        if self._inbound is not None:
            self._inbound.case_id = case.id
            self.session.add(self._inbound)
        ids = [e.id for e in evidence]
        if ids:
            await self.session.execute(
                update(Evidence).where(Evidence.id.in_(ids)).values(case_id=case.id)  # type: ignore[union-attr]
            )

    async def case_files(self, case: CaseRecord) -> list[Attachment]:
        rows = (
            await self.session.scalars(
                select(Evidence).where(Evidence.case_id == case.id).order_by(Evidence.id)  # type: ignore[arg-type]
            )
        ).all()
        return [Attachment(r.name, r.mime, None, r.size, sha256=r.sha256) for r in rows]

    async def previous_text(self, message_id: str) -> str | None:
        query = (
            select(Message.text)
            .where(
                Message.channel == self.row.channel,
                Message.conversation == self.row.conversation,
                Message.direction == "in",
                Message.message_ref == message_id,
            )
            .order_by(Message.id.desc())  # type: ignore[union-attr]
            .limit(1)
        )
        if self._inbound is not None and self._inbound.id is not None:
            query = query.where(Message.id != self._inbound.id)
        return await self.session.scalar(query)

    async def agent(
        self, channel: str, external_id: str, name: str, username: str | None
    ) -> AgentRecord:
        row = await self.session.scalar(
            select(Agent).where(Agent.channel == channel, Agent.external_id == external_id)
        )
        if row is None:
            row = Agent(
                channel=channel,
                external_id=external_id,
                name=name or external_id,
                username=username,
                created_at=_utcnow(),
            )
            self.session.add(row)
        elif (name and row.name != name) or row.username != username:
            row.name, row.username = name or row.name, username
            self.session.add(row)
        await self.session.flush()
        return _agent_record(row)

    async def find_agent(self, who: str) -> AgentRecord | None:
        who = who.strip()
        if who.startswith("message:"):
            sender = await self.session.scalar(
                select(Message.sender_id).where(
                    Message.channel == self.row.channel,
                    Message.conversation == self.row.conversation,
                    Message.direction == "in",
                    Message.message_ref == who.removeprefix("message:"),
                )
            )
            if sender is None:
                return None
            query = select(Agent).where(
                Agent.channel == self.row.channel, Agent.external_id == sender
            )
        elif who.startswith("@"):
            query = select(Agent).where(Agent.username == who[1:])
        elif who.isdigit():
            query = select(Agent).where(Agent.id == int(who))  # type: ignore[arg-type]
        else:
            query = select(Agent).where(Agent.name == who)
        row = await self.session.scalar(query.limit(1))
        return _agent_record(row) if row else None

    # ----- timers and surveys ----------------------------------------------------------

    async def set_timers(
        self, case: CaseRecord, timers: list[tuple[str, datetime]], replacing: str | None = None
    ) -> None:
        if replacing is not None:
            await self.session.execute(
                update(CaseTimer)
                .where(
                    CaseTimer.case_id == case.id,
                    CaseTimer.status == "pending",
                    CaseTimer.kind.startswith(replacing),
                )
                .values(status="dropped")
            )
        for kind, due_at in timers:
            self.session.add(CaseTimer(case_id=case.id, kind=kind, due_at=due_at))

    async def claim_timer(self, timer_id: int) -> TimerRecord | None:
        query = select(CaseTimer).where(CaseTimer.id == timer_id, CaseTimer.status == "pending")
        if self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = await self.session.scalar(query)
        if row is None:
            return None
        assert row.id is not None
        return TimerRecord(row.id, row.kind, row.due_at)

    async def finish_timer(self, timer: TimerRecord, at: datetime, fired: bool) -> None:
        await self.session.execute(
            update(CaseTimer)
            .where(CaseTimer.id == timer.id)
            .values(status="fired" if fired else "dropped", fired_at=at)
        )

    async def move_timer(self, timer: TimerRecord, due_at: datetime) -> None:
        await self.session.execute(
            update(CaseTimer).where(CaseTimer.id == timer.id).values(due_at=due_at)
        )

    async def new_survey(self, case: CaseRecord, at: datetime) -> SurveyRecord:
        rounds = await self.session.scalar(
            select(func.count()).select_from(Survey).where(Survey.case_id == case.id)
        )
        row = Survey(case_id=case.id, round=(rounds or 0) + 1, created_at=at)
        self.session.add(row)
        await self.session.flush()
        return _survey_record(row)

    async def last_contact(self, case: CaseRecord) -> datetime | None:
        return await self.session.scalar(
            select(func.max(OutboxItem.created_at)).where(
                OutboxItem.case_id == case.id,
                OutboxItem.channel == case.channel,
                OutboxItem.conversation == case.conversation,
            )
        )

    async def latest_survey(self, case: CaseRecord) -> SurveyRecord | None:
        row = await self.session.scalar(
            select(Survey).where(Survey.case_id == case.id).order_by(Survey.id.desc()).limit(1)
        )
        return _survey_record(row) if row else None

    async def save_survey(self, case: CaseRecord, survey: SurveyRecord) -> None:
        await self.session.execute(
            update(Survey)
            .where(Survey.id == survey.id)
            .values(
                asked_at=survey.asked_at,
                reminded_at=survey.reminded_at,
                answered_at=survey.answered_at,
                score=survey.score,
                comment=survey.comment,
                outcome=survey.outcome,
            )
        )

    async def case_awaiting_rating(self) -> CaseRecord | None:
        complainant_id = await self._complainant_id(create=False)
        if complainant_id is None:
            return None
        row = await self.session.scalar(
            select(Case)
            .join(Survey, Survey.case_id == Case.id)
            .where(
                Case.complainant_id == complainant_id,
                Case.channel == self.row.channel,
                Case.conversation == self.row.conversation,
                Case.status == CaseStatus.RESOLVED.value,
                Survey.asked_at.is_not(None),
                Survey.answered_at.is_(None),
                Survey.outcome.is_(None),
            )
            .order_by(Survey.asked_at.desc())
            .limit(1)
        )
        return await self._record(row)


def _case_record(row: Case, handler: Agent | None) -> CaseRecord:
    assert row.id is not None
    return CaseRecord(
        id=row.id,
        case_no=row.case_no,
        status=CaseStatus(row.status),
        channel=row.channel,
        conversation=row.conversation,
        complainant_id=row.complainant_id,
        locale=row.locale,
        name=row.contact_name,
        phone=row.contact_phone,
        email=row.contact_email,
        category=Category(row.category),
        subject=row.subject,
        description=row.description,
        expectation=row.expectation,
        received_at=row.received_at,
        response_due_at=row.response_due_at,
        first_response_at=row.first_response_at,
        resolved_at=row.resolved_at,
        receipt_sent_at=row.receipt_sent_at,
        handler=_agent_record(handler) if handler else None,
        agent_thread=row.agent_thread,
        escalated_at=row.escalated_at,
        resolution=row.resolution,
        verification=row.verification,
        receipt_due_at=row.receipt_due_at,
        resolution_due_at=row.resolution_due_at,
        clock_paused_at=row.clock_paused_at,
        reopened_count=row.reopened_count,
    )


def _survey_record(row: Survey) -> SurveyRecord:
    assert row.id is not None
    return SurveyRecord(
        id=row.id,
        round=row.round,
        asked_at=row.asked_at,
        reminded_at=row.reminded_at,
        answered_at=row.answered_at,
        score=row.score,
        comment=row.comment,
        outcome=row.outcome,
    )


def _agent_record(row: Agent) -> AgentRecord:
    assert row.id is not None
    return AgentRecord(row.id, row.channel, row.external_id, row.name, row.username)


async def _same_person(session: AsyncSession, contact: NewCase) -> int | None:
    """The complainant already known by this email address or phone number, if any."""
    for column, value in ((Complainant.email, contact.email), (Complainant.phone, contact.phone)):
        if value:
            found = await session.scalar(
                select(Complainant.id).where(column == value).order_by(Complainant.id).limit(1)  # type: ignore[arg-type]
            )
            if found is not None:
                return int(found)
    return None


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
