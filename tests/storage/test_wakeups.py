"""Workers wake each other on PostgreSQL: a reply queued or an update stored in one
process is heard by a listener in another at the commit, not at its next look."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.messages import Outbound
from storage.database import create_engine
from storage.raw_updates import SqlRawUpdates
from storage.repository import SqlRepository
from storage.wakeups import INBOUND, OUTBOX, listening
from tests.support.clock import FakeClock


async def test_a_commit_in_one_worker_wakes_a_listener_in_another(
    database_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one process: its parts wake each other in memory")
    listener, writer = create_engine(database_url), create_engine(database_url)
    outbox, inbound = asyncio.Event(), asyncio.Event()
    try:
        async with listening(listener, {OUTBOX: outbox.set, INBOUND: inbound.set}):
            repository = SqlRepository(writer, tmp_path, clock)
            async with repository.conversation("test", "7", "7") as tx:
                await tx.enqueue(Outbound("test", "7", "hello"), "reply", clock.now())
            await asyncio.wait_for(outbox.wait(), 10)
            assert not inbound.is_set()

            await SqlRawUpdates(writer).keep("telegram", [("1", {"update_id": 1})])
            await asyncio.wait_for(inbound.wait(), 10)
    finally:
        await listener.dispose()
        await writer.dispose()
