"""A mail with an attachment over MAIL_MAX_ATTACHMENT_MB, read from a real dovecot:
the original is kept whole (streamed to disk), the attachment is not fetched, the case
and the agents say so, and the process never holds the mail in memory.

Figures (stated by the tests): peak resident size of a process reading a mail with a
30 MB attachment (over the limit) and with a 19 MB one (kept)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.desk import DeskConfig
from bot.messages import Inbound
from bot.router import BotConfig, ComplaintBot
from channels.email.imap import ImapConfig, ImapPoller
from delivery.dispatcher import Dispatcher
from storage.mail_cursors import SqlMailCursors
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.channels import mail_corpus as corpus
from tests.support.chat import RecordingSender
from tests.support.clock import FakeClock
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.records import Records

MB = 1 << 20
ROOT = Path(__file__).resolve().parents[2]


async def read_one(dovecot: Dovecot, bot: ComplaintBot, engine: AsyncEngine, limit: int) -> None:
    """Runs the real poller until the first mail is handled."""
    handled = asyncio.Event()

    async def handle(inbound: Inbound) -> None:
        await bot.handle_safely(inbound)
        handled.set()

    config = ImapConfig("127.0.0.1", dovecot.port, "none", USER, PASSWORD, timeout=30.0)
    poller = ImapPoller(config, handle, SqlMailCursors(engine), max_file=limit * MB)
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.wait_for(handled.wait(), 60)
    finally:
        poller.stop()
        await asyncio.wait_for(task, 15)


async def test_an_attachment_over_the_limit_is_recorded_not_kept_and_agents_see_it(
    dovecot: Dovecot,
    engine: AsyncEngine,
    repository: SqlRepository,
    outbox: SqlOutbox,
    clock: FakeClock,
    records: Records,
) -> None:
    raw = corpus.with_attachment(3 * MB, message_id="<big-3@example.cn>")
    dovecot.append(raw)
    bot = ComplaintBot(repository, BotConfig(desk=DeskConfig("test", "agents")), clock)
    await read_one(dovecot, bot, engine, limit=2)

    (case,) = await records.cases()
    assert "rude" in case.description
    # The original whole, byte for byte; the recording not at all.
    (original,) = await records.evidence()
    assert (original.name, original.size) == ("message.eml", len(raw))
    assert repository.files.path(original.path).read_bytes() == raw
    (not_kept,) = await records.events(case.case_no, "evidence_not_kept")
    assert not_kept.payload["name"] == "recording.mp3"
    assert not_kept.payload["size"] == pytest.approx(3 * MB, rel=0.01)

    mail, desk = RecordingSender(), RecordingSender()
    dispatcher = Dispatcher(outbox, {"email": mail, "test": desk}, clock)
    while await dispatcher.run_once():
        pass
    # The agents' group speaks Chinese by default.
    assert any("recording.mp3" in o.text and "3 MB" in o.text for o in desk.sent)
    (receipt,) = mail.sent
    assert "recording.mp3" in receipt.text and "3 MB" in receipt.text


async def test_a_large_attachment_under_the_limit_is_kept_byte_for_byte(
    dovecot: Dovecot,
    engine: AsyncEngine,
    repository: SqlRepository,
    clock: FakeClock,
    records: Records,
) -> None:
    """Fetched in chunks and decoded on the way to disk, stored from there."""
    size = 3 * MB + 5
    raw = corpus.with_attachment(size, message_id="<kept-1@example.cn>")
    dovecot.append(raw)
    await read_one(dovecot, ComplaintBot(repository, BotConfig(), clock), engine, limit=20)
    (case,) = await records.cases()
    kept = {e.name: e for e in await records.evidence()}
    assert set(kept) == {"message.eml", "recording.mp3"}
    recording = repository.files.path(kept["recording.mp3"].path).read_bytes()
    assert recording == corpus.attachment_bytes(size)
    assert kept["recording.mp3"].size == size
    assert kept["message.eml"].size == len(raw)
    assert "rude" in case.description
    assert await records.events(case.case_no, "evidence_not_kept") == []


@pytest.mark.parametrize("megabytes", [30, 19])
async def test_a_large_mail_is_read_in_under_150_mb(
    dovecot: Dovecot, tmp_path: Path, megabytes: int
) -> None:
    """In a process of its own, so that the test runner's memory does not count."""
    dovecot.append(corpus.gbk_complaint(sender="zhao@example.cn"))  # the warm-up: a short mail
    raw = corpus.with_attachment(megabytes * MB, message_id=f"<big-{megabytes}@example.cn>")
    dovecot.append(raw)
    size = len(raw)
    del raw
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.faults.mail_memory",
        str(dovecot.port),
        str(tmp_path),
        "20",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _err = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0
    figures = json.loads(out.decode().strip().splitlines()[-1])
    print(f"{megabytes} MB attachment ({size / MB:.1f} MB on the wire): {figures}")
    assert figures["cases"] == 2
    kept = [["message.eml", size]]
    if megabytes <= 20:
        kept.append(["recording.mp3", megabytes * MB])
    assert figures["evidence"] == kept
    assert figures["peak_mb"] < 150
    # The mail never in memory: the process grows by far less than its size.
    assert figures["peak_mb"] - figures["before_mb"] < size / MB / 2
