"""SQLite's writers in one process take turns in order instead of polling the lock."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import QUICK_READ, READ_ONLY, create_engine


@pytest.fixture
async def impatient(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite engine whose connections never wait for SQLite's lock (busy timeout 0):
    a writer that reached it while another held it would fail at once."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")

    @event.listens_for(engine.sync_engine, "connect")
    def _no_waiting(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()

    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        await connection.execute(text("INSERT INTO counter VALUES (0)"))
    yield engine
    await engine.dispose()


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT n FROM counter")) or 0)


async def _add_one(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        n = await connection.scalar(text("SELECT n FROM counter"))
        await asyncio.sleep(0)  # others run while this transaction is open
        await connection.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})


async def test_concurrent_writers_take_turns_and_lose_no_update(impatient: AsyncEngine) -> None:
    # More writers than the pool has connections, all at once.
    await asyncio.wait_for(asyncio.gather(*(_add_one(impatient) for _ in range(40))), 30)
    assert await _count(impatient) == 40


async def test_a_writer_that_fails_lets_the_next_one_in(impatient: AsyncEngine) -> None:
    class Refused(Exception):
        pass

    with pytest.raises(Refused):
        async with impatient.begin() as connection:
            await connection.execute(text("UPDATE counter SET n = 99"))
            raise Refused
    await asyncio.wait_for(_add_one(impatient), 5)
    assert await _count(impatient) == 1


async def test_a_reader_does_not_wait_for_a_writer(impatient: AsyncEngine) -> None:
    async with impatient.begin() as writer:
        await writer.execute(text("UPDATE counter SET n = 7"))
        async with impatient.connect() as reader:
            await reader.execution_options(**{READ_ONLY: True})
            # The committed value: the writer's is not visible before its commit.
            seen = await asyncio.wait_for(reader.scalar(text("SELECT n FROM counter")), 5)
    assert seen == 0
    assert await _count(impatient) == 7


async def test_a_writer_kept_waiting_too_long_gets_a_database_error(
    impatient: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As SQLite's own busy timeout would: the bot treats it as the database unavailable.
    monkeypatch.setattr("storage.database._BUSY_SECONDS", 0.2)
    async with impatient.begin() as holder:
        await holder.execute(text("UPDATE counter SET n = 5"))
        with pytest.raises(OperationalError, match="database is locked"):
            await _add_one(impatient)
    await asyncio.wait_for(_add_one(impatient), 5)
    assert await _count(impatient) == 6


@pytest.fixture
async def traced(impatient: AsyncEngine) -> AsyncIterator[tuple[AsyncEngine, list[int]]]:
    """`impatient`, with a SQL function `here()` that records the thread SQLite ran it on."""
    threads: list[int] = []

    def here() -> int:
        threads.append(threading.get_ident())
        return 1

    @event.listens_for(impatient.sync_engine, "connect")
    def _function(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("here", 0, here)

    await impatient.dispose()  # connections made from now on have it
    yield impatient, threads


async def test_a_quick_read_runs_on_the_loops_thread_and_waits_for_no_writer(
    traced: tuple[AsyncEngine, list[int]],
) -> None:
    engine, threads = traced
    async with engine.begin() as writer:
        await writer.execute(text("UPDATE counter SET n = 3 WHERE here() = 1"))
        async with engine.connect() as reader:
            await reader.execution_options(**{QUICK_READ: True})
            seen = await asyncio.wait_for(
                reader.scalar(text("SELECT n FROM counter WHERE here() = 1")), 5
            )
            await reader.commit()
        async with engine.connect() as reader:
            await reader.execution_options(**{READ_ONLY: True})
            await reader.scalar(text("SELECT n FROM counter WHERE here() = 1"))
    loop = threading.get_ident()
    # The write's statements and the quick read on the loop's thread; a plain read not.
    assert threads[:2] == [loop, loop] and threads[2] != loop
    assert seen == 0  # the committed value, read while the writer held its turn
    # The connection the quick read used serves writes as before, turn and all.
    await asyncio.wait_for(asyncio.gather(*(_add_one(engine) for _ in range(20))), 30)
    assert await _count(engine) == 23
