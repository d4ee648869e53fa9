"""Updates kept as received (`channels.spec.RawUpdates`): stored before the transport is
told it may forget them, handled or marked undecodable after."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.ports import Clock, SystemClock
from storage.models import RawUpdate

STORED = "stored"


class SqlRawUpdates:
    """`channels.spec.RawUpdates` in the database; times are the clock's."""

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()

    async def keep(self, channel: str, updates: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        """Stores those of `updates` not stored yet, all in one transaction; returns the
        keys among them still to be handled, in the order given."""
        keys = [key for key, _payload in updates]
        if not keys:
            return []
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
                    session.add(
                        RawUpdate(
                            channel=channel,
                            update_key=key,
                            payload=payload,
                            state=STORED,
                            received_at=now,
                        )
                    )
        return [key for key in keys if known[key] == STORED]

    async def unhandled(self, channel: str) -> list[tuple[str, dict[str, Any]]]:
        """The updates stored but neither handled nor found undecodable, oldest first."""
        async with AsyncSession(self.engine) as session:
            rows = await session.execute(
                select(RawUpdate.update_key, RawUpdate.payload)
                .where(RawUpdate.channel == channel, RawUpdate.state == STORED)
                .order_by(RawUpdate.id)
            )
            return [(key, payload) for key, payload in rows.all()]

    async def mark(
        self, channel: str, key: str, state: Literal["stored", "handled", "undecodable", "failed"]
    ) -> None:
        """Records what became of a stored update (`stored` again only writes). A handled
        one's payload is dropped: the bot keeps the message (raw too) where privacy
        export and erasure find it; the key stays, so a redelivery is recognised."""
        values: dict[str, Any] = {"state": state}
        if state != STORED:
            values["handled_at"] = self.clock.now()
        if state == "handled":
            values["payload"] = {}
        async with AsyncSession(self.engine) as session, session.begin():
            await session.execute(
                update(RawUpdate)
                .where(RawUpdate.channel == channel, RawUpdate.update_key == key)
                .values(**values)
            )
