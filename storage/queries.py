"""Read-only views of cases for operators (the CLI) — never for complainants."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.models import Agent, Case, Evidence, TimelineEvent


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


@dataclass(frozen=True, slots=True)
class EventRow:
    at: datetime
    actor: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CaseDetail:
    case: Case
    evidence: list[EvidenceRow] = field(default_factory=list)
    timeline: list[EventRow] = field(default_factory=list)
    handler: str | None = None


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
                .order_by(TimelineEvent.at, TimelineEvent.id)  # type: ignore[arg-type]
            )
        ).all()
        handler = await session.get(Agent, case.handler_id) if case.handler_id else None
    return CaseDetail(
        handler=handler.name if handler else None,
        case=case,
        evidence=[EvidenceRow(e.name, e.mime, e.size, e.sha256, e.path) for e in evidence],
        timeline=[EventRow(e.at, e.actor, e.kind, dict(e.payload)) for e in events],
    )
