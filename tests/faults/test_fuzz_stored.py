"""Property: hostile Telegram updates and mails are stored raw on the real databases too.

The memory backend (tests/faults/test_fuzz_telegram.py) is fast but forgiving: it keeps
any Python string. SQLite and PostgreSQL are not (PostgreSQL refuses NUL, both refuse
text that is not Unicode), so a smaller number of the same sessions runs against each
database of `TEST_DATABASES`: every message to the bot is stored once, raw, under its
update id, and every reply is one Telegram accepts; every mail is stored.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.router import BotConfig, ComplaintBot
from channels.email import CHANNEL as EMAIL
from channels.email.inbound import mail_to_inbound
from channels.telegram import CHANNEL
from storage import migrate
from storage.database import create_engine
from storage.models import Message
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.conftest import _TEMPLATE, SQL_BACKENDS
from tests.faults.strategies import Action, any_mail, telegram_session
from tests.faults.test_fuzz_telegram import NUL_MESSAGE, Session
from tests.support.clock import FakeClock

Fresh = Callable[[], AbstractAsyncContextManager[str]]
_names = itertools.count(1)


@pytest.fixture(params=SQL_BACKENDS)
def fresh_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Fresh:
    """A way to get a new, migrated, empty database of each SQL backend per example."""
    if request.param == "sqlite":
        template = tmp_path_factory.mktemp("fuzz") / "template.db"

        async def prepare() -> None:
            engine = create_engine(f"sqlite+aiosqlite:///{template}")
            await migrate.upgrade(engine)
            await engine.dispose()

        asyncio.run(prepare())

        @asynccontextmanager
        async def sqlite() -> AsyncIterator[str]:
            path = template.with_name(f"fuzz-{next(_names)}.db")
            shutil.copyfile(template, path)
            yield f"sqlite+aiosqlite:///{path}"
            path.unlink()

        return sqlite
    cluster = request.getfixturevalue("postgres")

    @asynccontextmanager
    async def postgresql() -> AsyncIterator[str]:
        name = f"fuzz_{os.getpid()}_{next(_names)}"
        await cluster.create_database(name, template=_TEMPLATE)
        yield cluster.url(name)
        await cluster.drop_database(name)

    return postgresql


async def _play_on(fresh: Fresh, data_dir: Path, actions: list[Action]) -> Session:
    async with fresh() as url:
        engine = create_engine(url)
        clock = FakeClock()

        async def stored(transport_id: str) -> list[dict[str, Any]]:
            async with AsyncSession(engine) as session:
                rows = await session.scalars(
                    select(Message).where(
                        Message.channel == CHANNEL,
                        Message.direction == "in",
                        Message.transport_id == transport_id,
                    )
                )
                return [row.raw for row in rows]

        backend = (SqlRepository(engine, data_dir, clock), SqlOutbox(engine, data_dir), stored)
        session = Session(backend=backend, clock=clock)
        try:
            await session.play(actions)
        finally:
            await engine.dispose()
        return session


@settings(
    max_examples=max(settings.default.max_examples // 4, 5),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(telegram_session(max_actions=8))
@example(actions=[Action(NUL_MESSAGE, 1001)])
def test_hostile_updates_are_stored_raw_on_the_databases(
    fresh_database: Fresh, tmp_path: Path, actions: list[Action]
) -> None:
    session = asyncio.run(_play_on(fresh_database, tmp_path / "data", actions))
    assert session.api.problems == []
    assert session.failures == []


async def _file_mail_on(fresh: Fresh, data_dir: Path, mails: list[bytes]) -> None:
    async with fresh() as url:
        engine = create_engine(url)
        clock = FakeClock()
        bot = ComplaintBot(SqlRepository(engine, data_dir, clock), BotConfig(), clock)
        try:
            for raw in mails:
                clock.advance(seconds=61)
                inbound = mail_to_inbound(raw, clock.now())
                # What the IMAP poller calls; whatever it raises stops the poller
                # before it marks this mail, so every later mail waits behind it.
                await bot.handle_safely(inbound)
                async with AsyncSession(engine) as session:
                    rows = await session.scalars(
                        select(Message).where(
                            Message.channel == EMAIL,
                            Message.direction == "in",
                            Message.transport_id == inbound.transport_id,
                        )
                    )
                    assert len(rows.all()) == 1, "a mail was not stored"
        finally:
            await engine.dispose()


@settings(
    max_examples=max(settings.default.max_examples // 4, 5),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(any_mail(), min_size=1, max_size=3))
@example(mails=[b"From: \xe2\x80\x8b\r\nSubject: x\r\n\r\nhi\r\n"])
def test_hostile_mail_is_stored_on_the_databases(
    fresh_database: Fresh, tmp_path: Path, mails: list[bytes]
) -> None:
    asyncio.run(_file_mail_on(fresh_database, tmp_path / "data", mails))
