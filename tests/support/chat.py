"""Drives the bot as a person would, without any transport: say, press, send a file.

Replies are read back the way a channel would get them: from the outbox, through the
real dispatcher, into a `RecordingSender`.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from bot.dispatcher import DeliveryError, Dispatcher
from bot.messages import Attachment, Inbound, InboundKind, Outbound
from bot.service import ComplaintBot
from storage.outbox import SqlOutbox
from tests.support.clock import FakeClock

_ids = itertools.count(1)


class RecordingSender:
    """A channel that records what it was asked to send; can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[Outbound] = []
        self.failures: list[DeliveryError] = []

    async def send(self, outbound: Outbound) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(outbound)
        return f"{outbound.conversation}:{len(self.sent)}"


class Chat:
    """One person talking to the bot on the `test` channel."""

    def __init__(
        self,
        bot: ComplaintBot,
        outbox: SqlOutbox,
        clock: FakeClock,
        sender: RecordingSender | None = None,
        *,
        user: str = "1001",
        language_code: str | None = "en",
    ) -> None:
        self.bot, self.clock = bot, clock
        self.sender = sender or RecordingSender()
        self.dispatcher = Dispatcher(outbox, {"test": self.sender}, clock)
        self.user = user
        self.language_code = language_code
        self.last_message_id = ""

    def inbound(self, kind: InboundKind, **fields: Any) -> Inbound:
        self.clock.advance(seconds=5)
        number = next(_ids)
        fields.setdefault("message_id", str(number))
        return Inbound(
            channel="test",
            transport_id=f"update-{number}",
            conversation=self.user,
            sender_id=self.user,
            sender_name="Test User",
            language_code=self.language_code,
            received_at=self.clock.now(),
            kind=kind,
            raw={"update": number},
            **fields,
        )

    async def deliver(self, inbound: Inbound) -> list[Outbound]:
        """Hands one inbound to the bot and returns the replies this person got."""
        before = len(self.mine())
        self.last_message_id = inbound.message_id or ""
        await self.bot.handle(inbound)
        while await self.dispatcher.run_once():
            pass
        return self.mine()[before:]

    def mine(self) -> list[Outbound]:
        return [o for o in self.sender.sent if o.conversation == self.user]

    async def say(self, text: str) -> list[Outbound]:
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            return await self.deliver(
                self.inbound(InboundKind.COMMAND, text=text, command=command, command_args=args)
            )
        return await self.deliver(self.inbound(InboundKind.TEXT, text=text))

    async def press(self, label: str) -> list[Outbound]:
        for outbound in reversed(self.mine()):
            for row in outbound.buttons:
                for button in row:
                    if button.label == label:
                        return await self.deliver(
                            self.inbound(InboundKind.BUTTON, button_data=button.data)
                        )
        raise AssertionError(f"no button {label!r} in {[o.text for o in self.mine()[-3:]]}")

    async def share_phone(self, phone: str) -> list[Outbound]:
        return await self.deliver(self.inbound(InboundKind.CONTACT, phone=phone))

    async def send_file(
        self, name: str, data: bytes | None, mime: str = "image/jpeg", caption: str = ""
    ) -> list[Outbound]:
        size = len(data) if data is not None else 25 * 1024 * 1024
        attachment = Attachment(name=name, mime=mime, data=data, size=size)
        return await self.deliver(
            self.inbound(InboundKind.ATTACHMENT, text=caption, attachments=(attachment,))
        )

    async def edit(self, message_id: str, text: str) -> list[Outbound]:
        return await self.deliver(
            self.inbound(InboundKind.EDIT, text=text, edited_message_id=message_id)
        )

    async def unsupported(self, what: str) -> list[Outbound]:
        return await self.deliver(self.inbound(InboundKind.UNSUPPORTED, unsupported_what=what))

    async def redeliver(self, inbound: Inbound) -> list[Outbound]:
        return await self.deliver(replace(inbound))


def texts(replies: list[Outbound]) -> str:
    return "\n".join(reply.text for reply in replies)
