"""`Outbound` → Bot API calls: the Telegram `Sender`.

A case's thread in the agents' group is a forum topic where the group has topics, else
the replies to the case's card message. Long texts are cut at line breaks. An
`Outbound` with `edit` changes that message in place (`editMessageText`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyParameters,
)
from telegram.constants import MessageLimit
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError

from bot.messages import Attachment, Outbound
from delivery.sending import DeliveryError, Sent

log = logging.getLogger(__name__)

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup


class TelegramSender:
    """Delivers `Outbound`s through the Bot API; Telegram's errors become `DeliveryError`s
    (a 429 with its `retry_after`; a blocked bot or a gone chat is permanent)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        # Whether a chat has forum topics, as far as known (the group check fills it).
        self.forums: dict[int, bool] = {}

    async def send(self, outbound: Outbound) -> Sent:
        try:
            return await self._send(outbound)
        except RetryAfter as error:
            wait = error.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            raise DeliveryError(str(error), permanent=False, retry_after=seconds) from error
        except (Forbidden, BadRequest, InvalidToken) as error:
            raise DeliveryError(str(error), permanent=True) from error
        except TelegramError as error:
            raise DeliveryError(str(error), permanent=False) from error

    async def _send(self, outbound: Outbound) -> Sent:
        if outbound.edit and await self._edit(outbound, outbound.edit):
            # Changed in place: no new message, so nothing new for the outbox to record.
            return Sent(())
        chat_id = int(outbound.conversation)
        markup = _markup(outbound)
        thread = outbound.thread
        if outbound.new_thread:
            thread = await self._open_topic(chat_id, outbound.new_thread)
        where = _placement(thread)
        ids: list[str] = []
        chunks = split_text(outbound.text, MessageLimit.MAX_TEXT_LENGTH)
        for position, chunk in enumerate(chunks):
            last = position == len(chunks) - 1
            try:
                sent = await self.bot.send_message(
                    chat_id, chunk, reply_markup=markup if last else None, **where
                )
            except BadRequest as error:
                if "thread not found" not in str(error) or not outbound.case_no:
                    raise
                # Someone deleted the topic by hand: the case gets a new one.
                log.warning("topic %s is gone; opening a new one for %s", thread, outbound.case_no)
                thread = await self._open_topic(chat_id, f"{outbound.case_no} ↻")
                where = _placement(thread)
                sent = await self.bot.send_message(
                    chat_id, chunk, reply_markup=markup if last else None, **where
                )
            ids.append(str(sent.message_id))
            if thread is None and outbound.new_thread:
                # No topics here: the card's replies are its thread.
                thread = f"reply:{sent.message_id}"
                where = _placement(thread)
        for attachment in outbound.files:
            ids.append(await self._send_file(chat_id, attachment, where))
        return Sent(tuple(ids), thread)

    async def _edit(self, outbound: Outbound, message_id: str) -> bool:
        """Replaces an earlier message's text and inline buttons; False when that message
        cannot be edited any more (deleted, too old), and it is to be sent anew.

        A text longer than one message is not edited (it would have to be cut)."""
        if len(outbound.text) > MessageLimit.MAX_TEXT_LENGTH:
            return False
        markup = _markup(outbound)
        try:
            await self.bot.edit_message_text(
                outbound.text,
                chat_id=int(outbound.conversation),
                message_id=int(message_id),
                reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
            )
        except BadRequest as error:
            reason = str(error).lower()
            # A second attempt after a lost answer, or a press that changed nothing.
            if "message is not modified" in reason:
                return True
            if "message to edit not found" in reason or "can't be edited" in reason:
                log.warning("message %s can no longer be edited; sending anew", message_id)
                return False
            raise
        return True

    async def _open_topic(self, chat_id: int, title: str) -> str | None:
        """A new forum topic, or None where there are no topics (or no right to make one)."""
        if chat_id not in self.forums:
            self.forums[chat_id] = bool((await self.bot.get_chat(chat_id)).is_forum)
        if not self.forums[chat_id]:
            return None
        try:
            topic = await self.bot.create_forum_topic(chat_id, title)
        except BadRequest as error:
            log.warning("no topic in chat %s (%s); posting a card message instead", chat_id, error)
            return None
        return f"topic:{topic.message_thread_id}"

    async def _send_file(self, chat_id: int, attachment: Attachment, where: dict[str, Any]) -> str:
        data = attachment.data or b""
        if attachment.mime in ("image/jpeg", "image/png", "image/webp"):
            sent = await self.bot.send_photo(chat_id, data, filename=attachment.name, **where)
        else:
            sent = await self.bot.send_document(chat_id, data, filename=attachment.name, **where)
        return str(sent.message_id)


def _markup(outbound: Outbound) -> Markup | None:
    """Inline buttons, or the keyboard button that shares the user's phone number."""
    if outbound.buttons:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
                for row in outbound.buttons
            ]
        )
    if outbound.contact_button:
        return ReplyKeyboardMarkup(
            [[KeyboardButton(outbound.contact_button, request_contact=True)]],
            one_time_keyboard=True,
            resize_keyboard=True,
        )
    return None


def _placement(thread: str | None) -> dict[str, Any]:
    """Bot API arguments that put a message into a thread."""
    if thread is None:
        return {}
    kind, _, number = thread.partition(":")
    if kind == "topic":
        return {"message_thread_id": int(number)}
    return {"reply_parameters": ReplyParameters(int(number), allow_sending_without_reply=True)}


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at line breaks where possible.

    A piece of nothing but white space is left out: Telegram refuses it ("message text
    is empty"), which would fail the whole message (a long run of spaces in a mail's
    text, posted to the agents' group, does it)."""
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
    return [piece for piece in pieces if piece.strip()] or pieces[-1:]
