"""The bot: takes one `Inbound`, decides, and leaves replies in the outbox.

Load state, handle, save and queue all happen inside one `ConversationTx`, which
holds the conversation's lock, so two quick messages from one person never race and
a crash leaves either everything or nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.desk import AGENT_COMMANDS, Desk, DeskConfig, DeskTurn
from bot.domain import CaseStatus, looks_like_case_no
from bot.draft import Draft, EvidenceRef, Step
from bot.followup import FollowUpConfig, Timekeeper, parse_rating
from bot.i18n import SUPPORTED_LOCALES, Translator, locale_for
from bot.intake import (
    Edited,
    Files,
    Intake,
    IntakeInput,
    IntakeResult,
    Press,
    Reply,
    SharedPhone,
    Text,
)
from bot.lifecycle import VERIFICATION, Action, IllegalTransition, next_status, parse_verification
from bot.mail_intake import MAIL_CHANNEL, MailIntake
from bot.messages import Attachment, Button, Inbound, InboundKind, Outbound
from bot.ports import (
    CaseRecord,
    CaseView,
    Clock,
    ConversationTx,
    NewCase,
    Repository,
    SystemClock,
)
from delivery.dispatcher import Delivery

log = logging.getLogger(__name__)

COMMANDS = ("start", "help", "new", "cancel", "status", "language")
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}


@dataclass(frozen=True, slots=True)
class BotConfig:
    case_prefix: str = "TS"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    default_locale: str = "zh_CN"
    phone_region: str = "CN"
    desk: DeskConfig | None = None
    followup: FollowUpConfig = field(default_factory=FollowUpConfig)
    # Automatic mails (receipts, notices) to one address per hour, whatever happens.
    mail_auto_reply_limit: int = 5


@dataclass(slots=True)
class ConversationState:
    """What is remembered about a conversation between two messages."""

    locale: str | None = None
    language_code: str | None = None
    draft: Draft | None = None
    # The case whose survey was just answered: the next text is its comment.
    commenting: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "locale": self.locale,
            "language_code": self.language_code,
            "draft": self.draft.to_json() if self.draft else None,
            "commenting": self.commenting,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ConversationState:
        if not data:
            return cls()
        draft = data.get("draft")
        return cls(
            locale=data.get("locale"),
            language_code=data.get("language_code"),
            draft=Draft.from_json(draft) if draft else None,
            commenting=data.get("commenting"),
        )


@dataclass(slots=True)
class _Turn:
    """The working set of one handled message."""

    inbound: Inbound
    tx: ConversationTx
    state: ConversationState
    tr: Translator
    intake: Intake
    replies: list[tuple[Reply, str, str | None]] = field(default_factory=list)

    def say(self, *replies: Reply, kind: str = "reply", case_no: str | None = None) -> None:
        self.replies.extend((reply, kind, case_no) for reply in replies)


class ComplaintBot:
    """The transport-free core: intake, receipts and the complainant's commands."""

    def __init__(
        self, repository: Repository, config: BotConfig, clock: Clock | None = None
    ) -> None:
        self.repository = repository
        self.config = config
        self.clock = clock or SystemClock()
        self.desk = (
            Desk(config.desk, config.default_locale, config.timezone, self.clock)
            if config.desk
            else None
        )
        self.timekeeper = Timekeeper(config.followup, self.desk, config.timezone, self.clock)
        if self.desk is not None:
            self.desk.timekeeper = self.timekeeper
        self.mail = MailIntake(self)

    def _at_desk(self, inbound: Inbound) -> bool:
        desk = self.config.desk
        return (
            desk is not None
            and inbound.channel == desk.channel
            and inbound.conversation == desk.conversation
        )

    async def handle(self, inbound: Inbound) -> bool:
        """Handles one inbound message; False when it was a redelivery and changed nothing."""
        async with self.repository.conversation(
            inbound.channel, inbound.conversation, inbound.sender_id
        ) as tx:
            if not await tx.record_inbound(inbound):
                log.info("duplicate %s message %s ignored", inbound.channel, inbound.transport_id)
                return False
            if inbound.group:
                await self._group(tx, inbound)
                return True
            if inbound.channel == MAIL_CHANNEL:
                await self.mail.handle(tx, inbound)
                return True
            state = ConversationState.from_json(await tx.load_state())
            if inbound.language_code:
                state.language_code = inbound.language_code
            turn = self._turn(inbound, tx, state)
            await self._dispatch(turn)
            await tx.save_state(state.to_json())
            for reply, kind, case_no in turn.replies:
                await tx.enqueue(
                    Outbound(
                        channel=inbound.channel,
                        conversation=inbound.conversation,
                        text=reply.text,
                        buttons=reply.buttons,
                        contact_button=reply.contact_button,
                        case_no=case_no,
                    ),
                    kind,
                    self.clock.now(),
                )
        return True

    async def handle_safely(self, inbound: Inbound) -> None:
        """`handle`, but a fault is logged, the raw message kept, and the person told.

        The transport has already let go of the message, so losing it here would lose
        it for good.
        """
        try:
            await self.handle(inbound)
        except Exception:
            log.exception(
                "%s message %s could not be handled", inbound.channel, inbound.transport_id
            )
            async with self.repository.conversation(
                inbound.channel, inbound.conversation, inbound.sender_id
            ) as tx:
                if not await tx.record_inbound(inbound) or inbound.automated:
                    return
                state = ConversationState.from_json(await tx.load_state())
                turn = self._turn(inbound, tx, state)
                await tx.enqueue(
                    Outbound(
                        channel=inbound.channel,
                        conversation=inbound.conversation,
                        text=turn.tr._(
                            "Sorry, something went wrong on our side. Your message is saved; "
                            "please send it once more."
                        ),
                    ),
                    "reply",
                    self.clock.now(),
                )

    async def _group(self, tx: ConversationTx, inbound: Inbound) -> None:
        """A message in a group: the agents' desk, or a group the bot should not serve."""
        is_agent_command = (
            inbound.kind is InboundKind.COMMAND and (inbound.command or "") in AGENT_COMMANDS
        )
        if not self._at_desk(inbound) or self.desk is None:
            if is_agent_command:
                log.warning(
                    "agent command /%s refused: %s %s is not the agents' group (sender %s)",
                    inbound.command,
                    inbound.channel,
                    inbound.conversation,
                    inbound.sender_id,
                )
            return
        desk = self.desk
        if not desk.config.is_agent(inbound.sender_id):
            if is_agent_command or inbound.kind is InboundKind.BUTTON:
                log.warning("agent command refused: %s is not an agent", inbound.sender_id)
                await self._answer_at_desk(tx, inbound, [desk.tr._("Only agents can do this.")])
            return
        agent = await tx.agent(
            inbound.channel, inbound.sender_id, inbound.sender_name, inbound.sender_username
        )
        state = await tx.load_state() or {}
        turn = DeskTurn(tx, inbound, agent, state)
        await desk.handle(turn)
        await tx.save_state(turn.state)
        await self._answer_at_desk(tx, inbound, turn.answers)

    async def _answer_at_desk(
        self, tx: ConversationTx, inbound: Inbound, answers: list[str]
    ) -> None:
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
        self, agent_name: str, command: str, case_no: str, text: str = ""
    ) -> tuple[bool, list[str]]:
        """An operator's desk command from the CLI, under the same rules and timeline as
        in the agents' group; returns whether it was done and the answers the agent would
        have seen."""
        desk = self.desk or Desk(
            DeskConfig(channel="", conversation=""),
            self.config.default_locale,
            self.config.timezone,
            self.clock,
        )
        now = self.clock.now()
        inbound = Inbound(
            channel="cli",
            transport_id=f"cli-{now.timestamp()}-{command}-{case_no}",
            conversation="operator",
            sender_id=agent_name,
            sender_name=agent_name,
            received_at=now,
            kind=InboundKind.COMMAND,
            command=command,
            command_args=f"{case_no} {text}".strip(),
            text=f"/{command} {case_no} {text}".strip(),
            raw={"argv": [command, case_no, text]},
        )
        async with self.repository.conversation("cli", "operator", agent_name) as tx:
            await tx.record_inbound(inbound)
            agent = await tx.agent("cli", agent_name, agent_name, None)
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
                await desk.reply(turn, case, text, ())
                if not turn.refused:
                    await self._echo_to_desk(tx, case, agent.name, text)
                    turn.answers.append(desk.tr._("Sent to the complainant."))
            else:
                await desk.command(turn, command, f"{case_no} {text}".strip())
                if command == "note" and not turn.refused:
                    await self._echo_to_desk(tx, case, agent.name, f"📝 {text}")
        return not turn.refused, turn.answers

    async def _echo_to_desk(
        self, tx: ConversationTx, case: CaseRecord, agent: str, text: str
    ) -> None:
        """Agents in the group see what an operator sent from the CLI."""
        if self.desk is not None:
            await self.desk.post(tx, case, f"📤 {agent}: {text}")

    async def report_undelivered(self, delivery: Delivery, error: str) -> None:
        """Tells the agents, in the case's thread, that a message to the complainant did
        not arrive (blocked bot, deleted chat); the dispatcher has stopped trying."""
        desk, outbound = self.desk, delivery.outbound
        if desk is None or outbound.case_no is None or delivery.kind.startswith("desk_"):
            return
        async with self.repository.conversation(
            desk.config.channel, desk.config.conversation, "system"
        ) as tx:
            case = await tx.case(outbound.case_no)
            if case is None:
                return
            await desk.post(
                tx,
                case,
                desk.tr._("⚠️ Not delivered to the complainant: {error}\n{text}").format(
                    error=error, text=outbound.text
                ),
            )

    async def sweep(self, limit: int = 200) -> int:
        """Acts on every timer due now (reminders, escalations, surveys, archiving);
        returns how many it handled. Safe to run in several workers at once."""
        handled = 0
        while True:
            due = await self.repository.due_timers(self.clock.now(), limit)
            for timer in due:
                try:
                    async with self.repository.conversation(
                        timer.channel, timer.conversation, "scheduler"
                    ) as tx:
                        claimed = await tx.claim_timer(timer.id)
                        if claimed is None:
                            continue  # another worker has it, or had it
                        case = await tx.case(timer.case_no)
                        assert case is not None
                        await self.timekeeper.fire(tx, case, claimed)
                        handled += 1
                except Exception:
                    log.exception("timer %s of case %s failed", timer.id, timer.case_no)
                    await self._put_off(timer.id, timer.channel, timer.conversation)
            if len(due) < limit:
                return handled

    async def _put_off(self, timer_id: int, channel: str, conversation: str) -> None:
        """A timer that failed is tried again in an hour rather than at every sweep."""
        async with self.repository.conversation(channel, conversation, "scheduler") as tx:
            claimed = await tx.claim_timer(timer_id)
            if claimed is not None:
                await tx.move_timer(claimed, self.clock.now() + timedelta(hours=1))

    # ----- the satisfaction survey ------------------------------------------------------

    async def _rate_button(self, turn: _Turn, data: str) -> None:
        _prefix, case_no, score = [*data.split(":"), "", ""][:3]
        case = await turn.tx.case(case_no)
        own = (
            case is not None
            and case.channel == turn.inbound.channel
            and case.conversation == turn.inbound.conversation
        )
        if case is None or not own or not score.isdigit() or int(score) not in range(1, 6):
            turn.say(Reply(turn.tr._("That button is no longer active.")))
            return
        survey = await turn.tx.latest_survey(case)
        if survey is None or survey.asked_at is None or case.status is not CaseStatus.RESOLVED:
            turn.say(Reply(turn.tr._("That button is no longer active.")))
            return
        if not survey.awaiting_answer:
            turn.say(
                Reply(
                    turn.tr._("Your rating of {case_no} is already recorded.").format(
                        case_no=case.case_no
                    )
                )
            )
            return
        await self._rate(turn, case, int(score))

    async def _rate(self, turn: _Turn, case: CaseRecord, score: int, comment: str = "") -> None:
        survey = await turn.tx.latest_survey(case)
        assert survey is not None
        await turn.tx.attach_inbound(case)
        answers = await self.timekeeper.rate(turn.tx, case, survey, score, comment)
        if not comment:
            turn.state.commenting = case.case_no
        for text in answers:
            turn.say(Reply(text), case_no=case.case_no)

    async def _survey_comment(self, turn: _Turn, case_no: str) -> bool:
        case = await turn.tx.case(case_no)
        survey = await turn.tx.latest_survey(case) if case is not None else None
        if case is None or survey is None or survey.answered_at is None or survey.comment:
            return False
        if not turn.inbound.text.strip():
            return False
        await turn.tx.attach_inbound(case)
        await self.timekeeper.comment(turn.tx, case, survey, turn.inbound.text.strip())
        turn.say(Reply(turn.tr._("Thank you, your comment is on file.")), case_no=case.case_no)
        return True

    def command_menu(self) -> dict[str, list[tuple[str, str]]]:
        """Command descriptions per language code, for a channel's command menu."""
        menu: dict[str, list[tuple[str, str]]] = {}
        for code, locale in (("zh", "zh_CN"), ("en", "en"), ("", self.config.default_locale)):
            _ = Translator(locale).gettext
            entries = [
                ("new", _("File a new complaint")),
                ("status", _("See your cases")),
                ("cancel", _("Discard the complaint you are filing")),
                ("language", _("Choose 中文 or English")),
                ("help", _("Help")),
            ]
            menu[code] = entries
        return menu

    def _turn(self, inbound: Inbound, tx: ConversationTx, state: ConversationState) -> _Turn:
        locale = state.locale or locale_for(state.language_code, self.config.default_locale)
        tr = Translator(locale)
        return _Turn(inbound, tx, state, tr, Intake(tr, self.config.phone_region))

    async def _dispatch(self, turn: _Turn) -> None:
        inbound = turn.inbound
        kind = inbound.kind
        commenting = turn.state.commenting
        if kind in (InboundKind.TEXT, InboundKind.COMMAND):
            turn.state.commenting = None  # the comment window is the very next message
        if kind is InboundKind.BUTTON and (inbound.button_data or "").startswith("rate:"):
            await self._rate_button(turn, inbound.button_data or "")
            return
        if kind is InboundKind.TEXT and turn.state.draft is None:
            first, _sep, comment = inbound.text.strip().partition("\n")
            score = parse_rating(first)
            case = await turn.tx.case_awaiting_rating() if score is not None else None
            if score is not None and case is not None:
                await self._rate(turn, case, score, comment.strip())
                return
            if commenting is not None and await self._survey_comment(turn, commenting):
                return
        if kind is InboundKind.COMMAND:
            await self._command(turn, (inbound.command or "").lower(), inbound.command_args.strip())
        elif kind is InboundKind.BUTTON and (inbound.button_data or "").startswith("lang:"):
            self._set_language(turn, (inbound.button_data or "").removeprefix("lang:"))
        elif kind is InboundKind.BUTTON:
            await self._intake_step(turn, Press(inbound.button_data or ""))
        elif kind is InboundKind.TEXT:
            await self._intake_step(
                turn, Text(inbound.message_id or inbound.transport_id, inbound.text)
            )
        elif kind is InboundKind.CONTACT:
            await self._intake_step(turn, SharedPhone(inbound.phone or ""))
        elif kind is InboundKind.ATTACHMENT:
            await self._intake_step(turn, await self._store_files(turn))
        elif kind is InboundKind.EDIT:
            await self._on_edit(turn)
        else:
            self._unsupported(turn)

    # ----- intake --------------------------------------------------------------

    async def _intake_step(self, turn: _Turn, event: IntakeInput) -> None:
        draft = turn.state.draft
        if draft is None and isinstance(event, (Text, Files)):
            case = await turn.tx.latest_case_of_sender()
            if case is not None:
                await self._follow_up(turn, case, event)
                return
        if draft is None:
            if isinstance(event, Press):
                turn.say(
                    Reply(
                        turn.tr._(
                            "That button is no longer active. Send a message to file a new complaint."  # noqa: E501
                        )
                    )
                )
                return
            started = turn.intake.begin(turn.inbound.received_at)
            draft = started.draft
            assert draft is not None
            turn.say(started.replies[0])
        result = turn.intake.step(draft, event)
        await self._apply(turn, result)

    async def _apply(self, turn: _Turn, result: IntakeResult) -> None:
        turn.state.draft = result.draft
        turn.say(*result.replies)
        if result.confirmed and result.draft is not None:
            await self._open_case(turn, result.draft)

    async def _follow_up(self, turn: _Turn, case: CaseRecord, event: Text | Files) -> None:
        """A message after the receipt: it belongs to the person's latest case."""
        text = event.text if isinstance(event, Text) else event.caption
        files = event.stored if isinstance(event, Files) else ()
        await self.add_to_case(turn.tx, case, text, files)
        _ = turn.tr.gettext
        if isinstance(event, Files) and event.too_large:
            turn.say(Reply(_("A file was too large (the limit is 20 MB) and was not received.")))
        turn.say(
            Reply(
                _("Added to your case {case_no}. To file a new complaint, send /new.").format(
                    case_no=case.case_no
                )
            )
        )

    async def add_to_case(
        self,
        tx: ConversationTx,
        case: CaseRecord,
        text: str,
        files: tuple[EvidenceRef, ...],
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Files the message being handled under `case`: timeline, status, agents' thread."""
        await tx.attach_inbound(case, files)
        actor = f"complainant:{case.complainant_id}"
        now = self.clock.now()
        await tx.add_event(
            case,
            now,
            actor,
            "complainant_message",
            {
                "text": text,
                "files": [{"name": f.name, "sha256": f.sha256} for f in files],
                **(extra or {}),
            },
        )
        try:
            status = next_status(case.status, Action.USER_REPLIED)
        except IllegalTransition:
            status = case.status
        if status is not case.status:
            await tx.add_event(
                case, now, actor, "status_changed", {"from": case.status, "to": status}
            )
            case.status = status
            await self.timekeeper.complainant_answered(tx, case)
            await tx.save_case(case)
        if self.desk is not None:
            await self.desk.post(
                tx,
                case,
                self.desk.complainant_said(case, text, len(files)),
                files=tuple(
                    Attachment(f.name, f.mime, None, f.size, sha256=f.sha256) for f in files
                ),
            )

    async def _open_case(self, turn: _Turn, draft: Draft) -> None:
        missing = _first_missing(draft)
        if missing is not None:
            draft.step = missing
            turn.say(turn.intake.question(draft))
            return
        assert draft.category is not None and draft.name and draft.subject and draft.expectation
        now = self.clock.now()
        deadlines, timers = self.timekeeper.plan(draft.category, draft.started_at)
        due = deadlines.first_response
        case_no = await turn.tx.create_case(
            NewCase(
                prefix=self.config.case_prefix,
                number_day=now.astimezone(self.config.timezone).date(),
                channel=turn.inbound.channel,
                conversation=turn.inbound.conversation,
                locale=turn.tr.locale,
                name=draft.name,
                phone=draft.phone,
                email=draft.email,
                category=draft.category,
                subject=draft.subject,
                description=draft.description_text,
                expectation=draft.expectation,
                evidence=tuple(draft.evidence),
                description_edits=tuple(draft.description_edits),
                received_at=draft.started_at,
                created_at=now,
                response_due_at=due,
                receipt_due_at=deadlines.receipt,
                resolution_due_at=deadlines.resolution,
                timers=tuple(timers),
            )
        )
        log.info("case %s opened", case_no, extra={"case_no": case_no})
        if self.desk is not None:
            await self.desk.case_opened(turn.tx, case_no)
        turn.state.draft = None
        _ = turn.tr.gettext
        turn.say(
            Reply(
                "\n".join(
                    [
                        _("Your complaint has been accepted."),
                        _("Case number: {case_no}").format(case_no=case_no),
                        _("Category: {category}").format(
                            category=turn.intake.category_label(draft.category)
                        ),
                        _("Received: {time}").format(time=self._local(draft.started_at)),
                        _("We will respond by {time} ({zone}).").format(
                            time=self._local(due), zone=self.config.timezone.key
                        ),
                        _("We will resolve it by {time} ({zone}).").format(
                            time=self._local(deadlines.resolution), zone=self.config.timezone.key
                        ),
                        _("Send /status {case_no} at any time to see its progress.").format(
                            case_no=case_no
                        ),
                    ]
                )
            ),
            kind="receipt",
            case_no=case_no,
        )

    async def _store_files(self, turn: _Turn) -> Files:
        inbound = turn.inbound
        stored: list[EvidenceRef] = []
        too_large: list[str] = []
        for attachment in inbound.attachments:
            if attachment.data is None:
                too_large.append(attachment.name)
            else:
                stored.append(await turn.tx.store_evidence(attachment, inbound.received_at))
        return Files(
            message_id=inbound.message_id or inbound.transport_id,
            stored=tuple(stored),
            too_large=tuple(too_large),
            caption=inbound.text,
        )

    async def _on_edit(self, turn: _Turn) -> None:
        inbound = turn.inbound
        event = Edited(inbound.edited_message_id or "", inbound.text, inbound.received_at)
        if turn.state.draft is not None:
            await self._apply(turn, turn.intake.step(turn.state.draft, event))
            return
        case = await turn.tx.latest_case_of_sender()
        before = await turn.tx.previous_text(inbound.edited_message_id or "")
        if case is not None:
            await turn.tx.attach_inbound(case, ())
            await turn.tx.add_event(
                case,
                self.clock.now(),
                f"complainant:{case.complainant_id}",
                "complainant_message_edited",
                {"before": before, "after": inbound.text},
            )
            if self.desk is not None:
                await self.desk.post(
                    turn.tx,
                    case,
                    self.desk.complainant_said(case, inbound.text, 0, edited_from=before or ""),
                )
        turn.say(Reply(turn.tr._("Your edit was recorded.")))

    def _unsupported(self, turn: _Turn) -> None:
        _ = turn.tr.gettext
        turn.say(
            Reply(
                _(
                    "Sorry, I cannot read this kind of message. Please send text, photos or documents."  # noqa: E501
                )
            )
        )
        if turn.state.draft is not None:
            turn.say(turn.intake.question(turn.state.draft))

    # ----- commands --------------------------------------------------------------

    async def _command(self, turn: _Turn, command: str, args: str) -> None:
        _ = turn.tr.gettext
        draft = turn.state.draft
        if command in ("start", "new"):
            if draft is not None:
                turn.say(
                    Reply(
                        _(
                            "You have a complaint in progress; let us continue where we stopped. "
                            "Send /cancel to discard it."
                        )
                    ),
                    turn.intake.question(draft),
                )
            else:
                started = turn.intake.begin(turn.inbound.received_at)
                turn.state.draft = started.draft
                turn.say(*started.replies)
        elif command == "help":
            turn.say(Reply(self._help(turn)))
        elif command == "cancel":
            if draft is None:
                turn.say(Reply(_("There is nothing to cancel.")))
            else:
                await self._apply(turn, turn.intake.cancel())
        elif command == "status":
            await self._status(turn, args)
        elif command == "language":
            turn.say(
                Reply(
                    _("Choose your language:"),
                    (tuple(Button(name, f"lang:{code}") for code, name in LANGUAGE_NAMES.items()),),
                )
            )
        elif command in AGENT_COMMANDS:
            log.warning(
                "agent command /%s refused in a private chat (sender %s)",
                command,
                turn.inbound.sender_id,
            )
            turn.say(Reply(_("This command is only for agents, in the agents' group.")))
        else:
            turn.say(Reply(_("Unknown command. Send /help to see what I can do.")))
            if draft is not None:
                turn.say(turn.intake.question(draft))

    def _help(self, turn: _Turn) -> str:
        _ = turn.tr.gettext
        return "\n".join(
            [
                _("Send a message describing your problem to file a complaint. Commands:"),
                _("/new – file a new complaint"),
                _("/status – your cases; /status CASE_NO – one case"),
                _("/cancel – discard the complaint you are filing"),
                _("/language – choose 中文 or English"),
                _("/help – this help"),
            ]
        )

    async def _status(self, turn: _Turn, args: str) -> None:
        _ = turn.tr.gettext
        cases = await turn.tx.own_cases()
        if args:
            wanted = args.split()[0].upper()
            found = [case for case in cases if case.case_no == wanted]
            if not found or not looks_like_case_no(wanted):
                # The same answer whether the number exists or not: reveal nothing.
                turn.say(
                    Reply(
                        _("No case {case_no} was found among your cases.").format(
                            case_no=args.split()[0]
                        )
                    )
                )
                return
            turn.say(Reply(self._case_details(turn, found[0])))
            return
        if not cases:
            turn.say(Reply(_("You have no cases yet. Send a message to file a complaint.")))
            return
        lines = [_("Your cases:")]
        lines += [self._case_line(turn, case) for case in cases[:20]]
        turn.say(Reply("\n".join(lines)))

    def _case_line(self, turn: _Turn, case: CaseView) -> str:
        return f"{case.case_no} · {turn.intake.category_label(case.category)} · " + _status_label(
            turn.tr, case.status
        )

    def _case_details(self, turn: _Turn, case: CaseView) -> str:
        _ = turn.tr.gettext
        lines = [
            _("Case number: {case_no}").format(case_no=case.case_no),
            _("Status: {status}").format(status=_status_label(turn.tr, case.status)),
            _("Category: {category}").format(category=turn.intake.category_label(case.category)),
            _("About: {value}").format(value=case.subject),
            _("Received: {time}").format(time=self._local(case.received_at)),
        ]
        if case.response_due_at is not None:
            lines.append(
                _("We will respond by {time} ({zone}).").format(
                    time=self._local(case.response_due_at), zone=self.config.timezone.key
                )
            )
        return "\n".join(lines)

    def _set_language(self, turn: _Turn, code: str) -> None:
        if code not in SUPPORTED_LOCALES:
            turn.say(Reply(turn.tr._("That button is no longer active.")))
            return
        turn.state.locale = code
        new_turn = self._turn(turn.inbound, turn.tx, turn.state)
        turn.tr, turn.intake = new_turn.tr, new_turn.intake
        turn.say(Reply(turn.tr._("Language set to English.")))
        if turn.state.draft is not None:
            turn.say(turn.intake.question(turn.state.draft))

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(self.config.timezone).strftime("%Y-%m-%d %H:%M")


def _status_label(tr: Translator, status: CaseStatus) -> str:
    _ = tr.gettext
    labels = {
        CaseStatus.NEW: _("new"),
        CaseStatus.ACKNOWLEDGED: _("received, awaiting an agent"),
        CaseStatus.IN_PROGRESS: _("in progress"),
        CaseStatus.AWAITING_USER: _("waiting for your information"),
        CaseStatus.RESOLVED: _("resolved"),
        CaseStatus.REOPENED: _("reopened"),
        CaseStatus.ARCHIVED: _("closed"),
    }
    return labels[status]


def _first_missing(draft: Draft) -> Step | None:
    checks = (
        (Step.DESCRIPTION, bool(draft.description)),
        (Step.NAME, bool(draft.name)),
        (Step.CONTACT, bool(draft.phone or draft.email)),
        (Step.CATEGORY, draft.category is not None),
        (Step.SUBJECT, bool(draft.subject)),
        (Step.EXPECTATION, bool(draft.expectation)),
    )
    return next((step for step, ok in checks if not ok), None)
