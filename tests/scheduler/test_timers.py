"""A case's timer plans and the survey's timing, without a bot or a database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain import CaseStatus, Category
from scheduler import surveys, timers
from scheduler.calendar import AlwaysOpen, WorkdayCalendar, parse_duration
from scheduler.sla import CategoryPolicy, load_policy

START = datetime(2026, 11, 23, 1, tzinfo=UTC)  # a Monday, 09:00 in Shanghai
POLICY = """
[default]
receipt = "1h"
first_response = "2h"
resolution = "10h"
reminders = [0.5]
escalate_after = "0s"
quiet_notice = "4h"
"""


@pytest.fixture
def policy(tmp_path: Path) -> CategoryPolicy:
    path = tmp_path / "sla.toml"
    path.write_text(POLICY, encoding="utf-8")
    return load_policy(path)[Category.APPEAL]


@dataclass
class Times:
    status: CaseStatus = CaseStatus.IN_PROGRESS
    receipt_due_at: datetime | None = START + timedelta(hours=1)
    response_due_at: datetime | None = START + timedelta(hours=2)
    resolution_due_at: datetime | None = START + timedelta(hours=10)
    receipt_sent_at: datetime | None = None
    first_response_at: datetime | None = None
    clock_paused_at: datetime | None = None


@dataclass
class Survey:
    asked_at: datetime | None = None
    outcome: str | None = None
    awaiting_answer: bool = False


def hours(n: float) -> datetime:
    return START + timedelta(hours=n)


def test_a_new_case_gets_its_deadlines_reminders_escalations_and_quiet_notice(policy) -> None:
    due, armed = timers.opening(policy, AlwaysOpen(), START)
    assert (due.receipt, due.first_response, due.resolution) == (hours(1), hours(2), hours(10))
    assert armed == [
        ("escalate:receipt", hours(1)),
        ("remind:first_response:50", hours(1)),
        ("escalate:first_response", hours(2)),
        ("remind:resolution:50", hours(5)),
        ("escalate:resolution", hours(10)),
        ("quiet", hours(4)),
    ]


def test_a_new_category_does_not_remind_of_a_first_response_already_given(policy) -> None:
    _due, plan = timers.recategorised(policy, AlwaysOpen(), START, responded=True)
    assert plan.drop == ("remind:", "escalate:", "quiet")
    assert [kind for kind, _at in plan.arm] == [
        "escalate:receipt",
        "remind:resolution:50",
        "escalate:resolution",
        "quiet",
    ]
    _due, plan = timers.recategorised(policy, AlwaysOpen(), START, responded=False)
    assert "remind:first_response:50" in [kind for kind, _at in plan.arm]


def test_a_moved_deadline_keeps_only_reminders_still_ahead(policy) -> None:
    plan = timers.rearmed(policy, AlwaysOpen(), "resolution", hours(6), hours(8))
    assert plan.drop == ("remind:resolution", "escalate:resolution")
    assert plan.arm == (("remind:resolution:50", hours(7)), ("escalate:resolution", hours(8)))
    # From a start past the reminder's moment only the escalation is left.
    late = timers.rearmed(policy, AlwaysOpen(), "resolution", hours(8), hours(8))
    assert late.arm == (("escalate:resolution", hours(8)),)


def test_the_resolution_clock_resumes_by_the_working_time_it_stood_still(tmp_path) -> None:
    path = tmp_path / "sla.toml"
    path.write_text('[default]\nresolution = "2wd"\n', encoding="utf-8")
    policy = load_policy(path)[Category.APPEAL]
    office = WorkdayCalendar(ZoneInfo("Asia/Shanghai"))
    # Paused Monday 17:00, answered Tuesday 10:00 (Shanghai): 2 working hours stood still.
    stood, due = timers.resumed(policy, office, hours(8), hours(25), hours(30))
    assert stood == timedelta(hours=2)
    assert due == hours(32)
    assert timers.reopened(policy, office, hours(25)) == office.add(
        hours(25), parse_duration("2wd")
    )
    assert timers.extended(office, hours(25), parse_duration("1wh")) == hours(26)


def test_a_timer_due_outside_working_hours_waits_unless_it_only_archives() -> None:
    office = WorkdayCalendar(ZoneInfo("Asia/Shanghai"))
    night = hours(14)  # 23:00 in Shanghai
    assert timers.put_off_until("remind:resolution:50", office, night) == hours(24)
    assert timers.put_off_until("survey_expire", office, night) is None
    assert timers.put_off_until("remind:resolution:50", office, hours(1)) is None
    assert timers.put_off_until("quiet", AlwaysOpen(), night) is None


@pytest.mark.parametrize(
    ("kind", "times", "now", "due"),
    [
        ("remind:first_response:50", Times(), hours(1), True),
        ("remind:first_response:50", Times(first_response_at=hours(0.5)), hours(1), False),
        ("remind:first_response:50", Times(), hours(2), False),  # too late: escalation speaks
        ("escalate:first_response", Times(), hours(2), True),
        ("escalate:first_response", Times(status=CaseStatus.RESOLVED), hours(2), False),
        ("escalate:receipt", Times(), hours(1), True),
        ("escalate:receipt", Times(receipt_sent_at=hours(0)), hours(1), False),
        ("escalate:receipt", Times(status=CaseStatus.ARCHIVED), hours(1), False),
        ("escalate:resolution", Times(clock_paused_at=hours(3)), hours(10), False),
        ("quiet", Times(), hours(4), True),
        ("quiet", Times(status=CaseStatus.AWAITING_USER), hours(4), False),
    ],
)
def test_a_due_timer_is_checked_again_when_it_fires(kind, times, now, due) -> None:
    is_open = times.status not in (CaseStatus.RESOLVED, CaseStatus.ARCHIVED)
    assert timers.still_due(kind, times, is_open, now) is due


def test_the_survey_is_asked_after_the_resolution_reminded_once_then_closed() -> None:
    timing = surveys.SurveyTiming(
        delay=timedelta(minutes=10), reminder=timedelta(hours=1), auto_archive=timedelta(hours=3)
    )
    asked = surveys.after_resolution(timing, START)
    assert asked.drop == ("survey",) and asked.arm == (("survey", START + timedelta(minutes=10)),)
    assert surveys.after_asking(timing, START).arm == (
        ("survey_remind", hours(1)),
        ("survey_expire", hours(3)),
    )
    assert surveys.still_due("survey", True, Survey())
    assert not surveys.still_due("survey", True, Survey(asked_at=START))
    assert surveys.still_due("survey_remind", True, Survey(asked_at=START, awaiting_answer=True))
    assert not surveys.still_due("survey_remind", True, Survey(asked_at=START, outcome="satisfied"))
    assert not surveys.still_due("survey", False, Survey())  # reopened meanwhile
    assert not surveys.still_due("survey", True, None)
