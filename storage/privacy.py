"""A person's data on request (PIPL): everything stored about them, and its erasure.

A person is found by a phone number or an email address: on their complainant record
or on any case's contact. Erasure replaces the personal fields — names, contacts,
descriptions, expected outcomes, message texts and raw transport data, the ids of
their own chats (a private chat's id is their account's), evidence file names —,
removes the evidence files nobody else's record uses, the intake state and the channel
identities, so a later message starts a new record. Messages to an erased chat fail
and are recorded as such. Case rows,
their times, categories, statuses, verification records and resolutions stay for the
ledger. Timeline fields are erased through `storage.chain.erase_fields`, so the chain
still verifies. Both requests are recorded on each case's timeline, without the contact.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.domain import ERASED
from storage.chain import append_event, erase_fields
from storage.files import EvidenceFiles
from storage.models import (
    Case,
    Complainant,
    Conversation,
    Evidence,
    Identity,
    Message,
    OutboxItem,
    RawUpdate,
    Referral,
    TimelineEvent,
)
from storage.search import reindex_case
from storage.status_codes import erase_status_codes

# Timeline payload fields that may carry the person's data (their words, their
# contacts, texts sent to them, file names).
PERSONAL_EVENT_FIELDS = frozenset(
    {"name", "phone", "email", "description", "expectation", "text", "before", "after", "files"}
)


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Person:
    complainants: list[Complainant]
    identities: list[Identity]
    cases: list[Case]
    # (channel, conversation) of the person's own chats.
    conversations: set[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Erasure:
    cases: list[str]
    messages: int
    events: int
    files_removed: int
    # Files no record uses any more, removed from disk once the erasure is committed.
    unused_files: list[str] = field(default_factory=list)


async def _person(session: AsyncSession, contact: Contact, lock: bool = False) -> Person | None:
    matches = []
    case_matches = []
    if contact.phone:
        matches.append(Complainant.phone == contact.phone)
        case_matches.append(Case.contact_phone == contact.phone)
    if contact.email:
        matches.append(func.lower(Complainant.email) == contact.email.lower())
        case_matches.append(func.lower(Case.contact_email) == contact.email.lower())
    if not matches:
        return None
    ids = set((await session.scalars(select(Complainant.id).where(or_(*matches)))).all())
    ids |= set((await session.scalars(select(Case.complainant_id).where(or_(*case_matches)))).all())
    if not ids:
        return None
    return await _person_by_ids(session, ids, lock)


async def _person_by_ids(session: AsyncSession, ids: set[int], lock: bool) -> Person:
    cases_query = select(Case).where(Case.complainant_id.in_(ids)).order_by(Case.id)
    if lock and session.bind.dialect.name == "postgresql":
        cases_query = cases_query.with_for_update()
    cases = list((await session.scalars(cases_query)).all())
    complainants = list(
        (
            await session.scalars(
                select(Complainant).where(Complainant.id.in_(ids)).order_by(Complainant.id)
            )
        ).all()
    )
    identities = list(
        (
            await session.scalars(
                select(Identity).where(Identity.complainant_id.in_(ids)).order_by(Identity.id)
            )
        ).all()
    )
    conversations = {(c.channel, c.conversation) for c in cases}
    return Person(complainants, identities, cases, conversations)


def _in_own_chats(person: Person, channel: Any, conversation: Any) -> Any:
    return tuple_(channel, conversation).in_(sorted(person.conversations) or [("", "")])


def _own_chat(person: Person, row: Message | Evidence | OutboxItem) -> bool:
    return (row.channel, row.conversation) in person.conversations


def _messages_query(person: Person) -> Any:
    """The person's messages: those of their cases, and the rest of their own chats
    (intakes they gave up, commands)."""
    case_ids = [c.id for c in person.cases]
    senders = [(i.channel, i.external_id) for i in person.identities]
    conditions = [Message.case_id.in_(case_ids)]
    if person.conversations:
        conditions.append(_in_own_chats(person, Message.channel, Message.conversation))
    if senders:
        conditions.append(tuple_(Message.channel, Message.sender_id).in_(sorted(senders)))
    return select(Message).where(or_(*conditions)).order_by(Message.id)


async def export(engine: AsyncEngine, contact: Contact, at: datetime) -> dict[str, Any] | None:
    """Everything stored about the person, as one JSON-ready object; None when unknown.
    The export is recorded on each of their cases' timelines."""
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        person = await _person(session, contact, lock=True)
        if person is None:
            return None
        case_ids = [c.id for c in person.cases]
        messages = (await session.scalars(_messages_query(person))).all()
        events = (
            await session.scalars(
                select(TimelineEvent)
                .where(TimelineEvent.case_id.in_(case_ids))
                .order_by(TimelineEvent.case_id, TimelineEvent.seq)
            )
        ).all()
        evidence = (
            await session.scalars(
                select(Evidence)
                .where(
                    or_(
                        Evidence.case_id.in_(case_ids),
                        _in_own_chats(person, Evidence.channel, Evidence.conversation),
                    )
                )
                .order_by(Evidence.id)
            )
        ).all()
        drafts = (
            await session.scalars(
                select(Conversation).where(
                    _in_own_chats(person, Conversation.channel, Conversation.conversation)
                )
            )
        ).all()
        document = {
            "exported_at": at.isoformat(),
            "complainants": [_row(c) for c in person.complainants],
            "identities": [_row(i) for i in person.identities],
            "cases": [
                {
                    **_row(case),
                    "timeline": [_row(e) for e in events if e.case_id == case.id],
                    "evidence": [_row(e) for e in evidence if e.case_id == case.id],
                    "messages": [_row(m) for m in messages if m.case_id == case.id],
                }
                for case in person.cases
            ],
            "other_messages": [_row(m) for m in messages if m.case_id not in case_ids],
            "other_evidence": [_row(e) for e in evidence if e.case_id not in case_ids],
            "conversation_states": [_row(d) for d in drafts if d.state],
        }
        for case in person.cases:
            assert case.id is not None
            await append_event(session, case.id, at, "operator", "personal_data_exported", {})
        return document


async def erase(
    engine: AsyncEngine, data_dir: Path, contact: Contact, at: datetime
) -> Erasure | None:
    """Erases the person's personal data (see the module's docstring); None when unknown."""
    files = EvidenceFiles(data_dir)
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        person = await _person(session, contact, lock=True)
        if person is None:
            return None
        erasure = await _erase(session, person, at, "operator")
    # Only once the erasure is committed: a rolled-back one must not lose files.
    await _remove_files(files, erasure)
    return erasure


async def erase_case(
    engine: AsyncEngine, data_dir: Path, case_no: str, archived_before: datetime, at: datetime
) -> Erasure | None:
    """Erases the personal data of one case archived before `archived_before` (the
    retention sweep), by the rules of `erase`: the case's own messages, files, timeline
    and outbox; the person's record, accounts and chats too once this was their last case
    not yet erased. None when the case is not (or no longer) due: erasing is done once,
    re-checked under the case's row lock (BEGIN IMMEDIATE on SQLite)."""
    files = EvidenceFiles(data_dir)
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        query = select(Case).where(
            Case.case_no == case_no,
            Case.erased_at.is_(None),  # type: ignore[union-attr]
            Case.archived_at < archived_before,  # type: ignore[operator]
        )
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        case = await session.scalar(query)
        if case is None:
            return None
        others = await session.scalar(
            select(func.count(Case.id)).where(  # type: ignore[arg-type]
                Case.complainant_id == case.complainant_id,
                Case.id != case.id,  # type: ignore[arg-type]
                Case.erased_at.is_(None),  # type: ignore[union-attr]
            )
        )
        person = Person([], [], [case], set())
        if not others:
            # Their other cases are erased already: the person goes too, and only this
            # case gets a new event.
            person = await _person_by_ids(session, {case.complainant_id}, lock=True)
        erasure = await _erase(session, person, at, "retention", only_events_on=[case])
    await _remove_files(files, erasure)
    return erasure


async def _remove_files(files: EvidenceFiles, erasure: Erasure) -> None:
    for path in erasure.unused_files:
        await asyncio.to_thread(files.remove, path)


async def _erase(
    session: AsyncSession,
    person: Person,
    at: datetime,
    actor: str,
    only_events_on: list[Case] | None = None,
) -> Erasure:
    """The erasure itself, in the caller's transaction; the files no record uses any more
    are in the result, to be removed once it is committed."""
    case_ids = [c.id for c in person.cases]
    for person_row in person.complainants:
        person_row.name, person_row.phone, person_row.email = ERASED, None, None
        person_row.updated_at = at
    for identity in person.identities:
        await session.delete(identity)
    for case in person.cases:
        case.contact_name, case.contact_phone, case.contact_email = ERASED, None, None
        case.description = case.expectation = ERASED
        case.conversation = ERASED  # their chat id names their account
        case.updated_at = at
    messages = (await session.scalars(_messages_query(person))).all()
    for message in messages:
        message.text, message.raw, message.sender_id = "", {}, ERASED
        if _own_chat(person, message):
            message.conversation = ERASED
    events = 0
    for event in (
        await session.scalars(select(TimelineEvent).where(TimelineEvent.case_id.in_(case_ids)))
    ).all():
        events += erase_fields(event, PERSONAL_EVENT_FIELDS)
    # What an agent asked a partner may quote the complainant.
    await session.execute(
        update(Referral).where(Referral.case_id.in_(case_ids)).values(text=ERASED)  # type: ignore[attr-defined]
    )
    unused_files = await _erase_evidence(session, person)
    await _erase_raw_updates(session, person)
    await erase_status_codes(session, case_ids)
    for item in (
        await session.scalars(
            select(OutboxItem).where(
                or_(
                    OutboxItem.case_id.in_(case_ids),
                    _in_own_chats(person, OutboxItem.channel, OutboxItem.conversation),
                )
            )
        )
    ).all():
        item.payload = {"text": ERASED}
        if _own_chat(person, item):
            item.conversation = ERASED
        if item.status in ("pending", "sending"):
            item.status, item.last_error = "failed", "personal data erased"
    for draft in (
        await session.scalars(
            select(Conversation).where(
                _in_own_chats(person, Conversation.channel, Conversation.conversation)
            )
        )
    ).all():
        await session.delete(draft)
    await session.flush()
    for case in person.cases:
        assert case.id is not None
        await reindex_case(session, case.id)  # what was erased no longer finds it
    erased = person.cases if only_events_on is None else only_events_on
    for case in erased:
        assert case.id is not None
        case.erased_at = at
        await append_event(
            session,
            case.id,
            at,
            actor,
            "personal_data_erased",
            {"messages": len(messages), "events": events, "files_removed": len(unused_files)},
        )
    return Erasure(
        [c.case_no for c in erased], len(messages), events, len(unused_files), unused_files
    )


async def _erase_raw_updates(session: AsyncSession, person: Person) -> None:
    """Updates kept as received and not handled (undecodable ones, mostly) that carry one
    of the person's accounts keep only their key: a handled one has no payload left."""
    accounts = {(i.channel, i.external_id) for i in person.identities}
    kept = await session.scalars(select(RawUpdate).where(RawUpdate.state != "handled"))
    for row in kept.all():
        if any((row.channel, found) in accounts for found in _ids_in(row.payload)):
            row.payload = {}


def _ids_in(value: Any) -> set[str]:
    """Every `id` in a transport's JSON (the sender's, the chat's, …), as text."""
    if isinstance(value, list):
        return set().union(*(_ids_in(item) for item in value))
    if not isinstance(value, dict):
        return set()
    found = {str(value["id"])} if "id" in value else set()
    return found.union(*(_ids_in(item) for item in value.values()))


async def _erase_evidence(session: AsyncSession, person: Person) -> list[str]:
    """Forgets the names of the person's files; returns the files no other record uses
    (files are stored once per content), to be removed from disk."""
    case_ids = [c.id for c in person.cases]
    rows = (
        await session.scalars(
            select(Evidence).where(
                or_(
                    Evidence.case_id.in_(case_ids),
                    _in_own_chats(person, Evidence.channel, Evidence.conversation),
                )
            )
        )
    ).all()
    paths = {row.path for row in rows if row.path}
    for row in rows:
        row.name, row.path = ERASED, ""
        if _own_chat(person, row):
            row.conversation = ERASED
    await session.flush()
    unused = []
    for path in sorted(paths):
        if await session.scalar(select(Evidence.id).where(Evidence.path == path).limit(1)) is None:
            unused.append(path)
    return unused


def _row(row: Any) -> dict[str, Any]:
    """A table row as JSON-ready values (times as ISO-8601 UTC)."""
    values = {key: getattr(row, key) for key in type(row).model_fields}
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in values.items()
    }
