"""Migration 0015: the cases stored before it are found by their texts and messages
once it has run, and its tables go again on downgrade."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate
from storage.models import Case, Complainant, Message
from storage.search import CaseFilter, find_cases
from tests.conftest import SQL_BACKENDS
from tests.support.migrations import database_at

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def _store_cases(engine: AsyncEngine, count: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(Complainant), [{"id": 1, "name": "张三", "created_at": AT, "updated_at": AT}]
        )
        await connection.execute(
            insert(Case),
            [
                {
                    "id": n,
                    "case_no": f"TS-20261102-{n:04d}",
                    "status": "new",
                    "channel": "telegram",
                    "conversation": str(n),
                    "complainant_id": 1,
                    "locale": "zh_CN",
                    "contact_name": "张三",
                    "contact_phone": "+8613812345678",
                    "category": "appeal",
                    "subject": "某某科技有限公司",
                    "description": "要求退款" if n == 1 else "网速很慢",
                    "expectation": "请处理",
                    "received_at": AT,
                    "created_at": AT,
                    "updated_at": AT,
                }
                for n in range(1, count + 1)
            ],
        )
        await connection.execute(
            insert(Message),
            [
                {
                    "channel": "telegram",
                    "direction": "in",
                    "transport_id": "1:1",
                    "conversation": "2",
                    "sender_id": "2",
                    "kind": "text",
                    "text": "Still no refund",
                    "raw": {},
                    "at": AT,
                    "case_id": count,
                }
            ],
        )


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_cases_stored_before_are_found_after_it(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with database_at("0014", backend, request, tmp_path) as engine:
        # More than one batch of the migration's backfill.
        await _store_cases(engine, 1500)
        await migrate.upgrade(engine)

        async def found(text: str) -> list[str]:
            page = await find_cases(engine, CaseFilter(text=text), now=AT)
            return [row.case_no for row in page.rows]

        assert await found("退款") == ["TS-20261102-0001"]
        assert await found("refund") == ["TS-20261102-1500"]
        assert (await find_cases(engine, CaseFilter(text="张三"), now=AT)).total == 1500

        def downgrade(connection: Connection) -> None:
            command.downgrade(migrate._config(connection), "0014")

        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        assert not {"case_search", "case_search_fts"} & await _tables(engine)
        assert await migrate.current_revision(engine) == "0014"
