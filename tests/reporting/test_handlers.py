"""The report's figures per handler and per team: computed from ledger rows, and each
case's handler and team read with the rows from the staff users its agent links to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from reporting.reading import ledger_cases
from reporting.report import report_page
from storage.models import Agent, Case
from storage.staff import add_staff_user
from tests.reporting.test_rows import DAY
from tests.reporting.test_tally import RECEIVED, tally_of

MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
VERIFIED = {"facts": "confirmed", "nature": "system_fault"}
# Handler 甲 (staff user "jia", team 一组) holds two cases, through two agents of hers;
# 乙 (staff user "yi", team 二组) one; one case is nobody's.
JIA = {"handler_login": "jia", "handler_name": "甲", "handler_team": "一组"}
CASES: list[dict[str, Any]] = [
    {
        **JIA,
        "handler_id": 1,
        "response_due_at": RECEIVED + HOUR,
        "first_response_at": RECEIVED + 10 * MINUTE,  # in time
        "resolution_due_at": RECEIVED + HOUR,
        "resolved_at": RECEIVED + 2 * HOUR,  # late
        "status": "resolved",
        "verification": VERIFIED,
        "survey_asked_at": RECEIVED + 3 * HOUR,
        "survey_answered_at": RECEIVED + 4 * HOUR,
        "survey_score": 5,
    },
    {
        **JIA,
        "handler_id": 2,  # her CLI agent
        "response_due_at": RECEIVED + 20 * MINUTE,
        "first_response_at": RECEIVED + 30 * MINUTE,  # late
        "resolution_due_at": RECEIVED + 10 * HOUR,
        "resolved_at": RECEIVED + 4 * HOUR,  # in time
        "reopened_count": 1,
        "status": "resolved",
        "verification": VERIFIED,
        "survey_asked_at": RECEIVED + 5 * HOUR,
        "survey_answered_at": RECEIVED + 6 * HOUR,
        "survey_score": 3,
    },
    {
        "handler_id": 3,
        "handler_login": "yi",
        "handler_name": "乙",
        "handler_team": "二组",
        "first_response_at": RECEIVED + 20 * MINUTE,
        "status": "in_progress",
    },
    {},
]


def figures(
    cases: int,
    first: tuple[int, float | None, float | None],
    resolution: tuple[int, float | None, float | None],
    limits: dict[str, tuple[int, int, int, int, float | None]],
    satisfaction: tuple[int, float | None, int, float | None],
    reopening: tuple[int, int, float | None],
) -> dict[str, Any]:
    def spread(found: tuple[int, float | None, float | None]) -> dict[str, Any]:
        return dict(zip(("count", "median", "p90"), found, strict=True))

    return {
        "cases": cases,
        "first_response_minutes": spread(first),
        "resolution_working_hours": spread(resolution),
        "limits_met": {
            limit: dict(zip(("met", "missed", "pending", "no_limit", "rate"), found, strict=True))
            for limit, found in limits.items()
        },
        "satisfaction": dict(
            zip(("answered", "mean", "satisfied", "rate"), satisfaction, strict=True)
        ),
        "reopening": dict(
            zip(("resolved_at_least_once", "reopened", "rate"), reopening, strict=True)
        ),
    }


NO_LIMIT = (0, 0, 0, 1, None)
UNASSIGNED = figures(
    1,
    (0, None, None),
    (0, None, None),
    {
        "receipt": NO_LIMIT,
        "first_response": NO_LIMIT,
        "resolution": NO_LIMIT,
        "all": (0, 0, 0, 3, None),
    },
    (0, None, 0, None),
    (0, 0, None),
)
YI = figures(
    1,
    (1, 20.0, 20.0),
    (0, None, None),
    {
        "receipt": NO_LIMIT,
        "first_response": NO_LIMIT,
        "resolution": NO_LIMIT,
        "all": (0, 0, 0, 3, None),
    },
    (0, None, 0, None),
    (0, 0, None),
)


def test_each_handler_and_team_gets_the_reports_figures_of_its_cases() -> None:
    metrics = tally_of(*CASES).metrics(RECEIVED + timedelta(days=30))

    jia = figures(
        2,
        (2, 20.0, 30.0),  # minutes to the first response: 10 and 30
        (2, 3.0, 4.0),  # working hours to the resolution: 2 and 4
        {
            "receipt": (0, 0, 0, 2, None),
            "first_response": (1, 1, 0, 0, 0.5),
            "resolution": (1, 1, 0, 0, 0.5),
            "all": (2, 2, 0, 2, 0.5),
        },
        (2, 4.0, 1, 0.5),  # scores 5 and 3; satisfied from 4 (`tally_of`'s threshold)
        (2, 1, 0.5),
    )
    assert metrics["by_handler"] == [
        {"handler": "甲", "login": "jia", "team": "一组", **jia},
        {"handler": "乙", "login": "yi", "team": "二组", **YI},
        {"handler": None, "login": None, "team": None, **UNASSIGNED},
    ]
    assert metrics["by_team"] == [
        {"team": "一组", **jia},
        {"team": "二组", **YI},
        {"team": None, **UNASSIGNED},
    ]
    assert {c["name"]: c["passed"] for c in metrics["checks"]}["handlers_add_up"]


def test_the_page_shows_them_and_does_without_them() -> None:
    metrics = tally_of(*CASES).metrics(RECEIVED + timedelta(days=30))
    page = report_page(metrics, "en")
    assert "9. Handlers and teams" in page and 'alt="Cases by current handler"' in page
    assert "<tr><td>Unassigned</td><td>no team</td>" in page
    # The staff web leaves them out for whoever may not see them.
    page = report_page({k: v for k, v in metrics.items() if not k.startswith("by_")}, "en")
    assert "9. Handlers and teams" in page and "甲" not in page
    assert "left out of this copy of the report" in page and "Cases by current handler" not in page


def test_a_team_adds_up_its_handlers_and_no_team_takes_agents_without_one() -> None:
    cases = [
        *CASES,
        {"handler_id": 4, "handler_login": "bing", "handler_name": "丙", "handler_team": "一组"},
        {"handler_id": 5, "handler_name": "Agent wang"},  # an agent no staff user is
    ]
    metrics = tally_of(*cases).metrics(RECEIVED + timedelta(days=30))

    handlers = [(h["handler"], h["login"], h["team"], h["cases"]) for h in metrics["by_handler"]]
    # The most cases first, then by name; the unassigned last.
    assert handlers == [
        ("甲", "jia", "一组", 2),
        ("Agent wang", None, None, 1),
        ("丙", "bing", "一组", 1),
        ("乙", "yi", "二组", 1),
        (None, None, None, 1),
    ]
    team = metrics["by_team"][0]
    assert (team["team"], team["cases"]) == ("一组", 3)
    assert team["limits_met"]["all"] == {
        "met": 2,
        "missed": 2,
        "pending": 0,
        "no_limit": 5,
        "rate": 0.5,
    }
    assert team["satisfaction"] == {"answered": 2, "mean": 4.0, "satisfied": 1, "rate": 0.5}
    no_team = metrics["by_team"][-1]
    assert (no_team["team"], no_team["cases"]) == (None, 2)  # wang's and the unassigned one
    assert sum(t["cases"] for t in metrics["by_team"]) == metrics["cases"] == 6
    assert sum(h["cases"] for h in metrics["by_handler"]) == metrics["cases"]


async def test_a_cases_handler_is_read_with_its_staff_user_and_team(
    every_state: dict[str, str], engine: AsyncEngine
) -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    agents = {
        "telegram 李雷": ("telegram", "5550001", "Lei"),
        "cli li.lei": ("cli", "li.lei", "li.lei"),
        "cli Han Meimei": ("cli", "Han Meimei", "Han Meimei"),
        "cli 王五": ("cli", "王五", "王五"),
        "telegram nobody": ("telegram", "5550009", "Nobody"),
    }
    async with engine.begin() as connection:
        for channel, external_id, name in agents.values():
            await connection.execute(
                insert(Agent).values(
                    channel=channel, external_id=external_id, name=name, created_at=at
                )
            )
    staff = [
        ("li.lei", "李雷", "一组", 5550001),
        ("han", "Han Meimei", None, None),
        ("wang.a", "王五", "二组", None),
        ("wang.b", "王五", "二组", None),  # two of that name: an agent named so is neither
    ]
    for login, name, team, telegram_id in staff:
        await add_staff_user(engine, login, name, "agent", team, telegram_id, "hash", at)
    held = {
        "acknowledged": "telegram 李雷",
        "in_progress": "cli li.lei",
        "awaiting_user": "cli Han Meimei",
        "satisfied": "cli 王五",
        "reopened": "telegram nobody",
        "resolved": None,
    }
    async with engine.begin() as connection:
        ids = {
            label: (
                await connection.execute(
                    Agent.__table__.select().where(  # type: ignore[attr-defined]
                        Agent.channel == agents[label][0],
                        Agent.external_id == agents[label][1],
                    )
                )
            ).one()[0]
            for label in agents
        }
        for state, label in held.items():
            await connection.execute(
                update(Case)
                .where(Case.case_no == every_state[state])  # type: ignore[arg-type]
                .values(handler_id=ids[label] if label else None)
            )

    read = {case.case_no: case async for case in ledger_cases(engine, *DAY)}

    def handler(state: str) -> tuple[str | None, str | None, str | None]:
        case = read[every_state[state]]
        return case.handler_login, case.handler_name, case.handler_team

    # By Telegram id, and by login: one staff user, named as the directory names her.
    assert handler("acknowledged") == ("li.lei", "李雷", "一组")
    assert handler("in_progress") == ("li.lei", "李雷", "一组")
    assert handler("awaiting_user") == ("han", "Han Meimei", None)  # by a name only she has
    assert handler("satisfied") == (None, "王五", None)
    assert handler("reopened") == (None, "Nobody", None)
    assert handler("resolved") == (None, None, None)
    assert read[every_state["acknowledged"]].handler_id == ids["telegram 李雷"]
    assert len(read) == len(every_state)  # a link never doubles a case
