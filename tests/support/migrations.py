"""A database as an older release left it: for tests of what a migration does to rows
written before it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate
from storage.database import create_engine


@asynccontextmanager
async def database_at(
    revision: str, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """A new database on `backend` ("sqlite" or "postgresql") with the schema upgraded
    to `revision` only; dropped (PostgreSQL) once the test is done with it."""
    name = f"at_{revision}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
    else:
        cluster = request.getfixturevalue("postgres")
        await cluster.create_database(name)
        url = cluster.url(name)
    engine = create_engine(url)

    def upgrade(connection: Connection) -> None:
        command.upgrade(migrate._config(connection), revision)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade)
        yield engine
    finally:
        await engine.dispose()
        if backend != "sqlite":
            await cluster.drop_database(name)
