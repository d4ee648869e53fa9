"""The small interfaces the bot needs from the rest of the system.

`storage/` implements `Repository`; tests and the CLI inject a `Clock`.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from bot.domain import CaseStatus, Category
from bot.draft import DescriptionEdit, EvidenceRef
from bot.messages import Attachment, Inbound, Outbound


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NewCase:
    """Everything a confirmed intake hands to storage to open a case."""

    prefix: str
    number_day: date  # the local day the case number carries
    channel: str
    conversation: str
    locale: str
    name: str
    phone: str | None
    email: str | None
    category: Category
    subject: str
    description: str
    expectation: str
    evidence: tuple[EvidenceRef, ...]
    description_edits: tuple[DescriptionEdit, ...]
    received_at: datetime
    created_at: datetime
    response_due_at: datetime


@dataclass(frozen=True, slots=True)
class CaseView:
    """What a complainant may see of one of their own cases."""

    case_no: str
    status: CaseStatus
    category: Category
    subject: str
    received_at: datetime
    response_due_at: datetime | None


class ConversationTx(Protocol):
    """One transaction on one conversation, holding its lock until it ends.

    Leaving the context commits; an exception rolls everything back, including the
    stored inbound message, so the transport redelivers it.
    """

    async def record_inbound(self, inbound: Inbound) -> bool:
        """Stores the raw message; False when this transport id was already stored."""
        ...

    async def load_state(self) -> dict[str, Any] | None: ...

    async def save_state(self, state: dict[str, Any]) -> None: ...

    async def store_evidence(
        self, attachment: Attachment, received_at: datetime
    ) -> EvidenceRef: ...

    async def create_case(self, case: NewCase) -> str:
        """Opens the case and returns its number; the serial is allocated in this transaction."""
        ...

    async def own_cases(self) -> list[CaseView]:
        """Cases of the complainant behind this conversation's sender, newest first."""
        ...

    async def enqueue(self, outbound: Outbound, kind: str, at: datetime) -> None:
        """Queues a reply in the outbox, committed with the state change that caused it."""
        ...


class Repository(Protocol):
    def conversation(
        self, channel: str, conversation: str, sender_id: str
    ) -> AbstractAsyncContextManager[ConversationTx]: ...
