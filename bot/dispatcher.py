"""The outbox's sender: delivers queued replies, retries transient failures, records delivery.

Delivery is at-least-once: an item is leased before sending and marked delivered
after; only a crash inside that window sends it again. Items of one conversation go
out in order, one at a time; conversations are served concurrently.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
    ) -> None:
        self.outbox = outbox
        self.senders = senders
        self.clock = clock or SystemClock()
        self.max_attempts = max_attempts
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.on_failure = on_failure
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
        now = self.clock.now()
        due = await self.outbox.claim(now, self.batch, lease=timedelta(seconds=60))
        by_conversation: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
        for delivery in due:
            key = (delivery.outbound.channel, delivery.outbound.conversation)
            by_conversation[key].append(delivery)
        await asyncio.gather(*(self._deliver_in_order(items) for items in by_conversation.values()))
        return len(due)

    async def _deliver_in_order(self, items: list[Delivery]) -> None:
        for position, delivery in enumerate(items):
            retry_at = await self._deliver(delivery)
            if retry_at is not None:
                # Keep the order: later messages of this chat wait for the failed one.
                for later in items[position + 1 :]:
                    await self.outbox.postpone(later, retry_at)
                return

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
            wait = error.retry_after or min(2.0**delivery.attempts, 300.0)
            log.info("delivery %s retried in %.0fs: %s", delivery.id, wait, error)
            retry_at = now + timedelta(seconds=wait)
            await self.outbox.retry_later(delivery, retry_at, str(error))
            return retry_at
        await self.outbox.delivered(delivery, sent, self.clock.now())
        return None
