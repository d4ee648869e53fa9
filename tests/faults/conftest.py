"""What the fault tests share: a PostgreSQL cluster of their own, which a test may stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from storage import migrate
from storage.database import create_engine
from tests.support.postgres import PostgresCluster


@pytest.fixture
async def cluster() -> AsyncIterator[PostgresCluster]:
    """A cluster this test may stop: the session's serves the other tests meanwhile."""
    server = PostgresCluster()
    await asyncio.to_thread(server.start)
    try:
        await server.create_database("outage")
        engine = create_engine(server.url("outage"))
        await migrate.upgrade(engine)
        await engine.dispose()
        yield server
    finally:
        await asyncio.to_thread(server.stop)
