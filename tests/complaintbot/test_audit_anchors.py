"""Daily anchor files: the heads of the access log and of every case's timeline, kept
outside the database. A chain changed and then rebuilt in SQL verifies on its own, but
`complaintbot audit verify` reports that it no longer matches its anchor."""

from __future__ import annotations

import asyncio
import json
import re
import stat
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.router import ComplaintBot
from complaintbot.app import serve
from complaintbot.settings import Settings
from storage.access_log import (
    AccessEntry,
    access_entries,
    entry_hash,
    record_access,
    verify_access_log,
)
from storage.anchors import write_anchor
from storage.chain import GENESIS, computed_hash, verify
from storage.models import AccessLogRow, Case, TimelineEvent, TimelineHead
from storage.outbox import SqlOutbox
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.complaintbot.test_cli import complaintbot
from tests.support.chat import Chat
from tests.support.clock import FakeClock, SteppedWallClock
from tests.support.waiting import eventually


async def _case_and_accesses(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, engine: AsyncEngine
) -> str:
    receipt = await play(Chat(bot, outbox, clock), ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    for action, detail in (("login", {}), ("ledger_export", {"masked": True, "reason": None})):
        entry = AccessEntry(clock.now(), "wang", "supervisor", action, None, detail)
        await record_access(engine, entry)
    return case_no


async def test_the_anchor_holds_every_head_and_is_never_overwritten(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, engine: AsyncEngine, tmp_path: Path
) -> None:
    case_no = await _case_and_accesses(bot, outbox, clock, engine)
    directory = tmp_path / "anchors"
    path = await write_anchor(engine, directory, date(2026, 11, 22), clock.now())

    assert path == directory / "anchor-2026-11-22.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    anchor = json.loads(path.read_text(encoding="utf-8"))
    last = (await access_entries(engine))[-1]
    async with AsyncSession(engine) as session:
        head = await session.scalar(select(TimelineHead))
    assert head is not None
    assert anchor["access_log"] == {"seq": 2, "hash": last.hash}
    assert anchor["timelines"] == {case_no: {"seq": head.seq, "hash": head.hash}}

    # Later the same day: the file written first stands.
    await record_access(engine, AccessEntry(clock.now(), "wang", "supervisor", "logout"))
    again = await write_anchor(engine, directory, date(2026, 11, 22), clock.now())
    assert again == path and json.loads(path.read_text(encoding="utf-8")) == anchor
    assert sorted(p.name for p in directory.iterdir()) == ["anchor-2026-11-22.json"]


async def _rebuild_access_log(engine: AsyncEngine) -> None:
    """Changes the first entry's detail and recomputes every hash after it."""
    entries = await access_entries(engine)
    async with AsyncSession(engine) as session, session.begin():
        previous = GENESIS
        for entry in entries:
            detail = {"forged": True} if entry.seq == 1 else entry.detail
            row = await session.scalar(select(AccessLogRow).where(AccessLogRow.seq == entry.seq))
            assert row is not None
            changed = AccessEntry(
                entry.at, entry.actor, entry.role, entry.action, entry.target, detail
            )
            row.detail, row.prev_hash = detail, previous
            row.hash = previous = entry_hash(entry.seq, changed, previous)


async def _rebuild_timeline(engine: AsyncEngine, case_no: str) -> None:
    """Changes the actor of the case's second event and recomputes its chain and head."""
    async with AsyncSession(engine) as session, session.begin():
        events = (
            await session.scalars(
                select(TimelineEvent)
                .join(Case, Case.id == TimelineEvent.case_id)  # type: ignore[arg-type]
                .where(Case.case_no == case_no)
                .order_by(TimelineEvent.seq)  # type: ignore[arg-type]
            )
        ).all()
        events[1].actor = "agent:7"
        previous = GENESIS
        for event in events:
            event.prev_hash = previous
            event.hash = previous = computed_hash(event)  # type: ignore[assignment]
        head = await session.scalar(
            select(TimelineHead).where(TimelineHead.case_id == events[0].case_id)
        )
        assert head is not None
        head.hash = previous


async def test_a_chain_rebuilt_after_its_anchor_is_reported(
    bot: ComplaintBot,
    outbox: SqlOutbox,
    clock: FakeClock,
    engine: AsyncEngine,
    database_url: str,
    tmp_path: Path,
) -> None:
    case_no = await _case_and_accesses(bot, outbox, clock, engine)
    directory = tmp_path / "anchors"
    await write_anchor(engine, directory, date(2026, 11, 22), clock.now())
    env = {"DATABASE_URL": database_url, "DEFAULT_LOCALE": "en", "AUDIT_ANCHOR_DIR": str(directory)}

    intact = complaintbot(["audit", "verify"], tmp_path, env)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.splitlines()[1:] == [
        "Access log intact: 2 entries.",
        f"Anchors agree with the database: 1 file in {directory}.",
    ]

    async with AsyncSession(engine) as session:
        anchored_seq = await session.scalar(select(TimelineHead.seq))
    await _rebuild_access_log(engine)
    await _rebuild_timeline(engine, case_no)
    # Each chain holds on its own: only the anchor tells.
    assert await verify_access_log(engine) == []
    async with AsyncSession(engine) as session:
        assert (await verify(session)).intact

    broken = complaintbot(["audit", "verify"], tmp_path, env)
    assert broken.returncode == 1
    rebuilt = (
        "differs from its anchor: the chain was changed and rebuilt after the anchor was written."
    )
    assert broken.stdout.splitlines()[1:] == [
        "Access log intact: 2 entries.",
        f"anchor-2026-11-22.json: the access log position 2 {rebuilt}",
        f"anchor-2026-11-22.json: {case_no} position {anchored_seq} {rebuilt}",
    ]
    assert broken.stderr.strip() == "The access log or its anchors do not match."

    # Entries removed after the anchor: the anchored position is gone.
    async with engine.begin() as connection:
        await connection.exec_driver_sql("DELETE FROM access_log WHERE seq = 2")
    gone = complaintbot(["audit", "verify"], tmp_path, env)
    assert (
        "anchor-2026-11-22.json: the access log position 2 is anchored but no longer exists."
        in gone.stdout
    )


async def test_the_running_sweep_writes_one_anchor_a_day(
    database_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    directory = tmp_path / "anchors"
    settings = Settings(
        DATABASE_URL=database_url,
        DATA_DIR=tmp_path / "data",
        AUDIT_ANCHOR_DIR=directory,
        TIMEZONE="Asia/Shanghai",
        SWEEP_INTERVAL_SECONDS=0.1,
        PORT=0,
    )
    # 10:00 in Shanghai on 22 November.
    wall = SteppedWallClock(clock.now())
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(settings, stop, clock=wall))
    try:

        async def anchored(day: str) -> bool:
            return (directory / f"anchor-{day}.json").exists()

        await eventually(lambda: anchored("2026-11-22"), within=20)
        wall.advance(days=1)
        await eventually(lambda: anchored("2026-11-23"), within=20)
    finally:
        stop.set()
        await asyncio.wait_for(serving, 30)
    assert sorted(p.name for p in directory.iterdir()) == [
        "anchor-2026-11-22.json",
        "anchor-2026-11-23.json",
    ]


def test_an_empty_anchor_directory_setting_means_no_anchors() -> None:
    assert Settings(_env_file=None, AUDIT_ANCHOR_DIR="").AUDIT_ANCHOR_DIR is None  # type: ignore[call-arg]
    given = Settings(_env_file=None, AUDIT_ANCHOR_DIR="/srv/anchors")  # type: ignore[call-arg]
    assert given.AUDIT_ANCHOR_DIR == Path("/srv/anchors")
