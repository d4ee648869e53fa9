"""Cases and their timeline: opened, found (by number, thread, message, mail reference),
worked on and saved back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlmodel import col

from bot.domain import CaseStatus, Category, format_case_no
from bot.draft import EvidenceRef
from bot.messages import Attachment
from bot.ports import CaseRecord, CaseView, NewCase
from storage.case_locks import created
from storage.chain import append_event, start_chain
from storage.models import Agent, Case, Complainant, Evidence, Message
from storage.records import case_record
from storage.search import reindex_case
from storage.timers import add_timers
from storage.transaction import SqlTx


class CaseRows(SqlTx):
    """`bot.ports.CaseStore` on SQL (agents aside: `storage.agents`)."""

    async def create_case(self, case: NewCase) -> str:
        complainant_id = await self._complainant_id(create=True, at=case.created_at, contact=case)
        assert complainant_id is not None
        await self.session.execute(
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
        serial = await self._next_serial(case.number_day.strftime("%Y%m%d"))
        case_no = format_case_no(case.prefix, case.number_day, serial)
        row = Case(
            case_no=case_no,
            status=case.status.value,
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
            source=case.source,
            external_ref=case.external_ref,
        )
        self.session.add(row)
        await self.session.flush()
        assert row.id is not None
        created(self.session, row.id)
        self._case_ids[case_no] = row.id
        await self._link_intake(row.id, case)
        await reindex_case(self.session, row.id)
        await add_timers(self.session, row.id, case.timers)
        events = [(event.at, event.kind, event.payload) for event in case.events]
        await start_chain(self.session, row.id, f"complainant:{complainant_id}", events)
        return case_no

    async def _next_serial(self, day: str) -> int:
        """Next serial of the day; the counter row stays locked until commit, so concurrent
        cases wait for each other and a rolled-back case gives its number back."""
        result = await self.session.execute(
            text(
                "INSERT INTO case_counters (day, last_serial) VALUES (:day, 1) "
                "ON CONFLICT (day) DO UPDATE SET last_serial = case_counters.last_serial + 1 "
                "RETURNING last_serial"
            ),
            {"day": day},
        )
        return int(result.scalar_one())

    async def _link_intake(self, case_id: int, case: NewCase) -> None:
        """Attaches the intake's evidence and messages to the new case."""
        evidence_ids = [e.id for e in case.evidence]
        if evidence_ids:
            await self.session.execute(
                update(Evidence)
                .where(Evidence.id.in_(evidence_ids))  # type: ignore[union-attr]
                .values(case_id=case_id)
            )
        await self.session.execute(
            update(Message)
            .where(
                Message.channel == case.channel,
                Message.conversation == case.conversation,
                Message.direction == "in",
                Message.case_id.is_(None),  # type: ignore[union-attr]
                Message.at >= case.received_at,
            )
            .values(case_id=case_id)
        )

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

    async def open_cases(self, statuses: frozenset[CaseStatus]) -> list[CaseRecord]:
        rows = (
            await self.session.scalars(
                select(Case)
                .where(Case.status.in_([s.value for s in statuses]))  # type: ignore[attr-defined]
                .order_by(Case.response_due_at, Case.id)
            )
        ).all()
        handler_ids = {r.handler_id for r in rows if r.handler_id}
        handlers = {
            a.id: a
            for a in (
                await self.session.scalars(select(Agent).where(Agent.id.in_(handler_ids)))  # type: ignore[union-attr]
            ).all()
        }
        return [case_record(row, handlers.get(row.handler_id)) for row in rows]

    async def save_case(self, case: CaseRecord) -> None:
        # Of what a save may change only the expectation is a search term: the terms
        # are recomputed when it changed, not on every save (each turn saves its case).
        stored = await self.session.scalar(
            select(Case.expectation).where(Case.id == case.id)  # type: ignore[arg-type]
        )
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
                archived_at=case.archived_at,
                expectation=case.expectation,
                updated_at=self.clock.now(),
            )
        )
        if stored != case.expectation:
            await reindex_case(self.session, case.id)

    async def add_event(
        self, case: CaseRecord, at: datetime, actor: str, kind: str, payload: dict[str, Any]
    ) -> None:
        await append_event(self.session, case.id, at, actor, kind, payload)

    async def attach_inbound(
        self, case: CaseRecord, evidence: tuple[EvidenceRef, ...] = ()
    ) -> None:
        if self._inbound_id is not None:
            await self.session.execute(
                update(Message).where(col(Message.id) == self._inbound_id).values(case_id=case.id)
            )
            await reindex_case(self.session, case.id)
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
