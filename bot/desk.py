"""The agents' desk: cases worked from the agents' group (or the operator CLI).

Each case has a thread in the group (a forum topic, or the replies to its card). An
agent's plain message in that thread goes to the complainant; commands move the case
through its lifecycle (`bot.lifecycle`). Everything lands on the timeline with the
agent as actor, and every message leaves through the outbox in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.domain import CaseStatus, Category, looks_like_case_no
from bot.draft import EvidenceRef
from bot.i18n import Translator
from bot.labels import category_label, status_label, verification_labels
from bot.lifecycle import (
    VERIFICATION,
    Action,
    IllegalTransition,
    is_open,
    next_status,
    parse_verification,
)
from bot.messages import Attachment, Button, Inbound, InboundKind, Outbound
from bot.ports import AgentRecord, CaseRecord, Clock, ConversationTx
from scheduler.calendar import parse_duration

if TYPE_CHECKING:
    from bot.followup import Timekeeper

log = logging.getLogger(__name__)

AGENT_COMMANDS = frozenset(
    {
        "claim",
        "assign",
        "note",
        "info",
        "resolve",
        "reopen",
        "escalate",
        "cases",
        "case",
        "category",
        "extend",
    }
)
MAX_TOPIC_NAME = 128


@dataclass(frozen=True, slots=True)
class DeskConfig:
    """Where the desk is and who may work at it.

    `agent_ids` empty means every member of the group is an agent; supervisors are
    agents too.
    """

    channel: str
    conversation: str
    agent_ids: frozenset[str] = frozenset()
    supervisor_ids: frozenset[str] = frozenset()
    show_agent_names: bool = False

    def is_agent(self, sender_id: str) -> bool:
        if not self.agent_ids:
            return True
        return sender_id in self.agent_ids or sender_id in self.supervisor_ids


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


class Desk:
    def __init__(
        self,
        config: DeskConfig,
        locale: str,
        timezone: ZoneInfo,
        clock: Clock,
    ) -> None:
        self.config = config
        self.tr = Translator(locale)
        self.timezone = timezone
        self.clock = clock
        # Set by the bot: deadlines and surveys follow what agents do here.
        self.timekeeper: Timekeeper | None = None

    # ----- what the complainant side calls ---------------------------------------------

    async def case_opened(self, tx: ConversationTx, case_no: str) -> None:
        """Posts the new case's card, opening its thread."""
        case = await tx.case(case_no)
        assert case is not None
        files = tuple(await tx.case_files(case))
        title = f"{case.case_no} · {self._category(case.category)} · {case.name}"
        await tx.enqueue(
            Outbound(
                channel=self.config.channel,
                conversation=self.config.conversation,
                text=self.card_text(case, len(files)),
                buttons=self._card_buttons(case),
                case_no=case.case_no,
                new_thread=title[:MAX_TOPIC_NAME],
                files=files,
            ),
            "desk_card",
            self.clock.now(),
        )

    async def post(
        self,
        tx: ConversationTx,
        case: CaseRecord,
        text: str,
        files: tuple[Attachment, ...] = (),
        buttons: tuple[tuple[Button, ...], ...] = (),
    ) -> None:
        """Posts into the case's thread in the agents' group (if there is a group)."""
        if not self.config.channel:
            return
        await tx.enqueue(
            Outbound(
                channel=self.config.channel,
                conversation=self.config.conversation,
                text=text,
                case_no=case.case_no,
                case_thread=True,
                files=files,
                buttons=buttons,
            ),
            "desk_post",
            self.clock.now(),
        )

    def complainant_said(
        self, case: CaseRecord, text: str, files: int, edited_from: str | None = None
    ) -> str:
        _ = self.tr.gettext
        if edited_from is not None:
            return "\n".join(
                [
                    _("✏️ {name} edited a message.").format(name=case.name),
                    _("Before: {text}").format(text=edited_from),
                    _("After: {text}").format(text=text),
                ]
            )
        lines = [_("💬 {name}:").format(name=case.name)]
        if text:
            lines.append(text)
        if files:
            lines.append(_("({count} file(s) attached)").format(count=files))
        return "\n".join(lines)

    # ----- the group ----------------------------------------------------------------------

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
        _ = self.tr.gettext
        args = args.strip()
        if command == "cases":
            await self._list(turn)
            return
        if command == "case":
            number = args.split()[0].upper() if args else ""
            found = await turn.tx.case(number) if looks_like_case_no(number) else None
            if found is None:
                turn.refuse(_("No case {case_no}.").format(case_no=number or "—"))
                return
            files = len(await turn.tx.case_files(found))
            turn.answers.append(self.card_text(found, files))
            return
        case, args = await self._case_for_command(turn, args)
        if case is None:
            return
        try:
            if command == "claim":
                await self._claim(turn, case, turn.agent, Action.CLAIM)
            elif command == "assign":
                await self._assign(turn, case, args)
            elif command == "note":
                await self._note(turn, case, args)
            elif command == "info":
                await self._request_info(turn, case, args)
            elif command == "resolve":
                await self._resolve_command(turn, case, args)
            elif command == "reopen":
                await self._reopen(turn, case)
            elif command == "escalate":
                await self._escalate(turn, case, args)
            elif command == "category":
                await self._change_category(turn, case, args)
            elif command == "extend":
                await self._extend(turn, case, args)
        except IllegalTransition as illegal:
            turn.refuse(self._illegal(case, illegal))

    async def reply(
        self, turn: DeskTurn, case: CaseRecord, text: str, files: tuple[EvidenceRef, ...]
    ) -> None:
        """An agent's message to the complainant."""
        if not text and not files:
            return
        try:
            status = next_status(case.status, Action.REPLY)
        except IllegalTransition as illegal:
            turn.refuse(self._illegal(case, illegal))
            return
        await turn.tx.attach_inbound(case, files)
        await self._take_if_unhandled(turn, case)
        await self._set_status(turn, case, status)
        await self._event(
            turn,
            case,
            "agent_message",
            {"text": text, "files": [{"name": f.name, "sha256": f.sha256} for f in files]},
        )
        tr = Translator(case.locale)
        body = tr._("{agent} (case {case_no}):").format(
            agent=self._agent_name(tr, turn.agent), case_no=case.case_no
        )
        await self._to_complainant(
            turn,
            case,
            f"{body}\n{text}" if text else body,
            "agent_reply",
            tuple(_ref(f) for f in files),
        )
        await turn.tx.save_case(case)

    # ----- commands -------------------------------------------------------------------

    async def _claim(
        self, turn: DeskTurn, case: CaseRecord, agent: AgentRecord, action: Action
    ) -> None:
        _ = self.tr.gettext
        if case.handler is not None and case.handler.id == agent.id:
            turn.refuse(
                _("{agent} already handles {case_no}.").format(
                    agent=agent.name, case_no=case.case_no
                )
            )
            return
        status = next_status(case.status, action)
        previous = case.handler
        case.handler = agent
        await self._set_status(turn, case, status)
        await self._event(
            turn,
            case,
            "claimed" if action is Action.CLAIM else "assigned",
            {"handler": agent.name, "previous": previous.name if previous else None},
        )
        await turn.tx.save_case(case)
        await self.post(
            turn.tx,
            case,
            _("👤 {case_no} is now handled by {agent}.").format(
                case_no=case.case_no, agent=agent.name
            ),
        )
        if previous is None:
            tr = Translator(case.locale)
            await self._to_complainant(
                turn,
                case,
                tr._("Your complaint {case_no} is now being handled by {agent}.").format(
                    case_no=case.case_no, agent=self._agent_name(tr, agent)
                ),
                "status_notice",
            )

    async def _assign(self, turn: DeskTurn, case: CaseRecord, args: str) -> None:
        _ = self.tr.gettext
        who = args.split()[0] if args else ""
        agent = await turn.tx.find_agent(who) if who else None
        if agent is None and not who and turn.inbound.reply_to:
            agent = await turn.tx.find_agent(f"message:{turn.inbound.reply_to}")
        if agent is None:
            turn.refuse(
                _(
                    "Whom to? Write /assign @username (or the agent's number), or reply to a "
                    "message of that agent with /assign. Agents are known once they have "
                    "written in this group."
                )
            )
            return
        await self._claim(turn, case, agent, Action.ASSIGN)

    async def _note(self, turn: DeskTurn, case: CaseRecord, text: str) -> None:
        _ = self.tr.gettext
        if not text:
            turn.refuse(_("Write the note after the command: /note TEXT"))
            return
        next_status(case.status, Action.NOTE)
        await self._event(turn, case, "note", {"text": text})
        await turn.tx.attach_inbound(case, ())
        turn.answers.append(_("📝 Internal note saved on {case_no}.").format(case_no=case.case_no))

    async def _request_info(self, turn: DeskTurn, case: CaseRecord, text: str) -> None:
        _ = self.tr.gettext
        if not text:
            turn.refuse(_("Write what you need from the complainant after the command: /info TEXT"))
            return
        status = next_status(case.status, Action.REQUEST_INFO)
        await self._take_if_unhandled(turn, case)
        await self._set_status(turn, case, status)
        await self._event(turn, case, "info_requested", {"text": text})
        if self.timekeeper is not None:
            await self.timekeeper.waiting_for_complainant(turn.tx, case)
        await turn.tx.save_case(case)
        tr = Translator(case.locale)
        await self._to_complainant(
            turn,
            case,
            "\n".join(
                [
                    tr._("About your complaint {case_no}, {agent} needs more information:").format(
                        case_no=case.case_no, agent=self._agent_name(tr, turn.agent)
                    ),
                    text,
                    tr._("Please answer here; photos and documents are welcome."),
                ]
            ),
            "info_request",
        )
        await self.post(
            turn.tx,
            case,
            _("❓ Information requested; {case_no} is waiting for the complainant.").format(
                case_no=case.case_no
            ),
        )

    async def _resolve_command(self, turn: DeskTurn, case: CaseRecord, args: str) -> None:
        _ = self.tr.gettext
        given, summary, problems = parse_verification(args)
        if problems:
            turn.refuse(
                _("Unknown verification value. Allowed: {allowed}").format(
                    allowed="; ".join(problems)
                )
            )
            return
        if not summary:
            turn.refuse(
                _("Write the resolution the complainant will read after the command: /resolve TEXT")
            )
            return
        next_status(case.status, Action.RESOLVE)  # refuse before asking anything
        if len(given) == len(VERIFICATION):
            await self._resolve(turn, case, summary, given)
            return
        pending = turn.state.setdefault("resolving", {})
        pending[case.case_no] = {"summary": summary, "answers": given, "agent": turn.agent.id}
        await self._ask_verification(turn, case, given)

    async def _ask_verification(
        self, turn: DeskTurn, case: CaseRecord, given: dict[str, str]
    ) -> None:
        missing = next(name for name in VERIFICATION if name not in given)
        labels = self._verification_labels()
        question = {
            "facts": self.tr._("Verification of {case_no} — are the facts confirmed?"),
            "nature": self.tr._("Verification of {case_no} — what was the nature of it?"),
            "responsibility": self.tr._("Verification of {case_no} — who was responsible?"),
            "severity": self.tr._("Verification of {case_no} — how severe was it?"),
        }[missing].format(case_no=case.case_no)
        buttons = tuple(
            (Button(labels[value.value], f"res:{case.case_no}:{missing}:{value.value}"),)
            for value in VERIFICATION[missing]
        )
        await self.post(turn.tx, case, question, buttons=buttons)

    async def _resolve(
        self, turn: DeskTurn, case: CaseRecord, summary: str, verification: dict[str, str]
    ) -> None:
        _ = self.tr.gettext
        status = next_status(case.status, Action.RESOLVE)
        now = self.clock.now()
        await self._take_if_unhandled(turn, case)
        case.resolution = summary
        case.verification = dict(verification)
        case.resolved_at = now
        await self._set_status(turn, case, status)
        await self._event(
            turn, case, "resolved", {"resolution": summary, "verification": verification}
        )
        case.clock_paused_at = None
        if self.timekeeper is not None:
            await self.timekeeper.resolved(turn.tx, case)
        await turn.tx.save_case(case)
        tr = Translator(case.locale)
        await self._to_complainant(
            turn,
            case,
            "\n".join(
                [
                    tr._("Your complaint {case_no} has been resolved.").format(
                        case_no=case.case_no
                    ),
                    tr._("Result: {text}").format(text=summary),
                    tr._("If anything is still unclear, just reply here."),
                ]
            ),
            "resolution",
        )
        labels = self._verification_labels()
        await self.post(
            turn.tx,
            case,
            "\n".join(
                [
                    _("✅ {case_no} resolved by {agent}.").format(
                        case_no=case.case_no, agent=turn.agent.name
                    ),
                    _("Result: {text}").format(text=summary),
                    " · ".join(labels[verification[name]] for name in VERIFICATION),
                ]
            ),
        )

    async def _reopen(self, turn: DeskTurn, case: CaseRecord) -> None:
        _ = self.tr.gettext
        status = next_status(case.status, Action.REOPEN)
        case.resolved_at = None
        await self._set_status(turn, case, status)
        await self._event(turn, case, "reopened", {})
        if self.timekeeper is not None:
            await self.timekeeper.reopened(turn.tx, case, f"agent:{turn.agent.id}")
        await turn.tx.save_case(case)
        tr = Translator(case.locale)
        await self._to_complainant(
            turn,
            case,
            tr._("Your complaint {case_no} has been reopened; we are working on it again.").format(
                case_no=case.case_no
            ),
            "status_notice",
        )
        await self.post(
            turn.tx,
            case,
            _("↩️ {case_no} reopened by {agent}.").format(
                case_no=case.case_no, agent=turn.agent.name
            ),
        )

    async def _escalate(self, turn: DeskTurn, case: CaseRecord, reason: str) -> None:
        _ = self.tr.gettext
        next_status(case.status, Action.ESCALATE)
        case.escalated_at = self.clock.now()
        await self._event(turn, case, "escalated", {"reason": reason})
        await turn.tx.save_case(case)
        notice = "\n".join(
            [
                _("⚠️ {case_no} escalated to the supervisors by {agent}.").format(
                    case_no=case.case_no, agent=turn.agent.name
                ),
                _("Reason: {text}").format(text=reason or "—"),
            ]
        )
        await self.post(turn.tx, case, notice)
        # Supervisors also hear it privately; one who never started the bot cannot be
        # written to, and the failed delivery says so in the log.
        for supervisor in sorted(self.config.supervisor_ids):
            await turn.tx.enqueue(
                Outbound(
                    channel=self.config.channel,
                    conversation=supervisor,
                    text=notice + "\n" + self.card_text(case, 0),
                ),
                "desk_escalation",
                self.clock.now(),
            )

    async def _change_category(self, turn: DeskTurn, case: CaseRecord, args: str) -> None:
        _ = self.tr.gettext
        wanted = args.strip().casefold()
        choice = next(
            (c for c in Category if wanted in (c.value, self._category(c).casefold())), None
        )
        if choice is None:
            turn.refuse(
                _("Which category? One of: {choices}").format(
                    choices=", ".join(f"{c.value} ({self._category(c)})" for c in Category)
                )
            )
            return
        if not is_open(case.status):
            raise IllegalTransition(Action.NOTE, case.status)
        if choice is case.category:
            turn.refuse(
                _("{case_no} is already {category}.").format(
                    case_no=case.case_no, category=self._category(choice)
                )
            )
            return
        before = case.category
        case.category = choice
        await self._event(
            turn, case, "category_changed", {"from": before.value, "to": choice.value}
        )
        if self.timekeeper is not None:
            await self.timekeeper.category_changed(turn.tx, case, f"agent:{turn.agent.id}")
        await turn.tx.save_case(case)
        await self.post(
            turn.tx,
            case,
            _(
                "🏷 {case_no} is now {category}; first response due {first}, resolution due {end}."
            ).format(
                case_no=case.case_no,
                category=self._category(choice),
                first=self._local(case.response_due_at) if case.response_due_at else "—",
                end=self._local(case.resolution_due_at) if case.resolution_due_at else "—",
            ),
        )
        if case.resolution_due_at is not None:
            tr = Translator(case.locale)
            await self._to_complainant(
                turn,
                case,
                tr._("Your complaint {case_no} will be resolved by {time} ({zone}).").format(
                    case_no=case.case_no,
                    time=self._local(case.resolution_due_at),
                    zone=self.timezone.key,
                ),
                "status_notice",
            )

    async def _extend(self, turn: DeskTurn, case: CaseRecord, args: str) -> None:
        _ = self.tr.gettext
        amount, _sep, reason = args.strip().partition(" ")
        try:
            by = parse_duration(amount)
        except ValueError:
            by = None
        if by is None or not reason.strip():
            turn.refuse(
                _(
                    "Write how long and why: /extend 2wd REASON (durations like 4h, 3d, 4wh, "
                    "2wd); the complainant is told."
                )
            )
            return
        if not is_open(case.status) or case.resolution_due_at is None or self.timekeeper is None:
            raise IllegalTransition(Action.NOTE, case.status)
        due = await self.timekeeper.extend(
            turn.tx, case, by, reason.strip(), f"agent:{turn.agent.id}"
        )
        await turn.tx.save_case(case)
        tr = Translator(case.locale)
        await self._to_complainant(
            turn,
            case,
            "\n".join(
                [
                    tr._(
                        "We need more time for your complaint {case_no}; it will be resolved "
                        "by {time} ({zone})."
                    ).format(case_no=case.case_no, time=self._local(due), zone=self.timezone.key),
                    tr._("Reason: {text}").format(text=reason.strip()),
                ]
            ),
            "status_notice",
        )
        await self.post(
            turn.tx,
            case,
            _("⏳ {agent} extended {case_no} to {time}: {reason}").format(
                agent=turn.agent.name,
                case_no=case.case_no,
                time=self._local(due),
                reason=reason.strip(),
            ),
        )

    async def _list(self, turn: DeskTurn) -> None:
        _ = self.tr.gettext
        cases = await turn.tx.open_cases()
        if not cases:
            turn.answers.append(_("No open cases."))
            return
        now = self.clock.now()
        lines = [_("Open cases ({count}), soonest deadline first:").format(count=len(cases))]
        for case in cases[:50]:
            due = case.response_due_at
            mark = "⚠️ " if due is not None and due < now else ""
            lines.append(
                f"{mark}{case.case_no} · {self._status(case.status)} · "
                + _("due {time}").format(time=self._local(due) if due else "—")
                + f" · {case.handler.name if case.handler else _('unassigned')}"
            )
        turn.answers.append("\n".join(lines))

    # ----- buttons ----------------------------------------------------------------------

    async def _button(self, turn: DeskTurn, data: str) -> None:
        _ = self.tr.gettext
        parts = data.split(":")
        if parts[0] == "desk" and len(parts) == 3 and parts[1] == "claim":
            case = await turn.tx.case(parts[2])
            if case is not None:
                try:
                    await self._claim(turn, case, turn.agent, Action.CLAIM)
                except IllegalTransition as illegal:
                    turn.refuse(self._illegal(case, illegal))
            return
        if parts[0] != "res" or len(parts) != 4:
            turn.refuse(_("That button is no longer active."))
            return
        case_no, name, value = parts[1], parts[2], parts[3]
        pending = turn.state.get("resolving", {}).get(case_no)
        case = await turn.tx.case(case_no)
        if pending is None or case is None or name not in VERIFICATION:
            turn.refuse(_("That button is no longer active."))
            return
        pending["answers"][name] = value
        if len(pending["answers"]) < len(VERIFICATION):
            await self._ask_verification(turn, case, pending["answers"])
            return
        del turn.state["resolving"][case_no]
        try:
            await self._resolve(turn, case, pending["summary"], pending["answers"])
        except IllegalTransition as illegal:
            turn.refuse(self._illegal(case, illegal))

    # ----- helpers --------------------------------------------------------------------

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
        _ = self.tr.gettext
        first, _sep, rest = args.partition(" ")
        if looks_like_case_no(first):
            case = await turn.tx.case(first.upper())
            if case is None:
                turn.refuse(_("No case {case_no}.").format(case_no=first))
            return case, rest.strip()
        case = await self._context_case(turn)
        if case is None:
            turn.refuse(
                _(
                    "Which case? Use the command in the case's topic, reply to a message "
                    "of the case, or put the case number first."
                )
            )
        return case, args

    async def _take_if_unhandled(self, turn: DeskTurn, case: CaseRecord) -> None:
        """Whoever acts first on an unclaimed case becomes its handler, on the record."""
        if case.handler is None:
            case.handler = turn.agent
            await self._event(turn, case, "claimed", {"handler": turn.agent.name})

    async def _set_status(self, turn: DeskTurn, case: CaseRecord, status: CaseStatus) -> None:
        if status is case.status:
            return
        await self._event(
            turn, case, "status_changed", {"from": case.status.value, "to": status.value}
        )
        case.status = status

    async def _event(
        self, turn: DeskTurn, case: CaseRecord, kind: str, payload: dict[str, Any]
    ) -> None:
        payload = {"agent": turn.agent.name, **payload}
        await turn.tx.add_event(case, self.clock.now(), f"agent:{turn.agent.id}", kind, payload)

    async def _to_complainant(
        self,
        turn: DeskTurn,
        case: CaseRecord,
        text: str,
        kind: str,
        files: tuple[Attachment, ...] = (),
    ) -> None:
        await turn.tx.enqueue(
            Outbound(
                channel=case.channel,
                conversation=case.conversation,
                text=text,
                case_no=case.case_no,
                files=files,
            ),
            kind,
            self.clock.now(),
        )

    def _agent_name(self, tr: Translator, agent: AgentRecord) -> str:
        if self.config.show_agent_names:
            return agent.name
        return tr._("Agent No. {number}").format(number=agent.id)

    def _illegal(self, case: CaseRecord, illegal: IllegalTransition) -> str:
        _ = self.tr.gettext
        if illegal.action is Action.RESOLVE and case.status is CaseStatus.RESOLVED:
            return _("{case_no} is already resolved; /reopen it first.").format(
                case_no=case.case_no
            )
        return _("Not possible: {case_no} is {status}.").format(
            case_no=case.case_no, status=self._status(case.status)
        )

    def card_text(self, case: CaseRecord, files: int) -> str:
        _ = self.tr.gettext
        lines = [
            _("🆕 Case {case_no}").format(case_no=case.case_no),
            _("Category: {value}").format(value=self._category(case.category)),
            _("Complainant: {value}").format(value=case.name),
            _("Phone: {value}").format(value=case.phone or "—"),
            _("Email: {value}").format(value=case.email or "—"),
            _("About: {value}").format(value=case.subject),
            _("What happened: {value}").format(value=case.description),
            _("Expected outcome: {value}").format(value=case.expectation),
            _("Evidence: {count} file(s)").format(count=files),
            _("Received: {time}").format(time=self._local(case.received_at)),
            _("Respond by: {time}").format(
                time=self._local(case.response_due_at) if case.response_due_at else "—"
            ),
            _("Status: {status} · Handler: {handler}").format(
                status=self._status(case.status),
                handler=case.handler.name if case.handler else _("unassigned"),
            ),
        ]
        return "\n".join(lines)

    def _card_buttons(self, case: CaseRecord) -> tuple[tuple[Button, ...], ...]:
        return ((Button(self.tr._("Claim"), f"desk:claim:{case.case_no}"),),)

    def _category(self, category: Category) -> str:
        return category_label(category, self.tr.gettext)

    def _status(self, status: CaseStatus) -> str:
        return status_label(status, self.tr.gettext)

    def _verification_labels(self) -> dict[str, str]:
        return verification_labels(self.tr.gettext)

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(self.timezone).strftime("%Y-%m-%d %H:%M")


def _ref(evidence: EvidenceRef) -> Attachment:
    return Attachment(evidence.name, evidence.mime, None, evidence.size, sha256=evidence.sha256)
