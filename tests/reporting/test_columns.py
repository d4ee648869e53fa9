"""The columnar ledger gives the cells of the row-at-a-time one, character for character:
on cases the real bot stored in every state (read as columns from SQLite and
PostgreSQL), and on made-up cases at the edges (offset changes, halves of a unit,
formulas, masks, erased names, times before the case)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import ERASED
from bot.referrals import referral_outcome
from reporting.columns import UTC_TIME, _referral_outcome, case_frame, ledger_cells
from reporting.frames import ledger_frames
from reporting.layout import Referred
from reporting.reading import ledger_cases
from reporting.rows import Cell, LedgerCase, LedgerSheet, ledger_row
from scheduler.calendar import AlwaysOpen, Calendar, WorkdayCalendar
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.reporting.test_rows import DAY, fill_every_state, ledger_case, refer_every_outcome
from tests.support.clock import FakeClock

SHANGHAI = ZoneInfo("Asia/Shanghai")


def as_text(cell: Cell) -> str:
    """A cell as the CSV file holds it (before the formula guard)."""
    return "" if cell is None else str(cell)


def row_cells(
    cases: list[LedgerCase], sheet: LedgerSheet, calendar: Calendar, now: datetime
) -> list[list[str]]:
    return [[as_text(c) for c in sheet.cells(ledger_row(case, calendar, now))] for case in cases]


def column_cells(
    frame_rows: list[tuple[object, ...]],
) -> list[list[str]]:
    return [[as_text(c) for c in row] for row in frame_rows]  # type: ignore[arg-type]


@pytest.fixture
async def every_state(
    repository: SqlRepository,
    outbox: SqlOutbox,
    clock: FakeClock,
    tmp_path: Path,
    engine: AsyncEngine,
) -> dict[str, str]:
    """The cases in every state, some referred to partners with every outcome."""
    cases = await fill_every_state(repository, outbox, clock, tmp_path)
    await refer_every_outcome(engine, cases)
    return cases


async def test_stored_cases_in_every_state_give_the_same_cells(
    every_state: dict[str, str], engine: AsyncEngine, clock: FakeClock
) -> None:
    now = clock.now() + timedelta(days=1)
    cases = [case async for case in ledger_cases(engine, *DAY)]
    assert len(cases) == len(every_state)
    assert sum(len(case.referrals) for case in cases) == 8
    for sheet, calendar in (
        (LedgerSheet("zh_CN", SHANGHAI), WorkdayCalendar(SHANGHAI)),
        (LedgerSheet("en", ZoneInfo("Europe/Berlin"), masked=False), AlwaysOpen()),
    ):
        columns: list[tuple[object, ...]] = []
        async for frame in ledger_frames(engine, *DAY, batch=3):  # batches of 3, 3 and 1
            columns.extend(ledger_cells(frame, sheet, calendar, now).rows())
        assert column_cells(columns) == row_cells(cases, sheet, calendar, now)


@pytest.mark.parametrize(
    "zone", ["Asia/Shanghai", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
)
def test_made_up_cases_at_the_edges_give_the_same_cells(zone: str) -> None:
    # Received around the year's offset changes (Lord Howe's move by half an hour), at odd
    # seconds; answered after a number of seconds that is a half of a tenth of a minute.
    cases = []
    received = datetime(2026, 1, 1, tzinfo=UTC)
    number = 0
    while received < datetime(2027, 1, 1, tzinfo=UTC):
        number += 1
        fields: dict[str, object] = {
            "received_at": received,
            "receipt_due_at": received + timedelta(hours=1),
            "receipt_sent_at": received + timedelta(seconds=3 * (number % 7) - 6),
            "response_due_at": received + timedelta(hours=24),
            "first_response_at": received + timedelta(seconds=69 * number % 9000),
            "resolution_due_at": received + timedelta(days=3),
            "handlers": ("=cmd", "李雷")[: number % 3],
        }
        if number % 2:
            fields |= {
                "resolved_at": received + timedelta(hours=number % 200, seconds=9 * number),
                "verification": {"facts": "confirmed", "nature": "unknown value"},
                "survey_asked_at": received + timedelta(days=1),
                "survey_score": number % 5 + 1,
                "survey_outcome": "no_answer" if number % 3 else "satisfied",
            }
        fields["referrals"] = _referrals(number, received)
        if number % 5 == 0:
            fields |= {"name": ERASED, "phone": None, "email": "no-at-sign"}
        elif number % 5 == 1:
            fields |= {"name": "", "phone": "1234567", "email": "@example.com", "channel": "x"}
        elif number % 5 == 2:
            fields |= {"name": "-Alice\nWang", "phone": "5", "email": "a@b@c", "resolution": ""}
        cases.append(ledger_case(**fields))
        received += timedelta(hours=7, minutes=37, seconds=13, microseconds=999_999)
    now = datetime(2026, 7, 1, tzinfo=UTC)
    for sheet, calendar in (
        (LedgerSheet("zh_CN", ZoneInfo(zone)), WorkdayCalendar(ZoneInfo(zone))),
        (LedgerSheet("en", ZoneInfo(zone), masked=False), AlwaysOpen()),
    ):
        columns = ledger_cells(case_frame(cases), sheet, calendar, now).rows()
        assert column_cells(columns) == row_cells(cases, sheet, calendar, now)


def _referrals(number: int, received: datetime) -> tuple[Referred, ...]:
    """None, one or two referrals, answered in time, on the deadline itself, late or not
    at all, with deadlines before and after the ledger's `now`."""
    asked = received + timedelta(minutes=number % 50, microseconds=999_999 * (number % 2))
    due = asked + timedelta(hours=number % 30)
    answers = (None, due, due - timedelta(microseconds=1), due + timedelta(microseconds=1))
    return tuple(
        Referred(
            ("alipay", "=chinanet")[(number + at) % 2],
            asked + timedelta(hours=at),
            due + timedelta(hours=at),
            answered + timedelta(hours=at) if (answered := answers[(number + at) % 4]) else None,
        )
        for at in range(number % 3)
    )


def test_the_columnar_referral_outcome_is_the_rule() -> None:
    # `bot.referrals.referral_outcome` and its columnar mirror, at the deadline's edges.
    due = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    tick = timedelta(microseconds=1)
    answers = [None, due - tick, due, due + tick]
    frame = pl.DataFrame(
        {"due": [due] * len(answers), "answered": answers},
        schema={"due": UTC_TIME, "answered": UTC_TIME},
    )
    for now in (due - tick, due, due + tick):
        found = frame.select(_referral_outcome(pl.col("due"), pl.col("answered"), now))
        assert found.to_series().to_list() == [
            referral_outcome(due, answered, now).value for answered in answers
        ]
