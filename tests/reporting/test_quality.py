"""The report's figures of a period: a second process tallying the later half of a big
one changes none of them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from reporting.export import Period
from reporting.quality import quality_metrics
from reporting.tally import Customers
from scheduler.calendar import WorkdayCalendar
from tests.reporting.test_rows import STATES, refer_every_outcome


async def test_a_second_process_tallying_the_later_half_changes_nothing(
    every_state: dict[str, str], engine: AsyncEngine
) -> None:
    await refer_every_outcome(engine, every_state)
    zone = ZoneInfo("Asia/Shanghai")
    november = Period(date(2026, 11, 1), date(2026, 11, 30))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    told: list[int] = []

    async def metrics(split_from: int) -> dict[str, object]:
        told.clear()
        found = await quality_metrics(
            engine,
            zone,
            WorkdayCalendar(zone),
            november,
            4,
            now,
            told.append,
            Customers(10_000, "option"),
            split_from=split_from,
        )
        assert sum(told) == len(STATES)  # the progress bar counts both processes' cases
        return found

    alone = await metrics(split_from=1000)
    split = await metrics(split_from=2)
    assert split == alone
    assert alone["cases"] == len(STATES) and alone["partners"] and alone["by_handler"]
