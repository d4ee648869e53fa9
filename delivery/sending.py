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
    """A token bucket: `count` messages every `seconds` on average, at most `burst` of
    them at once (the bucket holds `burst` tokens and refills one every
    `seconds / count`). Without a `burst`, a whole period's `count` may go at once.

    `burst=1` spaces messages evenly, so that no window of `seconds` ever holds more
    than `count`: the shape for a limit that counts messages per window. `window=True`
    keeps such a limit exactly instead, letting a quiet spell's messages go at once.
    """

    count: int
    seconds: float
    burst: int | None = None
    # A sliding window too: never more than `count` in any `seconds`. Without a `burst`
    # the window alone (all at once if need be: the exact shape of a limit counted per
    # window); with one, the bucket within the window.
    window: bool = False
    # Seconds held back of a burst: after a quiet spell its last message waits this long
    # (a margin for sends that reach the transport later than they were counted).
    reserve: float = 0.0

    def __post_init__(self) -> None:
        if self.count < 1 or self.seconds <= 0 or (self.burst is not None and self.burst < 1):
            raise ValueError(f"not a rate: {self.count} in {self.seconds}s, burst {self.burst}")
        if self.reserve < 0:
            raise ValueError(f"not a rate: a negative reserve ({self.reserve}s)")

    @property
    def capacity(self) -> int:
        """How many messages may go at once after a quiet spell."""
        return self.count if self.burst is None else self.burst

    @property
    def interval(self) -> float:
        """Seconds for the bucket to win back one message."""
        return self.seconds / self.count

    @classmethod
    def per(
        cls, count: float, seconds: float, burst: int | None = None, window: bool = False
    ) -> Rate:
        """`count` messages per `seconds`, also when `count` is a fraction (0.5 a minute)."""
        if count >= 1:
            return cls(int(count), seconds, burst, window)
        return cls(1, seconds / count, burst, window)


@dataclass(frozen=True, slots=True)
class ChannelPacing:
    """A channel's rate limits: overall, and per conversation (None: no limit)."""

    overall: Rate | None = None
    per_conversation: Callable[[str], Rate | None] = field(default=lambda _conversation: None)
