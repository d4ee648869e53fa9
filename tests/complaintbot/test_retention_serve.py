"""RETENTION_DAYS as a running worker applies it: `complaintbot serve`'s sweep erases
the personal data of a case archived longer ago than that, and keeps a newer one."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.router import ComplaintBot
from complaintbot.app import serve
from complaintbot.settings import Settings
from storage.models import Case
from storage.outbox import SqlOutbox
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import Chat
from tests.support.clock import FakeClock, SteppedWallClock
from tests.support.waiting import eventually


async def _archived(engine: AsyncEngine, case_no: str, days_ago: int, now: FakeClock) -> None:
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(
            update(Case)
            .where(Case.case_no == case_no)  # type: ignore[arg-type]
            .values(status="archived", archived_at=now.now() - timedelta(days=days_ago))
        )


async def _names(engine: AsyncEngine) -> dict[str, str]:
    async with AsyncSession(engine) as session:
        rows = await session.execute(select(Case.case_no, Case.contact_name))
        return dict(rows.all())  # type: ignore[arg-type]


async def test_the_running_sweep_erases_cases_archived_longer_ago_than_retention(
    bot: ComplaintBot,
    outbox: SqlOutbox,
    clock: FakeClock,
    engine: AsyncEngine,
    database_url: str,
    tmp_path: Path,
) -> None:
    numbers = []
    for user in ("2001", "2002"):
        receipt = await play(Chat(bot, outbox, clock, user=user), ENGLISH_INTAKE)
        numbers.append(re.search(r"TS-\d{8}-\d{4}", receipt).group(0))  # type: ignore[union-attr]
    old, recent = numbers
    wall = SteppedWallClock(clock.now())
    await _archived(engine, old, 31, wall)
    await _archived(engine, recent, 29, wall)

    settings = Settings(
        DATABASE_URL=database_url,
        DATA_DIR=tmp_path / "data",
        RETENTION_DAYS=30,
        SWEEP_INTERVAL_SECONDS=0.2,
        PORT=0,
    )
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(settings, stop, clock=wall))
    try:

        async def old_erased() -> bool:
            return (await _names(engine))[old] == "[erased]"

        await eventually(old_erased, within=20)
    finally:
        stop.set()
        await asyncio.wait_for(serving, 30)
    assert (await _names(engine))[recent] == "Alice Wang"
