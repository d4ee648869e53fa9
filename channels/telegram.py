"""Telegram through python-telegram-bot: `Update` → `Inbound`, `Outbound` → Bot API call.

Private chats and groups are read; which group is the agents' is the bot's business.
A thread, for the bot an opaque string, is here either a forum topic (`topic:ID`) or
the replies to one message (`reply:ID`) in a group without topics.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, MessageLimit
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.messages import Attachment, Inbound, InboundKind, Outbound
from delivery.sending import ChannelPacing, DeliveryError, Rate, Sent

log = logging.getLogger(__name__)

CHANNEL = "telegram"
# Bots may download files up to 20 MB through the public Bot API.
MAX_DOWNLOAD = 20 * 1024 * 1024
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)
_UNSUPPORTED = (
    "sticker",
    "voice",
    "video_note",
    "location",
    "venue",
    "poll",
    "dice",
    "animation",
    "game",
)

Handle = Callable[[Inbound], Awaitable[Any]]


def build_application(token: str, base_url: str, base_file_url: str) -> Application:
    # No AIORateLimiter: the dispatcher paces sends itself (`telegram_pacing`), per
    # private chat too, which the library's limiter does not.
    return ApplicationBuilder().token(token).base_url(base_url).base_file_url(base_file_url).build()


def telegram_pacing(
    per_second: float = 30, chat_per_second: float = 1, group_per_minute: float = 20
) -> ChannelPacing:
    """Telegram's published limits: about 30 messages a second overall, one a second in
    a private chat, 20 a minute in a group (group chat ids are negative)."""
    private, group = Rate.per(chat_per_second, 1.0), Rate.per(group_per_minute, 60.0)

    def per_conversation(conversation: str) -> Rate:
        return group if conversation.startswith("-") else private

    # Overall, messages are spread evenly (one every 1/30 s) rather than sent 30 at a
    # time: a burst at the edge of a second is what a request delayed on its way turns
    # into 31 in Telegram's second.
    return ChannelPacing(overall=Rate(1, 1 / per_second), per_conversation=per_conversation)


class TelegramChannel:
    """Translates updates for the bot and delivers its replies (the Telegram `Sender`)."""

    def __init__(self, application: Application, handle: Handle) -> None:
        self.application = application
        self.handle = handle
        self._forums: dict[int, bool] = {}
        application.add_handler(TypeHandler(Update, self._on_update))

    async def check_agent_chat(self, chat_id: int) -> list[str]:
        """What keeps the agents' group from working, one sentence per problem."""
        bot = self.application.bot
        where = f"the agents' group (TELEGRAM_AGENT_CHAT_ID={chat_id})"
        try:
            chat = await bot.get_chat(chat_id)
            member = await bot.get_chat_member(chat_id, bot.id)
        except TelegramError as error:
            return [f"Cannot open {where}: {error}. Add the bot to the group."]
        self._forums[chat_id] = bool(chat.is_forum)
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

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        inbound = await self.to_inbound(update)
        if inbound is None:
            return
        if inbound.group:
            await self.handle(inbound)
            return
        try:
            await self.application.bot.send_chat_action(
                int(inbound.conversation), ChatAction.TYPING
            )
        except TelegramError as error:
            log.debug("typing action not shown: %s", error)
        await self.handle(inbound)

    async def to_inbound(self, update: Update) -> Inbound | None:
        """The bot's view of an update, or None for what is not a private chat with us."""
        raw = update.to_dict()
        transport_id = str(update.update_id)
        query = update.callback_query
        if query is not None:
            await query.answer()
            chat = query.message.chat if query.message else None
            user = query.from_user
            group = chat is not None and chat.type != ChatType.PRIVATE
            thread = None
            if group and isinstance(query.message, Message) and query.message.is_topic_message:
                thread = f"topic:{query.message.message_thread_id}"
            return Inbound(
                group=group,
                thread_id=thread,
                sender_username=user.username,
                channel=CHANNEL,
                transport_id=transport_id,
                conversation=str(chat.id if chat else user.id),
                sender_id=str(user.id),
                sender_name=user.full_name,
                language_code=user.language_code,
                received_at=datetime.now(UTC),
                kind=InboundKind.BUTTON,
                button_data=query.data or "",
                raw=raw,
            )
        message = update.message or update.edited_message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return None
        user = message.from_user
        group = message.chat.type != ChatType.PRIVATE
        base: dict[str, Any] = {
            "group": group,
            "thread_id": (
                f"topic:{message.message_thread_id}" if group and message.is_topic_message else None
            ),
            "reply_to": _reply_to(message) if group else None,
            "sender_username": user.username,
            "channel": CHANNEL,
            "transport_id": transport_id,
            "conversation": str(message.chat.id),
            "sender_id": str(user.id),
            "sender_name": user.full_name,
            "language_code": user.language_code,
            "received_at": (message.edit_date or message.date).astimezone(UTC),
            "message_id": str(message.message_id),
            "raw": raw,
        }
        text = message.text or message.caption or ""
        if update.edited_message is not None:
            return Inbound(
                **base,
                kind=InboundKind.EDIT,
                text=text,
                edited_message_id=str(message.message_id),
            )
        if message.text is not None:
            command = _COMMAND.match(message.text)
            if command:
                return Inbound(
                    **base,
                    kind=InboundKind.COMMAND,
                    text=message.text,
                    command=command.group(1).lower(),
                    command_args=command.group(2) or "",
                )
            return Inbound(**base, kind=InboundKind.TEXT, text=message.text)
        if message.contact is not None:
            return Inbound(
                **base, kind=InboundKind.CONTACT, phone=message.contact.phone_number, text=text
            )
        attachment = await self._attachment(message)
        if attachment is not None:
            return Inbound(
                **base, kind=InboundKind.ATTACHMENT, text=text, attachments=(attachment,)
            )
        what = next((name for name in _UNSUPPORTED if getattr(message, name, None)), "other")
        return Inbound(**base, kind=InboundKind.UNSUPPORTED, unsupported_what=what, text=text)

    async def _attachment(self, message: Message) -> Attachment | None:
        if message.photo:
            photo = message.photo[-1]
            file_id, size = photo.file_id, photo.file_size or 0
            name, mime = f"photo-{message.message_id}.jpg", "image/jpeg"
        else:
            media = message.document or message.video or message.audio
            if media is None:
                return None
            file_id, size = media.file_id, media.file_size or 0
            name = getattr(media, "file_name", None) or f"file-{message.message_id}"
            mime = media.mime_type or "application/octet-stream"
        data: bytes | None = None
        if size <= MAX_DOWNLOAD:
            try:
                telegram_file = await self.application.bot.get_file(file_id)
                data = bytes(await telegram_file.download_as_bytearray())
            except TelegramError as error:
                log.warning("file %s not downloaded: %s", file_id, error)
        return Attachment(
            name=name,
            mime=mime,
            data=data,
            size=len(data) if data else size,
            transport_file_id=file_id,
        )

    async def send(self, outbound: Outbound) -> Sent:
        chat_id = int(outbound.conversation)
        markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | None = None
        if outbound.buttons:
            markup = InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
                    for row in outbound.buttons
                ]
            )
        elif outbound.contact_button:
            markup = ReplyKeyboardMarkup(
                [[KeyboardButton(outbound.contact_button, request_contact=True)]],
                one_time_keyboard=True,
                resize_keyboard=True,
            )
        try:
            thread = outbound.thread
            if outbound.new_thread:
                thread = await self._open_topic(chat_id, outbound.new_thread)
            where = _placement(thread)
            ids: list[str] = []
            chunks = split_text(outbound.text, MessageLimit.MAX_TEXT_LENGTH)
            for position, chunk in enumerate(chunks):
                last = position == len(chunks) - 1
                try:
                    sent = await self.application.bot.send_message(
                        chat_id, chunk, reply_markup=markup if last else None, **where
                    )
                except BadRequest as error:
                    if "thread not found" not in str(error) or not outbound.case_no:
                        raise
                    # Someone deleted the topic by hand: the case gets a new one.
                    log.warning(
                        "topic %s is gone; opening a new one for %s", thread, outbound.case_no
                    )
                    thread = await self._open_topic(chat_id, f"{outbound.case_no} ↻")
                    where = _placement(thread)
                    sent = await self.application.bot.send_message(
                        chat_id, chunk, reply_markup=markup if last else None, **where
                    )
                ids.append(str(sent.message_id))
                if thread is None and outbound.new_thread:
                    # No topics here: the card's replies are its thread.
                    thread = f"reply:{sent.message_id}"
                    where = _placement(thread)
            for attachment in outbound.files:
                ids.append(await self._send_file(chat_id, attachment, where))
        except RetryAfter as error:
            wait = error.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            raise DeliveryError(str(error), permanent=False, retry_after=seconds) from error
        except (Forbidden, BadRequest, InvalidToken) as error:
            raise DeliveryError(str(error), permanent=True) from error
        except TelegramError as error:
            raise DeliveryError(str(error), permanent=False) from error
        return Sent(tuple(ids), thread)

    async def _open_topic(self, chat_id: int, title: str) -> str | None:
        """A new forum topic, or None where there are no topics (or no right to make one)."""
        bot = self.application.bot
        if chat_id not in self._forums:
            self._forums[chat_id] = bool((await bot.get_chat(chat_id)).is_forum)
        if not self._forums[chat_id]:
            return None
        try:
            topic = await bot.create_forum_topic(chat_id, title)
        except BadRequest as error:
            log.warning("no topic for %r (%s); posting a card message instead", title, error)
            return None
        return f"topic:{topic.message_thread_id}"

    async def _send_file(self, chat_id: int, attachment: Attachment, where: dict[str, Any]) -> str:
        bot = self.application.bot
        data = attachment.data or b""
        if attachment.mime in ("image/jpeg", "image/png", "image/webp"):
            sent = await bot.send_photo(chat_id, data, filename=attachment.name, **where)
        else:
            sent = await bot.send_document(chat_id, data, filename=attachment.name, **where)
        return str(sent.message_id)


def _placement(thread: str | None) -> dict[str, Any]:
    """Bot API arguments that put a message into a thread."""
    if thread is None:
        return {}
    kind, _, number = thread.partition(":")
    if kind == "topic":
        return {"message_thread_id": int(number)}
    return {"reply_parameters": ReplyParameters(int(number), allow_sending_without_reply=True)}


def _reply_to(message: Message) -> str | None:
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return None  # in a topic, every message "replies" to the topic's first message
    return str(replied.message_id)


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at line breaks where possible."""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    if rest:
        pieces.append(rest)
    return pieces
