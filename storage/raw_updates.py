"""Updates kept as received (`channels.spec.RawUpdates`): stored before the transport is
told it may forget them, then claimed by a worker, handled or marked undecodable.

Several workers (processes, on PostgreSQL) handle what any of them stored. A worker
claims one conversation at a time and handles its stored updates in the order they came;
no other worker touches that conversation until it lets go:

- PostgreSQL: a session advisory lock named after the conversation, on a connection the
  claim keeps. A killed worker's connection closes and its lock with it; the updates it
  had not marked handled are still `stored`, and another worker takes them.
- SQLite (one process): a set of the conversations in hand.

Storing wakes the workers: in this process at once, in the others by a notice on
PostgreSQL (`storage.wakeups`); a worker that misses it looks again after a while.

An update handed to the bot (`handing`) is marked handled by the transaction that
records its message (`handled_with`): the message and the mark commit together, and a
turn costs no transaction of its own for the mark. An update the bot records nothing
for is marked by the intake after.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql.dml import Update

from bot.ports import Clock, SystemClock
from storage.database import QUICK_READ
from storage.models import RawUpdate
from storage.wakeups import INBOUND, notify

STORED = "stored"
CANDIDATES = 20  # conversations looked at per claim: the oldest waiting first
MAX_KEPT_WAKES = 8  # a worker's handlers are fewer: more kept wakes only cost claims


_TRY_OLDEST = text(
    """
    SELECT lane, waiting FROM (
        SELECT coalesce(conversation, '#' || update_key) AS lane, min(id) AS first,
               count(*) OVER () AS waiting
        FROM raw_updates
        WHERE channel = :channel AND state = 'stored'
        GROUP BY 1
        ORDER BY 2
        LIMIT :candidates
    ) AS waiting
    WHERE pg_try_advisory_lock(hashtext(:prefix || lane))
    LIMIT 1
    """
)


@dataclass(slots=True)
class InHand:
    """A stored update being handed to the bot; `marked` once a committed transaction
    marked it handled."""

    channel: str
    key: str
    marked: bool = False


_IN_HAND: ContextVar[InHand | None] = ContextVar("raw_update_in_hand", default=None)


async def handled_with(session: AsyncSession, channel: str, key: str, at: datetime) -> None:
    """Marks the update in hand handled in `session`'s transaction, when it is the one
    of `channel` and `key` (the transport id of the message being recorded)."""
    in_hand = _IN_HAND.get()
    if in_hand is None or (in_hand.channel, in_hand.key) != (channel, key):
        return
    await session.execute(_mark(channel, key, "handled", at))

    def committed(_session: Any) -> None:
        in_hand.marked = True

    event.listen(session.sync_session, "after_commit", committed, once=True)


def _mark(channel: str, key: str, state: str, at: datetime) -> Update:
    """The statement recording what became of a stored update. A handled one's payload
    is dropped: the bot keeps the message (raw too) where privacy export and erasure
    find it; the key stays, so a redelivery is recognised."""
    values: dict[str, Any] = {"state": state}
    if state != STORED:
        values["handled_at"] = at
    if state == "handled":
        values["payload"] = {}
    return (
        update(RawUpdate)
        .where(RawUpdate.channel == channel, RawUpdate.update_key == key)
        .values(**values)
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    """A conversation held by this worker, with its stored updates, oldest first."""

    conversation: str
    updates: list[tuple[str, dict[str, Any]]]
    # Other conversations were waiting too when this one was claimed.
    more: bool = False


class SqlRawUpdates:
    """`channels.spec.RawUpdates` in the database; times are the clock's."""

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        self.engine = engine
        # Claims only read: on SQLite they need not wait for the writer's turn, and read
        # the few waiting rows on the event loop's thread.
        self._reader = engine.execution_options(**{QUICK_READ: True})
        self.clock = clock or SystemClock()
        self._postgres = engine.dialect.name == "postgresql"
        self._in_hand: set[tuple[str, str]] = set()
        self._sleepers: deque[asyncio.Future[None]] = deque()
        self._wakes = 0  # wakes that found nobody waiting, kept for the next

    async def keep(
        self,
        channel: str,
        updates: Sequence[tuple[str, dict[str, Any]]],
        conversation: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> list[str]:
        """Stores those of `updates` not stored yet, all in one transaction; returns the
        keys among them still to be handled, in the order given. `conversation` names
        the conversation of an update (None: it is its own)."""
        keys = [key for key, _payload in updates]
        if not keys:
            return []
        added = False
        async with AsyncSession(self.engine) as session, session.begin():
            rows = await session.execute(
                select(RawUpdate.update_key, RawUpdate.state).where(
                    RawUpdate.channel == channel, RawUpdate.update_key.in_(keys)
                )
            )
            known = {key: state for key, state in rows.all()}
            now = self.clock.now()
            for key, payload in updates:
                if key not in known:
                    known[key] = STORED
                    added = True
                    session.add(
                        RawUpdate(
                            channel=channel,
                            update_key=key,
                            conversation=conversation(payload) if conversation else None,
                            payload=payload,
                            state=STORED,
                            received_at=now,
                        )
                    )
            fresh = [key for key in keys if known[key] == STORED]
            if added and self._postgres and len(self._sleepers) < len(fresh):
                # More than this worker's idle handlers can take at once: call the
                # others' too.
                await notify(session, INBOUND)
        if added:
            self.wake(len(fresh))
        return fresh

    async def unhandled(self, channel: str) -> list[tuple[str, dict[str, Any]]]:
        """The updates stored but neither handled nor found undecodable, oldest first."""
        async with AsyncSession(self.engine) as session:
            rows = await session.execute(
                select(RawUpdate.update_key, RawUpdate.payload)
                .where(RawUpdate.channel == channel, RawUpdate.state == STORED)
                .order_by(RawUpdate.id)
            )
            return [(key, payload) for key, payload in rows.all()]

    @contextlib.asynccontextmanager
    async def claim(self, channel: str) -> AsyncIterator[Claimed | None]:
        """Holds the conversation whose stored update waits longest among those no worker
        holds, for as long as the context lasts; None when there is none."""
        if not self._postgres:
            async with self._claim_here(channel) as claimed:
                yield claimed
            return
        connection = await self.engine.connect()
        try:
            claimed, lock = await self._claim_advisory(connection, channel)
            try:
                yield claimed
            finally:
                if lock is not None:
                    # Closing the connection ends the lock too; unlock first so the
                    # pooled connection comes back clean.
                    with contextlib.suppress(Exception):
                        await _unlock(connection, lock)
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _claim_advisory(
        self, connection: AsyncConnection, channel: str
    ) -> tuple[Claimed | None, str | None]:
        prefix = f"complaintbot:inbound:{channel}:"
        for _attempt in range(3):
            # One round trip: the conversations are tried oldest first and the first
            # lock taken ends the scan (PostgreSQL evaluates the filter row by row
            # under the LIMIT, and never pushes a volatile function into the subquery).
            row = (
                await connection.execute(
                    _TRY_OLDEST, {"channel": channel, "candidates": CANDIDATES, "prefix": prefix}
                )
            ).first()
            if row is None:
                await connection.commit()
                return None, None
            conversation, waiting = str(row[0]), int(row[1])
            lock = prefix + conversation
            # Read after the lock: what the last holder handled is marked by now.
            updates = await self._stored_of(connection, channel, conversation)
            await connection.commit()
            if updates:
                return Claimed(conversation, updates, more=waiting > 1), lock
            await _unlock(connection, lock)
        return None, None

    @contextlib.asynccontextmanager
    async def _claim_here(self, channel: str) -> AsyncIterator[Claimed | None]:
        async with self._reader.connect() as connection:
            waiting = await self._waiting(connection, channel)
            free = [c for c in waiting if (channel, c) not in self._in_hand]
            chosen, more = (free[0] if free else None), len(free) > 1
            if chosen is None:
                updates = []
            else:
                self._in_hand.add((channel, chosen))
                # Read in a snapshot taken now that the conversation is in hand: its last
                # holder let go only after marking what it handled, which the snapshot
                # of the look above may predate (that update would be handed out again).
                await connection.rollback()
                try:
                    updates = await self._stored_of(connection, channel, chosen)
                except BaseException:
                    self._in_hand.discard((channel, chosen))
                    raise
        if chosen is None:
            yield None
            return
        try:
            yield Claimed(chosen, updates, more) if updates else None
        finally:
            self._in_hand.discard((channel, chosen))

    async def _waiting(self, connection: AsyncConnection, channel: str) -> list[str]:
        """Conversations with stored updates, the one waiting longest first."""
        lane = func.coalesce(RawUpdate.conversation, "#" + RawUpdate.update_key)
        rows = await connection.execute(
            select(lane, func.min(RawUpdate.id))
            .where(RawUpdate.channel == channel, RawUpdate.state == STORED)
            .group_by(lane)
            .order_by(func.min(RawUpdate.id))
            .limit(CANDIDATES + len(self._in_hand))
        )
        return [str(conversation) for conversation, _first in rows.all()]

    async def _stored_of(
        self, connection: AsyncConnection, channel: str, conversation: str
    ) -> list[tuple[str, dict[str, Any]]]:
        if conversation.startswith("#"):
            where = (RawUpdate.conversation.is_(None)) & (RawUpdate.update_key == conversation[1:])
        else:
            where = RawUpdate.conversation == conversation
        rows = await connection.execute(
            select(RawUpdate.update_key, RawUpdate.payload)
            .where(RawUpdate.channel == channel, RawUpdate.state == STORED, where)
            .order_by(RawUpdate.id)
        )
        return [(key, payload) for key, payload in rows.all()]

    async def stored(self, within: float) -> None:
        """Returns when woken (`wake`: updates were stored, here or by another worker),
        or after `within` seconds. A wake with nobody waiting is kept for the next."""
        if self._wakes:
            self._wakes -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._sleepers.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, within)
        finally:
            with contextlib.suppress(ValueError):
                self._sleepers.remove(waiter)

    def wake(self, count: int = 1) -> None:
        """Wakes `count` of those waiting in `stored`, each to claim a conversation:
        waking every idle handler for one update would have all but one claim nothing."""
        for _ in range(count):
            while self._sleepers and self._sleepers[0].done():
                self._sleepers.popleft()
            if self._sleepers:
                self._sleepers.popleft().set_result(None)
            else:
                self._wakes = min(self._wakes + 1, MAX_KEPT_WAKES)

    @contextlib.contextmanager
    def handing(self, channel: str, key: str) -> Iterator[InHand]:
        """While the update `key` is handed to the bot: the transaction recording its
        message marks it handled too (`handled_with`)."""
        in_hand = InHand(channel, key)
        token = _IN_HAND.set(in_hand)
        try:
            yield in_hand
        finally:
            _IN_HAND.reset(token)

    async def mark(
        self, channel: str, key: str, state: Literal["stored", "handled", "undecodable", "failed"]
    ) -> None:
        """Records what became of a stored update (`stored` again only writes)."""
        async with AsyncSession(self.engine) as session, session.begin():
            await session.execute(_mark(channel, key, state, self.clock.now()))


async def _unlock(connection: AsyncConnection, lock: str) -> None:
    await connection.execute(text("SELECT pg_advisory_unlock(hashtext(:key))"), {"key": lock})
    await connection.commit()
