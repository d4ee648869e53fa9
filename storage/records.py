"""Rows → the bot's value types."""

from __future__ import annotations

from bot.domain import CaseStatus, Category
from bot.ports import AgentRecord, CaseRecord, SurveyRecord
from storage.models import Agent, Case, Survey


def case_record(row: Case, handler: Agent | None) -> CaseRecord:
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
        handler=agent_record(handler) if handler else None,
        agent_thread=row.agent_thread,
        escalated_at=row.escalated_at,
        resolution=row.resolution,
        verification=row.verification,
        receipt_due_at=row.receipt_due_at,
        resolution_due_at=row.resolution_due_at,
        clock_paused_at=row.clock_paused_at,
        reopened_count=row.reopened_count,
        archived_at=row.archived_at,
    )


def survey_record(row: Survey) -> SurveyRecord:
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


def agent_record(row: Agent) -> AgentRecord:
    assert row.id is not None
    return AgentRecord(row.id, row.channel, row.external_id, row.name, row.username)
