"""What the follow-up's parts share: their settings, and how they write to the complainant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot.messages import Button, Outbound
from bot.ports import CaseRecord, Clock, ReplyQueue, TimerStore
from scheduler.calendar import AlwaysOpen, Calendar
from scheduler.sla import SlaPolicy, load_policy
from scheduler.surveys import SurveyTiming
from scheduler.timers import TimerPlan


@dataclass(frozen=True, slots=True)
class FollowUpConfig:
    policy: SlaPolicy = field(default_factory=load_policy)
    calendar: Calendar = field(default_factory=AlwaysOpen)
    survey_delay: timedelta = timedelta(days=1)
    survey_reminder: timedelta = timedelta(days=2)
    auto_archive: timedelta = timedelta(days=7)
    satisfied_threshold: int = 4

    @property
    def survey_timing(self) -> SurveyTiming:
        return SurveyTiming(self.survey_delay, self.survey_reminder, self.auto_archive)


async def apply_plan(tx: TimerStore, case: CaseRecord, plan: TimerPlan) -> None:
    """Carries out the scheduler's plan for the case's pending timers."""
    for prefix in plan.drop:
        await tx.set_timers(case, [], replacing=prefix)
    if plan.arm:
        await tx.set_timers(case, list(plan.arm))


async def tell_complainant(
    tx: ReplyQueue,
    clock: Clock,
    case: CaseRecord,
    text: str,
    kind: str,
    buttons: tuple[tuple[Button, ...], ...] = (),
) -> None:
    """An automatic message to the case's complainant (a notice, not an answer)."""
    await tx.enqueue(
        Outbound(
            channel=case.channel,
            conversation=case.conversation,
            text=text,
            case_no=case.case_no,
            buttons=buttons,
            automatic=True,
        ),
        kind,
        clock.now(),
        notice=True,
    )
