"""A complainant's case: opened (with its receipt) and added to — the same for every channel.

A chat's confirmed intake and a new mail both end in `Cases.open`, which plans the
deadlines, builds the one `NewCase` storage is given, and posts the case's card to
the agents; `Cases.receipt` writes what every receipt says (each conversation style
adds how to go on). A message the complainant sends later is filed under the case by
`Cases.add_message`, whichever channel it came by.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain import Category, NoticeGiven
from bot.draft import DescriptionEdit, EvidenceRef
from bot.followup import CaseClock
from bot.i18n import Translator
from bot.labels import category_label
from bot.lifecycle import Action, IllegalTransition, next_status
from bot.opening import with_opening
from bot.ports import CaseRecord, Clock, ConversationTx, NewCase
from bot.staff import StaffNotices, local_time
from scheduler.sla import Deadlines

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Complaint:
    """What a complainant told us, complete enough to open a case."""

    locale: str
    name: str
    phone: str | None
    email: str | None
    category: Category
    subject: str
    description: str
    expectation: str
    received_at: datetime
    evidence: tuple[EvidenceRef, ...] = ()
    description_edits: tuple[DescriptionEdit, ...] = ()
    # A case entered from elsewhere (`bot.external`): where it came from, the sender's
    # reference for it, and who entered it.
    source: str | None = None
    external_ref: str | None = None
    entered_by: str | None = None
    # How the complainant was given the privacy notice: shown in the chat's greeting,
    # agreed to on the web (`NoticeGiven.agreed_to`), a line in the mail receipt.
    privacy: NoticeGiven | None = None


@dataclass(frozen=True, slots=True)
class Opened:
    """A case just opened: what its receipt tells the complainant."""

    case_no: str
    category: Category
    received_at: datetime
    deadlines: Deadlines


class Cases:
    """Opens cases and files complainants' messages under them."""

    def __init__(
        self,
        case_prefix: str,
        timezone: ZoneInfo,
        case_clock: CaseClock,
        staff: StaffNotices,
        clock: Clock,
    ) -> None:
        self.case_prefix = case_prefix
        self.timezone = timezone
        self.case_clock = case_clock
        self.staff = staff
        self.clock = clock

    async def open(
        self, tx: ConversationTx, channel: str, conversation: str, complaint: Complaint
    ) -> Opened:
        """Opens the case of `complaint`, whose complainant is answered in `conversation`
        on `channel`, with its deadlines (counted from when it was received) and timers,
        and shows it to the agents. The number carries the day it is opened."""
        now = self.clock.now()
        deadlines, timers = self.case_clock.plan(complaint.category, complaint.received_at)
        case_no = await tx.create_case(
            with_opening(
                NewCase(
                    prefix=self.case_prefix,
                    number_day=now.astimezone(self.timezone).date(),
                    channel=channel,
                    conversation=conversation,
                    locale=complaint.locale,
                    name=complaint.name,
                    phone=complaint.phone,
                    email=complaint.email,
                    category=complaint.category,
                    subject=complaint.subject,
                    description=complaint.description,
                    expectation=complaint.expectation,
                    evidence=complaint.evidence,
                    description_edits=complaint.description_edits,
                    received_at=complaint.received_at,
                    created_at=now,
                    response_due_at=deadlines.first_response,
                    receipt_due_at=deadlines.receipt,
                    resolution_due_at=deadlines.resolution,
                    timers=tuple(timers),
                    source=complaint.source,
                    external_ref=complaint.external_ref,
                    entered_by=complaint.entered_by,
                    privacy=complaint.privacy,
                )
            )
        )
        log.info(
            "case %s opened from %s",
            case_no,
            complaint.source or channel,
            extra={"case_no": case_no},
        )
        if self.staff.active:
            await self.staff.case_opened(tx, case_no)
        return Opened(case_no, complaint.category, complaint.received_at, deadlines)

    def receipt(self, tr: Translator, opened: Opened) -> list[str]:
        """The lines every receipt has: the case number and by when we answer."""
        _ = tr.gettext
        zone = self.timezone
        return [
            _("Your complaint has been accepted."),
            _("Case number: {case_no}").format(case_no=opened.case_no),
            _("Category: {category}").format(category=category_label(opened.category, _)),
            _("Received: {time}").format(time=local_time(opened.received_at, zone)),
            _("We will respond by {time} ({zone}).").format(
                time=local_time(opened.deadlines.first_response, zone), zone=zone.key
            ),
            _("We will resolve it by {time} ({zone}).").format(
                time=local_time(opened.deadlines.resolution, zone), zone=zone.key
            ),
        ]

    async def add_message(
        self,
        tx: ConversationTx,
        case: CaseRecord,
        text: str,
        files: tuple[EvidenceRef, ...],
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Files the message being handled under `case`: timeline, status, agents' thread."""
        await tx.attach_inbound(case, files)
        actor = f"complainant:{case.complainant_id}"
        now = self.clock.now()
        await tx.add_event(
            case,
            now,
            actor,
            "complainant_message",
            {
                "text": text,
                "files": [f.named() for f in files],
                **(extra or {}),
            },
        )
        try:
            status = next_status(case.status, Action.USER_REPLIED)
        except IllegalTransition:
            status = case.status
        if status is not case.status:
            await tx.add_event(
                case, now, actor, "status_changed", {"from": case.status, "to": status}
            )
            case.status = status
            await self.case_clock.complainant_answered(tx, case)
            await tx.save_case(case)
        await self.staff.post(
            tx,
            case,
            self.staff.complainant_said(case, text, len(files)),
            files=tuple(f.attachment() for f in files),
        )
