"""Email for one run: the IMAP poller feeding the bot, the SMTP sender."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from email.utils import parseaddr
from typing import Protocol

from starlette.routing import BaseRoute

from bot.messages import Inbound
from channels.email import CHANNEL
from channels.email.imap import ImapConfig, ImapPoller
from channels.email.smtp import SmtpConfig, SmtpSender
from channels.spec import ChannelContext, Webhook
from delivery.sending import ChannelPacing, Rate

log = logging.getLogger(__name__)


class MailSettings(Protocol):
    IMAP_HOST: str | None
    IMAP_PORT: int
    IMAP_USERNAME: str | None
    IMAP_PASSWORD: str | None
    IMAP_SECURITY: str
    IMAP_MAILBOX: str
    IMAP_POLL_SECONDS: float
    IMAP_PROCESSED_FOLDER: str | None
    SMTP_HOST: str | None
    SMTP_PORT: int
    SMTP_USERNAME: str | None
    SMTP_PASSWORD: str | None
    SMTP_SECURITY: str
    MAIL_FROM: str | None
    MAIL_MAX_ATTACHMENT_MB: int
    SMTP_MESSAGES_PER_MINUTE: float


def mail_pacing(messages_per_minute: float) -> ChannelPacing:
    """Outgoing mail at most SMTP_MESSAGES_PER_MINUTE (mail providers throttle senders)."""
    # Evenly spaced (no burst), so no minute ever holds more than the setting allows.
    return ChannelPacing(overall=Rate.per(messages_per_minute, 60.0, burst=1))


class RunningMail:
    """The poller runs as a task between `start` and `stop`; `sender` goes to the
    dispatcher."""

    def __init__(self, settings: MailSettings, context: ChannelContext) -> None:
        assert settings.IMAP_HOST and settings.SMTP_HOST and settings.MAIL_FROM
        own = {parseaddr(settings.MAIL_FROM)[1].lower()}
        if settings.IMAP_USERNAME and "@" in settings.IMAP_USERNAME:
            own.add(settings.IMAP_USERNAME.lower())
        self.context = context
        self._sender = SmtpSender(
            SmtpConfig(
                host=settings.SMTP_HOST,
                port=settings.SMTP_PORT,
                security=settings.SMTP_SECURITY,
                mail_from=settings.MAIL_FROM,
                username=settings.SMTP_USERNAME,
                password=settings.SMTP_PASSWORD,
            ),
            context.clock,
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
            self._handle,
            context.cursors,
            own_addresses=frozenset(own),
            max_file=settings.MAIL_MAX_ATTACHMENT_MB * 2**20,
            leadership=context.leadership,
            clock=context.clock,
        )
        self._pacing = mail_pacing(settings.SMTP_MESSAGES_PER_MINUTE)
        self._task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()

    @property
    def sender(self) -> SmtpSender:
        return self._sender

    @property
    def pacing(self) -> ChannelPacing:
        return self._pacing

    @property
    def webhook(self) -> Webhook | None:
        return None

    @property
    def pages(self) -> Sequence[BaseRoute]:
        return ()

    async def _handle(self, inbound: Inbound) -> None:
        await self.context.handle(inbound)  # stored (or recognised) once this returns
        self.context.count_inbound(CHANNEL, "stored")

    async def start(self) -> None:
        self._task = asyncio.create_task(self.poller.run())
        log.info("reading mail from %s", self.poller.config.account)
        if "telegram" not in self.context.running:
            log.warning(
                "TELEGRAM_BOT_TOKEN is not set: mail is filed, but no agents' group sees it"
            )

    async def finished(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()
        self.poller.stop()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 30)
            except TimeoutError:
                log.warning("IMAP poller did not stop in time")

    async def close(self) -> None:
        return None
