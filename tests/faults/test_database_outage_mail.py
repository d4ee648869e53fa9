"""PostgreSQL stopped while mail arrives, then started: the IMAP poller marks a mail
processed only after the bot committed it, so nothing that arrived meanwhile is lost
or filed twice. `complaintbot run` with a real dovecot and SMTP server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from complaintbot.app import run
from complaintbot.settings import Settings
from storage.database import create_engine
from storage.models import Case
from tests.channels import mail_corpus as corpus
from tests.channels.test_email_end_to_end import _mail_settings
from tests.support.dovecot import Dovecot
from tests.support.postgres import PostgresCluster
from tests.support.smtp_server import SmtpServer
from tests.support.waiting import eventually

WRITERS = 3


async def _cases(url: str) -> list[Case]:
    engine = create_engine(url)
    try:
        async with AsyncSession(engine) as session:
            return list((await session.scalars(select(Case))).all())
    finally:
        await engine.dispose()


def _address(n: int) -> str:
    return f"writer{n}@example.org"


async def test_mail_arriving_while_postgresql_is_down_is_filed_once_when_it_is_back(
    cluster: PostgresCluster,
    dovecot: Dovecot,
    smtp_server: SmtpServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    url = cluster.url("outage")
    settings = Settings(
        DATABASE_URL=url,
        DATA_DIR=tmp_path / "data",
        TELEGRAM_BOT_TOKEN=None,
        **_mail_settings(dovecot, smtp_server),  # type: ignore[arg-type]
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    try:
        # One mail before the outage: the poller is reading.
        dovecot.append(corpus.plain(f"Writer 0 <{_address(0)}>", "<outage-0@example.org>"))
        await eventually(lambda: _receipts(smtp_server, [0]), within=20)

        await asyncio.to_thread(cluster.pause)
        for n in range(1, WRITERS + 1):
            dovecot.append(corpus.plain(f"Writer {n} <{_address(n)}>", f"<outage-{n}@example.org>"))
        await eventually(lambda: _failed(caplog), within=20)
        # Not committed, so not marked: the mails wait in the mailbox, unseen.
        assert [("\\Seen" in flags) for flags in dovecot.flags()] == [True, False, False, False]

        await asyncio.to_thread(cluster.resume)
        await eventually(lambda: _receipts(smtp_server, range(WRITERS + 1)), within=30)
        cases = await _cases(url)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)

    received = [len(smtp_server.to(_address(n))) for n in range(1, WRITERS + 1)]
    filed = sorted(case.contact_email or "" for case in cases)
    # The figures: sent 3 during the outage, stored 3, answered 3, duplicated 0.
    assert (WRITERS, len(cases) - 1, sum(received), max(received)) == (3, 3, 3, 1)
    assert filed == sorted(_address(n) for n in range(WRITERS + 1))
    assert all("\\Seen" in flags for flags in dovecot.flags())
    assert not task.exception()


async def _receipts(server: SmtpServer, writers: Iterable[int]) -> bool:
    return all(server.to(_address(n)) for n in writers)


async def _failed(caplog: pytest.LogCaptureFixture) -> bool:
    return any(
        record.name == "channels.email.imap" and record.levelno >= logging.WARNING
        for record in caplog.records
    )
