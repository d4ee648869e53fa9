"""Follow-up in time: deadlines, reminders, escalations, progress notices, surveys.

When things are due is decided in `scheduler/` (calendar, SLA policy, timer plans,
survey timing); this package acts on it:

    clock.py       CaseClock: a case's deadlines and timers follow what happens to it
    timekeeper.py  Timekeeper: a timer the sweep found due — remind, escalate, notify
    surveys.py     Surveys: ask, remind, close; the complainant's rating and comment
    common.py      FollowUpConfig, and how these parts write to the complainant

Staff are told through `bot.staff.StaffNotices`, which the desk shares.
"""

from bot.followup.clock import CaseClock
from bot.followup.common import FollowUpConfig
from bot.followup.surveys import Surveys, parse_rating
from bot.followup.timekeeper import Timekeeper

__all__ = ["CaseClock", "FollowUpConfig", "Surveys", "Timekeeper", "parse_rating"]
