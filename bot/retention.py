"""Which cases lose their personal data: those archived more than `RETENTION_DAYS` ago.

Each case is erased in its own transaction (`RetentionStore.erase`, the rules of
`privacy erase`); one that fails is logged and left for the next pass, and never stops
the others. Erasing is done once per case, so several passes or workers are harmless.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.ports import Clock, DueErasure, RetentionStore

log = logging.getLogger(__name__)


class RetentionSweep:
    def __init__(self, store: RetentionStore, days: int, clock: Clock) -> None:
        self.store = store
        self.keep = timedelta(days=days)
        self.clock = clock

    def cutoff(self) -> datetime:
        """Cases archived before this are due."""
        return self.clock.now() - self.keep

    async def due(self, limit: int = 10_000) -> list[DueErasure]:
        return await self.store.archived_before(self.cutoff(), limit)

    async def sweep(self, limit: int = 200) -> list[str]:
        """Erases every due case; returns the numbers of those erased in this pass."""
        erased: list[str] = []
        failed: set[str] = set()
        while True:
            due = await self.store.archived_before(self.cutoff(), limit)
            todo = [d for d in due if d.case_no not in failed]
            for item in todo:
                try:
                    if await self.store.erase(item.case_no, self.cutoff(), self.clock.now()):
                        erased.append(item.case_no)
                except Exception:
                    log.exception("erasing the personal data of case %s failed", item.case_no)
                    failed.add(item.case_no)
            if len(due) < limit or not todo:
                return erased
