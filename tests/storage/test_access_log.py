"""The access log: appended in one chain, tampering with SQL is caught, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.access_log import (
    AccessEntry,
    access_entries,
    record_access,
    verify_access_log,
)
from storage.chain import GENESIS
from storage.database import create_engine

START = datetime(2026, 12, 1, 9, tzinfo=UTC)


def entry(minutes: int, action: str = "case_view", **extra: object) -> AccessEntry:
    fields: dict[str, object] = {"target": "TS-20261201-0001", "address": "10.0.0.7"}
    fields.update(extra)
    return AccessEntry(
        at=START + timedelta(minutes=minutes),
        actor="wang",
        role="supervisor",
        action=action,
        **fields,  # type: ignore[arg-type]
    )


async def sql(engine: AsyncEngine, statement: str, **values: object) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(statement), values)


async def test_entries_are_appended_in_one_chain(engine: AsyncEngine) -> None:
    await record_access(engine, entry(0, "login", target=None))
    await record_access(
        engine, entry(1, "ledger_export", detail={"masked": False, "reason": "court order"})
    )
    await record_access(engine, entry(2))

    stored = await access_entries(engine)
    assert [(e.seq, e.action) for e in stored] == [
        (1, "login"),
        (2, "ledger_export"),
        (3, "case_view"),
    ]
    assert stored[0].prev_hash == GENESIS
    assert [e.prev_hash for e in stored[1:]] == [e.hash for e in stored[:-1]]
    assert stored[1].detail == {"masked": False, "reason": "court order"}
    assert stored[1].at == START + timedelta(minutes=1)
    assert stored[1].address == "10.0.0.7" and stored[1].via == "web"
    assert await verify_access_log(engine) == []


async def test_a_period_selects_entries_from_start_to_before_end(engine: AsyncEngine) -> None:
    for minutes in (0, 10, 20):
        await record_access(engine, entry(minutes))
    found = await access_entries(
        engine, START + timedelta(minutes=10), START + timedelta(minutes=20)
    )
    assert [e.seq for e in found] == [2]


async def test_a_detail_changed_in_sql_is_caught(engine: AsyncEngine) -> None:
    await record_access(engine, entry(0, "ledger_export", detail={"masked": True}))
    await record_access(engine, entry(1))
    await sql(engine, """UPDATE access_log SET detail = '{"masked": false}' WHERE seq = 1""")
    assert await verify_access_log(engine) == ["access log entry 1: changed after it was written"]


async def test_a_removed_entry_is_caught(engine: AsyncEngine) -> None:
    for minutes in range(3):
        await record_access(engine, entry(minutes))
    await sql(engine, "DELETE FROM access_log WHERE seq = 2")
    assert await verify_access_log(engine) == [
        "access log entry 3: expected position 2 (entries removed or inserted)"
    ]


async def test_secrets_and_unknown_actions_are_refused(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="secrets"):
        await record_access(engine, entry(0, "user_add", detail={"password": "hunter2"}))
    with pytest.raises(ValueError, match="unknown"):
        await record_access(engine, entry(0, "peek"))
    assert await access_entries(engine) == []


async def test_concurrent_appends_from_several_workers_keep_one_chain(
    database_url: str,
) -> None:
    # Two engines stand for two workers; each appends from many tasks at once.
    workers = [create_engine(database_url), create_engine(database_url)]
    try:
        await asyncio.gather(
            *(record_access(workers[n % 2], entry(n, detail={"n": n})) for n in range(40))
        )
        stored = await access_entries(workers[0])
        assert [e.seq for e in stored] == list(range(1, 41))
        assert sorted(e.detail["n"] for e in stored) == list(range(40))
        assert await verify_access_log(workers[0]) == []
    finally:
        for worker in workers:
            await worker.dispose()
