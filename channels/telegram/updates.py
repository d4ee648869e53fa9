"""`Update` → `Inbound`: what the bot sees of a Telegram update.

Private chats and groups are read; which group is the agents' is the bot's business.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import UTC
from typing import Any

from telegram import Bot, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot.messages import Attachment, Inbound, InboundKind
from bot.ports import Clock
from channels.telegram import CHANNEL
from channels.telegram.signals import Signals

log = logging.getLogger(__name__)

# Bots may download files up to 20 MB through the public Bot API.
MAX_DOWNLOAD = 20 * 1024 * 1024
MAX_FILE_NAME = 200
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


class UpdateReader:
    """Reads updates for the bot; files are downloaded on the way (up to 20 MB).

    A button press carries no time of its own, so it is received at the `clock`'s now;
    messages keep the time Telegram gives them.
    """

    def __init__(self, bot: Bot, clock: Clock, signals: Signals | None = None) -> None:
        self.bot = bot
        self.clock = clock
        self.signals = signals or Signals()

    async def to_inbound(self, update: Update) -> Inbound | None:
        """The bot's view of an update, or None for what is not a message to us."""
        inbound = await self._read(update)
        return None if inbound is None else _without_nul(inbound)

    async def _read(self, update: Update) -> Inbound | None:
        query = update.callback_query
        if query is not None:
            # Stops the button's spinner (refused when too old, after an outage: the
            # press still counts).
            self.signals.send(query.answer(), f"button press {update.update_id} acknowledgement")
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
                transport_id=str(update.update_id),
                # Out of a group, the sender's own chat: never the chat the callback's
                # message names, which a client can forge.
                conversation=str(chat.id if chat is not None and group else user.id),
                sender_id=str(user.id),
                sender_name=user.full_name,
                language_code=user.language_code,
                received_at=self.clock.now(),
                kind=InboundKind.BUTTON,
                button_data=query.data or "",
                # The message the button is on, which the answer may edit in place.
                reply_to=str(query.message.message_id) if query.message else None,
                raw=update.to_dict(),
            )
        message = update.message or update.edited_message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return None
        return await self._message(update, message)

    async def _message(self, update: Update, message: Message) -> Inbound:
        assert message.from_user is not None
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
            "transport_id": str(update.update_id),
            "conversation": str(message.chat.id),
            "sender_id": str(user.id),
            "sender_name": user.full_name,
            "language_code": user.language_code,
            "received_at": (message.edit_date or message.date).astimezone(UTC),
            "message_id": str(message.message_id),
            "raw": update.to_dict(),
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
        command = _COMMAND.match(message.caption or "") if group else None
        if attachment is not None and command:
            # In the agents' group a file captioned with a command (/refer) goes with it.
            return Inbound(
                **base,
                kind=InboundKind.COMMAND,
                text=text,
                command=command.group(1).lower(),
                command_args=command.group(2) or "",
                attachments=(attachment,),
            )
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
            name = _file_name(getattr(media, "file_name", None)) or f"file-{message.message_id}"
            mime = media.mime_type or "application/octet-stream"
        data: bytes | None = None
        if size <= MAX_DOWNLOAD:
            try:
                telegram_file = await self.bot.get_file(file_id)
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


# Control characters and the marks that turn text around ("report\u202egnp.exe" shows
# as "reportexe.png"), which a file name has no business holding.
_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


def _file_name(name: str | None) -> str:
    """The name a person gave a file, without any path or control characters: agents
    see it on the case, and a name like `../../etc/passwd` must never act as a path."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_IN_NAME.sub("_", name).strip(" .")
    if len(name) > MAX_FILE_NAME:  # shortened before its extension
        _stem, dot, extension = name.rpartition(".")
        keep = dot + extension if dot and len(extension) <= 10 else ""
        name = name[: MAX_FILE_NAME - len(keep)] + keep
    return name


_TEXTS = (
    "text",
    "sender_name",
    "sender_username",
    "language_code",
    "command_args",
    "phone",
    "button_data",
)


def _without_nul(inbound: Inbound) -> Inbound:
    """`inbound` without NUL characters, which PostgreSQL stores in no text column (a
    hostile client can send them; the raw update keeps them, escaped in its JSON)."""
    changed: dict[str, Any] = {
        name: value.replace("\x00", "")
        for name in _TEXTS
        if isinstance(value := getattr(inbound, name), str) and "\x00" in value
    }
    if any("\x00" in a.name or "\x00" in a.mime for a in inbound.attachments):
        changed["attachments"] = tuple(
            replace(a, name=a.name.replace("\x00", ""), mime=a.mime.replace("\x00", ""))
            for a in inbound.attachments
        )
    return replace(inbound, **changed) if changed else inbound


def _reply_to(message: Message) -> str | None:
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return None  # in a topic, every message "replies" to the topic's first message
    return str(replied.message_id)
