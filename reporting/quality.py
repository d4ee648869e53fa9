"""The quality report's figures of a period (`metrics.json`): `reporting.tally.QualityTally`
fed with the same rows as the ledger of the period (`reporting.reading.ledger_cases` →
`reporting.rows.ledger_row`), one at a time. On a big period a second process tallies the
later half and the two tallies are added up; that process imports this module, which is
why the page (`reporting.report`) is not here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from reporting.export import Period, fewer_collections
from reporting.reading import count_cases, ledger_cases, split_point
from reporting.rows import ledger_row
from reporting.second_process import SPLIT_FROM, SecondProcess
from reporting.tally import Customers, QualityTally
from scheduler.calendar import Calendar
from storage.database import create_engine

# Cases read at a time: a fifth of the ledger's batch (two are held, the one taken and
# the one read meanwhile), 25 MB less in each of the two processes for about 5 % more
# time to read them.
BATCH = 1000


async def quality_metrics(
    engine: AsyncEngine,
    zone: ZoneInfo,
    calendar: Calendar,
    period: Period,
    satisfied_threshold: int,
    now: datetime,
    progress: Callable[[int], None] = lambda _rows: None,
    customers: Customers | None = None,
    split_from: int = SPLIT_FROM,
) -> dict[str, Any]:
    """The report's figures (`metrics.json`), from one read of the period's cases.
    `progress` is told how many cases were read since it was last told; without
    `customers` the complaint rate is stated as missing. From `split_from` cases on, a
    second process tallies the later half."""
    start, end = period.bounds(zone)
    tally = QualityTally(period.first, period.last, zone, satisfied_threshold)
    total = await count_cases(engine, start, end)
    middle = await split_point(engine, start, end, total, split_from)
    if middle is None:
        await _tally(tally, engine, (start, end), calendar, now, progress)
    else:
        later = _Half(
            url=engine.url.render_as_string(hide_password=False),
            tally=QualityTally(period.first, period.last, zone, satisfied_threshold),
            calendar=calendar,
            start=middle,
            end=end,
            now=now,
        )
        with SecondProcess(_later_half, later) as other:
            # The progress bar counts the cases of both processes.
            await _tally(
                tally,
                engine,
                (start, middle),
                calendar,
                now,
                lambda cases: progress(cases + other.news()),
            )
            tally.merge(await other.finish(progress))
    return tally.metrics(now, customers)


async def _tally(
    tally: QualityTally,
    engine: AsyncEngine,
    period: tuple[datetime, datetime],
    calendar: Calendar,
    now: datetime,
    progress: Callable[[int], None],
) -> None:
    told = tally.cases
    with fewer_collections():
        async for case in ledger_cases(engine, *period, batch=BATCH):
            tally.add(ledger_row(case, calendar, now))
            if tally.cases - told == 1000:
                progress(tally.cases - told)
                told = tally.cases
    progress(tally.cases - told)


@dataclass(frozen=True, slots=True)
class _Half:
    """The cases received in [start, end), for another process to add to `tally`."""

    url: str
    tally: QualityTally
    calendar: Calendar
    start: datetime
    end: datetime
    now: datetime


async def _later_half(job: _Half, count: Callable[[int], None]) -> QualityTally:
    """The second process's work: the job's cases tallied."""
    engine = create_engine(job.url)
    try:
        await _tally(job.tally, engine, (job.start, job.end), job.calendar, job.now, count)
    finally:
        await engine.dispose()
    return job.tally
