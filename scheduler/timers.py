"""A case's timers: which ones to arm, when they are due, and whether one still is.

A timer is a row (kind, due time) the sweep reads through an index. Its kind says
what it is for:

    remind:<limit>:<percent>   agents are reminded when that share of a limit has passed
    escalate:<limit>           supervisors are told the deadline was missed
    quiet                      a complainant who heard nothing for a while gets a notice
    partner_remind:<id>        the partner of referral <id> is reminded (80 % of its time)
    partner_missed:<id>        its deadline passed unanswered: the case's thread and handler
    partner_escalate:<id>      and then the supervisors (the category's `escalate_after`)
    survey, survey_remind, survey_expire    the satisfaction survey (`scheduler.surveys`)

Here is only *when*. What a timer says when it fires is the bot's business; the bot
asks this module for a `TimerPlan` (pending timers to drop, timers to arm) whenever
something happens to a case, and applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain import CaseStatus
from scheduler.calendar import Calendar, Duration
from scheduler.sla import LIMITS, CategoryPolicy, Deadlines, deadlines, limit_timers

Timer = tuple[str, datetime]  # (kind, due)

# Timers that only record or archive; every other one speaks to someone and waits for
# working hours.
SILENT_KINDS = ("survey_expire",)


@dataclass(frozen=True, slots=True)
class TimerPlan:
    """A change to a case's pending timers: drop those whose kind starts with one of
    `drop`, then arm `arm`."""

    drop: tuple[str, ...] = ()
    arm: tuple[Timer, ...] = ()


# Resolved: the limits' reminders and escalations end (the survey is planned anew).
RESOLVED = TimerPlan(drop=("remind:", "escalate:"))
# Waiting for the complainant (where the policy pauses the clock): the resolution's
# reminders and escalation wait too.
PAUSED = TimerPlan(drop=("remind:resolution", "escalate:resolution"))
# Archived: no more progress notices.
ARCHIVED = TimerPlan(drop=("quiet",))


class CaseTimes(Protocol):
    """What a timer's relevance depends on (a case record has all of it)."""

    @property
    def status(self) -> CaseStatus: ...
    @property
    def receipt_due_at(self) -> datetime | None: ...
    @property
    def response_due_at(self) -> datetime | None: ...
    @property
    def resolution_due_at(self) -> datetime | None: ...
    @property
    def receipt_sent_at(self) -> datetime | None: ...
    @property
    def first_response_at(self) -> datetime | None: ...
    @property
    def clock_paused_at(self) -> datetime | None: ...


def opening(
    policy: CategoryPolicy, calendar: Calendar, received_at: datetime
) -> tuple[Deadlines, list[Timer]]:
    """The deadlines of a case received at `received_at`, and their timers."""
    due = deadlines(policy, calendar, received_at)
    timers: list[Timer] = []
    for limit in LIMITS:
        timers += limit_timers(policy, calendar, limit, received_at, due.of(limit))
    if policy.quiet_notice is not None:
        timers.append(("quiet", calendar.add(received_at, policy.quiet_notice)))
    return due, timers


def recategorised(
    policy: CategoryPolicy, calendar: Calendar, received_at: datetime, responded: bool
) -> tuple[Deadlines, TimerPlan]:
    """Deadlines and timers after a change of category, counted from when the case was
    received; a first response already given is not reminded of again."""
    due, timers = opening(policy, calendar, received_at)
    pending = tuple(
        (kind, at)
        for kind, at in timers
        if not (kind.endswith("first_response") or ":first_response:" in kind) or not responded
    )
    return due, TimerPlan(drop=("remind:", "escalate:", "quiet"), arm=pending)


def rearmed(
    policy: CategoryPolicy, calendar: Calendar, limit: str, start: datetime, due: datetime
) -> TimerPlan:
    """A limit's timers after its deadline moved to `due`: the reminders still ahead of
    `start`, and the escalation."""
    timers = limit_timers(policy, calendar, limit, start, due)
    return TimerPlan(
        drop=(f"remind:{limit}", f"escalate:{limit}"),
        arm=tuple((k, at) for k, at in timers if at > start or k.startswith("escalate:")),
    )


def extended(calendar: Calendar, due: datetime, by: Duration) -> datetime:
    """A deadline an agent extended by `by` (working time where `by` is)."""
    return calendar.add(due, by)


def resumed(
    policy: CategoryPolicy,
    calendar: Calendar,
    paused_at: datetime,
    now: datetime,
    due: datetime,
) -> tuple[timedelta, datetime]:
    """How long the resolution clock stood still (in working time where the limit is),
    and the resolution deadline moved by that much."""
    span = policy.resolution
    stood = calendar.working_between(paused_at, now) if span.working else now - paused_at
    return stood, calendar.add(due, Duration(stood, working=span.working))


def reopened(policy: CategoryPolicy, calendar: Calendar, now: datetime) -> datetime:
    """A reopened case's fresh resolution deadline, counted from the reopening."""
    return calendar.add(now, policy.resolution)


def quiet_after(policy: CategoryPolicy, calendar: Calendar, moment: datetime) -> datetime:
    """When a complainant last written to at `moment` is due a progress notice."""
    assert policy.quiet_notice is not None
    return calendar.add(moment, policy.quiet_notice)


# A partner is reminded once, when this share of their time has passed.
PARTNER_REMINDER = 0.8
PARTNER_KINDS = ("partner_remind:", "partner_missed:", "partner_escalate:")


def referral_due(calendar: Calendar, asked_at: datetime, by: Duration) -> datetime:
    """A referral's deadline: `by` after it was asked (working time where `by` is)."""
    return calendar.add(asked_at, by)


def referral_timers(
    policy: CategoryPolicy,
    calendar: Calendar,
    referral_id: int,
    asked_at: datetime,
    due: datetime,
    working: bool,
) -> TimerPlan:
    """A referral's timers: a reminder at 80 % of the partner's time (working time where
    their deadline was counted in it), the deadline, the supervisors after it."""
    span = calendar.working_between(asked_at, due) if working else due - asked_at
    remind = calendar.add(asked_at, Duration(span * PARTNER_REMINDER, working=working))
    return TimerPlan(
        arm=(
            (f"partner_remind:{referral_id}", remind),
            (f"partner_missed:{referral_id}", due),
            (f"partner_escalate:{referral_id}", calendar.add(due, policy.escalate_after)),
        )
    )


def referral_ended(referral_id: int) -> TimerPlan:
    """The partner answered: their referral's timers end."""
    return TimerPlan(drop=tuple(f"{kind}{referral_id}" for kind in PARTNER_KINDS))


def referral_of(kind: str) -> int:
    """The referral a `partner_…:<id>` timer is about."""
    return int(kind.rpartition(":")[2])


def put_off_until(kind: str, calendar: Calendar, now: datetime) -> datetime | None:
    """None when a due timer may act now; otherwise the working time it waits for."""
    if kind in SILENT_KINDS or calendar.is_working(now):
        return None
    return calendar.next_working(now)


def deadline_of(case: CaseTimes, limit: str) -> datetime | None:
    return {
        "receipt": case.receipt_due_at,
        "first_response": case.response_due_at,
        "resolution": case.resolution_due_at,
    }[limit]


def limit_of(kind: str) -> str:
    """The limit a `remind:` or `escalate:` timer is about."""
    return kind.split(":")[1]


def still_due(kind: str, case: CaseTimes, is_open: bool, now: datetime) -> bool:
    """Whether a deadline's or a quiet spell's timer still has something to say when it
    fires: a reminder of a first response already given is dropped, not sent.
    `is_open` is whether agents still owe the case an answer."""
    if kind.startswith(("remind:", "escalate:")):
        limit = limit_of(kind)
        due = deadline_of(case, limit)
        if kind.startswith("remind:") and (due is None or due <= now):
            return False  # too late to remind: the escalation speaks now
        if limit == "receipt":
            return case.receipt_sent_at is None and case.status is not CaseStatus.ARCHIVED
        if limit == "first_response":
            return is_open and case.first_response_at is None
        return is_open and case.clock_paused_at is None
    assert kind == "quiet", kind
    return is_open and case.status is not CaseStatus.AWAITING_USER
