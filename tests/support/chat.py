"""Drives the bot as a person would, without any transport: say, press, send a file.

Replies are read back the way a channel would get them: from the outbox, through the
real dispatcher, into a `RecordingSender`; on a channel whose messages are delivered by
being on the record (the web chat), from the record, as its page reads them
(`RecordReader`).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.messages import Attachment, Inbound, InboundKind, Outbound
from bot.router import ComplaintBot
from delivery.dispatcher import Dispatcher
from delivery.ports import OutboxStore
from delivery.sending import DeliveryError, Sent
from storage.models import Case, Message
from tests.support.clock import FakeClock

_ids = itertools.count(1)


class RecordingSender:
    """A channel that records what it was asked to send; can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[Outbound] = []
        self.failures: list[DeliveryError] = []

    async def send(self, outbound: Outbound) -> Sent:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(outbound)
        if outbound.edit:
            return Sent((), outbound.thread)  # changed in place: no new message
        number = str(len(self.sent))
        # A new thread is named after the message that opens it, as in a Telegram group.
        return Sent((number,), number if outbound.new_thread else outbound.thread)


class RecordReader:
    """A channel's page reading the messages stored for it (the web chat's replies are
    stored as sent): each read appends the new ones to `sender.sent`, in order."""

    def __init__(self, engine: AsyncEngine, channel: str, sender: RecordingSender) -> None:
        self.engine = engine
        self.channel = channel
        self.sender = sender
        self.after = 0
        self._refs: dict[int, str] = {}  # by the outbound's identity: its message's ref

    async def read(self) -> None:
        async with AsyncSession(self.engine) as session:
            rows = await session.execute(
                select(
                    Message.id, Message.conversation, Message.raw, Message.message_ref, Case.case_no
                )
                .outerjoin(Case, Case.id == Message.case_id)  # type: ignore[arg-type]
                .where(
                    Message.channel == self.channel,
                    Message.direction == "out",
                    Message.id > self.after,  # type: ignore[operator]
                )
                .order_by(Message.id)  # type: ignore[arg-type]
            )
            for message_id, conversation, raw, ref, case_no in rows.all():
                outbound = Outbound.from_payload(self.channel, conversation, raw, case_no)
                self.sender.sent.append(outbound)
                self._refs[id(outbound)] = ref
                self.after = message_id

    def ref_of(self, outbound: Outbound) -> str | None:
        return self._refs.get(id(outbound))


class Chat:
    """One person talking to the bot on the `test` channel (or `channel`)."""

    def __init__(
        self,
        bot: ComplaintBot,
        outbox: OutboxStore,
        clock: FakeClock,
        sender: RecordingSender | None = None,
        *,
        user: str = "1001",
        language_code: str | None = "en",
        channel: str = "test",
        consent: str | None = None,
        record: RecordReader | None = None,
    ) -> None:
        self.bot, self.clock = bot, clock
        self.record = record
        self.sender = sender or RecordingSender()
        self.channel = channel
        self.dispatcher = Dispatcher(outbox, {"test": self.sender, channel: self.sender}, clock)
        self.user = user
        self.language_code = language_code
        # The privacy notice's version the person agreed to on the channel's page: on
        # every message they send, as a web chat carries it.
        self.consent = consent
        self.last_message_id = ""

    def inbound(self, kind: InboundKind, **fields: Any) -> Inbound:
        self.clock.advance(seconds=5)
        number = next(_ids)
        fields.setdefault("message_id", str(number))
        fields.setdefault("consent", self.consent)
        return Inbound(
            channel=self.channel,
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
        await self.deliver_pending()
        return self.mine()[before:]

    async def deliver_pending(self) -> None:
        while await self.dispatcher.run_once():
            pass
        if self.record is not None:
            await self.record.read()

    def message_id(self, outbound: Outbound) -> str:
        """The id of the message shown for `outbound`: its own, or the one it edited."""
        if outbound.edit:
            return outbound.edit
        if self.record is not None and (ref := self.record.ref_of(outbound)) is not None:
            return ref
        # By identity: two messages may be equal (the same answer twice).
        return str(next(n for n, o in enumerate(self.sender.sent, 1) if o is outbound))

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
                            self.inbound(
                                InboundKind.BUTTON,
                                button_data=button.data,
                                reply_to=self.message_id(outbound),
                            )
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
            # As on Telegram, the edit carries the id of the message it changes.
            self.inbound(
                InboundKind.EDIT, text=text, edited_message_id=message_id, message_id=message_id
            )
        )

    async def unsupported(self, what: str) -> list[Outbound]:
        return await self.deliver(self.inbound(InboundKind.UNSUPPORTED, unsupported_what=what))

    async def redeliver(self, inbound: Inbound) -> list[Outbound]:
        return await self.deliver(replace(inbound))


def texts(replies: list[Outbound]) -> str:
    return "\n".join(reply.text for reply in replies)


class AgentsGroup:
    """The agents' group on the `test` channel: agents post, press and command in it.

    Threads are named by the message that opened them (see `RecordingSender`).
    """

    def __init__(self, chat: Chat, conversation: str = "agents") -> None:
        self.chat = chat
        self.conversation = conversation

    def inbound(self, agent: str, kind: InboundKind, **fields: Any) -> Inbound:
        self.chat.clock.advance(seconds=5)
        number = next(_ids)
        fields.setdefault("message_id", str(number))
        return Inbound(
            channel="test",
            transport_id=f"update-{number}",
            conversation=self.conversation,
            sender_id=agent,
            sender_name=f"Agent {agent}",
            sender_username=agent,
            received_at=self.chat.clock.now(),
            kind=kind,
            group=True,
            raw={"update": number},
            **fields,
        )

    async def deliver(self, inbound: Inbound) -> list[Outbound]:
        before = len(self.posts())
        await self.chat.deliver(inbound)
        return self.posts()[before:]

    def posts(self, thread: str | None = None) -> list[Outbound]:
        return [
            o
            for o in self.chat.sender.sent
            if o.conversation == self.conversation and (thread is None or o.thread == thread)
        ]

    def shown(self, thread: str | None = None) -> list[Outbound]:
        """The group's messages as its members see them: an edit changes its message
        in place rather than adding one."""
        shown: dict[str, Outbound] = {}
        for outbound in self.posts(thread):
            shown[self.chat.message_id(outbound)] = outbound
        return list(shown.values())

    def thread_of(self, case_no: str) -> str:
        card = next(o for o in self.posts() if o.new_thread and o.case_no == case_no)
        return str(self.chat.sender.sent.index(card) + 1)

    async def say(
        self, agent: str, text: str, thread: str | None = None, reply_to: str | None = None
    ) -> list[Outbound]:
        fields: dict[str, Any] = {"thread_id": thread, "reply_to": reply_to, "text": text}
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            return await self.deliver(
                self.inbound(
                    agent, InboundKind.COMMAND, command=command, command_args=args, **fields
                )
            )
        return await self.deliver(self.inbound(agent, InboundKind.TEXT, **fields))

    async def send_file(
        self, agent: str, name: str, data: bytes, mime: str, thread: str, caption: str = ""
    ) -> list[Outbound]:
        attachment = Attachment(name=name, mime=mime, data=data, size=len(data))
        return await self.deliver(
            self.inbound(
                agent,
                InboundKind.ATTACHMENT,
                text=caption,
                attachments=(attachment,),
                thread_id=thread,
            )
        )

    async def press(self, agent: str, label: str) -> list[Outbound]:
        for outbound in reversed(self.posts()):
            for row in outbound.buttons:
                for button in row:
                    if button.label == label:
                        return await self.deliver(
                            self.inbound(
                                agent,
                                InboundKind.BUTTON,
                                button_data=button.data,
                                reply_to=self.chat.message_id(outbound),
                                thread_id=outbound.thread,
                            )
                        )
        raise AssertionError(f"no button {label!r} in the group")
