"""A case's clock: its deadlines and timers follow what happens to it.

When a case is opened, changes category, waits for the complainant, hears from them
again, is resolved, reopened or extended, `CaseClock` asks the scheduler for the new
deadlines and timers, sets them on the case and records the change on the timeline.
It tells nobody anything; whoever made the change does that.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from bot.domain import Category
from bot.followup.common import FollowUpConfig, apply_plan
from bot.ports import CaseRecord, CaseStore, Clock, TimerStore
from scheduler import surveys, timers
from scheduler.calendar import Duration
from scheduler.sla import Deadlines, describe

log = logging.getLogger(__name__)


class _Tx(CaseStore, TimerStore, Protocol):
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

    async def complainant_answered(self, tx: _Tx, case: CaseRecord) -> None:
        """The clock runs again; the resolution deadline moves by the time it stood still."""
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
