"""The IMAP server restarted in the middle of fetching a large mail, part by part: the
poller reconnects and fetches it again; the mail is filed once, whole, marked read,
and no spooled file is left behind.

Figure (stated by the test): 2 mails sent, 1 drop mid-fetch, 2 stored, 0 duplicated.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.messages import Inbound
from bot.router import BotConfig, ComplaintBot
from channels.email import fetching
from channels.email.imap import ImapConfig, ImapPoller
from storage.mail_cursors import SqlMailCursors
from storage.repository import SqlRepository
from tests.channels import mail_corpus as corpus
from tests.support.clock import FakeClock
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.records import Records

MB = 1 << 20


async def test_a_restart_mid_fetch_files_the_mail_once_and_whole(
    dovecot: Dovecot,
    engine: AsyncEngine,
    repository: SqlRepository,
    clock: FakeClock,
    records: Records,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dovecot.start_if_stopped()
    dovecot.clear()
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    large = corpus.with_attachment(3 * MB, message_id="<drop-large@example.cn>")
    dovecot.append(large)
    dovecot.append(corpus.big5_complaint(message_id="<drop-after@example.tw>"))

    # The server goes away after the third piece of the first mail (the original's
    # second piece, or its parts), once.
    pieces: list[str] = []
    section = fetching.MailFetcher._section

    async def dropping(self: fetching.MailFetcher, uid: int, *args: object) -> bytes:
        pieces.append(f"{uid}:{args}")
        if len(pieces) == 3:
            await asyncio.to_thread(dovecot.restart)
        return await section(self, uid, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(fetching.MailFetcher, "_section", dropping)
    bot = ComplaintBot(repository, BotConfig(), clock)
    handled: list[str] = []
    both = asyncio.Event()

    async def handle(inbound: Inbound) -> None:
        await bot.handle_safely(inbound)
        handled.append(inbound.transport_id)
        if len(set(handled)) == 2:
            both.set()

    config = ImapConfig(
        "127.0.0.1", dovecot.port, "none", USER, PASSWORD, timeout=5.0, first_backoff=0.2
    )
    poller = ImapPoller(config, handle, SqlMailCursors(engine))
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.wait_for(both.wait(), 60)
    finally:
        poller.stop()
        await asyncio.wait_for(task, 15)

    assert handled == ["<drop-large@example.cn>", "<drop-after@example.tw>"]
    assert len(await records.cases()) == 2
    assert len(await records.messages("in")) == 2
    kept = {e.name: e.size for e in await records.evidence()}
    assert kept["recording.mp3"] == 3 * MB
    originals = [e for e in await records.evidence() if e.name == "message.eml"]
    assert len(large) in {e.size for e in originals}
    assert list(spool.iterdir()) == []  # nothing personal left in the spool
    print(f"mid-fetch drop: sent 2, pieces fetched {len(pieces)}, stored 2, duplicated 0")
