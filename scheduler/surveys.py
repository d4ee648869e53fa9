"""When the satisfaction survey speaks: asked some time after each resolution,
reminded once, closed as "no answer" if the complainant stays silent.

Here is only the timing; the questions, the rating and what follows from it are the
bot's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from scheduler.timers import TimerPlan

KINDS = ("survey", "survey_remind", "survey_expire")


@dataclass(frozen=True, slots=True)
class SurveyTiming:
    delay: timedelta = timedelta(days=1)  # from the resolution to the question
    reminder: timedelta = timedelta(days=2)  # from the question to its one reminder
    auto_archive: timedelta = timedelta(days=7)  # from the question to "no answer"


class SurveyTimes(Protocol):
    """What a survey timer's relevance depends on (a survey record has all of it)."""

    @property
    def asked_at(self) -> datetime | None: ...
    @property
    def outcome(self) -> str | None: ...
    @property
    def awaiting_answer(self) -> bool: ...


def after_resolution(timing: SurveyTiming, resolved_at: datetime) -> TimerPlan:
    """The new survey's question, some time after the resolution; an earlier one not
    asked yet is dropped."""
    return TimerPlan(drop=("survey",), arm=(("survey", resolved_at + timing.delay),))


def after_asking(timing: SurveyTiming, asked_at: datetime) -> TimerPlan:
    """The reminder, and the end of waiting for an answer."""
    return TimerPlan(
        arm=(
            ("survey_remind", asked_at + timing.reminder),
            ("survey_expire", asked_at + timing.auto_archive),
        )
    )


# An answer ends the survey's timers; so does a reopening.
ANSWERED = TimerPlan(drop=("survey_",))
WITHDRAWN = TimerPlan(drop=("survey",))


def still_due(kind: str, resolved: bool, survey: SurveyTimes | None) -> bool:
    """Whether a survey timer still has something to do: only while the case stays
    resolved and its latest survey is open (not asked yet, or awaiting the answer)."""
    if not resolved or survey is None or survey.outcome is not None:
        return False
    if kind == "survey":
        return survey.asked_at is None
    return survey.awaiting_answer
