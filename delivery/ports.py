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
        """True inside when this dispatcher may claim (on SQLite one process at a time,
        on PostgreSQL every worker); False while it may not."""
        ...

    async def still_held(self) -> bool:
        """False when the hold was lost underneath (a dropped database connection)."""
        ...

    async def release_stale(self, in_flight: frozenset[int]) -> int:
        """Makes due again the items this dispatcher claimed that are not `in_flight`
        (a failed pass left them) and those claimed by dispatchers that are gone."""
        ...

    async def recent_sends(self, since: datetime) -> list[tuple[str, str, datetime]]:
        """(channel, conversation, sent at) of deliveries since `since`, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class BudgetWait:
    """Seconds until a message may go, by its conversation's own budget and by the
    channel's overall one. Both 0: the message was counted, and goes in `after` seconds
    (its slot in the channel's overall budget, reserved; 0: now)."""

    conversation: float = 0.0
    overall: float = 0.0
    after: float = 0.0

    @property
    def taken(self) -> bool:
        return self.conversation <= 0 and self.overall <= 0


class SendBudget(Protocol):
    """The channels' rate limits as budgets the dispatcher takes each message from."""

    # Held where every dispatching process takes from it (the database), rather than in
    # this process's memory: then there is nothing to catch up on when taking over.
    shared: bool

    async def take(
        self, channel: str, conversation: str, notice: bool, within: float = 0.0
    ) -> BudgetWait:
        """Counts a message to `conversation` if both budgets allow it now, or if only
        the channel's overall one is short, by at most `within` seconds: then the
        message takes the overall budget's next free slot (`BudgetWait.after`), so those
        waiting for it never poll or race for it. Automated notices (`notice`) may use
        only part of a conversation's budget."""
        ...

    async def hold(self, channel: str, conversation: str, seconds: float) -> None:
        """The transport asked to wait (a 429): nothing to this conversation until then."""
        ...

    def spend_earlier(self, channel: str, conversation: str, seconds_ago: float) -> None:
        """Counts a message another process sent a moment ago (a budget not `shared`)."""
        ...
