"""The conversation's own rows: raw inbound messages, the dialogue state, evidence files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import col

from bot.draft import EvidenceRef
from bot.messages import Attachment, Inbound
from storage.models import Evidence, Message
from storage.raw_updates import handled_with
from storage.transaction import SqlTx


class ConversationRows(SqlTx):
    """`bot.ports.ConversationStore` on SQL."""

    async def record_inbound(self, inbound: Inbound) -> bool:
        # One statement: a redelivery (same transport id) inserts nothing.
        insert = postgresql.insert if self._postgres else sqlite.insert
        self._inbound_id = await self.session.scalar(
            insert(Message)
            .values(
                channel=inbound.channel,
                direction="in",
                transport_id=inbound.transport_id,
                conversation=inbound.conversation,
                message_ref=inbound.message_id,
                sender_id=inbound.sender_id,
                kind=inbound.kind.value,
                text=inbound.text,
                raw=inbound.raw,
                at=inbound.received_at,
            )
            .on_conflict_do_nothing(index_elements=["channel", "direction", "transport_id"])
            .returning(col(Message.id))
        )
        # Its stored update (a redelivery's too) is handled when this commits.
        await handled_with(self.session, inbound.channel, inbound.transport_id, self.clock.now())
        return self._inbound_id is not None

    async def load_state(self) -> dict[str, Any] | None:
        return self.row.state

    async def save_state(self, state: dict[str, Any]) -> None:
        self.row.state = state
        # The state may be the loaded dict changed in place, which SQLAlchemy cannot see.
        flag_modified(self.row, "state")
        self.row.updated_at = self.clock.now()
        self.session.add(self.row)

    async def store_evidence(self, attachment: Attachment, received_at: datetime) -> EvidenceRef:
        if attachment.path is not None:  # written to disk by the channel, too large to hold
            sha256, path = self.files.put_file(Path(attachment.path), attachment.sha256)
            size = attachment.size
        else:
            assert attachment.data is not None
            sha256, path = self.files.put(attachment.data)
            size = len(attachment.data)
        row = Evidence(
            channel=self.row.channel,
            conversation=self.row.conversation,
            name=attachment.name,
            mime=attachment.mime,
            size=size,
            sha256=sha256,
            path=path,
            received_at=received_at,
        )
        self.session.add(row)
        await self.session.flush()
        assert row.id is not None
        return EvidenceRef(row.id, row.name, row.mime, row.size, row.sha256)

    async def previous_text(self, message_id: str) -> str | None:
        query = (
            select(Message.text)
            .where(
                Message.channel == self.row.channel,
                Message.conversation == self.row.conversation,
                Message.direction == "in",
                Message.message_ref == message_id,
            )
            .order_by(Message.id.desc())  # type: ignore[union-attr]
            .limit(1)
        )
        if self._inbound_id is not None:
            query = query.where(Message.id != self._inbound_id)
        return await self.session.scalar(query)
