"""One sweep over the timers due now: each claimed, acted on, and finished in its own
transaction, under its case's conversation lock.

When sweeps run is `scheduler.sweeps`' business; what a timer does (remind, escalate,
ask for a rating, archive) is the timekeeper's.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from bot.digest import DeadlineDigest
from bot.followup import Timekeeper
from bot.ports import Clock, Repository

log = logging.getLogger(__name__)

# A timer that failed is tried again this much later rather than at every sweep.
RETRY_FAILED = timedelta(hours=1)


class TimerSweep:
    def __init__(
        self,
        repository: Repository,
        timekeeper: Timekeeper,
        clock: Clock,
        digest: DeadlineDigest | None = None,
    ) -> None:
        self.repository = repository
        self.timekeeper = timekeeper
        self.clock = clock
        self.digest = digest
        # Timers the last pass handled (fired, dropped as no longer due, or put off to
        # working hours), by kind: what the metrics count.
        self.last_fired: Counter[str] = Counter()

    async def sweep(self, limit: int = 200) -> int:
        """Acts on every timer due now (reminders, escalations, surveys, archiving);
        returns how many it handled. Safe to run in several workers at once."""
        if self.digest is None:
            return await self._sweep(limit)
        self.digest.begin()
        try:
            return await self._sweep(limit)
        finally:
            await self.digest.end()

    async def _sweep(self, limit: int) -> int:
        handled = 0
        self.last_fired = Counter()
        while True:
            due = await self.repository.due_timers(self.clock.now(), limit)
            for timer in due:
                try:
                    async with self.repository.conversation(
                        timer.channel, timer.conversation, "scheduler"
                    ) as tx:
                        claimed = await tx.claim_timer(timer.id)
                        if claimed is None:
                            continue  # another worker has it, or had it
                        case = await tx.case(timer.case_no)
                        assert case is not None
                        await self.timekeeper.fire(tx, case, claimed)
                        handled += 1
                        self.last_fired[claimed.kind] += 1
                except Exception:
                    log.exception("timer %s of case %s failed", timer.id, timer.case_no)
                    await self._put_off(timer.id, timer.channel, timer.conversation)
            if len(due) < limit:
                return handled

    async def _put_off(self, timer_id: int, channel: str, conversation: str) -> None:
        """A timer that failed is tried again later rather than at every sweep."""
        async with self.repository.conversation(channel, conversation, "scheduler") as tx:
            claimed = await tx.claim_timer(timer_id)
            if claimed is not None:
                await tx.move_timer(claimed, self.clock.now() + RETRY_FAILED)
