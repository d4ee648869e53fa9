"""The one path every desk command takes on a case.

A command reads its arguments and says what it wants done as a `Change`; `carry_out`
then does it in the same order for every command:

    check the transition (bot.lifecycle) → file the agent's message under the case →
    take an unclaimed case → change fields and status → timeline event → timers →
    save → tell (the complainant, the case's thread, the supervisors, the agent)

so a new command is one function that builds a `Change`, not another copy of the path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.away import AwayMailer
from bot.domain import RESPONSE_KINDS, CaseStatus
from bot.draft import EvidenceRef
from bot.followup import CaseClock
from bot.i18n import Translator
from bot.lifecycle import Action, IllegalTransition, next_status
from bot.messages import Attachment, Button, Inbound, Outbound
from bot.ports import AgentRecord, CaseRecord, Clock, ConversationTx
from bot.staff import StaffNotices


@dataclass(slots=True)
class DeskTurn:
    """One agent action being handled: who, where, and what it sends."""

    tx: ConversationTx
    inbound: Inbound
    agent: AgentRecord
    state: dict[str, Any]
    answers: list[str] = field(default_factory=list)  # to the agent, where they acted
    refused: bool = False

    def refuse(self, text: str) -> None:
        """The action was not done; `text` says why."""
        self.answers.append(text)
        self.refused = True

    @property
    def actor(self) -> str:
        return f"agent:{self.agent.id}"


class To(StrEnum):
    COMPLAINANT = "complainant"
    THREAD = "thread"  # the case's thread in the agents' group
    SUPERVISORS = "supervisors"  # privately, with the case's card
    AGENT = "agent"  # the agent who acted, where they acted
    PARTNER = "partner"  # a partner, by mail to `Say.address`, in a thread of its own


@dataclass(frozen=True, slots=True)
class Say:
    """One message a command sends; `kind` is the outbox kind of a complainant's or a
    partner's. `edit` (the case's thread only): the earlier post this one replaces in
    place. `address` and `subject` (a partner only): where the mail goes, and its subject."""

    to: To
    text: str
    kind: str = "status_notice"
    files: tuple[Attachment, ...] = ()
    buttons: tuple[tuple[Button, ...], ...] = ()
    edit: str | None = None
    address: str | None = None
    subject: str | None = None


async def command_files(turn: DeskTurn) -> tuple[EvidenceRef, ...]:
    """The files sent with a command (a captioned file), kept as the case's evidence."""
    inbound = turn.inbound
    return tuple(
        [
            await turn.tx.store_evidence(a, inbound.received_at)
            for a in inbound.attachments
            if a.data is not None
        ]
    )


def _unchanged(case: CaseRecord) -> None:
    return None


def _silent(case: CaseRecord) -> list[Say]:
    return []


@dataclass(slots=True)
class Change:
    """What a command does to a case, for `carry_out` to do.

    `action` is checked against the lifecycle (None: the command checked what it
    needs itself); `timers` runs after the event and may record events of its own;
    `tell` is built last, so it can read deadlines the timers moved.
    """

    action: Action | None
    event: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    apply: Callable[[CaseRecord], None] = _unchanged
    timers: Callable[[ConversationTx, CaseRecord], Awaitable[object]] | None = None
    tell: Callable[[CaseRecord], list[Say]] = _silent
    takes_case: bool = False  # whoever acts first on an unclaimed case becomes its handler
    files: tuple[EvidenceRef, ...] | None = None  # file the agent's message (and these)
    save: bool = True


class CommandPath:
    """The path itself, and what every command works with on it: the staff's words and
    notices, the case's clock, the time."""

    def __init__(
        self,
        staff: StaffNotices,
        case_clock: CaseClock,
        clock: Clock,
        mail_channel: str | None = None,
        away: AwayMailer | None = None,
    ) -> None:
        self.staff = staff
        self.case_clock = case_clock
        self.clock = clock
        self.away = away or AwayMailer(None, mail_channel, clock)
        # The channel partners are written on (mail); None when there is none.
        self.mail_channel = mail_channel

    @property
    def tr(self) -> Translator:
        return self.staff.tr

    async def carry_out(self, turn: DeskTurn, case: CaseRecord, change: Change) -> None:
        """Does `change`; `IllegalTransition` (before anything is written) when the case's
        state does not allow its action."""
        status = next_status(case.status, change.action) if change.action else case.status
        if change.files is not None:
            await turn.tx.attach_inbound(case, change.files)
        if change.takes_case and case.handler is None:
            case.handler = turn.agent
            await self.event(turn, case, "claimed", {"handler": turn.agent.name})
        change.apply(case)
        if status is not case.status:
            await self.event(
                turn, case, "status_changed", {"from": case.status.value, "to": status.value}
            )
            case.status = status
        if change.event is not None:
            await self.event(turn, case, change.event, change.payload)
        if change.timers is not None:
            await change.timers(turn.tx, case)
        if change.save:
            await turn.tx.save_case(case)
        for say in change.tell(case):
            await self.say(turn, case, say)

    async def event(
        self, turn: DeskTurn, case: CaseRecord, kind: str, payload: dict[str, Any]
    ) -> None:
        payload = {"agent": turn.agent.name, **payload}
        await turn.tx.add_event(case, self.clock.now(), turn.actor, kind, payload)

    async def say(self, turn: DeskTurn, case: CaseRecord, say: Say) -> None:
        if say.to is To.COMPLAINANT:
            await turn.tx.enqueue(
                Outbound(
                    channel=case.channel,
                    conversation=case.conversation,
                    text=say.text,
                    case_no=case.case_no,
                    files=say.files,
                ),
                say.kind,
                self.clock.now(),
                # An agent's answer (reply, question, resolution), not a status notice:
                # the first one delivered is the case's first response.
                answer=say.kind in RESPONSE_KINDS,
            )
            if say.kind in RESPONSE_KINDS:
                await self.away.answered(turn.tx, case)  # mailed if not seen in time
        elif say.to is To.THREAD and say.edit is not None:
            await self._edit_post(turn, case, say)
        elif say.to is To.THREAD:
            await self.staff.post(turn.tx, case, say.text, say.files, say.buttons)
            if not turn.inbound.group:
                turn.answers.append(say.text)  # acting from the CLI: told what the thread is
        elif say.to is To.PARTNER:
            assert self.mail_channel is not None and say.address is not None
            await turn.tx.enqueue(
                Outbound(
                    channel=self.mail_channel,
                    conversation=say.address,
                    text=say.text,
                    case_no=case.case_no,
                    files=say.files,
                    subject=say.subject,
                ),
                say.kind,
                self.clock.now(),
            )
        elif say.to is To.SUPERVISORS:
            await self.staff.to_supervisors(turn.tx, case, say.text)
        else:
            turn.answers.append(say.text)

    async def _edit_post(self, turn: DeskTurn, case: CaseRecord, say: Say) -> None:
        """Changes a post of the case's thread, which the agent acted on, in place."""
        config = self.staff.config
        await turn.tx.enqueue(
            Outbound(
                channel=config.channel,
                conversation=config.conversation,
                text=say.text,
                case_no=case.case_no,
                case_thread=True,
                buttons=say.buttons,
                edit=say.edit,
            ),
            "desk_post",
            self.clock.now(),
        )

    def agent_name(self, tr: Translator, agent: AgentRecord) -> str:
        """The agent as the complainant reads it: a number, unless names are shown."""
        if self.staff.config.show_agent_names:
            return agent.name
        return tr._("Agent No. {number}").format(number=agent.id)

    def illegal(self, case: CaseRecord, illegal: IllegalTransition) -> str:
        _ = self.tr.gettext
        if illegal.action is Action.RESOLVE and case.status is CaseStatus.RESOLVED:
            return _("{case_no} is already resolved; /reopen it first.").format(
                case_no=case.case_no
            )
        return _("Not possible: {case_no} is {status}.").format(
            case_no=case.case_no, status=self.staff.status(case.status)
        )
