"""The agents' ways in to the desk: their group, an operator's CLI command, a failed delivery.

A message in a group reaches the desk only from the configured agents' group and,
for commands and buttons, only from an agent; anything else in a group is ignored
(agent commands refused with a log line). What a command does is the desk's
(`bot.desk`); here it is only decided who may ask and where the answers go.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from bot.desk import AGENT_COMMANDS, Desk, DeskTurn
from bot.lifecycle import VERIFICATION, parse_verification
from bot.messages import Attachment, Inbound, InboundKind, Outbound
from bot.ports import CaseRecord, Clock, ConversationTx, ReplyQueue, Repository
from bot.staff import StaffNotices

log = logging.getLogger(__name__)


class Undelivered(Protocol):
    """A queued message the outbox gave up on (the dispatcher's `Delivery` is one)."""

    @property
    def kind(self) -> str: ...

    @property
    def outbound(self) -> Outbound: ...


@dataclass(frozen=True, slots=True)
class Operator:
    """Who runs a desk command from outside the agents' group. The same person is one
    agent whichever tool they use: a staff user with a Telegram id acts as that Telegram
    agent (`channel` "telegram", `external_id` the id); others are agents of their own
    tool, known by name. `via` is the tool, recorded with the command."""

    name: str
    via: str = "cli"
    channel: str = "cli"
    external_id: str = ""

    def __post_init__(self) -> None:
        if not self.external_id:
            object.__setattr__(self, "external_id", self.name)


class Agents:
    """Hands the agents' messages to the desk and tells them what a complainant missed."""

    def __init__(
        self,
        repository: Repository,
        desk: Desk,
        staff: StaffNotices,
        clock: Clock,
    ) -> None:
        self.repository = repository
        self.desk = desk
        self.staff = staff
        self.clock = clock

    async def handle(self, tx: ConversationTx, inbound: Inbound) -> None:
        """A message in a group: the agents' desk, or a group the bot should not serve."""
        is_agent_command = (
            inbound.kind is InboundKind.COMMAND and (inbound.command or "") in AGENT_COMMANDS
        )
        if not self.staff.active or not self._in_group(inbound):
            if is_agent_command:
                log.warning(
                    "agent command /%s refused: %s %s is not the agents' group (sender %s)",
                    inbound.command,
                    inbound.channel,
                    inbound.conversation,
                    inbound.sender_id,
                )
            return
        if not self.staff.config.is_agent(inbound.sender_id):
            if is_agent_command or inbound.kind is InboundKind.BUTTON:
                log.warning("agent command refused: %s is not an agent", inbound.sender_id)
                await self._answer(tx, inbound, [self.staff.tr._("Only agents can do this.")])
            return
        agent = await tx.agent(
            inbound.channel, inbound.sender_id, inbound.sender_name, inbound.sender_username
        )
        state = await tx.load_state() or {}
        turn = DeskTurn(tx, inbound, agent, state)
        await self.desk.handle(turn)
        await tx.save_state(turn.state)
        await self._answer(tx, inbound, turn.answers)

    async def _answer(self, tx: ReplyQueue, inbound: Inbound, answers: list[str]) -> None:
        for text in answers:
            await tx.enqueue(
                Outbound(
                    channel=inbound.channel,
                    conversation=inbound.conversation,
                    text=text,
                    thread=inbound.thread_id,
                ),
                "desk_answer",
                self.clock.now(),
            )

    async def operate(
        self,
        operator: Operator,
        command: str,
        case_no: str,
        text: str = "",
        files: tuple[Attachment, ...] = (),
    ) -> tuple[bool, list[str]]:
        """A desk command from outside the agents' group (the CLI, the staff web, the API),
        under the same rules and timeline as in the group; returns whether it was done and
        the answers the agent would have seen. `files` go with a reply."""
        desk = self.desk
        now = self.clock.now()
        inbound = Inbound(
            channel=operator.via,
            transport_id=f"{operator.via}-{now.timestamp()}-{command}-{case_no}",
            conversation="operator",
            sender_id=operator.external_id,
            sender_name=operator.name,
            received_at=now,
            kind=InboundKind.COMMAND,
            command=command,
            command_args=f"{case_no} {text}".strip(),
            text=f"/{command} {case_no} {text}".strip(),
            raw={"argv": [command, case_no, text], "files": [f.name for f in files]},
        )
        async with self.repository.conversation(operator.via, "operator", operator.name) as tx:
            await tx.record_inbound(inbound)
            agent = await tx.agent(
                operator.channel, operator.external_id, operator.name, None, keep_username=True
            )
            turn = DeskTurn(tx, inbound, agent, {})
            case = await tx.case(case_no)
            if case is None:
                return False, [desk.tr._("No case {case_no}.").format(case_no=case_no)]
            if command == "resolve" and len(parse_verification(text)[0]) < len(VERIFICATION):
                return False, [
                    desk.tr._(
                        "Give the whole verification: "
                        "facts=… nature=… responsibility=… severity=… TEXT"
                    )
                ]
            if command == "reply":
                stored = tuple([await tx.store_evidence(f, now) for f in files])
                await desk.reply(turn, case, text, stored)
                if not turn.refused:
                    await self._echo(tx, case, agent.name, text)
                    turn.answers.append(desk.tr._("Sent to the complainant."))
            else:
                await desk.command(turn, command, f"{case_no} {text}".strip())
                if command == "note" and not turn.refused:
                    await self._echo(tx, case, agent.name, f"📝 {text}")
        return not turn.refused, turn.answers

    async def _echo(self, tx: ConversationTx, case: CaseRecord, agent: str, text: str) -> None:
        """Agents in the group see what an operator sent from the CLI."""
        await self.staff.post(tx, case, f"📤 {agent}: {text}")

    async def report_undelivered(self, delivery: Undelivered, error: str) -> None:
        """Tells the agents, in the case's thread, that a message to the complainant did
        not arrive (blocked bot, deleted chat); the dispatcher has stopped trying."""
        staff, outbound = self.staff, delivery.outbound
        if not staff.active or outbound.case_no is None or delivery.kind.startswith("desk_"):
            return
        async with self.repository.conversation(
            staff.config.channel, staff.config.conversation, "system"
        ) as tx:
            case = await tx.case(outbound.case_no)
            if case is None:
                return
            if outbound.subject is not None:  # a letter of its own thread: to a partner
                notice = staff.tr._("⚠️ Not delivered to {address}: {error}\n{text}")
            else:
                notice = staff.tr._("⚠️ Not delivered to the complainant: {error}\n{text}")
            await staff.post(
                tx,
                case,
                notice.format(error=error, text=outbound.text, address=outbound.conversation),
            )

    def _in_group(self, inbound: Inbound) -> bool:
        """Whether the message was written in the agents' group."""
        group = self.staff.config
        return inbound.channel == group.channel and inbound.conversation == group.conversation
