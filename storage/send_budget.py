"""The channels' rate limits held in the database, so that every dispatching worker
takes from one budget (`delivery.ports.SendBudget`, PostgreSQL).

Each budget is a row of `send_budgets`: a channel's overall one (key `channel`), a
conversation's (`channel:conversation`, which also keeps a 429's hold), and the part
of that automated notices may use (`channel:conversation:notices`). Taking a message's
slot locks its rows in key order (two workers never wait for each other crosswise),
reads them on the database's clock, and counts the message in all of them or in none,
in one short transaction. Rows that say no more than no row at all are deleted now and
then.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from delivery.pacing import Limiter, limiter, notice_share
from delivery.ports import BudgetWait
from delivery.sending import ChannelPacing, Rate

# Times are kept in seconds from here (2026-01-01 UTC): small numbers keep a float's
# step far below a microsecond.
_ORIGIN = 1_767_225_600.0
_NOW = f"extract(epoch from clock_timestamp()) - {_ORIGIN}"
# Idle rows are looked for at most this often (seconds).
_FORGET_EVERY = 60.0
# Seconds by which each limit is kept stricter than the channel's (`_with_margin`).
MARGIN = 0.1
# Seconds held back of a conversation's burst (`Rate.reserve`): a burst's first message
# may reach the transport a few hundred ms late (its worker stalled between counting it
# and sending it, on a loaded machine) while the one a period later goes on time; the
# margin alone would let that pair arrive closer than the limit allows.
RESERVE = 0.35

_LOCK = text(
    "SELECT key, state, held_until FROM send_budgets WHERE key = ANY(:keys) ORDER BY key FOR UPDATE"
)
_CREATE = text(
    "INSERT INTO send_budgets (key, state, idle_after)"
    " SELECT key, '{}', :idle_after FROM unnest(CAST(:keys AS text[])) AS key ORDER BY key"
    " ON CONFLICT (key) DO NOTHING"
)
_SAVE = text(
    "UPDATE send_budgets SET state = CAST(:state AS json), idle_after = :idle_after"
    " WHERE key = :key"
)
_HOLD = text(
    "INSERT INTO send_budgets (key, state, held_until, idle_after)"
    " VALUES (:key, '{}', :until, :until) ON CONFLICT (key) DO UPDATE"
    " SET held_until = greatest(send_budgets.held_until, excluded.held_until),"
    " idle_after = greatest(send_budgets.idle_after, excluded.held_until)"
)
_FORGET = text("DELETE FROM send_budgets WHERE idle_after < :now")


class SqlSendBudget:
    """`SendBudget` in the database. `now` (seconds) replaces the database's clock in
    tests; the dispatcher's own clock is not used, since every worker must agree.

    Messages counted in order on one clock reach the transport out of step: each
    worker's way from its slot to the transport has its own delays (its load, its
    network path), tens of milliseconds apart. So each limit is kept `margin` seconds
    stricter than the channel's (a window that much longer, a bucket's interval that
    much longer), which one process pacing its own sends does not need."""

    shared = True

    def __init__(
        self,
        engine: AsyncEngine,
        pacing: dict[str, ChannelPacing],
        now: Callable[[], float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        margin: float = MARGIN,
        reserve: float = RESERVE,
    ) -> None:
        self.engine = engine
        self.pacing = {
            name: _with_margin(channel, margin, reserve) for name, channel in pacing.items()
        }
        self.notices = {name: notice_share(channel) for name, channel in self.pacing.items()}
        self._now = now
        self.monotonic = monotonic
        self._forget_at = monotonic() + _FORGET_EVERY

    async def take(
        self, channel: str, conversation: str, notice: bool, within: float = 0.0
    ) -> BudgetWait:
        pacing = self.pacing.get(channel)
        if pacing is None:
            return BudgetWait()
        chat = f"{channel}:{conversation}"
        rates: dict[str, Rate] = {}
        if pacing.overall is not None:
            rates[channel] = pacing.overall
        if (rate := pacing.per_conversation(conversation)) is not None:
            rates[chat] = rate
        if notice and (share := self.notices[channel].per_conversation(conversation)):
            rates[f"{chat}:notices"] = share
        keys = sorted({chat, *rates})
        async with self.engine.connect() as connection:
            while True:
                async with connection.begin():
                    locked = await self._lock(connection, keys)
                    if locked is not None:
                        wait = await self._take(
                            connection, channel, chat, rates, *locked, within=within
                        )
                        break
                # Missing rows are made in a transaction that holds no other lock: an
                # insert waiting for another's, while holding a lock that one waits
                # for, would be a deadlock.
                async with connection.begin():
                    # Not forgotten before the lock is taken.
                    idle_after = await self._clock(connection) + _FORGET_EVERY
                    await connection.execute(_CREATE, {"keys": keys, "idle_after": idle_after})
        if wait.taken:
            await self._forget_idle()
        return wait

    async def _take(
        self,
        connection: AsyncConnection,
        channel: str,
        chat: str,
        rates: dict[str, Rate],
        rows: dict[str, tuple[dict[str, Any], float | None]],
        now: float,
        within: float,
    ) -> BudgetWait:
        """Counts the message in every budget (the rows are locked), at the overall
        budget's next free slot when that is at most `within` away, or says how long
        to wait."""
        limiters = {key: limiter(rate, rows[key][0]) for key, rate in rates.items()}
        held = rows[chat][1]
        own = [held - now if held is not None else 0.0] + [
            kept.wait(now) for key, kept in limiters.items() if key != channel
        ]
        if (wait := max(own)) > 0:
            return BudgetWait(conversation=wait)
        overall = limiters.get(channel)
        after = overall.wait(now) if overall is not None else 0.0
        if after > within:
            return BudgetWait(overall=after)
        for kept in limiters.values():
            kept.take(now + after)

        saved = [_saved(key, kept, rows[key][1]) for key, kept in limiters.items()]
        await connection.execute(_SAVE, saved)
        return BudgetWait(after=after)

    async def hold(self, channel: str, conversation: str, seconds: float) -> None:
        async with self.engine.connect() as connection, connection.begin():
            now = await self._clock(connection)
            await connection.execute(
                _HOLD, {"key": f"{channel}:{conversation}", "until": now + seconds}
            )

    def spend_earlier(self, channel: str, conversation: str, seconds_ago: float) -> None:
        """Nothing to catch up on: the sender counted it here when it sent it."""

    async def _lock(
        self, connection: AsyncConnection, keys: list[str]
    ) -> tuple[dict[str, tuple[dict[str, Any], float | None]], float] | None:
        """The rows of `keys`, locked, and the time now; None when some are missing."""
        found = (await connection.execute(_LOCK, {"keys": keys})).all()
        if len(found) < len(keys):
            return None
        rows = {key: (_state(state), held) for key, state, held in found}
        # Read once the locks are held: a time read before waiting for another worker's
        # lock would count this message earlier than it goes.
        return rows, await self._clock(connection)

    async def _clock(self, connection: AsyncConnection) -> float:
        if self._now is not None:
            return self._now()
        return float(await connection.scalar(text(f"SELECT {_NOW}")))

    async def _forget_idle(self) -> None:
        if self.monotonic() < self._forget_at:
            return
        self._forget_at = self.monotonic() + _FORGET_EVERY
        async with self.engine.connect() as connection, connection.begin():
            await connection.execute(_FORGET, {"now": await self._clock(connection)})


def _with_margin(pacing: ChannelPacing, margin: float, reserve: float) -> ChannelPacing:
    def stricter(rate: Rate | None) -> Rate | None:
        if rate is None:
            return rate
        if rate.window:  # the window is the limit (a bucket within it only shapes bursts)
            return replace(rate, seconds=rate.seconds + margin)
        return replace(
            rate, seconds=rate.seconds + margin * rate.count, reserve=rate.reserve + reserve
        )

    return ChannelPacing(
        overall=stricter(pacing.overall),
        per_conversation=lambda conversation: stricter(pacing.per_conversation(conversation)),
    )


def _state(stored: Any) -> dict[str, Any]:
    state = json.loads(stored) if isinstance(stored, str) else stored
    return state if isinstance(state, dict) else {}


def _saved(key: str, kept: Limiter, held: float | None) -> dict[str, Any]:
    idle_after = max(kept.idle_at(), held if held is not None else -math.inf)
    return {"key": key, "state": json.dumps(kept.state()), "idle_after": max(idle_after, 0.0)}
