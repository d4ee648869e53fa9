"""What every part of a conversation transaction shares: the session, the locked
conversation row, the sender, and the case rows already locked in it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ports import CaseRecord, Clock, NewCase
from storage.case_locks import lock_for_update
from storage.files import EvidenceFiles
from storage.models import Agent, Case, Complainant, Conversation, Identity
from storage.records import case_record


class SqlTx:
    """The state of one transaction; `SqlConversationTx` adds the ports' methods."""

    def __init__(
        self,
        session: AsyncSession,
        row: Conversation,
        sender_id: str,
        files: EvidenceFiles,
        clock: Clock,
        dispatching_here: bool = False,
        on_record: frozenset[str] = frozenset(),
    ) -> None:
        self.session = session
        self.row = row
        self.sender_id = sender_id
        self.files = files
        self.clock = clock
        self._inbound_id: int | None = None  # the message this transaction handles
        # The cases this transaction created or read, by number (replies name theirs).
        self._case_ids: dict[str, int] = {}
        # Replies queued in it need no notice to other workers: they were told, or this
        # process's own dispatcher is woken at the commit (`SqlRepository.on_commit`).
        self._outbox_told = dispatching_here
        # Channels whose replies are delivered by being stored (`storage.replies`).
        self.on_record = on_record
        self.queued = False  # replies for a dispatcher to send

    @property
    def _postgres(self) -> bool:
        return self.session.bind.dialect.name == "postgresql"

    async def _complainant_id(
        self, create: bool, at: datetime | None = None, contact: NewCase | None = None
    ) -> int | None:
        """The person behind this conversation's sender; with `create`, made known on
        first sight (joined to a person a typed email or phone already names)."""
        channel = self.row.channel
        found = await self.session.scalar(
            select(Identity.complainant_id).where(
                Identity.channel == channel, Identity.external_id == self.sender_id
            )
        )
        if found is not None or not create:
            return found
        now = at or self.clock.now()
        person_id = await self._same_person(contact) if contact else None
        if person_id is None:
            person = Complainant(created_at=now, updated_at=now)
            self.session.add(person)
            await self.session.flush()
            assert person.id is not None
            person_id = person.id
        self.session.add(
            Identity(
                channel=channel,
                external_id=self.sender_id,
                complainant_id=person_id,
                created_at=now,
            )
        )
        return person_id

    async def _same_person(self, contact: NewCase) -> int | None:
        """The complainant already known by this email address or phone number, if any."""
        for column, value in (
            (Complainant.email, contact.email),
            (Complainant.phone, contact.phone),
        ):
            if value:
                found = await self.session.scalar(
                    select(Complainant.id).where(column == value).order_by(Complainant.id).limit(1)  # type: ignore[arg-type]
                )
                if found is not None:
                    return int(found)
        return None

    async def _record(self, row: Case | None) -> CaseRecord | None:
        """The case as the bot sees it, its row locked for the rest of the transaction."""
        if row is None:
            return None
        assert row.id is not None
        await lock_for_update(self.session, row)
        self._case_ids[row.case_no] = row.id
        handler = await self.session.get(Agent, row.handler_id) if row.handler_id else None
        return case_record(row, handler)
