"""The desk's front: which command or message, on which case.

An agent's plain message in a case's thread goes to the complainant; a command is
looked up in the command modules; a button is a claim or a step of the verification.
Each then takes the shared path (`bot.desk.path`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.away import AwayMailer
from bot.desk import closing, looking, referring, refiling, taking, talking
from bot.desk.path import Change, CommandPath, DeskTurn
from bot.domain import looks_like_case_no
from bot.draft import EvidenceRef
from bot.followup import CaseClock
from bot.i18n import Translator
from bot.lifecycle import IllegalTransition
from bot.messages import InboundKind
from bot.ports import CaseRecord, Clock
from bot.staff import DeskConfig, StaffNotices

log = logging.getLogger(__name__)

CaseCommand = Callable[[CommandPath, DeskTurn, CaseRecord, str], Awaitable[Change | None]]
LookCommand = Callable[[CommandPath, DeskTurn, str], Awaitable[None]]

# Commands on one case, and commands that only look.
CASE_COMMANDS: dict[str, CaseCommand] = {
    **taking.COMMANDS,
    **talking.COMMANDS,
    **closing.COMMANDS,
    **refiling.COMMANDS,
    **referring.COMMANDS,
}
LOOK_COMMANDS: dict[str, LookCommand] = dict(looking.COMMANDS)
AGENT_COMMANDS = frozenset(CASE_COMMANDS) | frozenset(LOOK_COMMANDS)


class Desk:
    """The agents' desk: cases worked from the agents' group (or the operator CLI)."""

    def __init__(
        self,
        staff: StaffNotices,
        case_clock: CaseClock,
        clock: Clock,
        mail_channel: str | None = None,
        away: AwayMailer | None = None,
    ) -> None:
        self.path = CommandPath(staff, case_clock, clock, mail_channel, away)
        self.staff = staff

    @property
    def config(self) -> DeskConfig:
        return self.staff.config

    @property
    def tr(self) -> Translator:
        return self.staff.tr

    async def handle(self, turn: DeskTurn) -> None:
        inbound = turn.inbound
        if inbound.kind is InboundKind.BUTTON:
            await self._button(turn, inbound.button_data or "")
            return
        if inbound.kind is InboundKind.COMMAND:
            await self.command(turn, (inbound.command or "").lower(), inbound.command_args)
            return
        case = await self._context_case(turn)
        if case is None:
            return  # agents talking among themselves
        if inbound.kind is InboundKind.TEXT and inbound.text.strip():
            await self.reply(turn, case, inbound.text.strip(), ())
        elif inbound.kind is InboundKind.ATTACHMENT:
            stored = [
                await turn.tx.store_evidence(a, inbound.received_at)
                for a in inbound.attachments
                if a.data is not None
            ]
            if len(stored) < len(inbound.attachments):
                turn.refuse(self.tr._("A file was too large to pass on."))
            await self.reply(turn, case, inbound.text.strip(), tuple(stored))

    async def command(self, turn: DeskTurn, command: str, args: str) -> None:
        args = args.strip()
        look = LOOK_COMMANDS.get(command)
        if look is not None:
            await look(self.path, turn, args)
            return
        case, args = await self._case_for_command(turn, args)
        act = CASE_COMMANDS.get(command)
        if case is not None and act is not None:
            await self._on_case(turn, case, act(self.path, turn, case, args))

    async def reply(
        self, turn: DeskTurn, case: CaseRecord, text: str, files: tuple[EvidenceRef, ...]
    ) -> None:
        """An agent's message to the complainant."""
        if not text and not files:
            return
        await self._on_case(turn, case, talking.reply(self.path, turn, case, text, files))

    async def _button(self, turn: DeskTurn, data: str) -> None:
        parts = data.split(":")
        if parts[0] == "desk" and len(parts) == 3 and parts[1] == "claim":
            case = await turn.tx.case(parts[2])
            if case is None:
                turn.refuse(self.tr._("That button is no longer active."))
                return
            await self._on_case(turn, case, taking.claim(self.path, turn, case, ""))
            return
        if parts[0] != "res" or len(parts) not in (3, 4):
            turn.refuse(self.tr._("That button is no longer active."))
            return
        case = await turn.tx.case(parts[1])
        if case is None:
            turn.refuse(self.tr._("That button is no longer active."))
            return
        value = parts[3] if len(parts) == 4 else None
        await self._on_case(turn, case, closing.verify(self.path, turn, case, parts[2], value))

    async def _on_case(
        self, turn: DeskTurn, case: CaseRecord, change_of: Awaitable[Change | None]
    ) -> None:
        """A command on a case: what it wants done, then the shared path; a transition
        the case's state does not allow is refused with the reason."""
        try:
            change = await change_of
            if change is not None:
                await self.path.carry_out(turn, case, change)
        except IllegalTransition as illegal:
            turn.refuse(self.path.illegal(case, illegal))

    async def _context_case(self, turn: DeskTurn) -> CaseRecord | None:
        inbound, tx = turn.inbound, turn.tx
        if inbound.thread_id:
            case = await tx.case_by_thread(inbound.thread_id)
            if case is not None:
                return case
        if inbound.reply_to:
            return await tx.case_by_thread(inbound.reply_to) or await tx.case_by_message(
                inbound.reply_to
            )
        return None

    async def _case_for_command(self, turn: DeskTurn, args: str) -> tuple[CaseRecord | None, str]:
        first, _sep, rest = args.partition(" ")
        if looks_like_case_no(first):
            case = await turn.tx.case(first.upper())
            if case is None:
                turn.refuse(self.tr._("No case {case_no}.").format(case_no=first))
            return case, rest.strip()
        case = await self._context_case(turn)
        if case is None:
            turn.refuse(
                self.tr._(
                    "Which case? Use the command in the case's topic, reply to a message "
                    "of the case, or put the case number first."
                )
            )
        return case, args
