"""Migration 0014: the staff_users table comes with its unique login and Telegram id,
and goes again on downgrade."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate
from tests.conftest import SQL_BACKENDS
from tests.support.migrations import database_at


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_staff_users_table_comes_and_goes_with_its_revision(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with database_at("0013", backend, request, tmp_path) as engine:
        assert "staff_users" not in await _tables(engine)
        await migrate.upgrade(engine)
        assert "staff_users" in await _tables(engine)
        async with engine.connect() as connection:
            unique = await connection.run_sync(
                lambda c: inspect(c).get_unique_constraints("staff_users")
            )
        assert sorted(tuple(u["column_names"]) for u in unique) == [
            ("login",),
            ("telegram_id",),
        ]

        def downgrade(connection: Connection) -> None:
            command.downgrade(migrate._config(connection), "0013")

        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        assert "staff_users" not in await _tables(engine)
        assert await migrate.current_revision(engine) == "0013"
