"""The outbox's sender: delivers queued replies, retries transient failures, records delivery.

Delivery is at-least-once: an item is leased before sending and marked delivered
after; only a crash inside that window sends it again. Items of one conversation go
out in order, one at a time; conversations are served concurrently.

Pacing: each channel states its rate limits (`ChannelPacing`: overall, and per
conversation). The dispatcher keeps to them itself (`delivery.pacing`): a short wait
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
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.messages import Outbound
from bot.ports import Clock, SystemClock
from delivery.pacing import Pacer
from delivery.ports import Delivery, OutboxStore
from delivery.sending import ChannelPacing, DeliveryError, Sender

log = logging.getLogger(__name__)

# Waits up to this long are waited within a pass; longer ones go back to the outbox.
_INLINE_WAIT = 1.5


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
