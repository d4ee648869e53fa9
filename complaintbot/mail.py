"""Wiring of the email channel: the IMAP poller feeding the bot, the SMTP sender."""

from __future__ import annotations

import asyncio
import logging
from email.utils import parseaddr
from typing import TYPE_CHECKING

from channels.email.imap import ImapConfig, ImapPoller
from channels.email.smtp import SmtpConfig, SmtpSender
from storage.mail_cursors import SqlLeadership, SqlMailCursors

if TYPE_CHECKING:
    from complaintbot.app import Core
    from complaintbot.settings import Settings

log = logging.getLogger(__name__)


class MailChannel:
    """The poller runs as a task between `start` and `stop`; `sender` goes to the
    dispatcher."""

    def __init__(self, settings: Settings, core: Core) -> None:
        assert settings.IMAP_HOST and settings.SMTP_HOST and settings.MAIL_FROM
        own = {parseaddr(settings.MAIL_FROM)[1].lower()}
        if settings.IMAP_USERNAME and "@" in settings.IMAP_USERNAME:
            own.add(settings.IMAP_USERNAME.lower())
        self.sender = SmtpSender(
            SmtpConfig(
                host=settings.SMTP_HOST,
                port=settings.SMTP_PORT,
                security=settings.SMTP_SECURITY,
                mail_from=settings.MAIL_FROM,
                username=settings.SMTP_USERNAME,
                password=settings.SMTP_PASSWORD,
            )
        )
        self.poller = ImapPoller(
            ImapConfig(
                host=settings.IMAP_HOST,
                port=settings.IMAP_PORT,
                security=settings.IMAP_SECURITY,
                username=settings.IMAP_USERNAME or "",
                password=settings.IMAP_PASSWORD or "",
                mailbox=settings.IMAP_MAILBOX,
                poll_seconds=settings.IMAP_POLL_SECONDS,
                processed_folder=settings.IMAP_PROCESSED_FOLDER,
            ),
            core.bot.handle_safely,
            SqlMailCursors(core.engine),
            own_addresses=frozenset(own),
            leadership=SqlLeadership(core.engine),
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.poller.run())
        log.info("reading mail from %s", self.poller.config.account)

    async def stop(self) -> None:
        self.poller.stop()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 30)
            except TimeoutError:
                log.warning("IMAP poller did not stop in time")
