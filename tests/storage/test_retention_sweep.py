"""The retention sweep over stored cases: archived more than RETENTION_DAYS ago → erased,
archived since → kept, open → never; one failing case does not stop the others."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.retention import RetentionSweep
from bot.router import ComplaintBot
from storage.models import Case
from storage.outbox import SqlOutbox
from storage.retention import SqlRetention
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import Chat
from tests.support.clock import FakeClock


class FailsOn(SqlRetention):
    """The real store, except that erasing one case raises (a broken row, say)."""

    def __init__(self, engine: AsyncEngine, data_dir: Path, case_no: str) -> None:
        super().__init__(engine, data_dir)
        self.case_no = case_no

    async def erase(self, case_no: str, cutoff: datetime, at: datetime) -> bool:
        if case_no == self.case_no:
            raise RuntimeError("disk on fire")
        return await super().erase(case_no, cutoff, at)


async def _file(bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, user: str) -> str:
    chat = Chat(bot, outbox, clock, user=user)
    script = [(a, v.replace("alice@", f"u{user}@"), e) for a, v, e in ENGLISH_INTAKE]
    script[5] = ("say", f"1391234{user} u{user}@example.com", "It sounds like")
    receipt = await play(chat, script)
    return re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]


async def _archive(engine: AsyncEngine, case_no: str, at: datetime) -> None:
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(
            update(Case)
            .where(Case.case_no == case_no)  # type: ignore[arg-type]
            .values(status="archived", archived_at=at)
        )


async def _names(engine: AsyncEngine) -> dict[str, str]:
    async with AsyncSession(engine) as session:
        rows = (await session.execute(select(Case.case_no, Case.contact_name))).all()
    return dict(rows)  # type: ignore[arg-type]


async def test_the_sweep_erases_only_cases_archived_longer_ago_than_retention(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, engine: AsyncEngine, tmp_path: Path
) -> None:
    old, failing, recent, still_open = [
        await _file(bot, outbox, clock, user) for user in ("2001", "2002", "2003", "2004")
    ]
    clock.advance(hours=1)
    await _archive(engine, old, clock.now())
    await _archive(engine, failing, clock.now())
    clock.advance(days=29)
    await _archive(engine, recent, clock.now())
    clock.advance(days=2)  # old and failing: 31 days archived; recent: 2 days
    data = tmp_path / "data"

    # RETENTION_DAYS unset: no sweep is built; 30 days with one case failing:
    sweep = RetentionSweep(FailsOn(engine, data, failing), 30, clock)
    assert [d.case_no for d in await sweep.due()] == [old, failing]
    assert await _names(engine) == {c: "Alice Wang" for c in (old, failing, recent, still_open)}
    assert await sweep.sweep() == [old]
    names = await _names(engine)
    assert names[old] == "[erased]"
    assert {names[failing], names[recent], names[still_open]} == {"Alice Wang"}

    # The failed case is erased by a later pass; a done case is not erased twice.
    healthy = RetentionSweep(SqlRetention(engine, data), 30, clock)
    assert await healthy.sweep() == [failing]
    assert await healthy.sweep() == []
    assert [d.case_no for d in await healthy.due()] == []
