"""The ledger's rows, from a database the real bot filled with cases in every state."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from reporting.masks import mask_email, mask_name, mask_phone
from reporting.reading import count_cases, ledger_cases
from reporting.rows import (
    Cell,
    LedgerCase,
    LedgerRow,
    LedgerSheet,
    ledger_row,
    ledger_rows,
    six_months_before,
)
from scheduler.calendar import AlwaysOpen, WorkdayCalendar
from scheduler.deadlines import Outcome
from storage.models import Case, Survey
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.bot.test_followup import make_bot, resolve, sweep, timings
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import AgentsGroup, Chat, RecordingSender
from tests.support.clock import FakeClock
from tests.support.referrals import refer

SHANGHAI = ZoneInfo("Asia/Shanghai")
STATES = (
    "acknowledged",
    "in_progress",
    "awaiting_user",
    "satisfied",
    "reopened",
    "no_answer",
    "resolved",
)


async def fill_every_state(
    repository: SqlRepository, outbox: SqlOutbox, clock: FakeClock, tmp_path: Path
) -> dict[str, str]:
    """One case in each state a ledger shows, worked through the real bot and desk:
    the state's name → its case number."""
    bot = make_bot(repository, clock, timings(tmp_path))
    sender = RecordingSender()
    chats: dict[str, Chat] = {}
    cases: dict[str, str] = {}
    for number, state in enumerate(STATES):
        chat = Chat(bot, outbox, clock, sender, user=str(2000 + number))
        receipt = await play(chat, ENGLISH_INTAKE)
        cases[state] = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
        chats[state] = chat
    group = AgentsGroup(chats["acknowledged"])
    await group.say("wang", "Morning all")  # wang is known from now on

    thread = group.thread_of(cases["in_progress"])
    await group.say("li", "We are checking your bill.", thread=thread)
    await group.say("li", "/assign @wang", thread=thread)
    await group.say(
        "li", "/info Which number was charged?", thread=group.thread_of(cases["awaiting_user"])
    )
    for state in ("satisfied", "reopened", "no_answer"):
        await resolve(group, cases[state])
    clock.advance(minutes=11)
    await sweep(chats["acknowledged"])  # the surveys go out
    await chats["satisfied"].say("5")
    await chats["reopened"].say("2")
    clock.advance(hours=4)
    await sweep(chats["acknowledged"])  # a reminder
    clock.advance(hours=4)
    await sweep(chats["acknowledged"])  # no answer: archived
    await resolve(group, cases["resolved"])
    return cases


# An hour after `fill_every_state`'s cases came in (the clock starts at 02:00 UTC), at an
# odd fraction of a second; a deadline still ahead whatever today's date is.
ASKED = datetime(2026, 11, 22, 3, 0, 0, 250_000, tzinfo=UTC)
FAR = datetime(2036, 1, 1, tzinfo=UTC)


async def refer_every_outcome(engine: AsyncEngine, cases: dict[str, str]) -> None:
    """Referrals of `fill_every_state`'s cases (by state) to two partners, each outcome
    at least once (as of the day after, or later):

    - satisfied (resolved before it was referred): alipay answered in time, chinanet late;
    - in_progress: alipay twice, first missed, then pending;
    - resolved (at about 10:11): alipay twice with overlapping waits (in time, late);
      chinanet once still pending at the resolution and answered after it, and once
      missed, never answered.
    """
    hour = timedelta(hours=1)
    referrals = {
        "satisfied": [
            ("alipay", ASKED, ASKED + timedelta(days=1), ASKED + 2 * hour + timedelta(seconds=0.5)),
            ("chinanet", ASKED + timedelta(minutes=10), ASKED + hour, ASKED + 3.5 * hour),
        ],
        "in_progress": [
            ("alipay", ASKED + hour, ASKED + 2 * hour, None),
            ("alipay", ASKED + 2 * hour, FAR, None),
        ],
        "resolved": [
            ("chinanet", ASKED + 5 * hour, ASKED + 6 * hour, None),
            ("alipay", ASKED + hour, ASKED + 1.5 * hour, ASKED + 3 * hour),
            ("chinanet", ASKED + 4 * hour, FAR, ASKED + 9 * hour),
            ("alipay", ASKED, ASKED + timedelta(days=1), ASKED + 2 * hour),
        ],
    }
    for state, made in referrals.items():
        for partner, asked, due, answered in made:
            await refer(engine, cases[state], partner, asked, due, answered)


DAY = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


async def rows(engine: AsyncEngine, now: datetime, batch: int = 1000) -> dict[str, LedgerRow]:
    cases = [case async for case in ledger_cases(engine, *DAY, batch=batch)]
    return {row.case.case_no: row for row in ledger_rows(cases, AlwaysOpen(), now)}


async def test_one_row_per_case_with_every_figure(
    every_state: dict[str, str], engine: AsyncEngine, clock: FakeClock
) -> None:
    found = await rows(engine, clock.now())
    assert list(found) == [every_state[s] for s in STATES]  # in the order received
    by_state = {state: found[every_state[state]] for state in STATES}
    assert {s: r.case.status for s, r in by_state.items()} == {
        "acknowledged": "acknowledged",
        "in_progress": "in_progress",
        "awaiting_user": "awaiting_user",
        "satisfied": "archived",
        "reopened": "reopened",
        "no_answer": "archived",
        "resolved": "resolved",
    }

    new = by_state["acknowledged"].case
    assert (new.name, new.phone, new.email) == ("Alice Wang", "+8613812345678", "alice@example.com")
    assert new.subject == "Example Telecom, ICP 京B2-20260001"
    assert new.expectation == "A refund and an explanation"
    assert new.handlers == () and new.receipt_sent_at is not None
    assert by_state["acknowledged"].receipt is Outcome.MET
    # Nobody answered within the hour: missed.
    assert by_state["acknowledged"].first_response is Outcome.MISSED

    worked = by_state["in_progress"]
    assert worked.case.handlers == ("Agent li", "Agent wang")
    assert worked.minutes_to_first_response is not None
    assert 0 < worked.minutes_to_first_response < 60 and worked.first_response is Outcome.MET

    satisfied = by_state["satisfied"]
    verification = satisfied.case
    assert {
        "facts": verification.facts,
        "nature": verification.nature,
        "responsibility": verification.responsibility,
        "severity": verification.severity,
    } == {
        "facts": "confirmed",
        "nature": "system_fault",
        "responsibility": "company",
        "severity": "minor",
    }
    assert satisfied.case.resolution == "The double charge was refunded."
    assert (satisfied.case.survey_score, satisfied.case.survey_outcome) == (5, "satisfied")
    assert satisfied.case.survey_asked_at and satisfied.case.survey_answered_at
    assert satisfied.resolution is Outcome.MET and satisfied.working_time_to_resolution
    assert satisfied.working_time_to_resolution == (
        satisfied.case.resolved_at - satisfied.case.received_at  # type: ignore[operator]
    )

    reopened = by_state["reopened"].case
    assert (reopened.reopened_count, reopened.survey_score) == (1, 2)
    assert reopened.resolved_at is None
    no_answer = by_state["no_answer"].case
    assert (no_answer.survey_outcome, no_answer.survey_answered_at) == ("no_answer", None)
    pending = by_state["resolved"].case
    assert pending.survey_asked_at is None and pending.survey_outcome is None


async def test_batches_and_the_period_bound_the_rows(
    every_state: dict[str, str], engine: AsyncEngine, clock: FakeClock
) -> None:
    assert list(await rows(engine, clock.now(), batch=2)) == list(await rows(engine, clock.now()))
    received = [r.case.received_at for r in (await rows(engine, clock.now())).values()]
    # The period is [start, end): the first case is in, the one received at the end is not.
    later = [c async for c in ledger_cases(engine, received[1], received[-1])]
    assert [c.received_at for c in later] == received[1:-1]
    assert await count_cases(engine, received[1], received[-1]) == len(STATES) - 2
    assert await count_cases(engine, *DAY) == len(STATES)


async def test_a_reader_stopped_early_lets_its_next_batch_finish(
    every_state: dict[str, str], engine: AsyncEngine
) -> None:
    # Batches of 3: the second batch is being read when the caller stops after the first case.
    cases = ledger_cases(engine, *DAY, batch=3)
    async for first in cases:
        assert first.case_no == every_state[STATES[0]]
        break
    await cases.aclose()
    assert await count_cases(engine, *DAY) == len(STATES)  # the database is free again
    assert [c.case_no async for c in ledger_cases(engine, *DAY, batch=3)] == [
        every_state[s] for s in STATES
    ]


async def test_times_are_read_as_the_orm_reads_them(
    every_state: dict[str, str], engine: AsyncEngine, clock: FakeClock
) -> None:
    # The ledger reads times without SQLAlchemy's processing: they must come out the same,
    # UTC-aware, on every database.
    cases = {case.case_no: case async for case in ledger_cases(engine, *DAY)}
    async with AsyncSession(engine) as session:
        stored = {case.case_no: case for case in (await session.exec(select(Case))).all()}
        surveys = {s.case_id: s for s in (await session.exec(select(Survey))).all()}
    assert set(cases) == set(stored)
    for number, case in cases.items():
        orm = stored[number]
        for field in (
            "received_at",
            "receipt_due_at",
            "receipt_sent_at",
            "response_due_at",
            "first_response_at",
            "resolution_due_at",
            "resolved_at",
        ):
            value = getattr(case, field)
            assert value == getattr(orm, field), (number, field)
            assert value is None or value.tzinfo is UTC
        survey = surveys.get(orm.id)
        asked = survey.asked_at if survey else None
        assert case.survey_asked_at == asked
        assert asked is None or case.survey_asked_at.tzinfo is UTC  # type: ignore[union-attr]
    assert any(case.survey_answered_at for case in cases.values())


async def test_referrals_show_each_partner_its_times_and_deadline(
    every_state: dict[str, str], engine: AsyncEngine, clock: FakeClock
) -> None:
    await refer_every_outcome(engine, every_state)
    found = await rows(engine, clock.now() + timedelta(days=1))
    english = LedgerSheet("en", SHANGHAI)

    def partner_cells(state: str, sheet: LedgerSheet = english) -> list[Cell]:
        return sheet.cells(found[every_state[state]])[-4:-1]  # before the status

    assert english.headers()[-4:-1] == [
        "Partner(s)",
        "Partner asked / answered (Asia/Shanghai)",
        "Partner deadline met",
    ]
    # Shanghai's wall clock, to the second; each referral in the order it was asked.
    assert partner_cells("satisfied") == [
        "alipay, chinanet",
        "2026-11-22 11:00:00 / 2026-11-22 13:00:00; 2026-11-22 11:10:00 / 2026-11-22 14:30:00",
        "met, answered late",
    ]
    assert partner_cells("in_progress") == [
        "alipay, alipay",
        "2026-11-22 12:00:00 / —; 2026-11-22 13:00:00 / —",
        "missed (no answer), pending",
    ]
    assert partner_cells("resolved") == [
        "alipay, alipay, chinanet, chinanet",
        "2026-11-22 11:00:00 / 2026-11-22 13:00:00; 2026-11-22 12:00:00 / 2026-11-22 14:00:00; "
        "2026-11-22 15:00:00 / 2026-11-22 20:00:00; 2026-11-22 16:00:00 / —",
        "met, answered late, met, missed (no answer)",
    ]
    assert partner_cells("acknowledged") == [None, None, None]  # never referred
    chinese = LedgerSheet("zh_CN", SHANGHAI)
    assert chinese.headers()[-4:-1] == [
        "合作方",
        "合作方转办时间 / 答复时间（Asia/Shanghai）",
        "合作方是否按时答复",
    ]
    assert partner_cells("in_progress", chinese)[2] == "逾期未答复, 未到期"
    assert partner_cells("resolved", chinese)[2] == "按时, 逾期答复, 按时, 逾期未答复"


def test_working_time_follows_the_business_calendar() -> None:
    friday_evening = datetime(2026, 11, 20, 17, 0, tzinfo=SHANGHAI)
    monday_morning = datetime(2026, 11, 23, 10, 30, tzinfo=SHANGHAI)
    case = ledger_case(received_at=friday_evening, resolved_at=monday_morning)
    row = ledger_row(case, WorkdayCalendar(SHANGHAI), monday_morning)
    assert row.working_time_to_resolution == timedelta(hours=2, minutes=30)


def ledger_case(**fields: object) -> LedgerCase:
    """A case with `fields`; a `verification` record is given as its four fields."""
    fields |= fields.pop("verification", None) or {}  # type: ignore[operator]
    values: dict[str, object] = {
        "case_no": "TS-20261120-0001",
        "received_at": datetime(2026, 11, 20, tzinfo=UTC),
        "channel": "telegram",
        "name": "张三",
        "phone": "+8613812345678",
        "email": None,
        "category": "appeal",
        "subject": "=HYPERLINK()",
        "description": "d",
        "expectation": "e",
        "handlers": (),
        "handler_id": None,
        "handler_login": None,
        "handler_name": None,
        "handler_team": None,
        "receipt_due_at": None,
        "receipt_sent_at": None,
        "response_due_at": None,
        "first_response_at": None,
        "resolution_due_at": None,
        "resolved_at": None,
        "facts": None,
        "nature": None,
        "responsibility": None,
        "severity": None,
        "resolution": None,
        "reopened_count": 0,
        "survey_asked_at": None,
        "survey_answered_at": None,
        "survey_score": None,
        "survey_outcome": None,
        "status": "acknowledged",
        "referrals": (),
    }
    values.update(fields)
    return LedgerCase(**values)  # type: ignore[arg-type]


def test_the_sheet_speaks_the_readers_language_and_masks_by_default() -> None:
    received = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    row = ledger_row(
        ledger_case(received_at=received, survey_outcome="no_answer", status="archived"),
        AlwaysOpen(),
        received,
    )
    chinese = LedgerSheet("zh_CN", SHANGHAI)
    cells = dict(zip(chinese.headers(), chinese.cells(row), strict=True))
    assert cells["受理编号"] == "TS-20261120-0001"
    assert cells["受理时间（Asia/Shanghai）"] == datetime(2026, 11, 20, 9, 0)
    assert cells["投诉人（已脱敏）"] == "张*"
    assert cells["电话（已脱敏）"] == "+86138****5678"
    assert cells["类型"] == "申诉"
    assert cells["满意度评分"] == cells["满意度回复时间（Asia/Shanghai）"] == "未回复"
    assert cells["状态"] == "已归档"

    english = LedgerSheet("en", ZoneInfo("UTC"), masked=False)
    cells = dict(zip(english.headers(), english.cells(row), strict=True))
    assert cells["Complainant (full)"] == "张三" and cells["Phone (full)"] == "+8613812345678"
    assert cells["Received at (UTC)"] == datetime(2026, 11, 20, 1, 0)
    assert cells["Satisfaction score"] == "no answer" and cells["Status"] == "archived"
    assert ("Complainant name and contact", "full values (exported with --unmasked)") in (
        english.about(date(2026, 5, 20), date(2026, 11, 20), 1, received)
    )


@pytest.mark.parametrize(
    ("value", "masked"),
    [("Alice Wang", "A*********"), ("张三", "张*"), ("", ""), ("[erased]", "[erased]")],
)
def test_names_are_masked_to_their_first_character(value: str, masked: str) -> None:
    assert mask_name(value) == masked


def test_contacts_are_masked_as_receipts_print_them() -> None:
    assert mask_phone("+8613812345678") == "+86138****5678"
    assert mask_phone("12345") == "***45"
    assert mask_email("alice@example.com") == "a***@example.com"


@pytest.mark.parametrize(
    ("day", "before"),
    [
        (date(2026, 11, 23), date(2026, 5, 23)),
        (date(2026, 3, 5), date(2025, 9, 5)),
        (date(2026, 8, 31), date(2026, 2, 28)),
        (date(2028, 8, 31), date(2028, 2, 29)),
    ],
)
def test_six_months_before(day: date, before: date) -> None:
    assert six_months_before(day) == before
