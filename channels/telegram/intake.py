"""Telegram intake: raw first, parse second, and nothing acknowledged that is not stored.

Each batch from `getUpdates` is stored raw (under its `update_id`) before the next poll
moves the offset past it, which is when Telegram forgets it. Only then is each update
decoded and handed to the bot, and marked handled after the bot's commit; whatever was
stored but not yet handled when the process stopped is handled at the next start
(the bot ignores a transport id it already has, so handling twice changes nothing).

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

from channels.spec import RawUpdates
from channels.telegram import CHANNEL
from channels.telegram.polling import FeedError, UpdateFeed

log = logging.getLogger(__name__)

T = TypeVar("T")
Deliver = Callable[[Update], Awaitable[Callable[[], Awaitable[object]] | None]]

FIRST_RETRY = 0.2  # seconds; doubled after each failure up to the cap
RETRY_CAP = 5.0
GIVE_UP_AFTER = 3  # failed hand-overs while the store takes writes


class TelegramIntake:
    """Polls, stores, decodes and hands over updates until `stop`.

    `prepare(update)` turns a decoded update into the bot's call (None: nothing for the
    bot); raising means the update cannot be read. `undecodable` counts the updates kept
    raw this run as unreadable, `failed` those the bot failed on while the database
    worked; `waiting_for_store` is true while the database is unavailable.
    """

    def __init__(
        self,
        feed: UpdateFeed,
        store: RawUpdates,
        bot: Bot,
        prepare: Deliver,
        retry_cap: float | None = None,
    ) -> None:
        self.feed = feed
        self.store = store
        self.bot = bot
        self.prepare = prepare
        self.retry_cap = retry_cap or RETRY_CAP
        self.undecodable = 0
        self.failed = 0
        self._store_failures = 0
        self.waiting_for_store = False
        self._polling_failed = False
        self._poll_delay = FIRST_RETRY
        self._stopping = asyncio.Event()
        self._offset: int | None = None

    def stop(self) -> None:
        """Ends `run` after the update in hand (or at once when waiting)."""
        self._stopping.set()

    async def run(self) -> None:
        stored = await self._patiently(lambda: self.store.unhandled(CHANNEL))
        for key, payload in stored or []:
            if self._stopping.is_set():
                return
            await self._take(key, payload)
        while not self._stopping.is_set():
            batch = await self._poll()
            if not batch:
                continue
            raw = [(str(update["update_id"]), update) for update in batch]
            keys = await self._patiently(functools.partial(self.store.keep, CHANNEL, raw))
            if keys is None:
                return  # stopped before it was stored: Telegram keeps it
            self._offset = max(int(u["update_id"]) for u in batch) + 1
            todo = set(keys)
            for update in batch:
                key = str(update["update_id"])
                if key in todo and not self._stopping.is_set():
                    await self._take(key, update)

    async def _poll(self) -> list[dict[str, Any]] | None:
        fetch = asyncio.ensure_future(self.feed.fetch(self._offset))
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
        """Decodes one stored update and hands it to the bot; marks what became of it."""
        try:
            handle = await self.prepare(Update.de_json(payload, self.bot))
        except Exception as error:
            self.undecodable += 1
            log.warning(
                "Telegram update %s cannot be read (%s): kept raw and skipped",
                key,
                type(error).__name__,
            )
            await self._patiently(lambda: self.store.mark(CHANNEL, key, "undecodable"))
            return

        if handle is not None and not await self._hand_over(key, handle):
            return
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
                self._store_failures += 1
                if not self.waiting_for_store:
                    self.waiting_for_store = True
                    log.warning(
                        "Telegram intake is waiting for the database (%s); updates stay "
                        "with Telegram until they are stored",
                        type(error).__name__,
                    )
                if not await self._pause(delay):
                    return None
                delay = min(delay * 2, self.retry_cap)
                continue
            if self.waiting_for_store:
                self.waiting_for_store = False
                log.info("the database is back; Telegram intake goes on")
            return result

    async def _pause(self, seconds: float) -> bool:
        """Waits `seconds`; False when stopped meanwhile."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return True
        return False
