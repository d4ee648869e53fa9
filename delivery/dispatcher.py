"""The outbox's sender: delivers queued replies, retries transient failures, records delivery.

Delivery is at-least-once: an item is claimed before sending and marked delivered
after; only a crash inside that window sends it again. Who may dispatch is the
outbox's to say (`OutboxStore.exclusive`: one process on SQLite, every worker on
PostgreSQL); whatever a dead dispatcher had claimed is released by the next to look
(at the latest every `poll_seconds`), not after a lease runs out.

Fair and never stuck:
- A pass claims round-robin across conversations, people's answers before automated
  notices (`OutboxStore.claim`); within a conversation and lane, in order.
- Pacing (`SendBudget`: in this process, or in the database for every worker): a
  conversation with no budget left is given back to the outbox until it has, instead
  of being waited for in place; only the channel's overall budget is waited for, each
  message for the slot it reserved (no one polls for the next free one). Automated
  notices may use only part of a conversation's budget (`delivery.pacing.NOTICE_SHARE`),
  so a person's own action always finds room.
- A failing message backs off (with jitter, at most `_BACKOFF_CAP`) and holds back only
  its own conversation's lane; a 429 holds back that conversation for `retry_after`.
  It is given up after `give_up_after` from when it was queued, not after a count.
- In `run`, a pass waits for its sends at most `linger` seconds (the app: not at all);
  what is still being sent goes on while the next pass serves everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.messages import Outbound
from bot.ports import Clock, SystemClock
from delivery.pacing import LocalBudget
from delivery.ports import Delivery, OutboxStore, SendBudget
from delivery.sending import ChannelPacing, DeliveryError, Sender, Sent

log = logging.getLogger(__name__)

# A slot in the channel's overall budget up to this far ahead is reserved and waited
# for; a later one, the conversation's items are given back to the outbox until then.
_INLINE_WAIT = 1.5
# Backoff after a transient failure: 1, 2, 4 … seconds, never more than this.
_BACKOFF_CAP = 30.0


class Dispatcher:
    def __init__(
        self,
        outbox: OutboxStore,
        senders: dict[str, Sender],
        clock: Clock | None = None,
        *,
        give_up_after: timedelta = timedelta(hours=24),
        batch: int = 50,
        per_conversation: int = 3,
        poll_seconds: float = 2.0,
        linger: float | None = None,
        on_failure: Callable[[Delivery, str], Awaitable[None]] | None = None,
        pacing: dict[str, ChannelPacing] | None = None,
        jitter: Callable[[float, float], float] = random.uniform,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observe: Callable[[str, str, float | None], None] | None = None,
        budget: SendBudget | None = None,
    ) -> None:
        self.outbox = outbox
        self.senders = senders
        self.clock = clock or SystemClock()
        self.give_up_after = give_up_after
        self.batch = batch
        self.per_conversation = per_conversation
        self.poll_seconds = poll_seconds
        self.linger = linger
        self.on_failure = on_failure
        self.pacing = pacing or {}
        # The channels' budgets: in this process unless one shared by all is given.
        self.budget = budget or LocalBudget(self.pacing, monotonic)
        # Per channel: messages waiting for the overall budget's slots they reserved.
        self._line: dict[str, asyncio.Lock] = {}
        self.jitter = jitter
        self.monotonic = monotonic
        self.sleep = sleep
        # Told (channel, outcome, seconds from queued to sent) of each attempt's outcome:
        # "sent", "retried", "429" (the channel asked to wait) or "failed" (given up).
        self.observe = observe
        self._wakeup = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopping = False
        # Items being sent by this process (a lingering pass's included).
        self._in_flight: set[int] = set()
        self._lingering: set[asyncio.Task[None]] = set()
        # Whether `run` holds the outbox now, whether claims may be stale (ours, or a
        # dead dispatcher's), and when to look for a dead one's next.
        self._holding = False
        self._stale = True
        self._next_stale_look = 0.0

    def stop(self) -> None:
        """Ends `run` after the pass in progress: cancelling it mid-pass would abandon a
        sent message's delivery record (and a database transaction) halfway."""
        self._stopping = True
        self._stopped.set()
        self._wakeup.set()

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wakeup.set()

    async def run(self) -> None:
        """Delivers until `stop` (or cancellation), holding the outbox while it does;
        while another process holds it, looks again every `poll_seconds`."""
        while not self._stopping:
            try:
                async with self.outbox.exclusive() as mine:
                    if mine:
                        await self._dispatch_while_held()
                        continue
            except Exception as error:
                log.warning("could not take the outbox, trying again: %s", error)
            # Another holds it: look again in a while, not at each wake (each reply
            # queued anywhere would cost every other worker a try for the lock).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self.poll_seconds)

    async def _dispatch_while_held(self) -> None:
        self._holding = self._stale = True
        try:
            await self._count_recent_sends()
            await self._passes()
        finally:
            # What is still being sent is this holder's until settled: letting go of the
            # outbox before would let another process take it over and send it twice.
            if self._lingering:
                await asyncio.gather(*self._lingering, return_exceptions=True)
            self._holding = False

    async def _passes(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            try:
                handled = await self.run_once(linger=self.linger)
            except Exception:
                log.exception("outbox pass failed; trying again")
                handled = 0
                self._stale = True  # an item may have been left claimed
                if not await self.outbox.still_held():
                    return
            if handled < self.batch:
                await self._idle()

    async def _idle(self) -> None:
        if self._stopping:
            return
        try:
            await asyncio.wait_for(self._wakeup.wait(), self.poll_seconds)
        except TimeoutError:
            pass

    async def _count_recent_sends(self) -> None:
        """Another process may have been sending until a moment ago: what it sent in the
        last minute counts against the budgets this one keeps from now on."""
        if self.budget.shared:
            return  # every process takes from the same budgets
        now = self.clock.now()
        try:
            sends = await self.outbox.recent_sends(now - timedelta(minutes=1))
        except Exception:
            log.exception("could not read recent sends; pacing from now on")
            return
        for channel, conversation, at in sends:
            if channel in self.pacing:
                ago = max((now - at).total_seconds(), 0.0)
                self.budget.spend_earlier(channel, conversation, ago)

    async def run_once(self, linger: float | None = None) -> int:
        """One pass over what is due; returns how many items it took. With `linger`,
        returns after at most that long and lets slow sends finish on their own."""
        if self._holding:  # inside `run`, which holds the outbox
            return await self._pass(linger)
        async with self.outbox.exclusive() as mine:
            if not mine:
                return 0  # another dispatcher has the outbox
            self._stale = True
            return await self._pass(linger)

    async def _pass(self, linger: float | None) -> int:
        if self._stale or self.monotonic() >= self._next_stale_look:
            # Just taken (or a pass failed, or a while has passed): what this one
            # claimed and is not sending, and what a dispatcher now gone claimed.
            await self.outbox.release_stale(frozenset(self._in_flight))
            self._stale = False
            self._next_stale_look = self.monotonic() + self.poll_seconds
        room = self.batch - len(self._in_flight)
        if room <= 0:
            return 0
        due = await self.outbox.claim(self.clock.now(), room, self.per_conversation)
        self._in_flight.update(d.id for d in due)
        by_conversation: dict[tuple[str, str], list[Delivery]] = {}
        for delivery in due:
            key = (delivery.outbound.channel, delivery.outbound.conversation)
            by_conversation.setdefault(key, []).append(delivery)
        tasks = [
            asyncio.ensure_future(self._deliver_conversation(items))
            for items in by_conversation.values()
        ]
        if not tasks:
            return 0
        done, pending = await asyncio.wait(tasks, timeout=linger)
        for task in done:
            task.result()
        for task in pending:
            self._lingering.add(task)
            task.add_done_callback(self._lingered)
        return len(due)

    def _lingered(self, task: asyncio.Task[None]) -> None:
        self._lingering.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a delivery failed", exc_info=task.exception())
            self._stale = True  # its item may have been left claimed
        self._wakeup.set()  # its conversation's next items are free now

    async def _deliver_conversation(self, items: list[Delivery]) -> None:
        """A conversation's claimed items: people's lane first, each lane in order."""
        try:
            for lane in (False, True):
                await self._deliver_lane([d for d in items if d.notice is lane])
        finally:
            self._in_flight.difference_update(d.id for d in items)

    async def _deliver_lane(self, items: list[Delivery]) -> None:
        for position, delivery in enumerate(items):
            wait = await self._turn(delivery)
            if wait:
                later = self.clock.now() + timedelta(seconds=wait)
                for item in items[position:]:
                    await self.outbox.postpone(item, later)
                return
            retry_at = await self._deliver(delivery)
            if retry_at is not None:
                # Keep the order: later messages of this lane wait for the failed one.
                for later_item in items[position + 1 :]:
                    await self.outbox.postpone(later_item, retry_at)
                return

    async def _turn(self, delivery: Delivery) -> float:
        """Takes the message's slot under the channel's limits (waiting for it when it is
        a moment away) and returns 0, or returns the seconds after which to try again
        (its conversation has no budget now, or the channel none for a while)."""
        outbound = delivery.outbound
        if outbound.channel not in self.pacing:
            return 0.0
        wait = await self.budget.take(
            outbound.channel, outbound.conversation, delivery.notice, within=_INLINE_WAIT
        )
        if not wait.taken:
            return max(wait.conversation, wait.overall)
        if wait.after > 0:  # the slot is this message's: no one else takes it
            until = self.monotonic() + wait.after
            # Slots come in the order they were reserved: waiting for them in line is
            # waiting for each on its own, and sends in that order whatever the wake-ups'
            # jitter (or an injected clock, which moves only when slept on).
            async with self._line.setdefault(outbound.channel, asyncio.Lock()):
                if (left := until - self.monotonic()) > 0:
                    await self.sleep(left)
        return 0.0

    async def _deliver(self, delivery: Delivery) -> datetime | None:
        """Sends one item; returns when it will be retried, or None when it is settled."""
        sender = self.senders.get(delivery.outbound.channel)
        if sender is None:
            await self.outbox.failed(delivery, self.clock.now(), "no sender for this channel")
            self._observe(delivery, "failed")
            return None
        try:
            sent = await self._send(sender, delivery)
        except DeliveryError as error:
            return await self._failed_attempt(delivery, error)
        now = self.clock.now()
        await self.outbox.delivered(delivery, sent, now)
        queued_at = delivery.queued_at
        self._observe(delivery, "sent", (now - queued_at).total_seconds() if queued_at else None)
        return None

    def _observe(self, delivery: Delivery, outcome: str, latency: float | None = None) -> None:
        if self.observe is not None:
            self.observe(delivery.outbound.channel, outcome, latency)

    async def _send(self, sender: Sender, delivery: Delivery) -> Sent:
        try:
            return await sender.send(delivery.outbound)
        except DeliveryError:
            raise
        except Exception as unexpected:
            log.exception("delivery %s: unexpected failure", delivery.id)
            raise DeliveryError(repr(unexpected), permanent=False) from unexpected

    async def _failed_attempt(self, delivery: Delivery, error: DeliveryError) -> datetime | None:
        now = self.clock.now()
        queued_at = delivery.queued_at or now
        if error.permanent or now - queued_at >= self.give_up_after:
            log.warning("delivery %s failed for good: %s", delivery.id, error)
            await self.outbox.failed(delivery, now, str(error))
            self._observe(delivery, "failed")
            if self.on_failure is not None:
                await self.on_failure(delivery, str(error))
            return None
        outbound: Outbound = delivery.outbound
        if error.retry_after is not None:
            wait = error.retry_after
            await self.budget.hold(outbound.channel, outbound.conversation, error.retry_after)
        else:
            # Exponential backoff with jitter, so many failed items do not come back
            # at the same instant.
            cap = min(2.0 ** min(delivery.attempts, 16), _BACKOFF_CAP)
            wait = self.jitter(cap / 2, cap)
        log.info("delivery %s retried in %.0fs: %s", delivery.id, wait, error)
        retry_at = now + timedelta(seconds=wait)
        await self.outbox.retry_later(delivery, retry_at, str(error))
        self._observe(delivery, "429" if error.retry_after is not None else "retried")
        return retry_at
