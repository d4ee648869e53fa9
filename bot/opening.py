"""How a case begins: its first status and the first events on its timeline.

Storage allocates the number and writes what is decided here; every channel's intake
opens its case through `with_opening`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.domain import CaseStatus
from bot.ports import NewCase, OpeningEvent

# A case is acknowledged as it opens: its receipt is queued in the same transaction.
OPENING_STATUS = CaseStatus.ACKNOWLEDGED


def with_opening(case: NewCase) -> NewCase:
    """`case` with the status it opens in and the events that start its timeline."""
    return replace(case, status=OPENING_STATUS, events=opening_events(case))


def opening_events(case: NewCase) -> tuple[OpeningEvent, ...]:
    """Received, the privacy notice as it was given (if the case says), then each edit
    of the description during the intake, each file, and the case as filed (with its
    deadlines) — all by the complainant."""
    edits = [
        OpeningEvent(e.at, "description_edited", {"before": e.before, "after": e.after})
        for e in case.description_edits
    ]
    files = [
        OpeningEvent(
            case.created_at,
            "evidence_added",
            {"name": e.name, "mime": e.mime, "size": e.size, "sha256": e.sha256},
        )
        for e in case.evidence
    ]
    return (
        OpeningEvent(case.received_at, "received", _received(case)),
        *_privacy_notice(case),
        *edits,
        *files,
        OpeningEvent(case.created_at, "case_created", _as_filed(case)),
    )


def _received(case: NewCase) -> dict[str, Any]:
    """By which channel; for a case entered from elsewhere also where it came from, the
    sender's reference and who entered it."""
    received: dict[str, Any] = {"channel": case.channel}
    if case.source is not None:
        received |= {
            "source": case.source,
            "external_ref": case.external_ref,
            "entered_by": case.entered_by,
        }
    return received


def _privacy_notice(case: NewCase) -> tuple[OpeningEvent, ...]:
    """The notice's version and whether it was agreed to: seen before the complainant
    wrote (the chat's greeting, the web's page), or given with the receipt."""
    given = case.privacy
    if given is None:
        return ()
    at = case.created_at if given.with_receipt else case.received_at
    return (OpeningEvent(at, "privacy_notice", given.payload()),)


def _as_filed(case: NewCase) -> dict[str, Any]:
    deadlines = {
        limit: due.isoformat()
        for limit, due in (
            ("receipt", case.receipt_due_at),
            ("first_response", case.response_due_at),
            ("resolution", case.resolution_due_at),
        )
        if due is not None
    }
    return {
        "category": case.category.value,
        "subject": case.subject,
        "description": case.description,
        "expectation": case.expectation,
        "name": case.name,
        "phone": case.phone,
        "email": case.email,
        "response_due_at": case.response_due_at.isoformat(),
        "deadlines": deadlines,
    }
