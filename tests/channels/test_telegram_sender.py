"""The Telegram sender against the Bot API stand-in: a message changed in place."""

from __future__ import annotations

from telegram import Bot

from bot.messages import Button, Outbound
from channels.telegram.sender import TelegramSender
from delivery.sending import Sent
from tests.support.telegram_api import FakeBotApi


def labels(message: dict) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


async def test_an_edit_changes_the_message_in_place_and_posts_nothing(api: FakeBotApi) -> None:
    alice = api.user(5201, "Alice", "en")
    async with Bot(api.token, base_url=api.base_url) as bot:
        sender = TelegramSender(bot)
        first = Outbound("telegram", "5201", "Question one?", ((Button("Yes", "q1:yes"),),))
        (message_id,) = (await sender.send(first)).message_ids

        second = Outbound(
            "telegram", "5201", "Yes\nQuestion two?", ((Button("No", "q2:no"),),), edit=message_id
        )
        # Nothing new was posted, so the outbox records no new message.
        assert await sender.send(second) == Sent(())
        assert alice.texts() == ["Yes\nQuestion two?"]
        assert labels(alice.messages[0]) == ["No"]

        done = Outbound("telegram", "5201", "Yes\nNo\nThank you.", edit=message_id)
        assert await sender.send(done) == Sent(())
        assert alice.texts() == ["Yes\nNo\nThank you."]
        assert labels(alice.messages[0]) == []


async def test_an_unchanged_edit_counts_as_delivered(api: FakeBotApi) -> None:
    alice = api.user(5202, "Alice", "en")
    async with Bot(api.token, base_url=api.base_url) as bot:
        sender = TelegramSender(bot)
        (message_id,) = (await sender.send(Outbound("telegram", "5202", "Asked"))).message_ids
        # A second attempt after a lost answer finds the message already changed.
        api.fail_next(
            "editMessageText",
            400,
            "Bad Request: message is not modified: specified new message content and reply "
            "markup are exactly the same as a current content and reply markup of the message",
        )
        again = Outbound("telegram", "5202", "Asked", edit=message_id)
        assert await sender.send(again) == Sent(())
        assert alice.texts() == ["Asked"]


async def test_a_message_that_cannot_be_edited_is_sent_anew(api: FakeBotApi) -> None:
    alice = api.user(5203, "Alice", "en")
    async with Bot(api.token, base_url=api.base_url) as bot:
        sender = TelegramSender(bot)
        gone = Outbound("telegram", "5203", "Next question?", ((Button("A", "a"),),), edit="77")
        sent = await sender.send(gone)
        assert len(sent.message_ids) == 1
        assert alice.texts() == ["Next question?"]
        assert labels(alice.messages[0]) == ["A"]
