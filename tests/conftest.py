"""Shared fixtures. Every database test runs on SQLite and on a throwaway PostgreSQL.

`TEST_DATABASES` names the backends (default `memory,sqlite,postgresql`). `memory` is
the in-memory ports of `tests.support.memory`: every test that observes through the
bot, the outbox or the `records` fixture (`tests.support.records`) runs on it too; a
test that asks for `engine` or `database_url` reads SQL itself and stays on the
database backends. The flow tests alone, in seconds: `TEST_DATABASES=memory pytest tests/bot`.
"""

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
from tests.support.memory import MemoryOutbox, MemoryRepository, MemoryStore
from tests.support.records import MemoryRecords, Records, SqlRecords

if TYPE_CHECKING:
    from channels.telegram.application import TelegramChannel
    from tests.support.dovecot import Dovecot
    from tests.support.postgres import PostgresCluster
    from tests.support.smtp_server import SmtpServer
    from tests.support.telegram_api import FakeBotApi

BACKENDS = [b for b in os.environ.get("TEST_DATABASES", "memory,sqlite,postgresql").split(",") if b]
SQL_BACKENDS = [b for b in BACKENDS if b != "memory"]
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leaves out the memory backend's run of a test that reads the database itself."""
    sql_only = {"engine", "database_url"}
    left_out = [
        item
        for item in items
        if isinstance(item, pytest.Function)
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("backend") == "memory"
        and sql_only & set(item.fixturenames)
    ]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Where the bot keeps its data: "memory", "sqlite" or "postgresql"."""
    return str(request.param)


@pytest.fixture
async def database_url(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> AsyncIterator[str]:
    """A migrated, empty database of each backend."""
    assert backend != "memory", "left out at collection"
    if backend == "sqlite":
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
def memory_store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def repository(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, clock: FakeClock
) -> SqlRepository | MemoryRepository:
    if backend == "memory":
        return MemoryRepository(clock, request.getfixturevalue("memory_store"))
    engine: AsyncEngine = request.getfixturevalue("engine")
    return SqlRepository(engine, tmp_path / "data", clock)


@pytest.fixture
def records(request: pytest.FixtureRequest, backend: str) -> Records:
    """What the bot stored, read back the same way on every backend."""
    if backend == "memory":
        return MemoryRecords(request.getfixturevalue("memory_store"))
    return SqlRecords(request.getfixturevalue("engine"))


@pytest.fixture
def outbox(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> SqlOutbox | MemoryOutbox:
    if backend == "memory":
        return MemoryOutbox(request.getfixturevalue("memory_store"))
    engine: AsyncEngine = request.getfixturevalue("engine")
    return SqlOutbox(engine, tmp_path / "data")


@pytest.fixture
def bot(repository: SqlRepository | MemoryRepository, clock: FakeClock) -> ComplaintBot:
    return ComplaintBot(repository, BotConfig(), clock)


# ----- mail servers: one dovecot for the session, an SMTP server per test -----------------


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    from tests.support.dovecot import Dovecot

    server = Dovecot.in_temp_dir()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Dovecot:
    """The session's dovecot, running, with an empty INBOX."""
    dovecot_server.start_if_stopped()
    dovecot_server.clear()
    return dovecot_server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    from tests.support.smtp_server import SmtpServer

    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    """The Bot API stand-in on 127.0.0.1."""
    from tests.support.telegram_api import FakeBotApi

    async with FakeBotApi() as stand_in:
        yield stand_in


@pytest.fixture
async def channel(api: FakeBotApi) -> AsyncIterator[TelegramChannel]:
    """The Telegram channel's sender on the real python-telegram-bot, talking to `api`;
    what it receives is ignored (for tests of sending alone)."""
    from channels.telegram.application import TelegramChannel, build_application

    application = build_application(api.token, api.base_url, api.base_file_url)

    async def ignore(_inbound: object) -> None:
        return None

    await application.initialize()
    yield TelegramChannel(application, ignore)
    await application.shutdown()
