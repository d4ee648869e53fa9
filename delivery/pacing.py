"""Keeping each channel to its rate limits, with token buckets (or sliding windows).

The dispatcher asks `Pacer.wait` before each send: 0 takes the slot now, anything
else is how long to wait. A 429's `retry_after` is a `hold` on that conversation.
Each channel has an overall bucket, each conversation its own (`ChannelPacing`); a
message goes when both have a token.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from delivery.ports import BudgetWait
from delivery.sending import ChannelPacing, Rate

# Less than this is float rounding, not waiting: a tenth of a microsecond, far below
# what a request's way to the transport varies, and a clock counting microseconds
# (ours in tests, a datetime's) never sends a whole one early because of it.
_ROUNDING = 1e-7
# Idle conversations' state is dropped once this many are kept (then at twice as many
# as survived), so a day of one-off chats costs no memory and a sweep is rare.
_SWEEP_AT = 1024
# Of each conversation's budget, automated notices may use this share.
NOTICE_SHARE = 2 / 3


class _Bucket:
    """A token bucket kept as one moment, `full_at`: when it holds `capacity` tokens
    again (the generic cell rate algorithm). One float instead of a count and a time,
    and a bucket whose moment has passed is full, so it can be forgotten."""

    __slots__ = ("full_at", "interval", "slack")

    def __init__(self, rate: Rate) -> None:
        self.interval = rate.interval
        # A token is free while the bucket is at most capacity - 1 tokens short (less
        # the reserve held back).
        self.slack = max((rate.capacity - 1) * rate.interval - rate.reserve, 0.0)
        self.full_at = -math.inf

    def wait(self, now: float) -> float:
        wait = self.full_at - self.slack - now
        return wait if wait > _ROUNDING else 0.0

    def take(self, now: float) -> None:
        self.full_at = max(self.full_at, now) + self.interval

    def full(self, now: float) -> bool:
        return self.full_at <= now

    def idle_at(self) -> float:
        return self.full_at

    def state(self) -> dict[str, Any]:
        return {"full_at": None if self.full_at == -math.inf else self.full_at}

    def load(self, state: dict[str, Any]) -> None:
        full_at = state.get("full_at")
        self.full_at = -math.inf if full_at is None else float(full_at)


class _Window:
    """A sliding window: at most `count` sends in any `seconds` (`Rate.window`)."""

    __slots__ = ("count", "seconds", "times")

    def __init__(self, rate: Rate) -> None:
        self.count, self.seconds = rate.count, rate.seconds
        self.times: list[float] = []

    def wait(self, now: float) -> float:
        recent = self._recent(now)
        if len(recent) < self.count:
            return 0.0
        wait = recent[-self.count] + self.seconds - now
        return wait if wait > _ROUNDING else 0.0

    def take(self, now: float) -> None:
        bisect.insort(self.times, now)  # a send counted late (`spend`) keeps its place

    def full(self, now: float) -> bool:
        return not self._recent(now)

    def idle_at(self) -> float:
        return self.times[-1] + self.seconds if self.times else -math.inf

    def state(self) -> dict[str, Any]:
        return {"times": list(self.times)}

    def load(self, state: dict[str, Any]) -> None:
        self.times = sorted(float(t) for t in state.get("times", ()))

    def _recent(self, now: float) -> list[float]:
        start = bisect.bisect_right(self.times, now - self.seconds)
        if start:
            del self.times[:start]
        return self.times


class _Both:
    """A token bucket within a sliding window (`Rate.window` with a `burst`): a few go at
    once after a quiet spell, the rate is kept, and no window ever holds more than
    `count`."""

    __slots__ = ("bucket", "window")

    def __init__(self, rate: Rate) -> None:
        self.bucket, self.window = _Bucket(rate), _Window(rate)

    def wait(self, now: float) -> float:
        return max(self.bucket.wait(now), self.window.wait(now))

    def take(self, now: float) -> None:
        self.bucket.take(now)
        self.window.take(now)

    def full(self, now: float) -> bool:
        return self.bucket.full(now) and self.window.full(now)

    def idle_at(self) -> float:
        return max(self.bucket.idle_at(), self.window.idle_at())

    def state(self) -> dict[str, Any]:
        return self.bucket.state() | self.window.state()

    def load(self, state: dict[str, Any]) -> None:
        self.bucket.load(state)
        self.window.load(state)


Limiter = _Bucket | _Window | _Both


def limiter(rate: Rate, state: dict[str, Any] | None = None) -> Limiter:
    """The bucket, window or both that keep `rate`; with `state` (an earlier one's
    `state()`, on the same time scale), as that one was."""
    kept: Limiter
    if not rate.window:
        kept = _Bucket(rate)
    else:
        kept = _Window(rate) if rate.burst is None else _Both(rate)
    if state:
        kept.load(state)
    return kept


@dataclass(frozen=True, slots=True)
class ChannelLoad:
    """What the pacer keeps for one channel, for metrics and tests."""

    overall_wait: float  # seconds until the channel's overall budget has a message
    conversations: int  # conversations whose bucket is not full (their state is kept)
    held: int  # conversations held back by the transport (a 429)


class Pacer:
    """Keeps each channel to its rate limits, in this process."""

    def __init__(
        self,
        pacing: dict[str, ChannelPacing],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pacing = pacing
        self.monotonic = monotonic
        self._overall: dict[str, Limiter] = {}
        self._chats: dict[tuple[str, str], Limiter] = {}
        self._held: dict[tuple[str, str], float] = {}
        self._sweep_at = _SWEEP_AT
        # Times are kept from here: small numbers keep the sums of intervals exact
        # enough (a monotonic clock can be at 10^7 s, where a float's step is 2 ns).
        self._origin = monotonic()

    def chat_wait(self, channel: str, conversation: str) -> float:
        """Seconds until this conversation's own limit allows a message (takes nothing)."""
        if channel not in self.pacing:
            return 0.0
        return self._chat_wait((channel, conversation), self._now())

    def wait(self, channel: str, conversation: str) -> float:
        """Seconds until a message to this conversation may go; 0 takes the slot now."""
        if channel not in self.pacing:
            return 0.0
        now = self._now()
        wait = max(self._chat_wait((channel, conversation), now), self._overall_wait(channel, now))
        if wait <= 0:
            self._take(channel, conversation, now)
        return wait

    def overall_wait(self, channel: str) -> float:
        """Seconds until the channel's overall budget has a message (takes nothing)."""
        return self._overall_wait(channel, self._now()) if channel in self.pacing else 0.0

    def spend(self, channel: str, conversation: str, at: float | None = None) -> None:
        """Counts a message that goes at `at` on this pacer's clock without asking (sent
        by another worker then, or a slot reserved for later): the budgets pay for it,
        even below empty."""
        if channel in self.pacing:
            self._take(channel, conversation, self._now() if at is None else at - self._origin)

    def hold(self, channel: str, conversation: str, seconds: float) -> None:
        """The transport asked us to wait (a 429): nothing to this conversation until then."""
        now = self._now()
        self._held[(channel, conversation)] = now + seconds
        self._sweep_if_many(now)

    def snapshot(self) -> dict[str, ChannelLoad]:
        """Per paced channel: its overall wait, and how many conversations it tracks."""
        now = self._now()
        self._sweep(now)
        loads = {}
        for channel in self.pacing:
            overall = self._overall.get(channel)
            loads[channel] = ChannelLoad(
                overall_wait=overall.wait(now) if overall else 0.0,
                conversations=sum(1 for c, _ in self._chats if c == channel),
                held=sum(1 for c, _ in self._held if c == channel),
            )
        return loads

    def _now(self) -> float:
        return self.monotonic() - self._origin

    def _overall_wait(self, channel: str, now: float) -> float:
        overall = self._overall.get(channel)
        return overall.wait(now) if overall else 0.0

    def _chat_wait(self, key: tuple[str, str], now: float) -> float:
        held = max(self._held.get(key, now) - now, 0.0)
        chat = self._chats.get(key)
        return held if chat is None else max(held, chat.wait(now))

    def _take(self, channel: str, conversation: str, now: float) -> None:
        pacing = self.pacing[channel]
        if pacing.overall is not None:
            overall = self._overall.get(channel)
            if overall is None:
                overall = self._overall[channel] = limiter(pacing.overall)
            overall.take(now)
        key = (channel, conversation)
        chat = self._chats.get(key)
        if chat is None and (rate := pacing.per_conversation(conversation)) is not None:
            chat = self._chats[key] = limiter(rate)
        if chat is not None:
            chat.take(now)
            self._sweep_if_many(now)

    def _sweep_if_many(self, now: float) -> None:
        if len(self._chats) + len(self._held) > self._sweep_at:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Forgets full buckets and ended holds: they say the same as no state at all."""
        self._chats = {key: b for key, b in self._chats.items() if not b.full(now)}
        self._held = {key: until for key, until in self._held.items() if until > now}
        self._sweep_at = max(_SWEEP_AT, 2 * (len(self._chats) + len(self._held)))


def notice_share(pacing: ChannelPacing) -> ChannelPacing:
    """The part of each conversation's budget automated notices may use."""

    def per_conversation(conversation: str) -> Rate | None:
        rate = pacing.per_conversation(conversation)
        if rate is None:
            return None
        if rate.window:
            return Rate(max(1, int(rate.count * NOTICE_SHARE)), rate.seconds, window=True)
        return Rate.per(
            rate.count * NOTICE_SHARE, rate.seconds, max(1, int(rate.capacity * NOTICE_SHARE))
        )

    return ChannelPacing(overall=None, per_conversation=per_conversation)


class LocalBudget:
    """`delivery.ports.SendBudget` in this process's memory: for one dispatching process
    at a time (SQLite's), which counts what the one before it sent when it takes over."""

    shared = False

    def __init__(
        self, pacing: dict[str, ChannelPacing], monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.monotonic = monotonic
        self.pacer = Pacer(pacing, monotonic)
        self.notices = Pacer({name: notice_share(p) for name, p in pacing.items()}, monotonic)

    async def take(
        self, channel: str, conversation: str, notice: bool, within: float = 0.0
    ) -> BudgetWait:
        wait = self.pacer.chat_wait(channel, conversation)
        if notice:
            wait = max(wait, self.notices.chat_wait(channel, conversation))
        if wait > 0:
            return BudgetWait(conversation=wait)
        # The conversation's own budget allows it: what is left to wait is the channel's.
        if (overall := self.pacer.overall_wait(channel)) > within:
            return BudgetWait(overall=overall)
        slot = self.monotonic() + overall  # now, or the overall budget's next free slot
        self.pacer.spend(channel, conversation, slot)
        if notice:
            self.notices.spend(channel, conversation, slot)  # the notices' share
        return BudgetWait(after=overall)

    async def hold(self, channel: str, conversation: str, seconds: float) -> None:
        self.pacer.hold(channel, conversation, seconds)

    def spend_earlier(self, channel: str, conversation: str, seconds_ago: float) -> None:
        self.pacer.spend(channel, conversation, self.monotonic() - seconds_ago)
