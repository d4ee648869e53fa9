"""The JSON object of `complaintbot cases show --json` and of the API's
`GET /api/v1/cases/{case_no}`. Its field names are a public interface that operators
and integrations script against: keep them exactly."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.ports import SystemClock
from bot.referrals import referral_outcome
from storage import queries
from storage.files import EvidenceFiles


def case_document(
    detail: queries.CaseDetail,
    zone: ZoneInfo,
    files: EvidenceFiles | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The whole case; the outcomes of deadlines and of referrals to partners are as of
    `now` (the system's time by default)."""
    case = detail.case
    now = now or SystemClock().now()
    return {
        "case_no": case.case_no,
        "status": case.status,
        "channel": case.channel,
        "source": case.source,
        "external_ref": case.external_ref,
        "category": case.category,
        "complainant": {
            "name": case.contact_name,
            "phone": case.contact_phone,
            "email": case.contact_email,
        },
        "subject": case.subject,
        "description": case.description,
        "expectation": case.expectation,
        "evidence": _evidence(detail, zone, files),
        "received_at": _iso(case.received_at, zone),
        "receipt_sent_at": _iso(case.receipt_sent_at, zone),
        "first_response_at": _iso(case.first_response_at, zone),
        "response_due_at": _iso(case.response_due_at, zone),
        "resolved_at": _iso(case.resolved_at, zone),
        "satisfaction": detail.satisfaction,
        "handler": detail.handler,
        "escalated_at": _iso(case.escalated_at, zone),
        "resolution": case.resolution,
        "verification": case.verification,
        "timeline": _timeline(detail, zone),
        "messages": _messages(detail, zone),
        "deadlines": [
            {
                "name": d.name,
                "due_at": _iso(d.due_at, zone),
                "done_at": _iso(d.done_at, zone),
                "outcome": outcome.value if (outcome := d.outcome(now)) else None,
            }
            for d in detail.deadlines
        ],
        "referrals": [
            {
                "partner": r.partner,
                "asked_at": _iso(r.asked_at, zone),
                "due_at": _iso(r.due_at, zone),
                "answered_at": _iso(r.answered_at, zone),
                "outcome": referral_outcome(r.due_at, r.answered_at, now).value,
            }
            for r in detail.referrals
        ],
    }


def _evidence(
    detail: queries.CaseDetail, zone: ZoneInfo, files: EvidenceFiles | None
) -> list[dict[str, Any]]:
    return [
        {
            "name": e.name,
            "mime": e.mime,
            "size": e.size,
            "sha256": e.sha256,
            "received_at": _iso(e.received_at, zone),
            "file": files.check(e.path, e.sha256) if files else None,
        }
        for e in detail.evidence
    ]


def _timeline(detail: queries.CaseDetail, zone: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {
            **event.payload,
            "at": _iso(event.at, zone),
            "actor": event.actor,
            "actor_name": detail.actors.get(event.actor),
            "event": event.kind,
            "event_id": event.id,
            "seq": event.seq,
            "hash": event.hash,
        }
        for event in detail.timeline
    ]


def _messages(detail: queries.CaseDetail, zone: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {
            "direction": m.direction,
            "channel": m.channel,
            "message_id": m.message_id,
            "sender_id": m.sender_id,
            "edited": len(m.versions) > 1,
            "versions": [
                {"at": _iso(v.at, zone), "text": v.text, "kind": v.kind} for v in m.versions
            ],
        }
        for m in detail.messages
    ]


def _iso(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return moment.astimezone(zone).isoformat() if moment else None
