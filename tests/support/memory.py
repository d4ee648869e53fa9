"""The bot's ports in memory: flow and desk tests without a database.

`MemoryRepository` implements `bot.ports.Repository` (and so every small port of a
`ConversationTx`), `MemoryOutbox` the dispatcher's `OutboxStore`, both over one
`MemoryStore`, with the semantics the SQL implementations have:

- one transaction at a time (SQLite's `BEGIN IMMEDIATE`; it also gives each
  conversation its lock), committed when the block ends and rolled back on an
  exception, the stored inbound message included;
- an inbound transport id is stored once; case numbers are gap free per local day
  (a rolled-back case gives its number back);
- replies wait in the outbox until the dispatcher claims them; delivering one marks
  the case's receipt, first response and agents' thread as `storage.outbox` does.

Values go in and out as copies (state and payloads through JSON, as a database
would), so the bot cannot change what is stored without saving it.
`tests.support.records` reads back what a test observes, on this backend as on SQL.
The transaction's methods are in `memory_tx.py`, the tables in `memory_tables.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime

from bot.messages import Outbound
from bot.ports import CaseThread, Clock, DueTimer
from delivery.ports import Delivery
from delivery.sending import Sent
from tests.support.memory_tables import (
    MemoryStore,
    StoredEvent,
    StoredMessage,
    StoredReply,
    Tables,
    as_json,
)
from tests.support.memory_tx import MemoryTx

__all__ = ["MemoryOutbox", "MemoryRepository", "MemoryStore", "MemoryTx"]


class MemoryRepository:
    """`bot.ports.Repository` in memory."""

    def __init__(self, clock: Clock, store: MemoryStore | None = None) -> None:
        self.clock = clock
        self.store = store or MemoryStore()
        self._on_commit: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._on_commit.append(callback)

    @asynccontextmanager
    async def conversation(
        self, channel: str, conversation: str, sender_id: str
    ) -> AsyncIterator[MemoryTx]:
        async with self.store.transaction() as tables:
            yield MemoryTx(tables, self.store.files, channel, conversation, sender_id, self.clock)
        for callback in self._on_commit:
            callback()

    async def due_timers(self, now: datetime, limit: int) -> list[DueTimer]:
        tables = self.store.tables
        due = sorted(
            (t for t in tables.timers if t.status == "pending" and t.due_at <= now),
            key=lambda t: (t.due_at, t.id),
        )[:limit]
        return [
            DueTimer(t.id, case.case_no, case.channel, case.conversation)
            for t in due
            for case in (tables.cases[t.case_id],)
        ]

    async def conversation_of(self, case_no: str) -> tuple[str, str] | None:
        case = self.store.tables.case_by_no(case_no)
        return None if case is None else (case.channel, case.conversation)


class MemoryOutbox:
    """The dispatcher's `OutboxStore` in memory; settles a delivery as `SqlOutbox` does."""

    def __init__(
        self, store: MemoryStore, threaded_channels: frozenset[str] = frozenset({"email"})
    ) -> None:
        self.store = store
        self.threaded_channels = threaded_channels
        self.held = False

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[bool]:
        if self.held:
            yield False  # one dispatcher at a time, as on SQL
            return
        self.held = True
        try:
            yield True
        finally:
            self.held = False

    async def still_held(self) -> bool:
        return True

    async def release_stale(self, in_flight: frozenset[int]) -> int:
        async with self.store.transaction() as t:
            stale = [r for r in t.outbox if r.status == "sending" and r.id not in in_flight]
            for row in stale:
                row.status = "pending"
            return len(stale)

    async def recent_sends(self, since: datetime) -> list[tuple[str, str, datetime]]:
        sent = [r for r in self.store.tables.outbox if r.status == "sent"]
        return sorted(
            (
                (r.channel, r.conversation, r.sent_at)
                for r in sent
                if r.sent_at and r.sent_at >= since
            ),
            key=lambda send: send[2],
        )

    async def claim(self, now: datetime, limit: int, per_conversation: int = 3) -> list[Delivery]:
        """As `SqlOutbox.claim`: round-robin, people before notices, each lane in order."""
        async with self.store.transaction() as t:
            lanes: dict[tuple[str, str, bool], list[StoredReply]] = {}
            for row in sorted(t.outbox, key=lambda r: r.id):
                if row.status in ("pending", "sending"):
                    lanes.setdefault((row.channel, row.conversation, row.notice), []).append(row)
            ranked = []
            for rows in lanes.values():
                for position, row in enumerate(rows[:per_conversation], start=1):
                    if row.status == "sending" or row.next_attempt_at > now:
                        break
                    ranked.append((row.notice, position, rows[0].id, row))
            due = [row for *_order, row in sorted(ranked, key=lambda r: r[:3])][:limit]
            for row in due:
                row.attempts += 1
                row.status = "sending"
            return [
                Delivery(
                    r.id,
                    r.kind,
                    r.attempts,
                    self._outbound(t, r),
                    notice=r.notice,
                    queued_at=r.created_at,
                )
                for r in due
            ]

    def _outbound(self, t: Tables, row: StoredReply) -> Outbound:
        case = t.cases.get(row.case_id) if row.case_id else None
        outbound = Outbound.from_payload(
            row.channel, row.conversation, as_json(row.payload), case.case_no if case else None
        )
        if case is not None and row.channel in self.threaded_channels:
            messages = sorted(
                (
                    m
                    for m in t.messages
                    if m.case_id == case.id and m.channel in self.threaded_channels
                ),
                key=lambda m: (m.at, m.id),
            )
            thread = CaseThread(
                case.subject,
                tuple((m.message_ref, m.direction) for m in messages if m.message_ref),
            )
            outbound = replace(outbound, subject=thread.subject, references=thread.references)
        case_thread = case.agent_thread if case else None
        return replace(
            outbound,
            automatic=not row.answer,
            # The case's thread as it is now: it may have been opened after this was queued.
            thread=case_thread if outbound.case_thread else outbound.thread,
            files=tuple(replace(f, data=self.store.files.get(f.sha256)) for f in outbound.files),
        )

    async def delivered(self, delivery: Delivery, sent: Sent, at: datetime) -> None:
        async with self.store.transaction() as t:
            row = next(r for r in t.outbox if r.id == delivery.id)
            transport_ids = [f"{row.conversation}:{m}" for m in sent.message_ids]
            transport_id = transport_ids[0] if transport_ids else f"{row.conversation}:-"
            row.status, row.sent_at, row.transport_message_id = "sent", at, transport_id
            row.thread = sent.thread
            for position, message_id in enumerate(sent.message_ids):
                t.messages.append(
                    StoredMessage(
                        id=t.new_id("messages"),
                        channel=row.channel,
                        direction="out",
                        transport_id=transport_ids[position],
                        conversation=row.conversation,
                        message_ref=message_id,
                        sender_id="bot",
                        kind=row.kind,
                        text=row.payload.get("text", "") if position == 0 else "",
                        raw=as_json(row.payload) if position == 0 else {},
                        at=at,
                        case_id=row.case_id,
                    )
                )
            if row.case_id is None:
                return
            case = t.cases[row.case_id]
            if (
                row.kind.startswith("desk_")
                and sent.thread is not None
                and (row.kind == "desk_card" or row.payload.get("case_thread"))
            ):
                case.agent_thread = sent.thread
            if row.kind.startswith("desk_"):
                return
            if row.answer and case.first_response_at is None:
                case.first_response_at = at
            if row.kind == "receipt" and case.receipt_sent_at is None:
                case.receipt_sent_at = at
            kind = "receipt_sent" if row.kind == "receipt" else "message_sent"
            payload = {"text": row.payload.get("text", ""), "transport_id": transport_id}
            t.events.append(StoredEvent(case.id, at, "system", kind, payload))

    async def retry_later(self, delivery: Delivery, at: datetime, error: str) -> None:
        async with self.store.transaction() as t:
            row = next(r for r in t.outbox if r.id == delivery.id)
            row.status, row.next_attempt_at, row.last_error = "pending", at, error[:500]

    async def postpone(self, delivery: Delivery, at: datetime) -> None:
        async with self.store.transaction() as t:
            row = next(r for r in t.outbox if r.id == delivery.id)
            row.status, row.next_attempt_at, row.attempts = "pending", at, row.attempts - 1

    async def failed(self, delivery: Delivery, at: datetime, error: str) -> None:
        async with self.store.transaction() as t:
            row = next(r for r in t.outbox if r.id == delivery.id)
            row.status, row.last_error = "failed", error[:500]
            if row.case_id is not None:
                payload = {"kind": row.kind, "error": error[:500]}
                t.events.append(StoredEvent(row.case_id, at, "system", "delivery_failed", payload))
