"""What a channel needs to take part in delivery: the `Sender` it implements, what it
returns (`Sent`) or raises (`DeliveryError`), and how it wants to be paced
(`ChannelPacing`, in `Rate`s). Channels import this module only, never the dispatcher.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.messages import Outbound


class DeliveryError(Exception):
    """A channel could not deliver a message.

    `permanent` failures (the user blocked the bot, the chat is gone) are never
    retried; others are retried after `retry_after` seconds or an exponential backoff.
    """

    def __init__(self, reason: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Sent:
    """What a channel did with one `Outbound`.

    `message_ids` are the chat-local ids of the messages it took (a long text or files
    take several), as the channel's `Inbound.reply_to` would name them; `thread` is the
    thread the message opened or went into.
    """

    message_ids: tuple[str, ...]
    thread: str | None = None


class Sender(Protocol):
    async def send(self, outbound: Outbound) -> Sent:
        """Delivers the message or raises `DeliveryError`."""
        ...


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `count` messages in any `seconds`."""

    count: int
    seconds: float

    @classmethod
    def per(cls, count: float, seconds: float) -> Rate:
        """`count` messages per `seconds`, also when `count` is a fraction (0.5 a minute)."""
        return cls(int(count), seconds) if count >= 1 else cls(1, seconds / count)


@dataclass(frozen=True, slots=True)
class ChannelPacing:
    """A channel's rate limits: overall, and per conversation (None: no limit)."""

    overall: Rate | None = None
    per_conversation: Callable[[str], Rate | None] = field(default=lambda _conversation: None)
