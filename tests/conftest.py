"""Shared fixtures. Every database test runs on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.router import BotConfig, ComplaintBot
from storage import migrate
from storage.database import create_engine
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.support.clock import FakeClock

if TYPE_CHECKING:
    from tests.support.postgres import PostgresCluster

BACKENDS = [b for b in os.environ.get("TEST_DATABASES", "sqlite,postgresql").split(",") if b]
_TEMPLATE = "complaintbot_template"
_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    from tests.support.postgres import PostgresCluster

    cluster = PostgresCluster()
    cluster.start()

    async def prepare_template() -> None:
        await cluster.create_database(_TEMPLATE)
        engine = create_engine(cluster.url(_TEMPLATE))
        await migrate.upgrade(engine)
        await engine.dispose()

    try:
        # Run in a thread of its own: this fixture may be first requested from inside
        # a test's running event loop.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, prepare_template()).result()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'complaintbot.db'}"
        engine = create_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        yield url
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    name = f"test_{os.getpid()}_{next(_names)}"
    await cluster.create_database(name, template=_TEMPLATE)
    yield cluster.url(name)
    await cluster.drop_database(name)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def repository(engine: AsyncEngine, tmp_path: Path) -> SqlRepository:
    return SqlRepository(engine, tmp_path / "data")


@pytest.fixture
def outbox(engine: AsyncEngine, tmp_path: Path) -> SqlOutbox:
    return SqlOutbox(engine, tmp_path / "data")


@pytest.fixture
def bot(repository: SqlRepository, clock: FakeClock) -> ComplaintBot:
    return ComplaintBot(repository, BotConfig(), clock)
