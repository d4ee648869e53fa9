"""The python-telegram-bot `Application` (its bot; no Updater) and what the channel does
with it: prepare each update for the bot, publish the command menu, check the agents'
group."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import BotCommand, BotCommandScopeAllPrivateChats, Update
from telegram.constants import ChatAction, ChatMemberStatus, ChatType
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

# "Typing…" shows when a person's answer takes longer than this (seconds); a quick one
# needs no sign, nor its request to Telegram.
TYPING_AFTER = 0.5


def _cancel(timer: asyncio.TimerHandle | None) -> None:
    if timer is not None:
        timer.cancel()


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
        the update cannot be read. A person whose answer is slow in coming (a file being
        fetched, a busy database) sees the bot typing meanwhile."""
        chat = update.effective_chat
        typing = None
        if chat is not None and chat.type == ChatType.PRIVATE:
            typing = asyncio.get_running_loop().call_later(TYPING_AFTER, self._typing, chat.id)
        try:
            inbound = await self.reader.to_inbound(update)
        except BaseException:
            _cancel(typing)
            raise
        if inbound is None:
            _cancel(typing)
            return None
        if typing is None:
            return functools.partial(self.handle, inbound)
        return functools.partial(self._handle_while_typing, inbound, typing)

    def _typing(self, chat_id: int) -> None:
        action = self.application.bot.send_chat_action(chat_id, ChatAction.TYPING)
        self.signals.send(action, "typing action")

    async def _handle_while_typing(self, inbound: Inbound, typing: asyncio.TimerHandle) -> object:
        try:
            return await self.handle(inbound)
        finally:
            typing.cancel()  # handled: the answer is on its way
