"""When the sweeps run: one APScheduler interval job, however many cases there are.

What a sweep does is the bot's business (`ComplaintBot.sweep`); it reads what is due
through an index, so its cost does not grow with the number of stored cases. Here we
only decide when: every `interval` seconds, one run at a time, missed runs coalesced
(a sweep catches up on everything due anyway).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, sweep: Callable[[], Awaitable[Any]], interval_seconds: float) -> None:
        self.sweep = sweep
        self._pass = asyncio.Lock()
        self._closing = False
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.add_job(
            self._run,
            IntervalTrigger(seconds=interval_seconds, timezone=UTC),
            id="sweep",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),  # once at start: catch up after downtime
        )

    def start(self) -> None:
        """Starts the schedule on the running event loop."""
        self.scheduler.start()

    async def shutdown(self) -> None:
        """Stops the schedule and waits for a pass in progress: cancelling it would leave
        its database work half done (and can hang on a closing connection). APScheduler
        cancels running jobs when it shuts down, whatever `wait` says: so no new pass
        starts from here, the one in progress ends, and only then does it shut down."""
        self._closing = True
        if self.scheduler.running:
            self.scheduler.pause()
        async with self._pass:
            pass
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def _run(self) -> None:
        if self._closing:
            return
        async with self._pass:
            if self._closing:
                return
            try:
                await self.sweep()
            except Exception:
                # The next run tries again; one bad pass must not end the schedule.
                log.exception("sweep failed")
