"""The tamper-evident timeline: every event is written here, chained to the one before.

One chain per case. Each event stores its position in the case (`seq`, from 1), the
hash of the event before it (`prev_hash`; 64 zeros for the first) and its own `hash`,
sha256 over a canonical JSON of (format version, case id, seq, time, actor, kind,
field digests, prev_hash). `timeline_heads` keeps the position and hash of each case's
last event, so deleting events at the end is caught as well as in the middle.

Why per case and not global: appends to different cases never wait for each other, and
a case's chain is appended under a lock on the case's row (`FOR NO KEY UPDATE` on
PostgreSQL, which the desk's `FOR UPDATE` includes; `BEGIN IMMEDIATE` serialises every
writer on SQLite), so two workers can never fork a chain; the unique (case_id, seq)
constraint would refuse a fork anyway. A case can be verified on its own.

Why field digests and not the payload itself: the payload's top-level fields are hashed
one by one, each with a random salt of its own (`salts`), and the event hash covers the
digests. Erasing personal data (PIPL) replaces a field's value with `ERASED`, moves its
digest to `erased` and drops its salt: the chain still verifies, and with the salt gone
the kept digest cannot be used to test guesses of a phone number or a name.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.domain import CASE_NO_PATTERN, ERASED
from storage.case_locks import lock_for_no_key_update
from storage.models import Case, CaseCounter, TimelineEvent, TimelineHead

FORMAT = 1
GENESIS = "0" * 64


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def field_digest(salt: str, value: Any) -> str:
    return hashlib.sha256((salt + canonical(value)).encode()).hexdigest()


def new_salts(payload: dict[str, Any]) -> dict[str, str]:
    return {key: secrets.token_hex(16) for key in payload}


def event_hash(
    case_id: int,
    seq: int,
    at: datetime,
    actor: str,
    kind: str,
    digests: dict[str, str],
    prev_hash: str,
) -> str:
    body = {
        "v": FORMAT,
        "case": case_id,
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "kind": kind,
        "fields": digests,
        "prev": prev_hash,
    }
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def digests_of(
    payload: dict[str, Any], salts: dict[str, str], erased: dict[str, str] | None
) -> dict[str, str] | None:
    """Each field's digest, or None when the stored fields do not add up (a field
    added, removed, or an erased field given a value again)."""
    erased = erased or {}
    if set(payload) != set(salts) | set(erased) or set(salts) & set(erased):
        return None
    if any(payload[key] != ERASED for key in erased):
        return None
    return {
        key: erased[key] if key in erased else field_digest(salts[key], payload[key])
        for key in payload
    }


def computed_hash(event: TimelineEvent) -> str | None:
    digests = digests_of(event.payload, event.salts, event.erased)
    if digests is None:
        return None
    return event_hash(
        event.case_id, event.seq, event.at, event.actor, event.kind, digests, event.prev_hash
    )


async def append_event(
    session: AsyncSession,
    case_id: int,
    at: datetime,
    actor: str,
    kind: str,
    payload: dict[str, Any],
) -> TimelineEvent:
    """Appends one event to the case's chain: with `start_chain`, the only way events
    are written.

    The event and the moved head are added to the session, not flushed: the events of
    a transaction go to the database together, at its next query or its commit."""
    head = await _locked_head(session, case_id)
    salts = new_salts(payload)
    digests = {key: field_digest(salts[key], value) for key, value in payload.items()}
    seq = head.seq + 1
    event = TimelineEvent(
        case_id=case_id,
        at=at,
        actor=actor,
        kind=kind,
        payload=payload,
        seq=seq,
        prev_hash=head.hash,
        hash=event_hash(case_id, seq, at, actor, kind, digests, head.hash),
        salts=salts,
    )
    session.add(event)
    head.seq, head.hash = seq, event.hash
    session.add(head)
    return event


async def start_chain(
    session: AsyncSession,
    case_id: int,
    actor: str,
    events: Iterable[tuple[datetime, str, dict[str, Any]]],
) -> None:
    """The first events (time, kind, payload) of a case inserted by this transaction,
    chained from the start in one statement: no head to read or lock (no one else sees
    the case before the commit). `append_event` chains on from them."""
    head = TimelineHead(case_id=case_id, seq=0, hash=GENESIS)
    rows: list[dict[str, Any]] = []
    for at, kind, payload in events:
        salts = new_salts(payload)
        digests = {key: field_digest(salts[key], value) for key, value in payload.items()}
        seq = head.seq + 1
        digest = event_hash(case_id, seq, at, actor, kind, digests, head.hash)
        rows.append(
            {
                "case_id": case_id,
                "at": at,
                "actor": actor,
                "kind": kind,
                "payload": payload,
                "seq": seq,
                "prev_hash": head.hash,
                "hash": digest,
                "salts": salts,
            }
        )
        head.seq, head.hash = seq, digest
    if rows:
        await session.execute(insert(TimelineEvent), rows)
        session.add(head)
    _keep_head(session, head)


# Where a session keeps the heads its transaction has locked: (transaction, heads by case).
_HEADS = "complaintbot_timeline_heads"


async def _locked_head(session: AsyncSession, case_id: int) -> TimelineHead:
    """The case's head, locked for the rest of the transaction. Read and locked once per
    transaction and case: while the lock is held, no one else can move the head, so the
    next events of the transaction chain on from the head kept here."""
    known = session.info.get(_HEADS)
    if known is not None and known[0] is session.sync_session.get_transaction():
        head: TimelineHead | None = known[1].get(case_id)
        if head is not None:
            return head
    # The case row is the chain's lock (the desk holds it already).
    await lock_for_no_key_update(session, case_id)
    head = await session.scalar(
        select(TimelineHead)
        .where(TimelineHead.case_id == case_id)
        .execution_options(populate_existing=True)
    )
    if head is None:
        head = TimelineHead(case_id=case_id, seq=0, hash=GENESIS)
    _keep_head(session, head)
    return head


def _keep_head(session: AsyncSession, head: TimelineHead) -> None:
    # The transaction was begun by the queries that locked the case.
    transaction = session.sync_session.get_transaction()
    known = session.info.get(_HEADS)
    if known is None or known[0] is not transaction:
        heads: dict[int, TimelineHead] = {}
        session.info[_HEADS] = (transaction, heads)
    else:
        heads = known[1]
    heads[head.case_id] = head


def erase_fields(event: TimelineEvent, keys: Iterable[str]) -> bool:
    """Replaces the given fields' values with `ERASED`, keeping their digests; True when
    anything changed. The event's hash stays valid."""
    erased = dict(event.erased or {})
    salts = dict(event.salts)
    payload = dict(event.payload)
    changed = False
    for key in keys:
        if key not in salts or key in erased:
            continue
        erased[key] = field_digest(salts.pop(key), payload[key])
        payload[key] = ERASED
        changed = True
    if changed:
        event.payload, event.salts, event.erased = payload, salts, erased
    return changed


# ----- verification -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Break:
    """The first thing wrong in one case's chain."""

    case_no: str
    event_id: int | None
    seq: int | None
    problem: str  # "changed" | "out_of_order" | "truncated" | "missing"


@dataclass(frozen=True, slots=True)
class MissingCases:
    """A day with fewer cases than case numbers issued: whole cases were deleted
    (serials are gap-free: a rolled-back case gives its number back)."""

    day: str  # YYYYMMDD, as in the case number
    found: int
    issued: int


@dataclass(frozen=True, slots=True)
class Verification:
    cases: int
    events: int
    breaks: list[Break]
    missing_cases: list[MissingCases] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks and not self.missing_cases


async def verify_database(engine: AsyncEngine, case_no: str | None = None) -> Verification:
    async with AsyncSession(engine) as session:
        return await verify(session, case_no)


async def verify(session: AsyncSession, case_no: str | None = None) -> Verification:
    """Walks every chain (or one case's) and returns the first break of each case.

    Events are streamed case by case, so memory stays flat however many there are."""
    only = [] if case_no is None else [Case.case_no == case_no]
    cases = await session.scalar(select(func.count()).select_from(Case).where(*only))
    chains = (
        select(TimelineEvent, Case.case_no, TimelineHead.seq, TimelineHead.hash)
        .join(Case, Case.id == TimelineEvent.case_id)  # type: ignore[arg-type]
        .outerjoin(TimelineHead, TimelineHead.case_id == TimelineEvent.case_id)  # type: ignore[arg-type]
        .where(*only)
        .order_by(TimelineEvent.case_id, TimelineEvent.seq)  # type: ignore[arg-type]
    )
    breaks: list[Break] = []
    events = 0
    async for head, chain in _chains(session, chains):
        events += len(chain)
        found = _first_break(head, chain)
        if found is not None:
            breaks.append(found)
    emptied = (
        select(Case.case_no, TimelineHead.seq)
        .outerjoin(TimelineHead, TimelineHead.case_id == Case.id)  # type: ignore[arg-type]
        .where(*only, ~exists().where(TimelineEvent.case_id == Case.id))
    )
    for number, seq in (await session.execute(emptied)).all():
        breaks.append(Break(number, None, seq, "missing"))
    breaks.sort(key=lambda b: b.case_no)
    missing = [] if case_no is not None else await _missing_cases(session)
    return Verification(cases or 0, events, breaks, missing)


async def _missing_cases(session: AsyncSession) -> list[MissingCases]:
    counters = await session.execute(select(CaseCounter.day, CaseCounter.last_serial))
    issued: dict[str, int] = {day: last for day, last in counters.all()}
    found: Counter[str] = Counter()
    numbers = await session.stream_scalars(select(Case.case_no).execution_options(yield_per=5000))
    async for number in numbers:
        match = CASE_NO_PATTERN.match(number)
        if match:
            found[match["day"]] += 1
    return [
        MissingCases(day, found[day], last)
        for day, last in sorted(issued.items())
        if found[day] < last
    ]


Head = tuple[str, int | None, str | None]  # case number, last position and hash on record


async def _chains(
    session: AsyncSession, query: Select[Any]
) -> AsyncIterator[tuple[Head, list[TimelineEvent]]]:
    """Rows of (event, case number, head position, head hash) grouped by case."""
    head: Head = ("", None, None)
    chain: list[TimelineEvent] = []
    rows = await session.stream(query.execution_options(yield_per=1000))
    async for event, number, head_seq, head_hash in rows:
        if chain and event.case_id != chain[0].case_id:
            yield head, chain
            chain = []
        head = (number, head_seq, head_hash)
        chain.append(event)
    if chain:
        yield head, chain


def _first_break(head: Head, chain: list[TimelineEvent]) -> Break | None:
    case_no, head_seq, head_hash = head
    previous = GENESIS
    for position, event in enumerate(chain, start=1):
        if computed_hash(event) != event.hash:
            return Break(case_no, event.id, event.seq, "changed")
        if event.seq != position or event.prev_hash != previous:
            return Break(case_no, event.id, event.seq, "out_of_order")
        previous = event.hash
    last = chain[-1]
    if head_seq != last.seq or head_hash != last.hash:
        return Break(case_no, last.id, last.seq, "truncated")
    return None
