"""Telegram intake: raw first, parse second, and nothing acknowledged that is not stored.

Updates arrive by long poll (`getUpdates`) or by webhook (`receive`). Either way they are
stored raw (under their `update_id`, with their chat as the conversation) before
Telegram hears they arrived: the next poll moves the offset past a stored batch, and
the webhook answers 200 only after the commit. Handlers then claim stored updates
conversation by conversation (any worker's, see `storage/raw_updates.py`), decode each,
hand it to the bot, and mark it handled with the bot's commit (or after it, when the bot
recorded no message for it); whatever was stored but not handled when a process stopped
is claimed again (the bot ignores a transport id it already has, so handling twice
changes nothing).

Polling runs in one worker at a time (`leadership`); another takes over when it stops.

An update that cannot be decoded is kept raw (marked undecodable), logged once with its
id and the error's class only, counted, and skipped: the next ones flow.

While the database is unavailable nothing is acknowledged: polling stops, one warning
says so, and storing (or handling) is retried with a capped backoff until it works.
An update the bot fails on while the database takes writes is, after a few tries,
kept raw too (marked failed), logged once and counted, so it cannot stop intake.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import Bot, Update

from channels.spec import AlwaysLeader, Leadership, RawUpdates
from channels.telegram import CHANNEL
from channels.telegram.polling import FeedConflict, FeedError, UpdateFeed

log = logging.getLogger(__name__)

T = TypeVar("T")
Deliver = Callable[[Update], Awaitable[Callable[[], Awaitable[object]] | None]]

FIRST_RETRY = 0.2  # seconds; doubled after each failure up to the cap
RETRY_CAP = 5.0
GIVE_UP_AFTER = 3  # failed hand-overs while the store takes writes
HANDLERS = 4  # conversations a worker handles at once
# A handler with nothing to do looks again this often even when no store woke it (a
# NOTIFY lost with a dropped connection).
IDLE_LOOK = 2.0
LEADER_LOOK = 2.0  # seconds between tries to become the poller while another polls
POLLING = "telegram:polling"


def conversation_of(update: dict[str, Any]) -> str | None:
    """The chat an update belongs to (the sender's, for one without a chat), read from
    the raw JSON: updates of one chat are handled in order."""
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        for holder in (value, value.get("message")):
            chat = holder.get("chat") if isinstance(holder, dict) else None
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                return str(chat["id"])
        sender = value.get("from") or value.get("user")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return str(sender["id"])
    return None


class TelegramIntake:
    """Receives (polls, when given a `feed`), stores, claims, decodes and hands over
    updates until `stop`.

    `prepare(update)` turns a decoded update into the bot's call (None: nothing for the
    bot); raising means the update cannot be read. `undecodable` counts the updates kept
    raw this run as unreadable, `failed` those the bot failed on while the database
    worked; `waiting_for_store` is true while the database is unavailable.
    """

    def __init__(
        self,
        feed: UpdateFeed | None,
        store: RawUpdates,
        bot: Bot,
        prepare: Deliver,
        retry_cap: float | None = None,
        *,
        handlers: int = HANDLERS,
        leadership: Leadership | None = None,
        count: Callable[[str, str], None] = lambda _channel, _outcome: None,
    ) -> None:
        self.feed = feed
        self.store = store
        self.bot = bot
        self.prepare = prepare
        self.retry_cap = retry_cap or RETRY_CAP
        self.handlers = handlers
        self.leadership = leadership or AlwaysLeader()
        self.count = count
        self.undecodable = 0
        self.failed = 0
        self._store_failures = 0
        self.waiting_for_store = False
        self._polling_failed = False
        self._poll_delay = FIRST_RETRY
        self._stopping = asyncio.Event()
        self._offset: int | None = None

    def stop(self) -> None:
        """Ends `run` after the updates in hand (or at once when waiting)."""
        self._stopping.set()

    async def run(self) -> None:
        loops = [self._handle() for _ in range(self.handlers)]
        if self.feed is not None:
            loops.append(self._receive_polled(self.feed))
        await asyncio.gather(*loops)

    async def receive(self, batch: list[dict[str, Any]]) -> list[str]:
        """Stores `batch` raw; returns the keys new to the store. Raises when the store
        fails: the updates are not stored, and Telegram must keep them."""
        raw = [(str(update["update_id"]), update) for update in batch]
        keys = await self.store.keep(CHANNEL, raw, conversation_of)
        for _ in keys:
            self.count(CHANNEL, "stored")
        for _ in range(len(raw) - len(keys)):
            self.count(CHANNEL, "duplicate")
        return keys

    # ----- polling ------------------------------------------------------------------

    async def _receive_polled(self, feed: UpdateFeed) -> None:
        """Polls while this worker is the poller; tries to become it while another is."""
        while not self._stopping.is_set():
            try:
                async with self.leadership.hold(POLLING) as leading:
                    if leading:
                        await self._poll_while_leading(feed)
            except Exception as error:
                log.warning("cannot take part in polling Telegram (%s)", type(error).__name__)
            if not self._stopping.is_set():
                await self._pause(LEADER_LOOK)

    async def _poll_while_leading(self, feed: UpdateFeed) -> None:
        self._offset = None  # Telegram has whatever no poller acknowledged
        while not self._stopping.is_set():
            try:
                batch = await self._poll(feed)
            except FeedConflict as conflict:
                log.warning("Telegram gives the updates to another (%s); letting go", conflict)
                return  # another poller (or a webhook) has them: let go, contend again
            if not batch:
                continue
            keys = await self._patiently(functools.partial(self.receive, batch))
            if keys is None:
                return  # stopped before it was stored: Telegram keeps it
            self._offset = max(int(u["update_id"]) for u in batch) + 1

    # ----- handling -----------------------------------------------------------------

    async def _handle(self) -> None:
        """Claims a conversation with stored updates, hands them over in order, and
        looks again; waits for a store when none waits."""
        delay = FIRST_RETRY
        while not self._stopping.is_set():
            try:
                async with self.store.claim(CHANNEL) as claimed:
                    self._store_answers()
                    delay = FIRST_RETRY
                    if claimed is not None:
                        if claimed.more:  # another idle handler takes the next one
                            self.store.wake()
                        for key, payload in claimed.updates:
                            if self._stopping.is_set():
                                break
                            await self._take(key, payload)
            except Exception as error:
                self._store_fails(error)
                await self._pause(delay)
                delay = min(delay * 2, self.retry_cap)
                continue
            if claimed is None:
                await self._idle()

    async def _idle(self) -> None:
        stored = asyncio.ensure_future(self.store.stored(IDLE_LOOK))
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({stored, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for waiter in (stored, stopping):
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter

    async def _poll(self, feed: UpdateFeed) -> list[dict[str, Any]] | None:
        """A batch from Telegram; None when the poll failed (after a pause) or was
        stopped. Raises `FeedConflict` when another poller has the updates."""
        fetch = asyncio.ensure_future(feed.fetch(self._offset))
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fetch
            return None
        try:
            batch = fetch.result()
        except FeedConflict:
            raise
        except Exception as error:
            reason = str(error) if isinstance(error, FeedError) else type(error).__name__
            if not self._polling_failed:
                self._polling_failed = True
                log.warning("cannot poll Telegram (%s); trying again", reason)
            wait = error.retry_after if isinstance(error, FeedError) else None
            await self._pause(wait or self._poll_delay)
            self._poll_delay = min(self._poll_delay * 2, self.retry_cap)
            return None
        self._poll_delay = FIRST_RETRY
        if self._polling_failed:
            self._polling_failed = False
            log.info("polling Telegram again")
        return batch

    async def _take(self, key: str, payload: dict[str, Any]) -> None:
        """Decodes one stored update and hands it to the bot; marks what became of it
        (handled: unless the bot's transaction did, with the message it recorded)."""
        with self.store.handing(CHANNEL, key) as handed:
            try:
                handle = await self.prepare(Update.de_json(payload, self.bot))
            except Exception as error:
                self.undecodable += 1
                self.count(CHANNEL, "undecodable")
                log.warning(
                    "Telegram update %s cannot be read (%s): kept raw and skipped",
                    key,
                    type(error).__name__,
                )
                await self._patiently(lambda: self.store.mark(CHANNEL, key, "undecodable"))
                return
            if handle is not None and not await self._hand_over(key, handle):
                return
        if not handed.marked:
            await self._patiently(lambda: self.store.mark(CHANNEL, key, "handled"))

    async def _hand_over(self, key: str, handle: Callable[[], Awaitable[object]]) -> bool:
        """Hands a decoded update to the bot; True once the bot has it.

        The bot logs a failed attempt itself. Before the next one the store must take a
        write again (while it does not, this waits for the database); when the bot fails
        `GIVE_UP_AFTER` times though the store takes writes, the fault is the update's:
        it is kept raw (marked failed), counted, and skipped.
        """

        async def probe() -> bool:
            await self.store.mark(CHANNEL, key, "stored")
            return True

        failures = 0
        while True:
            if failures:
                outages = self._store_failures
                if not await self._patiently(probe):
                    return False  # stopped
                if self._store_failures != outages:
                    failures = 0  # the database was away: that failure was not the update's
            try:
                await handle()
                return True
            except Exception as error:
                failures += 1
                if failures < GIVE_UP_AFTER:
                    if not await self._pause(FIRST_RETRY * failures):
                        return False
                    continue
                self.failed += 1
                log.error(
                    "Telegram update %s could not be handled (%s) though the database "
                    "answers: kept raw and skipped",
                    key,
                    type(error).__name__,
                )
                await self._patiently(lambda: self.store.mark(CHANNEL, key, "failed"))
                return False

    async def _patiently(self, action: Callable[[], Awaitable[T]]) -> T | None:
        """`action`'s result, retried with a capped backoff while it fails (the database
        is unavailable); None when stopped first."""
        delay = FIRST_RETRY
        while True:
            try:
                result = await action()
            except Exception as error:
                self._store_fails(error)
                if not await self._pause(delay):
                    return None
                delay = min(delay * 2, self.retry_cap)
                continue
            self._store_answers()
            return result

    def _store_fails(self, error: Exception) -> None:
        self._store_failures += 1
        if not self.waiting_for_store:
            self.waiting_for_store = True
            log.warning(
                "Telegram intake is waiting for the database (%s); updates stay "
                "with Telegram until they are stored",
                type(error).__name__,
            )

    def _store_answers(self) -> None:
        if self.waiting_for_store:
            self.waiting_for_store = False
            log.info("the database is back; Telegram intake goes on")

    async def _pause(self, seconds: float) -> bool:
        """Waits `seconds`; False when stopped meanwhile."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return True
        return False
