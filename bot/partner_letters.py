"""Letters from partners: the answer to a referral joins its case and ends the wait.

A letter from a partner's address (`bot.letters` asks here first) never opens a case
and never gets a receipt. It joins the case it answers, found by

1. the message ids it answers (our request or reminder, or their own earlier answer),
2. else a case number in its subject,

and only a case that was referred to that partner: a partner quoting another case's
number reaches nothing. The first answer to a referral ends its wait (answered, or
answered late); later letters are kept on the case as the partner's messages. Either
way the agents see it in the case's thread, with its files. A partner letter that
matches no referral is shown to the agents as unmatched, and kept.
"""

from __future__ import annotations

import logging

from bot.domain import case_numbers_in
from bot.draft import EvidenceRef
from bot.followup import CaseClock
from bot.lifecycle import is_open
from bot.messages import Inbound
from bot.ports import CaseRecord, Clock, ConversationTx, PartnerRecord, ReferralRecord
from bot.referrals import ReferralOutcome, referral_outcome
from bot.staff import StaffNotices

log = logging.getLogger(__name__)

# Agents' posts carry this much of a partner's letter.
EXCERPT = 3000


class PartnerLetters:
    def __init__(self, staff: StaffNotices, case_clock: CaseClock, clock: Clock) -> None:
        self.staff = staff
        self.case_clock = case_clock
        self.clock = clock

    async def handle(
        self,
        tx: ConversationTx,
        inbound: Inbound,
        partners: list[PartnerRecord],
        stored: tuple[EvidenceRef, ...],
    ) -> None:
        keys = {p.key for p in partners}
        found = await self._referral_of(tx, inbound, keys)
        if found is None:
            await self._unmatched(tx, inbound, partners)
            return
        case, referral = found
        assert referral.id is not None
        now = self.clock.now()
        await tx.attach_inbound(case, stored)
        first = referral.answered_at is None
        outcome = referral_outcome(referral.due_at, referral.answered_at or now, now)
        if first:
            await tx.referral_answered(referral.id, now)
            await self.case_clock.partner_wait_over(tx, case, referral.id, answered=True)
        await tx.add_event(
            case,
            now,
            f"partner:{referral.partner}",
            "partner_answered" if first else "partner_message",
            {
                "partner": referral.partner,
                "subject": inbound.subject,
                "text": inbound.text,
                "files": [f.named() for f in stored],
                "outcome": outcome.value,
            },
        )
        await self._show(
            tx,
            case,
            referral,
            partners,
            inbound,
            stored,
            late=outcome is ReferralOutcome.ANSWERED_LATE,
        )

    async def _referral_of(
        self, tx: ConversationTx, inbound: Inbound, keys: set[str]
    ) -> tuple[CaseRecord, ReferralRecord] | None:
        candidates: list[CaseRecord] = []
        by_reference = await tx.case_by_references(inbound.references)
        if by_reference is not None:
            candidates.append(by_reference)
        for number in case_numbers_in(inbound.subject):
            case = await tx.case(number)
            if case is not None:
                candidates.append(case)
        for case in candidates:
            referrals = [r for r in await tx.referrals(case) if r.partner in keys]
            if referrals:
                waiting = [r for r in referrals if r.answered_at is None]
                return case, (waiting[0] if waiting else referrals[-1])
            log.info("partner mail names case %s, which was not referred to them", case.case_no)
        return None

    async def _show(
        self,
        tx: ConversationTx,
        case: CaseRecord,
        referral: ReferralRecord,
        partners: list[PartnerRecord],
        inbound: Inbound,
        stored: tuple[EvidenceRef, ...],
        *,
        late: bool,
    ) -> None:
        staff = self.staff
        if not staff.active:
            return
        _ = staff.tr.gettext
        name = next(p.name for p in partners if p.key == referral.partner)
        heading = (
            _("📨 {partner} answered on {case_no} (after their deadline):")
            if late
            else _("📨 {partner} answered on {case_no}:")
        )
        lines = [heading.format(partner=name, case_no=case.case_no), inbound.text[:EXCERPT]]
        if not is_open(case.status):
            lines.append(
                _("{case_no} is {status}; the answer is kept on it.").format(
                    case_no=case.case_no, status=staff.status(case.status)
                )
            )
        files = tuple(f.attachment() for f in stored)
        await staff.post(tx, case, "\n".join(lines), files)

    async def _unmatched(
        self, tx: ConversationTx, inbound: Inbound, partners: list[PartnerRecord]
    ) -> None:
        """Kept in the message log, and shown to the agents in the group."""
        log.warning(
            "mail from partner %s matches no referral; kept, not filed",
            ", ".join(p.key for p in partners),
        )
        staff = self.staff
        if not staff.active:
            return
        _ = staff.tr.gettext
        lines = [
            _(
                "📨 A mail from the partner {partner} <{address}> matches no referral; it is "
                "kept, not filed on a case."
            ).format(partner=", ".join(p.name for p in partners), address=inbound.sender_id),
            _("Subject: {subject}").format(subject=inbound.subject),
            inbound.text[:EXCERPT],
        ]
        await staff.to_group(tx, "\n".join(lines))
