"""A clock the tests move by hand."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 22, 2, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)

    def monotonic(self) -> float:
        """Seconds on this clock, for code that paces itself with `time.monotonic`."""
        return (self.current - _EPOCH).total_seconds()

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep` on this clock: time moves on at once."""
        # Rounded up to this clock's microseconds, so a sleep never ends too early.
        self.advance(microseconds=math.ceil(max(seconds, 0) * 1_000_000))
        await asyncio.sleep(0)


class SteppedWallClock(FakeClock):
    """For a whole running bot: the date is this clock's (a test moves it on with
    `advance`), while waiting and pacing take real time, so the bot's loops neither
    spin nor see the date jump by itself."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class RunningWallClock(SteppedWallClock):
    """A `SteppedWallClock` whose time also goes on by itself, in real time. For a bot
    on PostgreSQL: the send budgets read the database's clock, and a message they put
    off by a few milliseconds (until `now()` + the wait) never comes due on a clock that
    stands still. A test still moves it on with `advance`."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start)
        self._started = time.monotonic()

    def now(self) -> datetime:
        return self.current + timedelta(seconds=time.monotonic() - self._started)
