"""Deadline arithmetic on the Chinese working calendar, at its edges."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scheduler.calendar import (
    AlwaysOpen,
    ChineseWorkdays,
    WorkdayCalendar,
    _last_announced_year,
    _warn_unannounced,
    build_calendar,
    parse_duration,
    parse_hours,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    """A Shanghai wall-clock time, as the UTC instant the code sees."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


def local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


office = WorkdayCalendar(SHANGHAI)


@pytest.mark.parametrize(
    ("start", "duration", "deadline"),
    [
        # The Friday before the Spring Festival: one hour left, then the adjusted
        # working Saturday (Feb 14) carries the rest.
        ("2026-02-13 17:00", "1wd", "2026-02-14 17:00"),
        # Filed on that working Saturday evening: Feb 15-23 are holidays.
        ("2026-02-14 17:00", "4wh", "2026-02-24 12:00"),
        # The adjusted working Saturday after the holiday counts as well.
        ("2026-02-27 17:00", "2wh", "2026-02-28 10:00"),
        # National Day week: Oct 1-7 are holidays, Oct 8 is the next working day.
        ("2026-09-30 17:00", "2wh", "2026-10-08 10:00"),
        ("2026-10-09 17:30", "1wh", "2026-10-10 09:30"),
        # Filed on a Sunday: the clock starts on Monday morning.
        ("2026-11-22 10:00", "1wd", "2026-11-23 18:00"),
        # After closing time: the next morning.
        ("2026-11-23 19:00", "1wh", "2026-11-24 10:00"),
        # Exactly the working hours left today ends today, at closing time.
        ("2026-11-23 09:00", "9wh", "2026-11-23 18:00"),
        # Wall-clock durations ignore the calendar.
        ("2026-02-14 17:00", "3d", "2026-02-17 17:00"),
        ("2026-11-22 10:00", "30m", "2026-11-22 10:30"),
    ],
)
def test_deadlines_on_the_chinese_calendar(start: str, duration: str, deadline: str) -> None:
    assert local(office.add(at(start), parse_duration(duration))) == deadline


def test_a_lunch_break_is_not_working_time() -> None:
    calendar = WorkdayCalendar(SHANGHAI, lunch=(time(12), time(13, 30)))
    assert calendar.day_length == timedelta(hours=7, minutes=30)
    assert local(calendar.add(at("2026-11-23 11:00"), parse_duration("2wh"))) == (
        "2026-11-23 14:30"
    )
    # Filed during lunch: counting starts when the afternoon opens.
    assert local(calendar.add(at("2026-11-23 12:15"), parse_duration("1wh"))) == (
        "2026-11-23 14:30"
    )
    # A deadline that would fall in the lunch break moves past it.
    assert local(calendar.add(at("2026-11-23 11:30"), parse_duration("1wh"))) == (
        "2026-11-23 14:00"
    )
    # One working day is one day's working hours.
    assert local(calendar.add(at("2026-11-23 09:00"), parse_duration("1wd"))) == (
        "2026-11-23 18:00"
    )
    assert not calendar.is_working(at("2026-11-23 12:45"))
    assert calendar.working_between(at("2026-11-23 11:00"), at("2026-11-23 14:30")) == (
        timedelta(hours=2)
    )


def test_working_time_between_and_the_next_opening() -> None:
    assert office.working_between(at("2026-02-13 17:00"), at("2026-02-24 10:00")) == (
        timedelta(hours=1 + 9 + 1)
    )
    assert office.working_between(at("2026-11-24 10:00"), at("2026-11-23 10:00")) == timedelta(0)
    assert local(office.next_working(at("2026-10-01 08:00"))) == "2026-10-08 09:00"
    assert local(office.next_working(at("2026-11-23 10:00"))) == "2026-11-23 10:00"
    assert office.is_working(at("2026-02-14 10:00"))  # adjusted working Saturday
    assert not office.is_working(at("2026-02-16 10:00"))  # Spring Festival, a Monday
    assert not office.is_working(at("2026-11-23 18:00"))


def test_round_the_clock() -> None:
    calendar = AlwaysOpen()
    start = at("2026-02-16 03:00")
    assert calendar.add(start, parse_duration("1wd")) == start + timedelta(days=1)
    assert calendar.add(start, parse_duration("4wh")) == start + timedelta(hours=4)
    assert calendar.next_working(start) == start
    assert calendar.working_between(start, start + timedelta(hours=5)) == timedelta(hours=5)


def test_an_unannounced_year_warns_once_and_an_override_file_adds_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    year = 2098  # not announced: the package holds official schedules up to now only
    _warn_unannounced.cache_clear()
    days = ChineseWorkdays()
    with caplog.at_level(logging.WARNING):
        days(datetime(year, 3, 2).date())
        days(datetime(year, 3, 3).date())
    assert sum(str(year) in record.getMessage() for record in caplog.records) == 1

    override = tmp_path / "calendar.toml"
    override.write_text(
        "[2099]\nholidays = [2099-03-02]\nworkdays = [2099-03-07]\n", encoding="utf-8"
    )
    calendar = build_calendar("cn-workdays", SHANGHAI, override_file=override)
    assert not calendar.is_working(at("2099-03-02 10:00"))  # a Monday made a holiday
    assert calendar.is_working(at("2099-03-07 10:00"))  # a Saturday made a workday
    assert calendar.is_working(at("2099-03-03 10:00"))


def test_the_announced_years_are_known() -> None:
    # The package holds the 2026 schedule (adjusted weekends included): no warning for it.
    assert _last_announced_year() >= 2026


def test_statutory_holidays_of_an_unannounced_year_still_count() -> None:
    # National Day is Oct 1 whatever the schedule; 2099 is not announced.
    assert not office.is_working(at("2099-10-01 10:00"))


@pytest.mark.parametrize("text", ["", "1", "2 weeks", "1.5x", "-3h", "wd"])
def test_a_wrong_duration_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="examples: 30s, 2h, 3d, 4wh, 1wd"):
        parse_duration(text)


def test_hours_are_parsed_and_checked() -> None:
    assert parse_hours("09:00-18:00") == (time(9), time(18))
    assert parse_hours(" 8:30 - 17:30 ") == (time(8, 30), time(17, 30))
    with pytest.raises(ValueError, match="example: 09:00-18:00"):
        parse_hours("9-18")
    with pytest.raises(ValueError, match="begin before"):
        parse_hours("18:00-09:00")
    with pytest.raises(ValueError, match="lunch break"):
        WorkdayCalendar(SHANGHAI, lunch=(time(8), time(9)))


def test_working_time_between_is_the_sum_of_the_open_spans() -> None:
    # `working_between` counts whole days at once; walking the open spans one by one
    # must give the same, to the microsecond, with a lunch break and over a DST change.
    for zone in (SHANGHAI, ZoneInfo("Europe/Berlin")):
        calendar = WorkdayCalendar(zone, lunch=(time(12), time(13, 30)))
        start = datetime(2026, 3, 20, 7, 15, 0, 250_000, tzinfo=UTC)
        for hours in range(0, 24 * 20, 7):
            end = start + timedelta(hours=hours, minutes=hours % 60, microseconds=hours)
            walked = timedelta(0)
            for opens, closes in calendar._open_spans(start.astimezone(zone)):
                if opens >= end:
                    break
                walked += min(closes, end.astimezone(zone)) - opens
            assert calendar.working_between(start, end) == walked, (zone, end)
