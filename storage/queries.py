"""Read-only views of cases for operators (the CLI) — never for complainants."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from scheduler.deadlines import Deadline
from storage.models import (
    Agent,
    Case,
    Evidence,
    Message,
    Referral,
    Survey,
    TimelineEvent,
    TimelineHead,
)


@dataclass(frozen=True, slots=True)
class CaseRow:
    case_no: str
    status: str
    channel: str
    category: str
    name: str
    subject: str
    received_at: datetime
    response_due_at: datetime | None


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    name: str
    mime: str
    size: int
    sha256: str
    path: str
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    at: datetime
    actor: str
    kind: str
    payload: dict[str, Any]
    id: int | None = None
    seq: int | None = None
    hash: str = ""


@dataclass(frozen=True, slots=True)
class MessageVersion:
    at: datetime
    text: str
    kind: str


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One message of the case with every version of it (more than one when edited)."""

    direction: str
    channel: str
    message_id: str | None
    sender_id: str
    versions: list[MessageVersion]


@dataclass(frozen=True, slots=True)
class ReferralRow:
    """A referral of the case to a partner (by the partner's key) and its deadline."""

    partner: str
    asked_at: datetime
    due_at: datetime
    answered_at: datetime | None


@dataclass(frozen=True, slots=True)
class CaseDetail:
    case: Case
    evidence: list[EvidenceRow] = field(default_factory=list)
    timeline: list[EventRow] = field(default_factory=list)
    handler: str | None = None
    messages: list[MessageRow] = field(default_factory=list)
    # Who each timeline actor ("agent:3", "complainant:1", "system") is, by name.
    actors: dict[str, str] = field(default_factory=dict)
    deadlines: list[Deadline] = field(default_factory=list)
    # The latest survey's score (each survey keeps its own in `surveys`).
    satisfaction: int | None = None
    # Its referrals to partners, oldest first.
    referrals: list[ReferralRow] = field(default_factory=list)


async def list_cases(engine: AsyncEngine, status: str | None = None) -> list[CaseRow]:
    query = select(Case).order_by(Case.received_at.desc(), Case.id.desc())  # type: ignore[union-attr]
    if status:
        query = query.where(Case.status == status)
    async with AsyncSession(engine) as session:
        rows = (await session.scalars(query)).all()
    return [
        CaseRow(
            r.case_no,
            r.status,
            r.channel,
            r.category,
            r.contact_name,
            r.subject,
            r.received_at,
            r.response_due_at,
        )
        for r in rows
    ]


async def case_detail(engine: AsyncEngine, case_no: str) -> CaseDetail | None:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        case = await session.scalar(select(Case).where(Case.case_no == case_no))
        if case is None:
            return None
        evidence = (
            await session.scalars(
                select(Evidence).where(Evidence.case_id == case.id).order_by(Evidence.id)  # type: ignore[arg-type]
            )
        ).all()
        events = (
            await session.scalars(
                select(TimelineEvent)
                .where(TimelineEvent.case_id == case.id)
                .order_by(TimelineEvent.at, TimelineEvent.seq)  # type: ignore[arg-type]
            )
        ).all()
        handler = await session.get(Agent, case.handler_id) if case.handler_id else None
        messages = (
            await session.scalars(
                select(Message).where(Message.case_id == case.id).order_by(Message.at, Message.id)  # type: ignore[arg-type]
            )
        ).all()
        actors = await _actor_names(session, case, {e.actor for e in events})
        satisfaction = await session.scalar(
            select(Survey.score)
            .where(Survey.case_id == case.id)
            .order_by(Survey.round.desc(), Survey.id.desc())  # type: ignore[attr-defined,union-attr]
            .limit(1)
        )
        referrals = (
            await session.scalars(
                select(Referral)
                .where(Referral.case_id == case.id)
                .order_by(Referral.asked_at, Referral.id)  # type: ignore[arg-type]
            )
        ).all()
    return CaseDetail(
        handler=handler.name if handler else None,
        case=case,
        evidence=[
            EvidenceRow(e.name, e.mime, e.size, e.sha256, e.path, e.received_at) for e in evidence
        ],
        timeline=[
            EventRow(e.at, e.actor, e.kind, dict(e.payload), e.id, e.seq, e.hash) for e in events
        ],
        messages=_versions(messages),
        actors=actors,
        deadlines=case_deadlines(case),
        satisfaction=satisfaction,
        referrals=[
            ReferralRow(r.partner_key, r.asked_at, r.due_at, r.answered_at) for r in referrals
        ],
    )


def case_deadlines(case: Case) -> list[Deadline]:
    """Every time limit of the case, in the order they fall due."""
    return [
        Deadline("receipt", case.receipt_due_at, case.receipt_sent_at),
        Deadline("first_response", case.response_due_at, case.first_response_at),
        Deadline("resolution", case.resolution_due_at, case.resolved_at),
    ]


async def _actor_names(session: AsyncSession, case: Case, actors: set[str]) -> dict[str, str]:
    agent_ids = [int(a.split(":", 1)[1]) for a in actors if re.fullmatch(r"agent:\d+", a)]
    names = {
        f"agent:{agent.id}": agent.name
        for agent in (await session.scalars(select(Agent).where(Agent.id.in_(agent_ids)))).all()  # type: ignore[union-attr]
    }
    names[f"complainant:{case.complainant_id}"] = case.contact_name
    return {actor: names[actor] for actor in actors if actor in names}


def _versions(messages: Sequence[Message]) -> list[MessageRow]:
    """Messages grouped by the transport's message id: an edit is a later version."""
    grouped: dict[tuple[str, str, str], MessageRow] = {}
    for m in messages:
        key = (m.direction, m.conversation, m.message_ref or f"#{m.id}")
        row = grouped.get(key)
        if row is None:
            row = grouped[key] = MessageRow(m.direction, m.channel, m.message_ref, m.sender_id, [])
        row.versions.append(MessageVersion(m.at, m.text, m.kind))
    return list(grouped.values())


async def timeline_length(engine: AsyncEngine, case_no: str) -> int:
    """The position of the case's last timeline event (0 for none or no such case):
    what a watcher compares to know that something happened."""
    async with AsyncSession(engine) as session:
        seq = await session.scalar(
            select(TimelineHead.seq)
            .join(Case, Case.id == TimelineHead.case_id)  # type: ignore[arg-type]
            .where(Case.case_no == case_no)
        )
    return int(seq or 0)
