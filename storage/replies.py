"""The outbox as the bot fills it, inside a conversation's transaction.

`storage.outbox` is the other end: the dispatcher claiming and settling what is queued.
A reply on a channel whose messages are delivered by being on the record (the web chat)
is written as sent here, in the transaction that decided it: no dispatcher takes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from bot.messages import Outbound
from bot.ports import ThreadOpening
from delivery.sending import Sent
from storage.models import Case, OutboxItem
from storage.sent_messages import record_sent
from storage.transaction import SqlTx
from storage.wakeups import OUTBOX, notify


class ReplyRows(SqlTx):
    """`bot.ports.ReplyQueue` on SQL."""

    async def enqueue(
        self,
        outbound: Outbound,
        kind: str,
        at: datetime,
        *,
        answer: bool = False,
        notice: bool = False,
    ) -> None:
        case_id = None
        if outbound.case_no:
            case_id = self._case_ids.get(outbound.case_no) or await self.session.scalar(
                select(Case.id).where(Case.case_no == outbound.case_no)
            )
        item = OutboxItem(
            channel=outbound.channel,
            conversation=outbound.conversation,
            kind=kind,
            answer=answer,
            notice=notice,
            case_id=case_id,
            payload=outbound.to_payload(),
            next_attempt_at=at,
            created_at=at,
        )
        self.session.add(item)
        if outbound.channel in self.on_record:
            item.attempts = 1
            await self.session.flush()  # its id names the message
            await record_sent(self.session, item, Sent((f"o{item.id}",)), at)
            return
        self.queued = True
        if self._postgres and not self._outbox_told:
            # No dispatcher in this process (a CLI command): wake the workers' at the commit.
            self._outbox_told = True
            await notify(self.session, OUTBOX)

    async def automatic_replies_since(self, since: datetime) -> int:
        count = await self.session.scalar(
            select(func.count(OutboxItem.id)).where(
                OutboxItem.channel == self.row.channel,
                OutboxItem.conversation == self.row.conversation,
                OutboxItem.created_at >= since,
                OutboxItem.answer.is_(False),  # type: ignore[attr-defined]
            )
        )
        return int(count or 0)

    async def thread_opened_by(self, kind: str) -> ThreadOpening | None:
        row = (
            await self.session.execute(
                select(OutboxItem.status, OutboxItem.thread)
                .where(
                    OutboxItem.channel == self.row.channel,
                    OutboxItem.conversation == self.row.conversation,
                    OutboxItem.kind == kind,
                )
                .order_by(OutboxItem.id.desc())  # type: ignore[union-attr]
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        status, thread = row
        return ThreadOpening(thread if status == "sent" else None)
