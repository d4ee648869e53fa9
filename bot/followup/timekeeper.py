"""Acting on a timer the sweep found due: a reminder, an escalation, a progress notice,
or a step of the survey.

A timer is re-checked when it fires (`scheduler.timers.still_due`): a reminder for a
first response that has already happened is dropped, not sent. Staff notices go out
in working hours only (unless the calendar is round the clock); a timer due outside
them waits for the next working moment.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.away import UNSEEN, AwayMailer
from bot.domain import CaseStatus
from bot.followup.common import FollowUpConfig, tell_complainant
from bot.followup.partners import PartnerFollowUp
from bot.followup.surveys import Surveys
from bot.i18n import Translator
from bot.lifecycle import is_open
from bot.ports import (
    CaseRecord,
    CaseStore,
    Clock,
    PartnerStore,
    ReplyQueue,
    ShownAnswers,
    TimerRecord,
    TimerStore,
)
from bot.staff import StaffNotices, local_time
from scheduler import surveys, timers
from scheduler.sla import describe

log = logging.getLogger(__name__)


class _Tx(CaseStore, TimerStore, ReplyQueue, PartnerStore, ShownAnswers, Protocol):
    """The ports a firing timer works on."""


class Timekeeper:
    def __init__(
        self,
        config: FollowUpConfig,
        surveys: Surveys,
        staff: StaffNotices,
        timezone: ZoneInfo,
        clock: Clock,
        partners: PartnerFollowUp,
        away: AwayMailer | None = None,
    ) -> None:
        self.config = config
        self.away = away or AwayMailer(None, None, clock)
        self.surveys = surveys
        self.partners = partners
        self.staff = staff
        self.timezone = timezone
        self.clock = clock

    async def fire(self, tx: _Tx, case: CaseRecord, timer: TimerRecord) -> None:
        """Acts on one due timer, once: it ends fired, dropped, or moved to working hours."""
        now = self.clock.now()
        if timer.kind == UNSEEN:
            # The complainant's own answers: mailed when due, working hours or not.
            mailed = await self.away.fire(tx, case)
            await tx.finish_timer(timer, now, fired=mailed)
            return
        later = timers.put_off_until(timer.kind, self.config.calendar, now)
        if timer.kind.startswith(timers.PARTNER_KINDS):
            await self._partner(tx, case, timer, later)
            return
        if not await self._still_due(tx, case, timer):
            await tx.finish_timer(timer, now, fired=False)
            return
        if later is not None:
            await tx.move_timer(timer, later)
            return
        kind = timer.kind
        if kind.startswith("remind:"):
            await self._remind(tx, case, timers.limit_of(kind))
        elif kind.startswith("escalate:"):
            await self._escalate(tx, case, timers.limit_of(kind))
        elif kind == "quiet":
            await self._quiet(tx, case)
        elif kind == "survey":
            await self.surveys.ask(tx, case)
        elif kind == "survey_remind":
            await self.surveys.remind(tx, case)
        elif kind == "survey_expire":
            await self.surveys.expire(tx, case)
        else:
            log.warning("case %s: unknown timer kind %r dropped", case.case_no, kind)
            await tx.finish_timer(timer, now, fired=False)
            return
        await tx.finish_timer(timer, now, fired=True)

    async def _partner(
        self, tx: _Tx, case: CaseRecord, timer: TimerRecord, later: datetime | None
    ) -> None:
        referral = await self.partners.awaited(tx, case, timer.kind)
        if referral is None:
            await tx.finish_timer(timer, self.clock.now(), fired=False)
        elif later is not None:
            await tx.move_timer(timer, later)
        else:
            await self.partners.fire(tx, case, timer.kind, referral)
            await tx.finish_timer(timer, self.clock.now(), fired=True)

    async def _still_due(self, tx: _Tx, case: CaseRecord, timer: TimerRecord) -> bool:
        kind = timer.kind
        if kind.startswith(("remind:", "escalate:")) or kind == "quiet":
            return timers.still_due(kind, case, is_open(case.status), self.clock.now())
        survey = await tx.latest_survey(case)
        return surveys.still_due(kind, case.status is CaseStatus.RESOLVED, survey)

    async def _remind(self, tx: _Tx, case: CaseRecord, limit: str) -> None:
        due = timers.deadline_of(case, limit)
        assert due is not None
        now = self.clock.now()
        await tx.add_event(
            case, now, "system", "reminder", {"limit": limit, "due_at": due.isoformat()}
        )
        staff = self.staff
        if not staff.active:
            return
        text = staff.tr._("⏰ {case_no}: {limit} due in {left} (by {time}).").format(
            case_no=case.case_no,
            limit=staff.limit_name(limit),
            left=describe(due - now),
            time=staff.local(due),
        )
        await staff.post(tx, case, text)
        if case.handler is not None and case.handler.channel == staff.config.channel:
            await staff.privately(tx, case.handler.external_id, text, "desk_reminder")

    async def _escalate(self, tx: _Tx, case: CaseRecord, limit: str) -> None:
        due = timers.deadline_of(case, limit)
        assert due is not None
        now = self.clock.now()
        case.escalated_at = now
        await tx.save_case(case)
        await tx.add_event(
            case, now, "system", "deadline_missed", {"limit": limit, "due_at": due.isoformat()}
        )
        staff = self.staff
        if not staff.active:
            return
        text = staff.tr._(
            "🚨 {case_no} missed its {limit} deadline ({time}); supervisors are told."
        ).format(case_no=case.case_no, limit=staff.limit_name(limit), time=staff.local(due))
        await staff.post(tx, case, text)
        await staff.to_supervisors(tx, case, text)

    async def _quiet(self, tx: _Tx, case: CaseRecord) -> None:
        policy = self.config.policy[case.category]
        now = self.clock.now()
        calendar = self.config.calendar
        last = await tx.last_contact(case) or case.received_at
        due = timers.quiet_after(policy, calendar, last)
        if due > now:
            await tx.set_timers(case, [("quiet", due)])
            return
        tr = Translator(case.locale)
        lines = [
            tr._("Your complaint {case_no} is still being handled.").format(case_no=case.case_no)
        ]
        if case.resolution_due_at is not None:
            zone = self.timezone
            lines.append(
                tr._("We will resolve it by {time} ({zone}).").format(
                    time=local_time(case.resolution_due_at, zone), zone=zone.key
                )
            )
        await tell_complainant(tx, self.clock, case, "\n".join(lines), "progress_notice")
        await tx.add_event(case, now, "system", "progress_notice", {})
        await tx.set_timers(case, [("quiet", timers.quiet_after(policy, calendar, now))])
