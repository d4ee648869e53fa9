"""The bot's front door: one `Inbound` in, routed to the service that owns it.

`ComplaintBot.handle` opens the conversation's transaction (which holds its lock, so
two quick messages from one person never race), records the inbound message (a
redelivery changes nothing), and hands it to one of:

    bot.limits       first: a complainant over the inbound limit is stored, not served
    bot.agents       a message in a group: the agents' desk
    bot.letters      a letter (mail): a whole complaint, or a reply to one
    bot.surveys      a chat message answering a satisfaction survey
    bot.commands     a complainant's command (/start /help /new /cancel /status /language)
    bot.complainant  anything else in a chat: the intake, or a follow-up to a case

Cases entered from elsewhere (a regulator, a phone call) come in through
`open_external` (`bot.external`), complaints posted whole by a web form through
`file_form` (`bot.forms`), the desk's commands from the CLI and the API through
`operate`, a survey's page in the browser through `survey_page` (`bot.survey_page`).

Whatever they decide — state, timeline, replies in the outbox — commits together
when the transaction ends; a crash leaves either everything or nothing. The services
share what they need through their constructors, built here once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.agents import Agents, Operator, Undelivered
from bot.away import AwayMail, AwayMailer
from bot.cases import Cases
from bot.commands import Commands
from bot.complainant import Complainant
from bot.conversation import ChatTurn, ConversationState
from bot.desk import Desk, DeskConfig
from bot.digest import DeadlineDigest
from bot.external import Entered, ExternalComplaint, ExternalIntake
from bot.followup import CaseClock, FollowUpConfig, Surveys, Timekeeper
from bot.followup.partners import PartnerFollowUp
from bot.followup.surveys import SurveyLink
from bot.forms import FormComplaint, FormFiled, FormIntake, FormRefused
from bot.letters import Letters
from bot.limits import InboundLimit, InboundLimits
from bot.messages import Attachment, ConversationStyle, Inbound, Outbound
from bot.notice import PrivacyNotice
from bot.ports import Clock, ConversationTx, Repository, SystemClock
from bot.staff import StaffNotices
from bot.survey_page import SurveyPage
from bot.surveys import SurveyAnswers
from bot.sweep import TimerSweep

log = logging.getLogger(__name__)


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
    # How fast one complainant may write (see bot.limits); agents are never limited.
    inbound_limit: InboundLimit = field(default_factory=InboundLimit)
    # The mail channel, when it is on: partners are written on it (/refer), and the
    # receipt of a case entered from elsewhere goes to the complainant's address on it.
    mail_channel: str | None = None
    # The survey's page in the browser: the signed address of a case's page (made by
    # the web side), and the channels whose surveys carry it (the wiring names them;
    # mail carries no links).
    survey_link: SurveyLink | None = None
    survey_link_channels: frozenset[str] = frozenset()
    # The privacy notice every channel shows before the first question (the chat's
    # greeting; a line in mail receipts), and whose version goes on each case.
    privacy: PrivacyNotice = field(default_factory=PrivacyNotice)
    # Agents' answers mailed to a complainant whose page did not show them in time
    # (on these channels, with the mail channel on); None: never.
    away_mail: AwayMail | None = None


class ComplaintBot:
    """Routes each inbound message; the transport-free core behind every channel."""

    def __init__(
        self, repository: Repository, config: BotConfig, clock: Clock | None = None
    ) -> None:
        self.repository = repository
        self.config = config
        self.clock = clock = clock or SystemClock()
        zone, locale = config.timezone, config.default_locale
        # What several services share is built once here and handed to each: the
        # notices to staff, a case's clock (deadlines, timers), the surveys, the cases.
        staff = StaffNotices(config.desk, locale, zone, clock)
        case_clock = CaseClock(config.followup, clock)
        notices = staff.as_notices()
        surveys = Surveys(
            config.followup,
            case_clock,
            notices,
            clock,
            link=config.survey_link,
            link_channels=config.survey_link_channels,
        )
        partners = PartnerFollowUp(case_clock, notices, clock, config.mail_channel)
        away = AwayMailer(config.away_mail, config.mail_channel, clock)
        timekeeper = Timekeeper(config.followup, surveys, notices, zone, clock, partners, away)
        desk = Desk(staff, case_clock, clock, config.mail_channel, away)
        cases = Cases(config.case_prefix, zone, case_clock, staff, clock)
        self.agents = Agents(repository, desk, staff, clock)
        self.letters = Letters(
            cases,
            surveys,
            staff,
            clock,
            default_locale=locale,
            phone_region=config.phone_region,
            auto_reply_limit=config.mail_auto_reply_limit,
            privacy=config.privacy,
        )
        # The mail channel, when it is on, is also where a case entered from elsewhere
        # sends its receipt (to the complainant's address).
        self.external = ExternalIntake(
            repository,
            cases,
            staff,
            clock,
            default_locale=locale,
            phone_region=config.phone_region,
            mail_channel=config.mail_channel,
            privacy=config.privacy,
        )
        self.forms = FormIntake(repository, cases, clock, phone_region=config.phone_region)
        self.surveys = SurveyAnswers(surveys)
        self.survey_page = SurveyPage(repository, surveys, clock)
        self.commands = Commands(zone, locale)
        self.complainant = Complainant(cases, staff, clock)
        self.digest = DeadlineDigest(repository, notices, clock)
        self.timers = TimerSweep(repository, timekeeper, clock, self.digest)
        self.limits = InboundLimits(
            config.inbound_limit,
            clock,
            default_locale=locale,
            desk=config.desk,
            auto_reply_limit=config.mail_auto_reply_limit,
        )

    async def handle(self, inbound: Inbound) -> bool:
        """Handles one inbound message; False when it was a redelivery and changed nothing."""
        async with self.repository.conversation(
            inbound.channel, inbound.conversation, inbound.sender_id
        ) as tx:
            if not await tx.record_inbound(inbound):
                log.info("duplicate %s message %s ignored", inbound.channel, inbound.transport_id)
                return False
            admission = await self.limits.admit(tx, inbound)
            # Over the limit: stored above, neither answered nor acted on.
            if admission.serve:
                await self._route(tx, inbound)
            await self.limits.keep(tx, admission)
        return True

    async def _route(self, tx: ConversationTx, inbound: Inbound) -> None:
        if inbound.group:
            await self.agents.handle(tx, inbound)
        elif inbound.style is ConversationStyle.LETTER:
            await self.letters.handle(tx, inbound)
        else:
            await self._chat(tx, inbound)

    async def _chat(self, tx: ConversationTx, inbound: Inbound) -> None:
        state = ConversationState.from_json(await tx.load_state())
        if inbound.language_code:
            state.language_code = inbound.language_code
        config = self.config
        turn = ChatTurn.begin(
            inbound, tx, state, config.default_locale, config.phone_region, config.privacy
        )
        if not await self.surveys.answer(turn):
            owner = self.commands if self.commands.owns(inbound) else self.complainant
            await owner.handle(turn)
        await tx.save_state(state.to_json())
        await turn.send(self.clock.now())

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
                tr = state.translator(self.config.default_locale)
                sorry = tr._(
                    "Sorry, something went wrong on our side. Your message is saved; "
                    "please send it once more."
                )
                await tx.enqueue(
                    Outbound(
                        channel=inbound.channel, conversation=inbound.conversation, text=sorry
                    ),
                    "reply",
                    self.clock.now(),
                )

    # ----- the other ways in, each owned by its service -----------------------------------

    async def operate(
        self,
        operator: Operator,
        command: str,
        case_no: str,
        text: str = "",
        files: tuple[Attachment, ...] = (),
    ) -> tuple[bool, list[str]]:
        """A desk command from the CLI, the staff web or the API (see `Agents.operate`)."""
        return await self.agents.operate(operator, command, case_no, text, files)

    async def open_external(self, complaint: ExternalComplaint) -> Entered:
        """A case entered from elsewhere through the API (see `ExternalIntake`)."""
        return await self.external.open(complaint)

    async def file_form(self, channel: str, form: FormComplaint) -> FormFiled | FormRefused:
        """A complaint posted whole by a form on `channel` (see `FormIntake`)."""
        return await self.forms.file(channel, form)

    async def report_undelivered(self, delivery: Undelivered, error: str) -> None:
        """The outbox gave up on a message (see `Agents.report_undelivered`)."""
        await self.agents.report_undelivered(delivery, error)

    async def open_desk(self) -> None:
        """At start: the agents' group's deadlines thread (see `DeadlineDigest`)."""
        await self.digest.open_thread()

    async def sweep(self, limit: int = 200) -> int:
        """Acts on every timer due now; returns how many it handled (see `TimerSweep`)."""
        return await self.timers.sweep(limit)

    def command_menu(self) -> dict[str, list[tuple[str, str]]]:
        """Command descriptions per language code, for a channel's command menu."""
        return self.commands.menu()
