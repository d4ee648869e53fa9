"""Hostile mail with real parts: delivered to a real dovecot, read by the real poller,
filed by the bot, answered through the real outbox and SMTP sender to aiosmtpd.

Figure (stated by the test): 7 mails in, 7 stored, 2 cases, 1 mail sent (to the
auto-responder, once).
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.desk import DeskConfig
from bot.messages import Inbound
from bot.router import BotConfig, ComplaintBot
from channels.email.imap import ImapConfig, ImapPoller
from channels.email.smtp import SmtpConfig, SmtpSender
from delivery.dispatcher import Dispatcher
from storage.mail_cursors import SqlMailCursors
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.channels import mail_corpus as corpus
from tests.support.chat import RecordingSender
from tests.support.clock import FakeClock
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.records import Records
from tests.support.smtp_server import SmtpServer


async def test_hostile_mail_is_filed_and_answers_go_only_to_real_senders(
    dovecot: Dovecot,
    smtp_server: SmtpServer,
    engine: AsyncEngine,
    repository: SqlRepository,
    outbox: SqlOutbox,
    clock: FakeClock,
    records: Records,
) -> None:
    dovecot.clear()
    mails = [
        # A bare CR to smuggle a Bcc in (imaplib's APPEND turns it into a real line
        # break, as a careless relay would: the From left is `"Mal`, no address at
        # all, so it is kept but, like any mail without a sender, neither a case nor
        # answered).
        corpus.injected_from(),
        # A third party's address in the display name; the sender is a no-reply robot.
        corpus.phishing_display_name(),
        corpus.plain("Shop <noreply@shop.example>", "<nr@shop.example>"),
        corpus.plain('"Bob" <bob>', "<nodomain@evil.example>"),
        # An auto-responder without robot headers, three times within a minute.
        *(corpus.big5_complaint(message_id=f"<auto-{n}@example.tw>") for n in range(3)),
    ]
    for raw in mails:
        dovecot.append(raw)
    bot = ComplaintBot(repository, BotConfig(desk=DeskConfig("test", "agents")), clock)
    handled: list[str] = []
    all_handled = asyncio.Event()

    async def handle(inbound: Inbound) -> None:
        await bot.handle_safely(inbound)
        handled.append(inbound.transport_id)
        clock.advance(seconds=20)
        if len(handled) == len(mails):
            all_handled.set()

    config = ImapConfig("127.0.0.1", dovecot.port, "none", USER, PASSWORD, timeout=10.0)
    poller = ImapPoller(config, handle, SqlMailCursors(engine))
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.wait_for(all_handled.wait(), 60)
    finally:
        poller.stop()
        await asyncio.wait_for(task, 15)

    desk = RecordingSender()
    sender = SmtpSender(SmtpConfig("127.0.0.1", smtp_server.port, "none", corpus.SUPPORT))
    dispatcher = Dispatcher(outbox, {"email": sender, "test": desk}, clock)
    while await dispatcher.run_once():
        pass

    # Every mail stored as it came; two people's cases, each filed once.
    assert len(await records.messages("in")) == len(mails)
    cases = {case.conversation: case for case in await records.cases()}
    assert set(cases) == {"bob", "chan@example.tw"}
    # Mailed: the auto-responder once; never `mal`, `bob`, the smuggled Bcc or the
    # address in the display name.
    assert [m.recipients for m in smtp_server.messages] == [("chan@example.tw",)]
    assert len(await records.events(cases["chan@example.tw"].case_no, "repeated_mail")) == 2
    assert await records.events(cases["bob"].case_no, "auto_reply_not_sent")
    assert any("“bob”" in o.text for o in desk.sent)
    print(f"hostile mail: {len(mails)} in, {len(cases)} cases, mailed: chan@example.tw once")

