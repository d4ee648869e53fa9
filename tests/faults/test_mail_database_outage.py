"""PostgreSQL stopped while mail arrives: `complaintbot run` with a real dovecot and a
real SMTP server, on a PostgreSQL cluster of this test's own. A mail is marked read
only after it is committed, so what came meanwhile waits on the server and is filed
and answered once the database is back.

Figure (stated by the test): sent, stored, answered, duplicated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from complaintbot.app import run
from complaintbot.settings import Settings
from storage import migrate
from storage.database import create_engine
from storage.models import Case, Message
from tests.channels import mail_corpus as corpus
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.postgres import PostgresCluster
from tests.support.smtp_server import SmtpServer
from tests.support.waiting import eventually

DURING = 3


@pytest.fixture
async def cluster() -> AsyncIterator[PostgresCluster]:
    """A cluster this test may stop: the session's serves the other tests meanwhile."""
    server = PostgresCluster()
    await asyncio.to_thread(server.start)
    try:
        await server.create_database("mail_outage")
        engine = create_engine(server.url("mail_outage"))
        await migrate.upgrade(engine)
        await engine.dispose()
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot.in_temp_dir()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _rows(url: str, model: type) -> list:
    engine = create_engine(url)
    try:
        async with AsyncSession(engine) as session:
            return list((await session.scalars(select(model))).all())
    finally:
        await engine.dispose()


async def _seen(dovecot: Dovecot) -> int:
    flags = await asyncio.to_thread(dovecot.flags)
    return sum("\\Seen" in f for f in flags)


async def test_mail_that_arrives_while_postgresql_is_down_is_filed_and_answered_once_after(
    cluster: PostgresCluster,
    dovecot: Dovecot,
    smtp_server: SmtpServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    url = cluster.url("mail_outage")
    settings = Settings(
        DATABASE_URL=url,
        DATA_DIR=tmp_path / "data",
        IMAP_HOST="127.0.0.1",
        IMAP_PORT=dovecot.port,
        IMAP_SECURITY="none",
        IMAP_USERNAME=USER,
        IMAP_PASSWORD=PASSWORD,
        IMAP_POLL_SECONDS=1,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_server.port,
        SMTP_SECURITY="none",
        MAIL_FROM=f"投诉受理 <{USER}>",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    try:
        dovecot.append(corpus.plain("First <first@example.cn>", "<before@example.cn>"))
        await eventually(lambda: _async(bool(smtp_server.to("first@example.cn"))), within=30)

        await asyncio.to_thread(cluster.pause)
        senders = [f"writer{n}@example.cn" for n in range(DURING)]
        for n, sender in enumerate(senders):
            dovecot.append(corpus.plain(f"Writer <{sender}>", f"<during-{n}@example.cn>"))
        # The poller meets the outage (the database, or its lock in it) and says so.
        await eventually(lambda: _async(_poller_failed(caplog)), within=30)
        assert await _seen(dovecot) == 1  # nothing marked read that is not stored
        assert not task.done()

        await asyncio.to_thread(cluster.resume)

        async def all_answered_and_marked() -> bool:
            answered = all(smtp_server.to(s) for s in senders)
            return answered and await _seen(dovecot) == 1 + DURING

        await eventually(all_answered_and_marked, within=60)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)

    cases = await _rows(url, Case)
    inbound = [m for m in await _rows(url, Message) if m.direction == "in"]
    answered = [m.recipients[0] for m in smtp_server.messages]
    assert sorted(c.conversation for c in cases) == sorted(["first@example.cn", *senders])
    assert len(inbound) == 1 + DURING
    assert sorted(answered) == sorted(["first@example.cn", *senders])  # each once
    print(
        f"mail during a PostgreSQL outage: sent {DURING}, stored {len(inbound) - 1}, "
        f"answered {len(answered) - 1}, duplicated 0"
    )


def _poller_failed(caplog: pytest.LogCaptureFixture) -> bool:
    return any(
        r.name == "channels.email.imap" and r.levelno >= logging.WARNING for r in caplog.records
    )


async def _async(value: bool) -> bool:
    return value
