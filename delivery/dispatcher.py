"""The outbox's sender: delivers queued replies, retries transient failures, records delivery.

Delivery is at-least-once: an item is leased before sending and marked delivered
after; only a crash inside that window sends it again. Items of one conversation go
out in order, one at a time; conversations are served concurrently.

Pacing: each channel states its rate limits (`ChannelPacing`: overall, and per
conversation). The dispatcher keeps to them itself, with sliding windows: a short wait
is waited, a long one (a busy group) gives the rest of that conversation back to the
outbox until its turn. A 429's `retry_after` holds the conversation back that long.
On PostgreSQL several workers may run a dispatcher; the outbox lets one of them
dispatch at a time (`OutboxStore.exclusive`), so the overall budget is shared.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from bot.messages import Outbound
from bot.ports import Clock, SystemClock

log = logging.getLogger(__name__)


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
    overall: Rate | None = None
    per_conversation: Callable[[str], Rate | None] = field(default=lambda _conversation: None)


class _Window:
    """A sliding window of send times (monotonic seconds)."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self.times: deque[float] = deque()

    def wait(self, now: float) -> float:
        while self.times and self.times[0] <= now - self.rate.seconds:
            self.times.popleft()
        if len(self.times) < self.rate.count:
            return 0.0
        wait = self.times[0] + self.rate.seconds - now
        # Below a microsecond is rounding, not waiting (clocks keep microseconds).
        return wait if wait > 1e-6 else 0.0

    def take(self, now: float) -> None:
        self.times.append(now)


class Pacer:
    """Keeps each channel to its rate limits, in this process."""

    def __init__(
        self,
        pacing: dict[str, ChannelPacing],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pacing = pacing
        self.monotonic = monotonic
        self._overall: dict[str, _Window] = {}
        self._chats: dict[tuple[str, str], _Window] = {}
        self._held: dict[tuple[str, str], float] = {}
        self._turns: dict[str, asyncio.Lock] = {}

    def turn(self, channel: str) -> asyncio.Lock:
        """Waiting for the channel's overall budget is one queue, not everyone polling."""
        return self._turns.setdefault(channel, asyncio.Lock())

    def _windows(self, channel: str, conversation: str) -> tuple[_Window | None, _Window | None]:
        """The channel's overall window and the conversation's own, as configured."""
        pacing = self.pacing[channel]
        overall = None
        if pacing.overall is not None:
            overall = self._overall.setdefault(channel, _Window(pacing.overall))
        key = (channel, conversation)
        chat = self._chats.get(key)
        if chat is None and (rate := pacing.per_conversation(conversation)) is not None:
            chat = self._chats[key] = _Window(rate)
        return overall, chat

    def chat_wait(self, channel: str, conversation: str) -> float:
        """Seconds until this conversation's own limit allows a message (takes nothing)."""
        if channel not in self.pacing:
            return 0.0
        now = self.monotonic()
        _overall, chat = self._windows(channel, conversation)
        held = max(self._held.get((channel, conversation), 0.0) - now, 0.0)
        return held if chat is None else max(held, chat.wait(now))

    def wait(self, channel: str, conversation: str) -> float:
        """Seconds until a message to this conversation may go; 0 takes the slot now."""
        if channel not in self.pacing:
            return 0.0
        overall = self._windows(channel, conversation)[0]
        now = self.monotonic()
        wait = max(self.chat_wait(channel, conversation), overall.wait(now) if overall else 0.0)
        if wait <= 0:
            for window in self._windows(channel, conversation):
                if window is not None:
                    window.take(now)
        return wait

    def hold(self, channel: str, conversation: str, seconds: float) -> None:
        """The transport asked us to wait (a 429): nothing to this conversation until then."""
        self._held[(channel, conversation)] = self.monotonic() + seconds


# Waits up to this long are waited within a pass; longer ones go back to the outbox.
_INLINE_WAIT = 1.5


class Sender(Protocol):
    async def send(self, outbound: Outbound) -> Sent:
        """Delivers the message or raises `DeliveryError`."""
        ...


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    kind: str
    attempts: int
    outbound: Outbound


class OutboxStore(Protocol):
    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[Delivery]: ...

    async def delivered(self, delivery: Delivery, sent: Sent, at: datetime) -> None: ...

    async def retry_later(self, delivery: Delivery, at: datetime, error: str) -> None: ...

    async def failed(self, delivery: Delivery, at: datetime, error: str) -> None: ...

    async def postpone(self, delivery: Delivery, at: datetime) -> None:
        """Gives back a claimed item that was not tried (its attempt does not count)."""
        ...

    def exclusive(self) -> AbstractAsyncContextManager[bool]:
        """True inside when this worker may dispatch now (one worker at a time)."""
        ...


class Dispatcher:
    def __init__(
        self,
        outbox: OutboxStore,
        senders: dict[str, Sender],
        clock: Clock | None = None,
        *,
        max_attempts: int = 10,
        batch: int = 50,
        poll_seconds: float = 2.0,
        on_failure: Callable[[Delivery, str], Awaitable[None]] | None = None,
        pacing: dict[str, ChannelPacing] | None = None,
        jitter: Callable[[float, float], float] = random.uniform,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.outbox = outbox
        self.senders = senders
        self.clock = clock or SystemClock()
        self.max_attempts = max_attempts
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.on_failure = on_failure
        self.pacer = Pacer(pacing or {}, monotonic)
        self.jitter = jitter
        self.sleep = sleep
        self._wakeup = asyncio.Event()
        self._stopping = False

    def stop(self) -> None:
        """Ends `run` after the pass in progress: cancelling it mid-pass would abandon a
        sent message's delivery record (and a database transaction) halfway."""
        self._stopping = True
        self._wakeup.set()

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wakeup.set()

    async def run(self) -> None:
        """Delivers until `stop` (or cancellation)."""
        while not self._stopping:
            self._wakeup.clear()
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("outbox pass failed; trying again")
                sent = 0
            if sent < self.batch and not self._stopping:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_seconds)
                except TimeoutError:
                    pass

    async def run_once(self) -> int:
        """One pass over what is due; returns how many items it handled."""
        async with self.outbox.exclusive() as mine:
            if not mine:
                return 0  # another worker is dispatching
            now = self.clock.now()
            due = await self.outbox.claim(now, self.batch, lease=timedelta(seconds=60))
            by_conversation: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
            for delivery in due:
                key = (delivery.outbound.channel, delivery.outbound.conversation)
                by_conversation[key].append(delivery)
            await asyncio.gather(
                *(self._deliver_in_order(items) for items in by_conversation.values())
            )
            return len(due)

    async def _deliver_in_order(self, items: list[Delivery]) -> None:
        for position, delivery in enumerate(items):
            wait = await self._turn(delivery.outbound)
            if wait:
                later = self.clock.now() + timedelta(seconds=wait)
                for item in items[position:]:
                    await self.outbox.postpone(item, later)
                return
            retry_at = await self._deliver(delivery)
            if retry_at is not None:
                # Keep the order: later messages of this chat wait for the failed one.
                for later_item in items[position + 1 :]:
                    await self.outbox.postpone(later_item, retry_at)
                return

    async def _turn(self, outbound: Outbound) -> float:
        """Waits for the message's turn under the channel's limits: 0 when it may go now
        (its slot is taken), else the seconds after which to try again."""
        channel, conversation = outbound.channel, outbound.conversation
        wait = self.pacer.chat_wait(channel, conversation)
        if wait > _INLINE_WAIT:
            return wait
        if wait > 0:
            await self.sleep(wait)
        async with self.pacer.turn(channel):
            while (wait := self.pacer.wait(channel, conversation)) > 0:
                if wait > _INLINE_WAIT:
                    return wait
                await self.sleep(wait)
        return 0.0

    async def _deliver(self, delivery: Delivery) -> datetime | None:
        """Sends one item; returns when it will be retried, or None when it is settled."""
        sender = self.senders.get(delivery.outbound.channel)
        if sender is None:
            await self.outbox.failed(delivery, self.clock.now(), "no sender for this channel")
            return None
        try:
            try:
                sent = await sender.send(delivery.outbound)
            except DeliveryError:
                raise
            except Exception as unexpected:
                log.exception("delivery %s: unexpected failure", delivery.id)
                raise DeliveryError(repr(unexpected), permanent=False) from unexpected
        except DeliveryError as error:
            now = self.clock.now()
            if error.permanent or delivery.attempts >= self.max_attempts:
                log.warning("delivery %s failed for good: %s", delivery.id, error)
                await self.outbox.failed(delivery, now, str(error))
                if self.on_failure is not None:
                    await self.on_failure(delivery, str(error))
                return None
            if error.retry_after is not None:
                wait = error.retry_after
                self.pacer.hold(
                    delivery.outbound.channel, delivery.outbound.conversation, error.retry_after
                )
            else:
                # Exponential backoff with jitter, so many failed items do not come back
                # at the same instant.
                cap = min(2.0**delivery.attempts, 300.0)
                wait = self.jitter(cap / 2, cap)
            log.info("delivery %s retried in %.0fs: %s", delivery.id, wait, error)
            retry_at = now + timedelta(seconds=wait)
            await self.outbox.retry_later(delivery, retry_at, str(error))
            return retry_at
        await self.outbox.delivered(delivery, sent, self.clock.now())
        return None
