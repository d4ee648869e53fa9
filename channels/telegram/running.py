"""Telegram for one run: start-up checks, polling or the webhook, shutdown.

With `TELEGRAM_WEBHOOK_URL` set (and `complaintbot serve` serving HTTP), updates come by
webhook: start registers it with Telegram (every worker does; it is the same URL), and
each POST is stored raw before it is answered 200. Without it, one worker at a time
polls. Either way every worker handles stored updates.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from starlette.routing import BaseRoute
from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError

from channels.spec import ChannelContext, ChannelStartError, Webhook
from channels.telegram import CHANNEL
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
    TELEGRAM_WEBHOOK_URL: str | None
    TELEGRAM_WEBHOOK_SECRET: str | None


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
    def webhook(self) -> Webhook | None:
        url = self.settings.TELEGRAM_WEBHOOK_URL
        if not url:
            return None
        return Webhook(urlsplit(url).path or "/", self.receive_webhook)

    @property
    def pages(self) -> Sequence[BaseRoute]:
        return ()

    async def receive_webhook(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        """One POST from Telegram: 200 once the update is stored (Telegram then forgets
        it), 503 while it cannot be (Telegram tries again), 401 without the secret."""
        secret = self.settings.TELEGRAM_WEBHOOK_SECRET or ""
        given = headers.get("x-telegram-bot-api-secret-token", "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            self._refuse()
            return 401, {"ok": False, "error": "wrong or missing secret token"}
        if self.intake is None:
            return 503, {"ok": False, "error": "not started yet"}
        try:
            update = json.loads(body)
        except ValueError:
            update = None
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            self._refuse()
            return 400, {"ok": False, "error": "not a Telegram update"}
        assert isinstance(update, dict)
        try:
            await self.intake.receive([update])
        except Exception as error:
            log.warning(
                "Telegram update %s not stored (%s); Telegram sends it again",
                update_id,
                type(error).__name__,
            )
            return 503, {"ok": False, "error": "cannot store the update now"}
        return 200, {"ok": True}

    def _refuse(self) -> None:
        self.context.count_inbound(CHANNEL, "refused")

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
        webhook_url = self.settings.TELEGRAM_WEBHOOK_URL
        try:  # polling and a webhook exclude each other
            if webhook_url:
                await self.application.bot.set_webhook(
                    webhook_url,
                    secret_token=self.settings.TELEGRAM_WEBHOOK_SECRET,
                    allowed_updates=list(Update.ALL_TYPES),
                )
            else:
                await self.application.bot.delete_webhook()
        except TelegramError as error:
            what = "register TELEGRAM_WEBHOOK_URL with" if webhook_url else "switch to polling"
            raise ChannelStartError(f"Cannot {what} Telegram: {error}") from None
        self.intake = TelegramIntake(
            None if webhook_url else UpdateFeed(self.application.bot.base_url),
            self.context.raw_updates,
            self.application.bot,
            self.channel.prepare,
            leadership=self.context.leadership,
            count=self.context.count_inbound,
        )
        self._polling = asyncio.create_task(self._poll(self.intake))
        how = "by webhook" if webhook_url else "by polling (one worker at a time)"
        log.info("taking Telegram updates %s as @%s", how, self.application.bot.username)

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
            if self.intake.feed is not None:
                await self.intake.feed.close()
            self._polling = None

    async def close(self) -> None:
        await self.stop()  # when another channel failed to start, nobody stopped this one
        if self._initialized:
            self._initialized = False
            await self.channel.signals.close()
            await self.application.shutdown()
