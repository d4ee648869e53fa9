"""A referral's timers firing: the partner is reminded once, at 80 % of their time; when
their deadline passes unanswered the case's thread and handler hear of it, and then
the supervisors (`scheduler.timers.referral_timers` says when)."""

from __future__ import annotations

from typing import Protocol

from bot.followup.clock import CaseClock
from bot.i18n import Translator
from bot.lifecycle import is_open
from bot.messages import Outbound
from bot.ports import (
    CaseRecord,
    CaseStore,
    Clock,
    PartnerStore,
    ReferralRecord,
    ReplyQueue,
    TimerStore,
)
from bot.staff import StaffNotices
from scheduler import timers


class _Tx(CaseStore, TimerStore, ReplyQueue, PartnerStore, Protocol):
    """The ports a referral's timer works on."""


class PartnerFollowUp:
    def __init__(
        self,
        case_clock: CaseClock,
        staff: StaffNotices,
        clock: Clock,
        mail_channel: str | None,
    ) -> None:
        self.case_clock = case_clock
        self.staff = staff
        self.clock = clock
        self.mail_channel = mail_channel

    async def awaited(self, tx: _Tx, case: CaseRecord, kind: str) -> ReferralRecord | None:
        """The referral a timer is about while it is still unanswered on an open case;
        None when the timer has nothing left to do."""
        if not is_open(case.status):
            return None
        wanted = timers.referral_of(kind)
        referral = next((r for r in await tx.referrals(case) if r.id == wanted), None)
        return referral if referral is not None and referral.answered_at is None else None

    async def fire(self, tx: _Tx, case: CaseRecord, kind: str, referral: ReferralRecord) -> None:
        if kind.startswith("partner_remind:"):
            await self._remind(tx, case, referral)
        elif kind.startswith("partner_missed:"):
            await self._missed(tx, case, referral)
        else:
            await self._escalate(tx, case, referral)

    async def _remind(self, tx: _Tx, case: CaseRecord, referral: ReferralRecord) -> None:
        partner = await tx.partner(referral.partner)
        if partner is None or self.mail_channel is None:
            return
        staff, now = self.staff, self.clock.now()
        _ = staff.tr.gettext
        text = partner_letter(
            staff.tr,
            partner.name,
            case.case_no,
            [
                _(
                    "A reminder: on {asked} we asked you to investigate our complaint case "
                    "{case_no}; your answer is due by {time} ({zone})."
                ).format(
                    asked=staff.local(referral.asked_at),
                    case_no=case.case_no,
                    time=staff.local(referral.due_at),
                    zone=staff.timezone.key,
                ),
                "",
                _("What we asked:"),
                referral.text,
            ],
        )
        await tx.enqueue(
            Outbound(
                channel=self.mail_channel,
                conversation=partner.email,
                text=text,
                case_no=case.case_no,
                subject=partner_subject(staff.tr, case.case_no),
            ),
            "partner_reminder",
            now,
            notice=True,
        )
        await tx.add_event(
            case,
            now,
            "system",
            "partner_reminded",
            {"partner": referral.partner, "due_at": referral.due_at.isoformat()},
        )

    async def _missed(self, tx: _Tx, case: CaseRecord, referral: ReferralRecord) -> None:
        assert referral.id is not None
        now = self.clock.now()
        await tx.add_event(
            case,
            now,
            "system",
            "partner_deadline_missed",
            {"partner": referral.partner, "due_at": referral.due_at.isoformat()},
        )
        await self.case_clock.partner_wait_over(tx, case, referral.id, answered=False)
        staff = self.staff
        if not staff.active:
            return
        text = staff.tr._(
            "⏰ {partner} did not answer on {case_no} by {time}; supervisors will be told."
        ).format(
            partner=await self._name(tx, referral),
            case_no=case.case_no,
            time=staff.local(referral.due_at),
        )
        await staff.post(tx, case, text)
        if case.handler is not None and case.handler.channel == staff.config.channel:
            await staff.privately(tx, case.handler.external_id, text, "desk_reminder")

    async def _escalate(self, tx: _Tx, case: CaseRecord, referral: ReferralRecord) -> None:
        now = self.clock.now()
        await tx.add_event(
            case,
            now,
            "system",
            "partner_escalated",
            {"partner": referral.partner, "due_at": referral.due_at.isoformat()},
        )
        staff = self.staff
        if not staff.active:
            return
        text = staff.tr._(
            "🚨 {partner} has not answered on {case_no}; their deadline was {time}."
        ).format(
            partner=await self._name(tx, referral),
            case_no=case.case_no,
            time=staff.local(referral.due_at),
        )
        await staff.to_supervisors(tx, case, text)

    @staticmethod
    async def _name(tx: _Tx, referral: ReferralRecord) -> str:
        partner = await tx.partner(referral.partner)
        return partner.name if partner is not None else referral.partner


def partner_subject(tr: Translator, case_no: str) -> str:
    """The subject of every mail to a partner about a case (their answer keeps it)."""
    return tr._("[{case_no}] Request for investigation").format(case_no=case_no)


def partner_letter(
    tr: Translator, partner: str, case_no: str, body: list[str], signed: str | None = None
) -> str:
    """A mail to a partner about a case: the greeting, `body`, and how to answer."""
    _ = tr.gettext
    closing = _("Please answer by replying to this mail, keeping {case_no} in the subject.")
    return "\n".join(
        [
            _("Dear {partner},").format(partner=partner),
            "",
            *body,
            "",
            closing.format(case_no=case_no),
            *([signed] if signed else []),
        ]
    )
