"""`reporting.frames`: the ledger's cases as batches of columns, on SQLite (each batch
read after the last case of the one before) and on PostgreSQL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from reporting.frames import ledger_frames
from reporting.reading import ledger_cases
from storage.database import create_engine
from storage.models import Case
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.reporting.test_rows import DAY, fill_every_state
from tests.support.clock import FakeClock


@pytest.fixture
async def numbers(
    repository: SqlRepository, outbox: SqlOutbox, clock: FakeClock, tmp_path: Path
) -> list[str]:
    """The case numbers of cases in every state, stored by the real bot, in order."""
    return sorted((await fill_every_state(repository, outbox, clock, tmp_path)).values())


async def test_cases_received_at_one_moment_come_once_each_across_batches(
    numbers: list[str],
    engine: AsyncEngine,
) -> None:
    # A batch ends in the middle of the cases of one moment: the next must go on by id.
    async with engine.begin() as connection:
        await connection.execute(
            update(Case).values(received_at=datetime(2026, 11, 2, 8, 30, 0, 250_000, tzinfo=UTC))
        )

    frames = [frame async for frame in ledger_frames(engine, *DAY, batch=2)]

    assert [frame["case_no"].to_list() for frame in frames] == [
        numbers[at : at + 2] for at in range(0, len(numbers), 2)
    ]
    assert [case.case_no async for case in ledger_cases(engine, *DAY)] == numbers
    received = {moment for frame in frames for moment in frame["received_at"]}
    assert received == {datetime(2026, 11, 2, 8, 30, 0, 250_000, tzinfo=UTC)}


async def test_a_period_without_cases_gives_no_batch(engine: AsyncEngine) -> None:
    assert [frame async for frame in ledger_frames(engine, *DAY)] == []


async def test_both_databases_are_read_through_their_arrow_driver(
    numbers: list[str],
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="reporting.frames"):
        frames = [frame async for frame in ledger_frames(engine, *DAY)]
    assert [n for frame in frames for n in frame["case_no"]] == numbers
    assert caplog.messages == []  # no "reading case by case"


async def test_a_connection_the_driver_refuses_is_read_case_by_case(
    numbers: list[str],
    engine: AsyncEngine,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("an option asyncpg knows and libpq refuses")
    asyncpg_only = create_engine(f"{database_url}?prepared_statement_cache_size=100")
    try:
        with caplog.at_level(logging.WARNING, logger="reporting.frames"):
            frames = [frame async for frame in ledger_frames(asyncpg_only, *DAY, batch=3)]
    finally:
        await asyncpg_only.dispose()
    assert [n for frame in frames for n in frame["case_no"]] == numbers
    assert [frame.height for frame in frames] == [3, 3, 1]
    [warning] = caplog.messages
    assert "prepared_statement_cache_size" in warning
    assert warning.endswith("reading case by case")
