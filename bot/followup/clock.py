"""A case's clock: its deadlines and timers follow what happens to it.

When a case is opened, changes category, waits for the complainant, hears from them
again, is resolved, reopened or extended, `CaseClock` asks the scheduler for the new
deadlines and timers, sets them on the case and records the change on the timeline.
It tells nobody anything; whoever made the change does that.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from bot.domain import CaseStatus, Category
from bot.followup.common import FollowUpConfig, apply_plan
from bot.ports import CaseRecord, CaseStore, Clock, PartnerStore, ReferralRecord, TimerStore
from scheduler import surveys, timers
from scheduler.calendar import Duration
from scheduler.sla import Deadlines, describe

log = logging.getLogger(__name__)


class _Tx(CaseStore, TimerStore, PartnerStore, Protocol):
    """The ports the clock works on."""


class CaseClock:
    def __init__(self, config: FollowUpConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock

    def plan(
        self, category: Category, received_at: datetime
    ) -> tuple[Deadlines, list[tuple[str, datetime]]]:
        """The deadlines of a case received at `received_at`, and their timers."""
        return timers.opening(self.config.policy[category], self.config.calendar, received_at)

    async def category_changed(self, tx: _Tx, case: CaseRecord, actor: str) -> None:
        """Deadlines follow the new category, counted from when the case was received."""
        due, plan = timers.recategorised(
            self.config.policy[case.category],
            self.config.calendar,
            case.received_at,
            responded=case.first_response_at is not None,
        )
        case.receipt_due_at = due.receipt
        case.response_due_at = due.first_response
        case.resolution_due_at = due.resolution
        await apply_plan(tx, case, plan)
        await tx.add_event(
            case, self.clock.now(), actor, "deadlines_set", _deadline_payload(case)
        )

    async def extend(
        self, tx: _Tx, case: CaseRecord, by: Duration, reason: str, actor: str
    ) -> datetime:
        """An agent's explicit extension of the resolution deadline."""
        assert case.resolution_due_at is not None
        before = case.resolution_due_at
        case.resolution_due_at = timers.extended(self.config.calendar, before, by)
        await self._rearm(tx, case, "resolution", self.clock.now(), case.resolution_due_at)
        await tx.add_event(
            case,
            self.clock.now(),
            actor,
            "deadline_extended",
            {
                "limit": "resolution",
                "from": before.isoformat(),
                "to": case.resolution_due_at.isoformat(),
                "by": str(by),
                "reason": reason,
            },
        )
        return case.resolution_due_at

    async def waiting_for_complainant(self, tx: _Tx, case: CaseRecord) -> None:
        if not self.config.policy[case.category].pause_while_awaiting_user:
            return
        if case.clock_paused_at is None:
            case.clock_paused_at = self.clock.now()
            await apply_plan(tx, case, timers.PAUSED)

    async def referred(
        self,
        tx: _Tx,
        case: CaseRecord,
        referral: ReferralRecord,
        by: Duration,
        asked_by: int | None,
    ) -> ReferralRecord:
        """Records a referral asked now, due `by` later, and arms its timers; where the
        policy says so, the resolution clock waits for the partner."""
        now = self.clock.now()
        policy = self.config.policy[case.category]
        due = timers.referral_due(self.config.calendar, now, by)
        referral = replace(referral, asked_at=now, due_at=due)
        referral_id = await tx.add_referral(case, referral, asked_by)
        plan = timers.referral_timers(
            policy, self.config.calendar, referral_id, now, due, by.working
        )
        await apply_plan(tx, case, plan)
        if policy.pause_while_awaiting_partner and case.clock_paused_at is None:
            case.clock_paused_at = now
            await apply_plan(tx, case, timers.PAUSED)
        return replace(referral, id=referral_id)

    async def partner_wait_over(
        self, tx: _Tx, case: CaseRecord, referral_id: int, *, answered: bool
    ) -> None:
        """A referral was answered (its timers end), or its deadline passed (the
        supervisors are still told): a clock that waited for partners runs again once
        none is still awaited."""
        if answered:
            await apply_plan(tx, case, timers.referral_ended(referral_id))
        if case.clock_paused_at is not None and case.status is not CaseStatus.AWAITING_USER:
            await self._resume_unless_awaiting_partner(tx, case, ignoring=referral_id)
            await tx.save_case(case)

    async def complainant_answered(self, tx: _Tx, case: CaseRecord) -> None:
        """The clock runs again; the resolution deadline moves by the time it stood still
        (unless the policy has it wait for a partner who is still awaited)."""
        await self._resume_unless_awaiting_partner(tx, case)

    async def _resume_unless_awaiting_partner(
        self, tx: _Tx, case: CaseRecord, ignoring: int | None = None
    ) -> None:
        now = self.clock.now()
        if self.config.policy[case.category].pause_while_awaiting_partner:
            for referral in await tx.referrals(case):
                awaited = referral.answered_at is None and referral.due_at > now
                if awaited and referral.id != ignoring:
                    return
        await self._resume(tx, case)

    async def _resume(self, tx: _Tx, case: CaseRecord) -> None:
        paused_at, now = case.clock_paused_at, self.clock.now()
        if paused_at is None or case.resolution_due_at is None:
            return
        case.clock_paused_at = None
        stood, case.resolution_due_at = timers.resumed(
            self.config.policy[case.category],
            self.config.calendar,
            paused_at,
            now,
            case.resolution_due_at,
        )
        await self._rearm(tx, case, "resolution", now, case.resolution_due_at)
        await tx.add_event(
            case,
            now,
            "system",
            "clock_resumed",
            {
                "paused_at": paused_at.isoformat(),
                "paused_for": describe(stood),
                "resolution_due_at": case.resolution_due_at.isoformat(),
            },
        )

    async def resolved(self, tx: _Tx, case: CaseRecord) -> None:
        """The limits' timers end; every resolution gets its own survey, some time later."""
        now = self.clock.now()
        await apply_plan(tx, case, timers.RESOLVED)
        survey = await tx.new_survey(case, now)
        await apply_plan(tx, case, surveys.after_resolution(self.config.survey_timing, now))
        log.info("case %s: survey %s planned", case.case_no, survey.round)

    async def reopened(self, tx: _Tx, case: CaseRecord, actor: str) -> None:
        """A reopened case gets a fresh resolution limit, counted from the reopening."""
        now = self.clock.now()
        case.reopened_count += 1
        case.clock_paused_at = None
        await apply_plan(tx, case, surveys.WITHDRAWN)
        policy = self.config.policy[case.category]
        case.resolution_due_at = timers.reopened(policy, self.config.calendar, now)
        await self._rearm(tx, case, "resolution", now, case.resolution_due_at)
        await tx.add_event(case, now, actor, "deadlines_set", _deadline_payload(case))

    async def _rearm(
        self, tx: _Tx, case: CaseRecord, limit: str, start: datetime, due: datetime
    ) -> None:
        policy = self.config.policy[case.category]
        await apply_plan(tx, case, timers.rearmed(policy, self.config.calendar, limit, start, due))


def _deadline_payload(case: CaseRecord) -> dict[str, str | None]:
    return {
        "category": case.category.value,
        "receipt": _iso(case.receipt_due_at),
        "first_response": _iso(case.response_due_at),
        "resolution": _iso(case.resolution_due_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
