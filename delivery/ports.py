"""What the dispatcher needs from the outbox (`storage/` implements it)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
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


class OutboxStore(Protocol):
    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[Delivery]: ...

    async def delivered(self, delivery: Delivery, sent: Sent, at: datetime) -> None: ...

    async def retry_later(self, delivery: Delivery, at: datetime, error: str) -> None: ...

    async def failed(self, delivery: Delivery, at: datetime, error: str) -> None: ...

    async def postpone(self, delivery: Delivery, at: datetime) -> None:
        """Gives back a claimed item that was not tried (its attempt does not count)."""
        ...

    def exclusive(self) -> AbstractAsyncContextManager[bool]:
        """True inside when this worker may dispatch now (one worker at a time)."""
        ...
