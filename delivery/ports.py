"""What the dispatcher needs from the outbox (`storage/` implements it)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.messages import Outbound
from delivery.sending import Sent


@dataclass(frozen=True, slots=True)
class Delivery:
    """One queued message, claimed for sending."""

    id: int
    kind: str
    attempts: int
    outbound: Outbound
    # An automated notice, not the answer to someone's own action (see `claim`).
    notice: bool = False
    # When the bot queued it: a failing message is given up after a while from here.
    queued_at: datetime | None = None


class OutboxStore(Protocol):
    async def claim(self, now: datetime, limit: int, per_conversation: int = 3) -> list[Delivery]:
        """Marks due items as being sent and returns them: round-robin across
        conversations, people's answers before notices, each lane in order."""
        ...

    async def delivered(self, delivery: Delivery, sent: Sent, at: datetime) -> None: ...

    async def retry_later(self, delivery: Delivery, at: datetime, error: str) -> None: ...

    async def failed(self, delivery: Delivery, at: datetime, error: str) -> None: ...

    async def postpone(self, delivery: Delivery, at: datetime) -> None:
        """Gives back a claimed item that was not tried (its attempt does not count)."""
        ...

    def exclusive(self) -> AbstractAsyncContextManager[bool]:
        """True inside when this dispatcher holds the outbox (one at a time, in this
        process or any other); False while another holds it."""
        ...

    async def still_held(self) -> bool:
        """False when the hold was lost underneath (a dropped database connection)."""
        ...

    async def release_stale(self, in_flight: frozenset[int]) -> int:
        """Items claimed but not in `in_flight` were left by a holder that is gone;
        makes them due again. Only the holder calls it."""
        ...

    async def recent_sends(self, since: datetime) -> list[tuple[str, str, datetime]]:
        """(channel, conversation, sent at) of deliveries since `since`, oldest first."""
        ...
