"""Telegram for one run: start-up checks, polling, shutdown."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from telegram.error import InvalidToken, NetworkError, TelegramError

from channels.spec import ChannelContext, ChannelStartError
from channels.telegram.application import TelegramChannel, build_application
from channels.telegram.intake import TelegramIntake
from channels.telegram.pacing import telegram_pacing
from channels.telegram.polling import UpdateFeed
from delivery.sending import ChannelPacing

log = logging.getLogger(__name__)


class TelegramSettings(Protocol):
    TELEGRAM_BOT_TOKEN: str | None
    TELEGRAM_BASE_URL: str
    TELEGRAM_BASE_FILE_URL: str
    TELEGRAM_AGENT_CHAT_ID: int | None
    TELEGRAM_MESSAGES_PER_SECOND: float
    TELEGRAM_CHAT_MESSAGES_PER_SECOND: float
    TELEGRAM_GROUP_MESSAGES_PER_MINUTE: float
    TELEGRAM_CHAT_BURST: int


class RunningTelegram:
    """Polls the Bot API between `start` and `stop` (`intake`: raw first, nothing
    acknowledged that is not stored); the channel is also the sender."""

    def __init__(self, settings: TelegramSettings, context: ChannelContext) -> None:
        assert settings.TELEGRAM_BOT_TOKEN
        self.settings = settings
        self.context = context
        self.application = build_application(
            settings.TELEGRAM_BOT_TOKEN,
            settings.TELEGRAM_BASE_URL,
            settings.TELEGRAM_BASE_FILE_URL,
        )
        self.channel = TelegramChannel(self.application, context.handle, context.clock)
        self._pacing = telegram_pacing(
            settings.TELEGRAM_MESSAGES_PER_SECOND,
            settings.TELEGRAM_CHAT_MESSAGES_PER_SECOND,
            settings.TELEGRAM_GROUP_MESSAGES_PER_MINUTE,
            settings.TELEGRAM_CHAT_BURST,
        )
        self._initialized = False
        self.intake: TelegramIntake | None = None
        self._polling: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()

    @property
    def sender(self) -> TelegramChannel:
        return self.channel

    @property
    def pacing(self) -> ChannelPacing:
        return self._pacing

    @property
    def undecodable(self) -> int:
        """Updates kept raw this run because they could not be read (for metrics)."""
        return self.intake.undecodable if self.intake is not None else 0

    @property
    def failed(self) -> int:
        """Updates kept raw this run because the bot failed on them (for metrics)."""
        return self.intake.failed if self.intake is not None else 0

    @property
    def waiting_for_store(self) -> bool:
        """True while intake waits for the database (for readiness)."""
        return self.intake is not None and self.intake.waiting_for_store

    async def start(self) -> None:
        try:
            await self.application.initialize()
        except InvalidToken:
            raise ChannelStartError(
                "Telegram refused TELEGRAM_BOT_TOKEN; check it with @BotFather."
            ) from None
        except NetworkError as error:
            raise ChannelStartError(
                f"Cannot reach Telegram at TELEGRAM_BASE_URL: {error}"
            ) from None
        self._initialized = True
        await self.channel.set_commands(self.context.command_menu())
        agent_chat = self.settings.TELEGRAM_AGENT_CHAT_ID
        if agent_chat is not None:
            for warning in await self.channel.check_agent_chat(agent_chat):
                log.warning("%s", warning)
        else:
            log.warning(
                "TELEGRAM_AGENT_CHAT_ID is not set: new cases are not posted to any agents' group"
            )
        try:  # polling and a webhook exclude each other
            await self.application.bot.delete_webhook()
        except TelegramError as error:
            raise ChannelStartError(f"Cannot switch Telegram to polling: {error}") from None
        self.intake = TelegramIntake(
            UpdateFeed(self.application.bot.base_url),
            self.context.raw_updates,
            self.application.bot,
            self.channel.prepare,
        )
        self._polling = asyncio.create_task(self._poll(self.intake))
        log.info("polling Telegram as @%s", self.application.bot.username)

    async def _poll(self, intake: TelegramIntake) -> None:
        """Runs the intake until stopped; a fault of its own does not end Telegram intake
        while the process looks healthy: it is logged and the intake starts again (with
        what was stored but not handled)."""
        while not self._stopped.is_set():
            try:
                await intake.run()
            except Exception:
                log.exception("Telegram intake failed; starting it again")
                await asyncio.sleep(1.0)

    async def finished(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()
        if self.intake is not None and self._polling is not None:
            self.intake.stop()
            await self._polling
            await self.intake.feed.close()
            self._polling = None

    async def close(self) -> None:
        await self.stop()  # when another channel failed to start, nobody stopped this one
        if self._initialized:
            self._initialized = False
            await self.application.shutdown()
