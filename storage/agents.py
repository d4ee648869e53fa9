"""Agents as the desk knows them: registered on first sight, found by name or number."""

from __future__ import annotations

from sqlalchemy import select

from bot.ports import AgentRecord
from storage.models import Agent, Message
from storage.records import agent_record
from storage.transaction import SqlTx


class AgentRows(SqlTx):
    """The agents' part of `bot.ports.CaseStore` on SQL."""

    async def agent(
        self,
        channel: str,
        external_id: str,
        name: str,
        username: str | None,
        *,
        keep_username: bool = False,
    ) -> AgentRecord:
        row = await self.session.scalar(
            select(Agent).where(Agent.channel == channel, Agent.external_id == external_id)
        )
        if row is None:
            row = Agent(
                channel=channel,
                external_id=external_id,
                name=name or external_id,
                username=username,
                created_at=self.clock.now(),
            )
            self.session.add(row)
        elif (name and row.name != name) or (row.username != username and not keep_username):
            row.name = name or row.name
            row.username = row.username if keep_username else username
            self.session.add(row)
        await self.session.flush()
        return agent_record(row)

    async def find_agent(self, who: str) -> AgentRecord | None:
        who = who.strip()
        if who.startswith("message:"):
            sender = await self.session.scalar(
                select(Message.sender_id).where(
                    Message.channel == self.row.channel,
                    Message.conversation == self.row.conversation,
                    Message.direction == "in",
                    Message.message_ref == who.removeprefix("message:"),
                )
            )
            if sender is None:
                return None
            query = select(Agent).where(
                Agent.channel == self.row.channel, Agent.external_id == sender
            )
        elif who.startswith("@"):
            query = select(Agent).where(Agent.username == who[1:])
        elif who.isdigit():
            query = select(Agent).where(Agent.id == int(who))  # type: ignore[arg-type]
        else:
            query = select(Agent).where(Agent.name == who)
        row = await self.session.scalar(query.limit(1))
        return agent_record(row) if row else None
