"""Business time: when the company is working, and deadline arithmetic on it.

`cn-workdays` knows mainland China's statutory holidays and the adjusted working
weekends (调休) from the `holidays` package. The State Council announces each year's
schedule late in the year before; for a year not announced yet the package still
knows the statutory holidays (lunar dates included) but not the adjusted weekends,
so those are counted as ordinary weekends, with one logged warning per year, until
the package is updated or an override file adds the year. `24x7` is round the clock.

Durations are wall-clock (`30s`, `2h`, `3d`) or working time (`4wh` working hours,
`1wd` working days, a working day being one day's working hours).
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|wh|wd)\s*$")
_WALL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class Duration:
    """A span of wall-clock time, or of working time (`working`)."""

    amount: timedelta
    working: bool = False
    working_days: float = 0.0  # for `wd`: converted with the calendar's day length
    text: str = ""

    def __str__(self) -> str:
        return self.text


def parse_duration(text: str) -> Duration:
    """`30s`, `15m`, `2h`, `3d` (wall clock), `4wh` (working hours), `1wd` (working days)."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration (examples: 30s, 2h, 3d, 4wh, 1wd)")
    number, unit = float(match.group(1)), match.group(2)
    if unit == "wd":
        return Duration(timedelta(0), working=True, working_days=number, text=text.strip())
    if unit == "wh":
        return Duration(timedelta(hours=number), working=True, text=text.strip())
    return Duration(timedelta(seconds=number * _WALL_UNITS[unit]), text=text.strip())


def parse_hours(text: str) -> tuple[time, time]:
    """`09:00-18:00` → (09:00, 18:00)."""
    match = _HOURS.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a span of hours (example: 09:00-18:00)")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    try:
        begin, end = time(h1, m1), time(h2, m2)
    except ValueError:
        raise ValueError(f"{text!r} is not a span of hours (example: 09:00-18:00)") from None
    if not begin < end:
        raise ValueError(f"{text!r} must begin before it ends")
    return begin, end


class Calendar(Protocol):
    def add(self, start: datetime, duration: Duration) -> datetime:
        """The moment `duration` after `start`."""
        ...

    def is_working(self, moment: datetime) -> bool: ...

    def next_working(self, moment: datetime) -> datetime:
        """`moment` if it is working time, else the next opening."""
        ...

    def working_between(self, start: datetime, end: datetime) -> timedelta:
        """How much working time lies between two moments (zero if `end` is earlier)."""
        ...


class AlwaysOpen:
    """`CALENDAR=24x7`: every hour is a working hour; a working day is 24 hours."""

    def add(self, start: datetime, duration: Duration) -> datetime:
        return start + duration.amount + timedelta(days=duration.working_days)

    def is_working(self, moment: datetime) -> bool:
        return True

    def next_working(self, moment: datetime) -> datetime:
        return moment

    def working_between(self, start: datetime, end: datetime) -> timedelta:
        return max(end - start, timedelta(0))


@dataclass(slots=True)
class ChineseWorkdays:
    """Which days are working days in mainland China, with optional overrides per year."""

    extra_holidays: set[date] = field(default_factory=set)
    extra_workdays: set[date] = field(default_factory=set)
    overridden_years: set[int] = field(default_factory=set)

    def __call__(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        if day.year not in self.overridden_years and day.year > _last_announced_year():
            _warn_unannounced(day.year)
        return bool(_china(day.year).is_working_day(day))

    @classmethod
    def from_file(cls, path: Path) -> ChineseWorkdays:
        """An override file adds or corrects years:

        [2027]
        holidays = [2027-02-05, 2027-02-06]
        workdays = [2027-02-14]
        """
        with path.open("rb") as stream:
            data = tomllib.load(stream)
        days = cls()
        for year, table in data.items():
            if not (year.isdigit() and isinstance(table, dict)):
                raise ValueError(f"[{year}] must be a year with holidays and workdays lists")
            for key, target in (
                ("holidays", days.extra_holidays),
                ("workdays", days.extra_workdays),
            ):
                for value in table.get(key, []):
                    if not isinstance(value, date) or isinstance(value, datetime):
                        raise ValueError(f"[{year}] {key}: {value!r} is not a date like 2027-02-05")
                    target.add(value)
            days.overridden_years.add(int(year))
        return days


@cache
def _china(year: int) -> holidays.HolidayBase:
    return holidays.China(years=year)


@cache
def _last_announced_year() -> int:
    # Newer releases of `holidays` keep the schedules on a class of their own.
    from holidays.countries import china

    schedules = getattr(china, "ChinaStaticHolidays", holidays.China)
    announced: dict[int, object] = getattr(schedules, "special_public_holidays", {})
    return max(announced, default=0)


@cache
def _warn_unannounced(year: int) -> None:
    log.warning(
        "the %s holiday schedule is not in the holidays package yet: statutory holidays "
        "are counted, adjusted working weekends are not; update the package or add the "
        "year in CALENDAR_OVERRIDE_FILE",
        year,
    )


class WorkdayCalendar:
    """Working hours on working days, in one time zone, optionally with a lunch break."""

    def __init__(
        self,
        zone: ZoneInfo,
        hours: tuple[time, time] = (time(9), time(18)),
        lunch: tuple[time, time] | None = None,
        is_workday: ChineseWorkdays | None = None,
    ) -> None:
        opens, closes = hours
        spans = [(opens, closes)]
        if lunch is not None:
            if not opens < lunch[0] < lunch[1] < closes:
                raise ValueError("the lunch break must lie within the working hours")
            spans = [(opens, lunch[0]), (lunch[1], closes)]
        self.zone = zone
        self.is_workday = is_workday or ChineseWorkdays()
        self._workdays: dict[date, bool] = {}
        self.spans = spans
        self.day_length = sum(
            (_seconds(end) - _seconds(begin) for begin, end in spans), timedelta()
        )
        self.span_micros = [
            (_micros(b.hour, b.minute, b.second), _micros(e.hour, e.minute, e.second))
            for b, e in spans
        ]
        self.day_micros = sum(closes - opens for opens, closes in self.span_micros)
        self._workdays_between: dict[tuple[date, date], int] = {}

    def _open_spans(self, after: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working spans (local time) that end after `after`, in order, forever."""
        day = after.date()
        while True:
            if self.is_working_day(day):
                for begin, end in self.spans:
                    span_end = datetime.combine(day, end, tzinfo=self.zone)
                    if span_end > after:
                        yield max(after, datetime.combine(day, begin, tzinfo=self.zone)), span_end
            day += timedelta(days=1)

    def add(self, start: datetime, duration: Duration) -> datetime:
        if not duration.working:
            return start + duration.amount
        remaining = duration.amount + self.day_length * duration.working_days
        local = start.astimezone(self.zone)
        if remaining <= timedelta(0):
            return start
        for begin, end in self._open_spans(local):
            if remaining <= end - begin:
                return (begin + remaining).astimezone(start.tzinfo)
            remaining -= end - begin
        raise AssertionError("unreachable: working spans never run out")

    def is_working(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        if not self.is_workday(local.date()):
            return False
        return any(begin <= local.time() < end for begin, end in self.spans)

    def next_working(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.zone)
        begin, _ = next(self._open_spans(local))
        return begin.astimezone(moment.tzinfo)

    def working_between(self, start: datetime, end: datetime) -> timedelta:
        # The ledger asks this for every resolved case, a million times for a big export:
        # the working time before each moment on its own day, plus a day's length per
        # working day in between, counted once per pair of days. Times of day are on the
        # wall clock, in whole microseconds, as the span-by-span arithmetic gives them.
        if end <= start:
            return timedelta(0)
        first, last = start.astimezone(self.zone), end.astimezone(self.zone)
        first_day, last_day = first.date(), last.date()
        micros = self._worked_before(last_day, last) - self._worked_before(first_day, first)
        if first_day != last_day:
            micros += self.day_micros * self._workdays_from(first_day, last_day)
        return timedelta(microseconds=micros)

    def _worked_before(self, day: date, moment: datetime) -> int:
        """Working microseconds on `day` (local) before `moment`, on the same day."""
        if not self.is_working_day(day):
            return 0
        now = _micros(moment.hour, moment.minute, moment.second) + moment.microsecond
        return sum(min(now, closes) - opens for opens, closes in self.span_micros if now > opens)

    def _workdays_from(self, first: date, last: date) -> int:
        """How many working days in [first, last)."""
        key = (first, last)
        known = self._workdays_between.get(key)
        if known is None:
            known = 0
            day = first
            while day < last:
                known += self.is_working_day(day)
                day += timedelta(days=1)
            self._workdays_between[key] = known
        return known

    def is_working_day(self, day: date) -> bool:
        known = self._workdays.get(day)
        if known is None:
            known = self._workdays[day] = self.is_workday(day)
        return known


def _micros(hour: int, minute: int, second: int) -> int:
    return ((hour * 60 + minute) * 60 + second) * 1_000_000


def _seconds(moment: time) -> timedelta:
    return timedelta(hours=moment.hour, minutes=moment.minute, seconds=moment.second)


def build_calendar(
    kind: str,
    zone: ZoneInfo,
    hours: tuple[time, time] = (time(9), time(18)),
    lunch: tuple[time, time] | None = None,
    override_file: Path | None = None,
) -> Calendar:
    """`CALENDAR=cn-workdays` or `24x7`."""
    if kind == "24x7":
        return AlwaysOpen()
    days = ChineseWorkdays.from_file(override_file) if override_file else ChineseWorkdays()
    return WorkdayCalendar(zone, hours, lunch, days)
