"""One transaction of the memory backend: every port of `bot.ports.ConversationTx`
on the memory tables, with the semantics of `storage/`'s SQL (see `tests.support.memory`)."""

from __future__ import annotations

import asyncio
import copy
import hashlib
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.domain import RESPONSE_KINDS, CaseStatus, format_case_no
from bot.draft import EvidenceRef
from bot.messages import Attachment, Inbound, Outbound
from bot.ports import (
    AgentRecord,
    CaseRecord,
    CaseView,
    Clock,
    NewCase,
    PartnerRecord,
    ReferralRecord,
    SurveyRecord,
    ThreadOpening,
    TimerRecord,
)
from tests.support.memory_tables import (
    Person,
    StoredEvent,
    StoredEvidence,
    StoredMessage,
    StoredReply,
    StoredSurvey,
    StoredTimer,
    Tables,
    as_json,
)


class MemoryTx:
    """One transaction on one conversation: `bot.ports.ConversationTx` in memory."""

    def __init__(
        self,
        tables: Tables,
        files: dict[str, bytes],
        channel: str,
        conversation: str,
        sender_id: str,
        clock: Clock,
    ) -> None:
        self.t = tables
        self.files = files
        self.channel, self.conversation, self.sender_id = channel, conversation, sender_id
        self.clock = clock
        self._inbound: StoredMessage | None = None

    # ----- ConversationStore --------------------------------------------------------

    async def record_inbound(self, inbound: Inbound) -> bool:
        if any(
            m.channel == inbound.channel
            and m.direction == "in"
            and m.transport_id == inbound.transport_id
            for m in self.t.messages
        ):
            return False
        self._inbound = StoredMessage(
            id=self.t.new_id("messages"),
            channel=inbound.channel,
            direction="in",
            transport_id=inbound.transport_id,
            conversation=inbound.conversation,
            message_ref=inbound.message_id,
            sender_id=inbound.sender_id,
            kind=inbound.kind.value,
            text=inbound.text,
            raw=as_json(inbound.raw),
            at=inbound.received_at,
        )
        self.t.messages.append(self._inbound)
        return True

    async def load_state(self) -> dict[str, Any] | None:
        state = self.t.states.get((self.channel, self.conversation))
        return None if state is None else as_json(state)

    async def save_state(self, state: dict[str, Any]) -> None:
        self.t.states[(self.channel, self.conversation)] = as_json(state)

    async def store_evidence(self, attachment: Attachment, received_at: datetime) -> EvidenceRef:
        data = attachment.data
        if attachment.path is not None:  # a file the channel wrote to disk
            data = await asyncio.to_thread(Path(attachment.path).read_bytes)
        assert data is not None
        sha256 = hashlib.sha256(data).hexdigest()
        self.files[sha256] = data
        row = StoredEvidence(
            self.t.new_id("evidence"),
            self.channel,
            self.conversation,
            attachment.name,
            attachment.mime,
            len(data),
            sha256,
            received_at,
        )
        self.t.evidence.append(row)
        return EvidenceRef(row.id, row.name, row.mime, row.size, row.sha256)

    async def previous_text(self, message_id: str) -> str | None:
        earlier = [
            m
            for m in self._messages_here()
            if m.direction == "in" and m.message_ref == message_id and m is not self._inbound
        ]
        return max(earlier, key=lambda m: m.id).text if earlier else None

    def _messages_here(self) -> list[StoredMessage]:
        return [
            m
            for m in self.t.messages
            if m.channel == self.channel and m.conversation == self.conversation
        ]

    # ----- CaseStore ----------------------------------------------------------------

    def _complainant_id(
        self, create: bool, at: datetime | None = None, contact: NewCase | None = None
    ) -> int | None:
        found = self.t.identities.get((self.channel, self.sender_id))
        if found is not None or not create:
            return found
        person_id = self._same_person(contact) if contact else None
        if person_id is None:
            person_id = self.t.new_id("people")
            self.t.people[person_id] = Person()
        self.t.identities[(self.channel, self.sender_id)] = person_id
        return person_id

    def _same_person(self, contact: NewCase) -> int | None:
        for attribute, value in (("email", contact.email), ("phone", contact.phone)):
            if value:
                for person_id in sorted(self.t.people):
                    if getattr(self.t.people[person_id], attribute) == value:
                        return person_id
        return None

    def _record(self, case: CaseRecord | None) -> CaseRecord | None:
        """A copy, its handler as the agent is now (names change)."""
        if case is None:
            return None
        handler = self.t.agents.get(case.handler.id) if case.handler else None
        return replace(copy.deepcopy(case), handler=handler)

    async def create_case(self, case: NewCase) -> str:
        complainant_id = self._complainant_id(create=True, at=case.created_at, contact=case)
        assert complainant_id is not None
        person = self.t.people[complainant_id]
        person.name, person.locale = case.name, case.locale
        # A contact this case lacks keeps what another channel told us.
        person.phone = case.phone or person.phone
        person.email = case.email or person.email
        day = case.number_day.strftime("%Y%m%d")
        self.t.counters[day] = self.t.counters.get(day, 0) + 1
        case_no = format_case_no(case.prefix, case.number_day, self.t.counters[day])
        case_id = self.t.new_id("cases")
        self.t.cases[case_id] = CaseRecord(
            id=case_id,
            case_no=case_no,
            status=case.status,
            channel=case.channel,
            conversation=case.conversation,
            complainant_id=complainant_id,
            locale=case.locale,
            name=case.name,
            phone=case.phone,
            email=case.email,
            category=case.category,
            subject=case.subject,
            description=case.description,
            expectation=case.expectation,
            received_at=case.received_at,
            response_due_at=case.response_due_at,
            receipt_due_at=case.receipt_due_at,
            resolution_due_at=case.resolution_due_at,
        )
        self.t.case_created[case_id] = case.created_at
        evidence_ids = {e.id for e in case.evidence}
        for row in self.t.evidence:
            if row.id in evidence_ids:
                row.case_id = case_id
        for message in self.t.messages:
            if (
                (message.channel, message.conversation) == (case.channel, case.conversation)
                and message.direction == "in"
                and message.case_id is None
                and message.at >= case.received_at
            ):
                message.case_id = case_id
        for kind, due_at in case.timers:
            self.t.timers.append(StoredTimer(self.t.new_id("timers"), case_id, kind, due_at))
        actor = f"complainant:{complainant_id}"
        for event in case.events:
            self.t.events.append(
                StoredEvent(case_id, event.at, actor, event.kind, as_json(event.payload))
            )
        return case_no

    async def own_cases(self) -> list[CaseView]:
        complainant_id = self._complainant_id(create=False)
        return [
            CaseView(c.case_no, c.status, c.category, c.subject, c.received_at, c.response_due_at)
            for c in sorted(self.t.cases.values(), key=lambda c: -c.id)
            if c.complainant_id == complainant_id and c.channel == self.channel
        ]

    async def case(self, case_no: str) -> CaseRecord | None:
        return self._record(self.t.case_by_no(case_no))

    async def case_by_thread(self, thread: str) -> CaseRecord | None:
        found = [c for c in self.t.cases.values() if c.agent_thread == thread]
        return self._record(max(found, key=lambda c: c.id) if found else None)

    async def case_by_message(self, message_id: str) -> CaseRecord | None:
        for message in self._messages_here():
            if message.message_ref == message_id and message.case_id is not None:
                return self._record(self.t.cases[message.case_id])
        return None

    async def case_by_references(self, references: tuple[str, ...]) -> CaseRecord | None:
        cases = {
            m.message_ref: m.case_id
            for m in self.t.messages
            if m.channel == self.channel and m.message_ref in references and m.case_id
        }
        for reference in references:
            if reference in cases:
                return self._record(self.t.cases[cases[reference]])
        return None

    async def latest_case_of_sender(self) -> CaseRecord | None:
        complainant_id = self._complainant_id(create=False)
        mine = [
            c
            for c in self.t.cases.values()
            if c.complainant_id == complainant_id
            and (c.channel, c.conversation) == (self.channel, self.conversation)
            and c.status != CaseStatus.ARCHIVED
        ]
        return self._record(max(mine, key=lambda c: c.id) if mine and complainant_id else None)

    async def open_cases(self, statuses: frozenset[CaseStatus]) -> list[CaseRecord]:
        found = [c for c in self.t.cases.values() if c.status in statuses]
        found.sort(key=lambda c: (c.response_due_at is not None, c.response_due_at, c.id))
        return [r for r in map(self._record, found) if r is not None]

    async def save_case(self, case: CaseRecord) -> None:
        stored = self.t.cases[case.id]
        for name in (
            "status",
            "handler",
            "escalated_at",
            "resolution",
            "verification",
            "resolved_at",
            "category",
            "response_due_at",
            "receipt_due_at",
            "resolution_due_at",
            "clock_paused_at",
            "reopened_count",
            "archived_at",
            "expectation",
        ):
            setattr(stored, name, copy.deepcopy(getattr(case, name)))

    async def add_event(
        self, case: CaseRecord, at: datetime, actor: str, kind: str, payload: dict[str, Any]
    ) -> None:
        self.t.events.append(StoredEvent(case.id, at, actor, kind, as_json(payload)))

    async def attach_inbound(
        self, case: CaseRecord, evidence: tuple[EvidenceRef, ...] = ()
    ) -> None:
        if self._inbound is not None:
            self._inbound.case_id = case.id
        ids = {e.id for e in evidence}
        for row in self.t.evidence:
            if row.id in ids:
                row.case_id = case.id

    async def case_files(self, case: CaseRecord) -> list[Attachment]:
        return [
            Attachment(e.name, e.mime, None, e.size, sha256=e.sha256)
            for e in self.t.evidence
            if e.case_id == case.id
        ]

    async def agent(
        self,
        channel: str,
        external_id: str,
        name: str,
        username: str | None,
        *,
        keep_username: bool = False,
    ) -> AgentRecord:
        for agent_id, known in self.t.agents.items():
            if (known.channel, known.external_id) == (channel, external_id):
                username = known.username if keep_username else username
                if (name and known.name != name) or known.username != username:
                    known = replace(known, name=name or known.name, username=username)
                    self.t.agents[agent_id] = known
                return known
        agent_id = self.t.new_id("agents")
        self.t.agents[agent_id] = AgentRecord(
            agent_id, channel, external_id, name or external_id, username
        )
        return self.t.agents[agent_id]

    async def find_agent(self, who: str) -> AgentRecord | None:
        who = who.strip()
        agents = sorted(self.t.agents.values(), key=lambda a: a.id)
        if who.startswith("message:"):
            ref = who.removeprefix("message:")
            sender = next(
                (
                    m.sender_id
                    for m in self._messages_here()
                    if m.direction == "in" and m.message_ref == ref
                ),
                None,
            )
            if sender is None:
                return None
            found = [a for a in agents if (a.channel, a.external_id) == (self.channel, sender)]
        elif who.startswith("@"):
            found = [a for a in agents if a.username == who[1:]]
        elif who.isdigit():
            found = [a for a in agents if a.id == int(who)]
        else:
            found = [a for a in agents if a.name == who]
        return found[0] if found else None

    # ----- TimerStore ---------------------------------------------------------------

    async def set_timers(
        self, case: CaseRecord, timers: list[tuple[str, datetime]], replacing: str | None = None
    ) -> None:
        if replacing is not None:
            for timer in self.t.timers:
                if (
                    timer.case_id == case.id
                    and timer.status == "pending"
                    and timer.kind.startswith(replacing)
                ):
                    timer.status = "dropped"
        for kind, due_at in timers:
            self.t.timers.append(StoredTimer(self.t.new_id("timers"), case.id, kind, due_at))

    def _timer(self, timer_id: int) -> StoredTimer:
        return next(t for t in self.t.timers if t.id == timer_id)

    async def claim_timer(self, timer_id: int) -> TimerRecord | None:
        timer = next((t for t in self.t.timers if t.id == timer_id), None)
        if timer is None or timer.status != "pending":
            return None
        return TimerRecord(timer.id, timer.kind, timer.due_at)

    async def finish_timer(self, timer: TimerRecord, at: datetime, fired: bool) -> None:
        stored = self._timer(timer.id)
        stored.status, stored.fired_at = ("fired" if fired else "dropped"), at

    async def move_timer(self, timer: TimerRecord, due_at: datetime) -> None:
        self._timer(timer.id).due_at = due_at

    async def timer_pending(self, case: CaseRecord, kind: str) -> bool:
        return any(
            t.case_id == case.id and t.kind == kind and t.status == "pending" for t in self.t.timers
        )

    async def timer_last_finished(self, case: CaseRecord, kind: str) -> datetime | None:
        times = [
            t.fired_at
            for t in self.t.timers
            if t.case_id == case.id and t.kind == kind and t.fired_at is not None
        ]
        return max(times) if times else None

    async def new_survey(self, case: CaseRecord, at: datetime) -> SurveyRecord:
        rounds = sum(1 for s in self.t.surveys if s.case_id == case.id)
        survey = SurveyRecord(self.t.new_id("surveys"), rounds + 1)
        self.t.surveys.append(StoredSurvey(case.id, survey))
        return replace(survey)

    async def last_contact(self, case: CaseRecord) -> datetime | None:
        to_complainant = (case.channel, case.conversation)
        times = [
            r.created_at
            for r in self.t.outbox
            if r.case_id == case.id and (r.channel, r.conversation) == to_complainant
        ]
        return max(times) if times else None

    async def latest_survey(self, case: CaseRecord) -> SurveyRecord | None:
        mine = [s.record for s in self.t.surveys if s.case_id == case.id]
        return replace(max(mine, key=lambda s: s.id)) if mine else None

    async def save_survey(self, case: CaseRecord, survey: SurveyRecord) -> None:
        for stored in self.t.surveys:
            if stored.record.id == survey.id:
                stored.record = replace(survey)

    async def case_awaiting_rating(self) -> CaseRecord | None:
        complainant_id = self._complainant_id(create=False)
        if complainant_id is None:
            return None
        waiting = [
            (s.record.asked_at, self.t.cases[s.case_id])
            for s in self.t.surveys
            if s.record.awaiting_answer
            and s.record.asked_at is not None
            and (case := self.t.cases[s.case_id]).complainant_id == complainant_id
            and (case.channel, case.conversation) == (self.channel, self.conversation)
            and case.status == CaseStatus.RESOLVED
        ]
        waiting.sort(key=lambda w: w[0])
        return self._record(waiting[-1][1]) if waiting else None

    # ----- ShownAnswers -------------------------------------------------------------

    async def answers_not_shown(self, case: CaseRecord, since: datetime | None) -> list[str]:
        # No page reports here what it showed: every answer delivered is unseen.
        return [
            m.text
            for m in sorted(self.t.messages, key=lambda m: m.id)
            if m.case_id == case.id
            and (m.channel, m.conversation) == (case.channel, case.conversation)
            and m.direction == "out"
            and m.kind in RESPONSE_KINDS
            and m.text
            and (since is None or m.at > since)
        ]

    # ----- PartnerStore -------------------------------------------------------------

    async def partner(self, key: str) -> PartnerRecord | None:
        return self.t.partners.get(key)

    async def add_referral(
        self, case: CaseRecord, referral: ReferralRecord, asked_by: int | None
    ) -> int:
        number = len(self.t.referrals) + 1
        self.t.referrals.append((case.id, replace(referral, id=number)))
        return number

    async def referrals(self, case: CaseRecord) -> list[ReferralRecord]:
        return [r for case_id, r in self.t.referrals if case_id == case.id]

    async def partners_at(self, address: str) -> list[PartnerRecord]:
        wanted = address.strip().lower()
        return sorted(
            (p for p in self.t.partners.values() if p.email.lower() == wanted),
            key=lambda p: p.key,
        )

    async def referral_answered(self, referral_id: int, at: datetime) -> None:
        case_id, referral = self.t.referrals[referral_id - 1]
        if referral.answered_at is None:
            self.t.referrals[referral_id - 1] = (case_id, replace(referral, answered_at=at))

    # ----- ReplyQueue ---------------------------------------------------------------

    async def enqueue(
        self,
        outbound: Outbound,
        kind: str,
        at: datetime,
        *,
        answer: bool = False,
        notice: bool = False,
    ) -> None:
        case = self.t.case_by_no(outbound.case_no) if outbound.case_no else None
        self.t.outbox.append(
            StoredReply(
                id=self.t.new_id("outbox"),
                channel=outbound.channel,
                conversation=outbound.conversation,
                kind=kind,
                answer=answer,
                notice=notice,
                case_id=case.id if case else None,
                payload=as_json(outbound.to_payload()),
                next_attempt_at=at,
                created_at=at,
            )
        )

    async def thread_opened_by(self, kind: str) -> ThreadOpening | None:
        mine = [
            r
            for r in self.t.outbox
            if (r.channel, r.conversation, r.kind) == (self.channel, self.conversation, kind)
        ]
        if not mine:
            return None
        latest = max(mine, key=lambda r: r.id)
        return ThreadOpening(latest.thread if latest.status == "sent" else None)

    async def automatic_replies_since(self, since: datetime) -> int:
        return sum(
            1
            for r in self.t.outbox
            if (r.channel, r.conversation) == (self.channel, self.conversation)
            and r.created_at >= since
            and not r.answer
        )
