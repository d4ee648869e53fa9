"""The python-telegram-bot `Application` (its bot; no Updater) and what the channel does
with it: prepare each update for the bot, publish the command menu, check the agents'
group."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import BotCommand, BotCommandScopeAllPrivateChats, Update
from telegram.constants import ChatAction, ChatMemberStatus
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder

from bot.messages import Inbound, Outbound
from bot.ports import Clock, SystemClock
from channels.telegram.sender import TelegramSender
from channels.telegram.signals import Signals
from channels.telegram.updates import UpdateReader
from delivery.sending import Sent

log = logging.getLogger(__name__)

Handle = Callable[[Inbound], Awaitable[Any]]


def build_application(token: str, base_url: str, base_file_url: str) -> Application:
    # No AIORateLimiter: the dispatcher paces sends itself (`telegram_pacing`), per
    # private chat too, which the library's limiter does not.
    # No Updater: the channel polls itself (`intake`), storing each update raw first.
    return (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .base_file_url(base_file_url)
        .updater(None)
        .build()
    )


class TelegramChannel:
    """Translates updates for the bot and delivers its replies (the Telegram `Sender`)."""

    def __init__(
        self, application: Application, handle: Handle, clock: Clock | None = None
    ) -> None:
        self.application = application
        self.handle = handle
        self.signals = Signals()
        self.reader = UpdateReader(application.bot, clock or SystemClock(), self.signals)
        self.sender = TelegramSender(application.bot)

    async def send(self, outbound: Outbound) -> Sent:
        return await self.sender.send(outbound)

    async def to_inbound(self, update: Update) -> Inbound | None:
        return await self.reader.to_inbound(update)

    async def check_agent_chat(self, chat_id: int) -> list[str]:
        """What keeps the agents' group from working, one sentence per problem."""
        bot = self.application.bot
        where = f"the agents' group (TELEGRAM_AGENT_CHAT_ID={chat_id})"
        try:
            chat = await bot.get_chat(chat_id)
            member = await bot.get_chat_member(chat_id, bot.id)
        except TelegramError as error:
            return [f"Cannot open {where}: {error}. Add the bot to the group."]
        self.sender.forums[chat_id] = bool(chat.is_forum)
        problems = []
        is_admin = member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
        if not is_admin and not bot.can_read_all_group_messages:
            problems.append(
                f"The bot is not an administrator of {where}: it sees only commands, not "
                "agents' plain replies. Make it an administrator."
            )
        if chat.is_forum and not getattr(member, "can_manage_topics", False):
            problems.append(
                f"The bot lacks the administrator right “Manage topics” in {where}: "
                "cases get a card message instead of a topic."
            )
        return problems

    async def set_commands(self, commands: dict[str, list[tuple[str, str]]]) -> None:
        """Publishes the command menu per language (`""` is the default for everyone else)."""
        for language, entries in commands.items():
            await self.application.bot.set_my_commands(
                [BotCommand(name, description) for name, description in entries],
                scope=BotCommandScopeAllPrivateChats(),
                language_code=language or None,
            )

    async def prepare(self, update: Update) -> Callable[[], Awaitable[object]] | None:
        """What handing `update` to the bot takes (None: nothing for the bot); raises when
        the update cannot be read. A person sees the bot typing meanwhile."""
        inbound = await self.reader.to_inbound(update)
        if inbound is None:
            return None
        if not inbound.group:
            typing = self.application.bot.send_chat_action(
                int(inbound.conversation), ChatAction.TYPING
            )
            self.signals.send(typing, "typing action")
        return functools.partial(self.handle, inbound)
