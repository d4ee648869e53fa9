"""The memory backend's tables: rows as plain dataclasses, copied whole to roll back."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.ports import AgentRecord, CaseRecord, PartnerRecord, ReferralRecord, SurveyRecord


def as_json(value: Any) -> Any:
    """What a JSON column gives back."""
    return json.loads(json.dumps(value))


@dataclass(slots=True)
class StoredMessage:
    id: int
    channel: str
    direction: str  # "in" | "out"
    transport_id: str
    conversation: str
    message_ref: str | None
    sender_id: str
    kind: str
    text: str
    raw: dict[str, Any]
    at: datetime
    case_id: int | None = None


@dataclass(slots=True)
class StoredEvidence:
    id: int
    channel: str
    conversation: str
    name: str
    mime: str
    size: int
    sha256: str
    received_at: datetime
    case_id: int | None = None


@dataclass(slots=True)
class StoredEvent:
    case_id: int
    at: datetime
    actor: str
    kind: str
    payload: dict[str, Any]


@dataclass(slots=True)
class StoredTimer:
    id: int
    case_id: int
    kind: str
    due_at: datetime
    status: str = "pending"  # pending | fired | dropped
    fired_at: datetime | None = None


@dataclass(slots=True)
class StoredSurvey:
    case_id: int
    record: SurveyRecord


@dataclass(slots=True)
class StoredReply:
    id: int
    channel: str
    conversation: str
    kind: str
    answer: bool
    case_id: int | None
    payload: dict[str, Any]
    next_attempt_at: datetime
    created_at: datetime
    notice: bool = False
    status: str = "pending"  # pending | sending | sent | failed
    attempts: int = 0
    sent_at: datetime | None = None
    transport_message_id: str | None = None
    thread: str | None = None
    last_error: str | None = None


@dataclass(slots=True)
class Person:
    name: str = ""
    phone: str | None = None
    email: str | None = None
    locale: str = ""


@dataclass
class Tables:
    """Everything a transaction may change; copied whole to roll back."""

    states: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    messages: list[StoredMessage] = field(default_factory=list)
    evidence: list[StoredEvidence] = field(default_factory=list)
    people: dict[int, Person] = field(default_factory=dict)
    identities: dict[tuple[str, str], int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    cases: dict[int, CaseRecord] = field(default_factory=dict)
    case_created: dict[int, datetime] = field(default_factory=dict)
    events: list[StoredEvent] = field(default_factory=list)
    agents: dict[int, AgentRecord] = field(default_factory=dict)
    timers: list[StoredTimer] = field(default_factory=list)
    surveys: list[StoredSurvey] = field(default_factory=list)
    outbox: list[StoredReply] = field(default_factory=list)
    partners: dict[str, PartnerRecord] = field(default_factory=dict)
    referrals: list[tuple[int, ReferralRecord]] = field(default_factory=list)  # (case id, …)
    next_id: dict[str, int] = field(default_factory=dict)

    def new_id(self, table: str) -> int:
        self.next_id[table] = self.next_id.get(table, 0) + 1
        return self.next_id[table]

    def case_by_no(self, case_no: str) -> CaseRecord | None:
        return next((c for c in self.cases.values() if c.case_no == case_no), None)


class MemoryStore:
    """The data both `MemoryRepository` and `MemoryOutbox` work on."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.files: dict[str, bytes] = {}  # evidence bytes by sha256, kept on rollback
        self.lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tables]:
        async with self.lock:
            before = copy.deepcopy(self.tables)
            try:
                yield self.tables
            except BaseException:
                self.tables = before
                raise
