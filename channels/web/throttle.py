"""Request limits kept in this process's memory: a sliding window per key (a client
address, a conversation). Several workers each keep their own, so the effective limit
behind a load balancer is the sum; the thresholds are generous for that and for
carrier-grade NAT, where many mainland users share one address."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

FORGET_AFTER = 10_000  # keys held before quiet ones are forgotten


class Throttle:
    """At most `count` events per key in any `seconds`."""

    def __init__(self, count: int, seconds: float) -> None:
        self.count = count
        self.window = timedelta(seconds=seconds)
        self._events: dict[str, deque[datetime]] = {}

    def allow(self, key: str | None, now: datetime) -> bool:
        """Counts one event for `key`; False (and not counted) when over the limit."""
        if key is None:
            return True
        events = self._events.setdefault(key, deque())
        while events and now - events[0] >= self.window:
            events.popleft()
        if len(events) >= self.count:
            return False
        events.append(now)
        if len(self._events) > FORGET_AFTER:
            self._events = {
                k: e for k, e in self._events.items() if e and now - e[-1] < self.window
            }
        return True

    def retry_after(self, key: str, now: datetime) -> float:
        """Seconds until `key` may go again."""
        events = self._events.get(key)
        if not events or len(events) < self.count:
            return 0.0
        return max(0.0, (events[0] + self.window - now).total_seconds())
