"""Keeping each channel to its rate limits, with sliding windows of send times.

The dispatcher asks `Pacer.wait` before each send: 0 takes the slot now, anything
else is how long to wait. A 429's `retry_after` is a `hold` on that conversation.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from delivery.sending import ChannelPacing, Rate


class _Window:
    """A sliding window of send times (monotonic seconds)."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self.times: deque[float] = deque()

    def wait(self, now: float) -> float:
        while self.times and self.times[0] <= now - self.rate.seconds:
            self.times.popleft()
        if len(self.times) < self.rate.count:
            return 0.0
        wait = self.times[0] + self.rate.seconds - now
        # Below a microsecond is rounding, not waiting (clocks keep microseconds).
        return wait if wait > 1e-6 else 0.0

    def take(self, now: float) -> None:
        self.times.append(now)


class Pacer:
    """Keeps each channel to its rate limits, in this process."""

    def __init__(
        self,
        pacing: dict[str, ChannelPacing],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pacing = pacing
        self.monotonic = monotonic
        self._overall: dict[str, _Window] = {}
        self._chats: dict[tuple[str, str], _Window] = {}
        self._held: dict[tuple[str, str], float] = {}
        self._turns: dict[str, asyncio.Lock] = {}

    def turn(self, channel: str) -> asyncio.Lock:
        """Waiting for the channel's overall budget is one queue, not everyone polling."""
        return self._turns.setdefault(channel, asyncio.Lock())

    def _windows(self, channel: str, conversation: str) -> tuple[_Window | None, _Window | None]:
        """The channel's overall window and the conversation's own, as configured."""
        pacing = self.pacing[channel]
        overall = None
        if pacing.overall is not None:
            overall = self._overall.setdefault(channel, _Window(pacing.overall))
        key = (channel, conversation)
        chat = self._chats.get(key)
        if chat is None and (rate := pacing.per_conversation(conversation)) is not None:
            chat = self._chats[key] = _Window(rate)
        return overall, chat

    def chat_wait(self, channel: str, conversation: str) -> float:
        """Seconds until this conversation's own limit allows a message (takes nothing)."""
        if channel not in self.pacing:
            return 0.0
        now = self.monotonic()
        _overall, chat = self._windows(channel, conversation)
        held = max(self._held.get((channel, conversation), 0.0) - now, 0.0)
        return held if chat is None else max(held, chat.wait(now))

    def wait(self, channel: str, conversation: str) -> float:
        """Seconds until a message to this conversation may go; 0 takes the slot now."""
        if channel not in self.pacing:
            return 0.0
        overall = self._windows(channel, conversation)[0]
        now = self.monotonic()
        wait = max(self.chat_wait(channel, conversation), overall.wait(now) if overall else 0.0)
        if wait <= 0:
            for window in self._windows(channel, conversation):
                if window is not None:
                    window.take(now)
        return wait

    def hold(self, channel: str, conversation: str, seconds: float) -> None:
        """The transport asked us to wait (a 429): nothing to this conversation until then."""
        self._held[(channel, conversation)] = self.monotonic() + seconds
